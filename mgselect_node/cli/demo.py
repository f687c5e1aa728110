"""`mgselect demo`: the main job.

Default: the closed loop (sim/closed_loop_demo.py): simulated arm + MG-Select node over DDS for a few episodes.
`--one-shot`: load the bundled policy, run MG-Select once on a bundled observation, and show every candidate,
its score, the selected chunk and where the time went."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

import numpy as np

from mgselect_node.config import MASK_MODES, STRATEGIES, SelectionConfig
from mgselect_node.engine.policy import Policy, load_policy
from mgselect_node.engine.result import SelectionResult

OBSERVATION_FILE = "demo_observation.npz"
DEMO_EPISODES = 3


def bundled_observation(policy: Policy, name: str = OBSERVATION_FILE) -> tuple[list[np.ndarray], np.ndarray, str]:
    """An observation shipped in mgselect_node/data (a simulator frame), or a neutral one if absent."""
    path = resources.files("mgselect_node.data") / name
    if path.is_file():
        with path.open("rb") as fh:
            data = np.load(fh)
            images = [data[f"image_{i}"] for i in range(len(policy.spec.camera_names))]
            return images, data["state"], str(data["instruction"])
    size = policy.spec.image_size
    state = (np.asarray(policy.spec.state_q01) + np.asarray(policy.spec.state_q99)) / 2
    return [np.full((size, size, 3), 128, np.uint8) for _ in policy.spec.camera_names], state, "pick up the cube"


def print_result(result: SelectionResult, joint_names: list[str]) -> None:
    print(f"strategy {result.strategy}" + (f" (reference: {result.mask_mode} masked)" if result.mask_mode else ""))
    print(f"{'cand':>4} {'valid':>5} {'tokens':>6} {'score':>10}")
    for i, (chunk, score, tokens) in enumerate(zip(result.candidates, result.scores, result.tokens, strict=True)):
        mark = " <- selected" if i == result.selected else ""
        print(f"{i:>4} {'yes' if chunk is not None else 'no':>5} {len(tokens):>6} {score:>10.4f}{mark}")
    if not result.valid:
        print(f"NO ACTION: {result.reason}")
        return
    if result.fallback:
        print(f"note: {result.reason}")
    print(f"selection margin (best - second best): {result.margin:.4f}")
    print("selected chunk (rows = steps, columns = " + ", ".join(joint_names) + "):")
    with np.printoptions(precision=3, suppress=True, linewidth=140):
        print(result.chunk)
    t = result.timing
    print(f"latency: preprocess {t.preprocess_ms:.1f} ms | prefill {t.prefill_ms:.1f} ms | "
          f"decode {t.decode_ms:.1f} ms | select {t.select_ms:.1f} ms | total {t.total_ms:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mgselect demo", description=__doc__)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--strategy", default="mg_select", choices=STRATEGIES)
    parser.add_argument("--mask-mode", default=SelectionConfig().mask_mode, choices=MASK_MODES)
    parser.add_argument("--num-candidates", type=int, default=SelectionConfig().num_candidates)
    parser.add_argument("--temperature", type=float, default=SelectionConfig().temperature)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="one-shot: print the result as JSON instead")
    parser.add_argument("--one-shot", action="store_true", help="one selection on a bundled observation, no ROS")
    parser.add_argument("--episodes", type=int, default=DEMO_EPISODES, help="closed loop: episodes to run")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="closed loop: bag, sheet, summary")
    args = parser.parse_args(argv)
    if not args.one_shot:
        from mgselect_node.sim.closed_loop_demo import run

        return run(args.episodes, args.out, args.policy, args.num_candidates, args.mask_mode, args.strategy,
                   args.seed)

    policy = load_policy(args.policy, device=args.device)
    print(f"policy {policy.spec.name} ({policy.bundle.path}): {policy.spec.description}")
    policy.warmup()
    images, state, instruction = bundled_observation(policy)
    config = SelectionConfig(strategy=args.strategy, mask_mode=args.mask_mode, num_candidates=args.num_candidates,
                             temperature=args.temperature, seed=args.seed)
    print(f"instruction: {instruction!r}; state: {np.round(state, 3).tolist()}")
    result = policy.select(images, state, instruction, config)
    if args.json:
        print(json.dumps({"valid": result.valid, "selected": result.selected, "scores": result.scores.tolist(),
                          "chunk": None if result.chunk is None else result.chunk.tolist(),
                          "timing_ms": vars(result.timing)}))
    else:
        print_result(result, policy.spec.joint_names)
    return 0 if result.valid else 1
