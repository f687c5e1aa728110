"""`mgselect bench`: latency of one selection, every variant measured side by side in one process.

Variants (same observation, same decode budget, same seed):
- greedy: one row, temperature 0;
- mg_select N in {1, 2, 4, 8, 16}: shared prefill + lockstep decode of N conditioned + N reference rows;
- naive mg_select N=4: each candidate pays its own prefill + decode, then its own teacher-forced reference pass;
- hf_generate N=4: transformers `generate(num_return_sequences=N)`, then one batched teacher-forced reference;
- greedy and mg_select N=4 at fixed length: no terminator, so every row decodes the whole budget. Chunks end
  where the policy stops them, and greedy's chunk can be much longer or shorter than the sampled ones on a
  given frame; the fixed-length ratio is the cost of N candidates + reference rows alone.
Each number is the median over repeats after warm-up. `--ros` measures the node instead (bench/ros_bench.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from mgselect_node.cli.demo import bundled_observation
from mgselect_node.config import SelectionConfig
from mgselect_node.engine.policy import Policy, load_policy

SWEEP_N = (1, 2, 4, 8, 16)
REFERENCE_N = 4
REPEATS = {"quick": (1, 3), "full": (2, 10)}  # (warm-up runs, measured runs)
CAMERA_SHAPE = (480, 640, 3)
SYNTHETIC_INSTRUCTION = "pick up the red cube"


def median_ms(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def synthetic_observation(policy: Policy, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """A random 640x480 frame per camera and a mid-range state: for policies of any shape (GPU presets)."""
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, CAMERA_SHAPE, dtype=np.uint8) for _ in policy.spec.camera_names]
    q01, q99 = np.asarray(policy.spec.state_q01), np.asarray(policy.spec.state_q99)
    return images, q01 + (q99 - q01) * rng.uniform(0.3, 0.7, q01.shape)


def observation(policy: Policy) -> tuple[list[np.ndarray], np.ndarray, str]:
    """The bundled demo observation (a simulator frame) scaled up to a 640x480 camera frame, so the numbers
    include realistic preprocessing and the policy sees an in-distribution scene."""
    try:
        images, state, instruction = bundled_observation(policy)
    except KeyError:  # an imported checkpoint with more cameras than the bundled robot
        images, state, instruction = [], None, SYNTHETIC_INSTRUCTION
    if len(images) != len(policy.spec.camera_names) or np.shape(state) != (policy.spec.state_dim,):
        images, state = synthetic_observation(policy)
        return images, state, SYNTHETIC_INSTRUCTION
    height, width = CAMERA_SHAPE[:2]
    return [cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR) for image in images], state, instruction


def _reference_log_q(policy: Policy, pixels: torch.Tensor, masked: list[int], rows: list[list[int]]
                     ) -> list[torch.Tensor]:
    """Teacher-forced reference pass: full forward of masked prompt + forced suffix + each candidate's tokens."""
    model, layout = policy.bundle.model, policy.bundle.layout
    forced = policy.engine.prompts.suffix_prefix
    rows = [forced + row for row in rows]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), len(masked) + width), layout.pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, :len(masked) + len(row)] = torch.tensor(masked + row)
        attention[i, :len(masked) + len(row)] = 1
    token_type = torch.zeros_like(ids)
    token_type[:, len(masked):] = 1
    with torch.inference_mode():
        logits = model(input_ids=ids.to(model.device), attention_mask=attention.to(model.device),
                       pixel_values=pixels.repeat(len(rows), 1, 1, 1).to(model.device, model.dtype),
                       token_type_ids=token_type.to(model.device)).logits.float()
    start = len(masked) + len(forced) - 1
    return [torch.log_softmax(logits[i, start:len(masked) - 1 + len(row)], dim=-1) for i, row in enumerate(rows)]


def naive_mg_select(policy: Policy, images, state, instruction: str, config: SelectionConfig) -> list[float]:
    """The obvious implementation: per candidate its own prefill, decode and reference pass."""
    engine = policy.engine
    cond, masked = engine.build_prompts(engine.check_state(state), instruction, config.mask_mode)
    pixels = policy.bundle.images(images, policy.spec.camera_names, policy.spec.image_size)
    scores = []
    for i in range(config.num_candidates):
        trace: list = []
        tokens, lengths, _, _ = engine.generate(pixels, [cond], 1, config.temperature,
                                                config.replace(seed=config.seed + i), trace=trace)
        row = tokens[0, :lengths[0]].tolist()
        (log_q,) = _reference_log_q(policy, torch.from_numpy(pixels), masked, [row])
        log_p = torch.stack([step[0][0] for step in trace[:len(row)]])
        scores.append(float((log_q.exp() * (log_q - log_p)).sum()))
    return scores


def hf_generate_mg_select(policy: Policy, images, state, instruction: str, config: SelectionConfig
                          ) -> list[float]:
    """transformers' generate for the N samples, then one batched teacher-forced reference pass."""
    engine, model, layout = policy.engine, policy.bundle.model, policy.bundle.layout
    cond, masked = engine.build_prompts(engine.check_state(state), instruction, config.mask_mode)
    forced = engine.prompts.suffix_prefix
    pixels = torch.from_numpy(policy.bundle.images(images, policy.spec.camera_names, policy.spec.image_size))
    budget = config.max_action_tokens or policy.spec.max_action_tokens
    torch.manual_seed(config.seed)
    with torch.inference_mode():
        out = model.generate(
            input_ids=torch.tensor([cond + forced], device=model.device),
            pixel_values=pixels.to(model.device, model.dtype),
            token_type_ids=torch.tensor([[0] * len(cond) + [1] * len(forced)], device=model.device),
            do_sample=True, temperature=config.temperature, top_k=0, num_return_sequences=config.num_candidates,
            max_new_tokens=budget, eos_token_id=layout.terminator_id, pad_token_id=layout.pad_id,
            output_scores=True, return_dict_in_generate=True)
    sequences = out.sequences[:, len(cond) + len(forced):].cpu()
    end = layout.terminator_id
    rows = []
    for seq in sequences.tolist():
        rows.append(seq[:seq.index(end)] if end in seq else seq)
    log_p_steps = torch.log_softmax(torch.stack(out.scores, dim=1).float(), dim=-1)  # (N, T, V), tempered
    log_qs = _reference_log_q(policy, pixels, masked, [r or [end] for r in rows])
    return [float((lq.exp() * (lq - log_p_steps[i, :len(lq)])).sum()) for i, lq in enumerate(log_qs)]


def run(policy: Policy, quick: bool, config: SelectionConfig) -> dict:
    warmup, repeats = REPEATS["quick" if quick else "full"]
    images, state, instruction = observation(policy)

    def timed(fn: Callable[[], object]) -> float:
        return round(median_ms(fn, warmup, repeats), 3)

    timings: dict[str, float] = {}
    timings["greedy"] = timed(lambda: policy.select(images, state, instruction, config.replace(strategy="greedy")))
    for n in SWEEP_N:
        timings[f"mg_select_n{n}"] = timed(
            lambda n=n: policy.select(images, state, instruction, config.replace(num_candidates=n)))
    ref = config.replace(num_candidates=REFERENCE_N)
    timings[f"naive_mg_select_n{REFERENCE_N}"] = timed(lambda: naive_mg_select(policy, images, state, instruction, ref))
    timings[f"hf_generate_mg_select_n{REFERENCE_N}"] = timed(
        lambda: hf_generate_mg_select(policy, images, state, instruction, ref))
    sample = policy.select(images, state, instruction, ref)
    greedy = policy.select(images, state, instruction, config.replace(strategy="greedy"))
    # last: forbidding the terminator changes this policy's engine for good
    policy.engine.forbid_terminator()
    for name, cfg in (("greedy", config.replace(strategy="greedy")), (f"mg_select_n{REFERENCE_N}", ref)):
        cfg = cfg.replace(complete_chunks=False, restrict_to_action_tokens=True)
        timings[f"{name}_fixed_length"] = timed(
            lambda cfg=cfg: policy.engine.select(images, state, instruction, cfg, fallback=False))
    mg4 = timings[f"mg_select_n{REFERENCE_N}"]
    return {
        "policy": policy.spec.name,
        "device": policy.device,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "repeats": repeats, "warmup": warmup,
        "decode_budget_tokens": config.max_action_tokens or policy.spec.max_action_tokens,
        "valid_candidates_n4": int(sum(c is not None for c in sample.candidates)),
        "decoded_tokens": {"greedy": max(map(len, greedy.tokens)),
                           f"mg_select_n{REFERENCE_N}": max(map(len, sample.tokens))},
        "timings_ms": timings,
        "breakdown_mg_select_n4_ms": vars(sample.timing),
        "ratios": {
            "mg_select_n4_over_greedy": round(mg4 / timings["greedy"], 3),
            "mg_select_n4_over_greedy_fixed_length": round(
                timings[f"mg_select_n{REFERENCE_N}_fixed_length"] / timings["greedy_fixed_length"], 3),
            "naive_over_mg_select_n4": round(timings[f"naive_mg_select_n{REFERENCE_N}"] / mg4, 3),
            "hf_generate_over_mg_select_n4": round(timings[f"hf_generate_mg_select_n{REFERENCE_N}"] / mg4, 3),
        },
    }


def print_table(report: dict) -> None:
    print(f"policy {report['policy']} on {report['device']} ({report['machine']}), "
          f"median of {report['repeats']} after {report['warmup']} warm-up")
    print(f"{'variant':<28}{'ms / chunk':>12}")
    for name, ms in report["timings_ms"].items():
        print(f"{name:<28}{ms:>12.1f}")
    print("decoded tokens (longest candidate): "
          + ", ".join(f"{k} {v}" for k, v in report["decoded_tokens"].items()))
    for name, value in report["ratios"].items():
        print(f"{name:<34}{value:>6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mgselect bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="default", help="bundle directory or built-in name")
    parser.add_argument("--text-tokenizer", default="", help="pi0-FAST checkpoints: local PaliGemma tokenizer")
    parser.add_argument("--action-tokenizer", default="", help="pi0-FAST checkpoints: local FAST tokenizer")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--mask-mode", default="text", choices=("text", "state", "both"))
    parser.add_argument("--temperature", type=float, default=SelectionConfig().temperature)
    parser.add_argument("--ros", action="store_true", help="benchmark the ROS node (see bench/ros_bench.py)")
    parser.add_argument("--preset", help="GPU benchmark at a model preset's size (bench/gpu_bench.py)")
    args, rest = parser.parse_known_args(argv)
    if args.ros or args.preset:
        module = "ros_bench" if args.ros else "gpu_bench"
        from importlib import import_module

        forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--ros"]
        return int(import_module(f"mgselect_node.bench.{module}").main(forwarded) or 0)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    policy = load_policy(args.policy, device=args.device, dtype=args.dtype, text_tokenizer=args.text_tokenizer,
                         action_tokenizer=args.action_tokenizer)
    config = SelectionConfig(temperature=args.temperature, mask_mode=args.mask_mode, seed=0)
    report = run(policy, args.quick, config)
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0
