"""The offline selection probe: does a score pick candidates closer to the expert's chunk?"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mgselect_node.config import MASK_MODES
from mgselect_node.engine.scoring import aggregate
from mgselect_node.engine.strategies import GREEDY
from mgselect_node.evaluation.runner import EvalSettings, Evaluator, inference_seed
from mgselect_node.evaluation.statistics import paired_difference

PROBE_EVERY = 4          # expert steps between probed observations
PROBE_RULES = ("first (sample)", "likelihood", "mg_select", "random valid", "oracle best")
PROBE_JSON, PROBE_MD = "probe.json", "probe.md"


def probe_selection(settings: EvalSettings, scenes: int, num_candidates: int, masks: Sequence[str] = MASK_MODES,
                    progress: bool = True) -> dict:
    """Does a score pick better candidates? Offline, on observations of the expert driving unseen scenes.

    For each probed observation the N candidates are drawn once per mask (same seed -> the same N candidates
    for every mask and for likelihood) and compared with the expert's next chunk: error = mean over the
    chunk of the fingertip distance (forward kinematics) between candidate and expert targets. Reported per
    rule: mean error of the chosen candidate; plus per mask the mean token KL(Q||P) (how far the masked
    reference is from the conditioned distribution at all) and its spread across candidates.
    """
    from tqdm import tqdm

    from mgselect_node.sim.expert import ScriptedExpert
    from mgselect_node.sim.kinematics import forward_kinematics

    evaluator = Evaluator(settings)
    env, policy, spec = evaluator.env, evaluator.policy, evaluator.policy.spec
    errors: dict[str, dict[str, list[float]]] = {m: {r: [] for r in PROBE_RULES} for m in masks}
    token_kl: dict[str, list[float]] = {m: [] for m in masks}
    score_spread: dict[str, list[float]] = {m: [] for m in masks}
    greedy_errors: list[float] = []
    valid = total = greedy_valid = greedy_total = 0
    rng = np.random.default_rng(settings.seed)

    def tip_error(chunk: np.ndarray, state: np.ndarray, reference: np.ndarray) -> float:
        targets = spec.to_joint_positions(chunk, state)
        return float(np.mean([np.linalg.norm(forward_kinematics(a) - forward_kinematics(b))
                              for a, b in zip(targets, reference, strict=True)]))

    for k in tqdm(range(scenes), desc="probe", unit="scene", disable=not progress):
        obs = env.reset(seed=settings.seed + k)
        expert = ScriptedExpert(env)
        plan = expert.reset()
        step = 0
        while not env.done:
            if step % PROBE_EVERY == 0:
                index = np.minimum(np.arange(step, step + spec.horizon), len(plan) - 1)
                reference = plan[index]
                seed = inference_seed(settings.seed + k, step)
                greedy = policy.select(obs.images, obs.state, obs.instruction, strategy=GREEDY)
                greedy_total += 1
                greedy_valid += int(greedy.valid)
                if greedy.valid:
                    greedy_errors.append(tip_error(greedy.chunk, obs.state, reference))
                for mask in masks:
                    result = policy.select(obs.images, obs.state, obs.instruction, strategy="mg_select",
                                           num_candidates=num_candidates, mask_mode=mask, seed=seed,
                                           temperature=settings.temperature, aggregation=settings.aggregation)
                    ok = [i for i, c in enumerate(result.candidates) if c is not None]
                    total += len(result.candidates)
                    valid += len(ok)
                    if not ok:
                        continue
                    errs = {i: tip_error(result.candidates[i], obs.state, reference) for i in ok}
                    kl = np.array([result.scores[i] for i in ok])
                    logp = np.array([aggregate(settings.aggregation, result.token_logprob[i]) for i in ok])
                    token_kl[mask] += [float(v) for i in ok for v in result.token_kl[i]]
                    score_spread[mask].append(float(kl.std()))
                    errors[mask]["first (sample)"].append(errs[ok[0]])
                    errors[mask]["likelihood"].append(errs[ok[int(np.argmax(logp))]])
                    errors[mask]["mg_select"].append(errs[ok[int(np.argmax(kl))]])
                    errors[mask]["random valid"].append(errs[ok[int(rng.integers(len(ok)))]])
                    errors[mask]["oracle best"].append(min(errs.values()))
            obs = env.step(expert.act(obs))
            step += 1
    evaluator.close()
    return {
        "policy": settings.policy, "scenes": scenes, "num_candidates": num_candidates,
        "temperature": settings.temperature, "aggregation": settings.aggregation,
        "observations": greedy_total, "valid_candidate_rate": valid / max(1, total),
        "greedy_valid_rate": greedy_valid / max(1, greedy_total),
        "greedy_error_m": float(np.mean(greedy_errors)) if greedy_errors else float("nan"),
        "error_m": {m: {r: float(np.mean(v)) if v else float("nan") for r, v in rules.items()}
                    for m, rules in errors.items()},
        # Paired with the same observation's first valid candidate: mean difference and its standard error.
        "error_vs_first_m": {m: {r: paired_difference(v, rules["first (sample)"]) for r, v in rules.items()}
                             for m, rules in errors.items()},
        "mean_token_kl": {m: float(np.mean(v)) if v else float("nan") for m, v in token_kl.items()},
        "mean_score_std": {m: float(np.mean(v)) if v else float("nan") for m, v in score_spread.items()},
    }


def probe_table(probe: dict) -> str:
    lines = [f"Offline probe: {probe['observations']} expert-driven observations, N={probe['num_candidates']}, "
             f"temperature {probe['temperature']}, valid sampled candidates {probe['valid_candidate_rate']:.1%}, "
             f"valid greedy {probe['greedy_valid_rate']:.1%}, greedy error {probe['greedy_error_m'] * 100:.2f} cm "
             "(error = mean fingertip distance between the candidate's and the expert's chunk)",
             "", "| reference mask | mean token KL(Q‖P) | score std over candidates | "
             + " | ".join(f"error: {r}" for r in PROBE_RULES) + " |",
             "|---|---:|---:|" + "---:|" * len(PROBE_RULES)]
    for mask, rules in probe["error_m"].items():
        paired = probe["error_vs_first_m"][mask]
        cells = [f"{rules[r] * 100:.2f} cm" + ("" if r == "first (sample)" else
                 f" ({paired[r][0] * 100:+.2f} ± {paired[r][1] * 100:.2f})") for r in PROBE_RULES]
        lines.append(f"| {mask} | {probe['mean_token_kl'][mask]:.4f} | {probe['mean_score_std'][mask]:.3f} | "
                     + " | ".join(cells) + " |")
    lines.append("")
    lines.append("(x ± y): paired difference from the first valid candidate of the same observation, ± its "
                 "standard error; negative = the rule picked closer to the expert.")
    return "\n".join(lines)


def write_probe(out: Path, probe: dict) -> Path:
    """probe.json (every number) and probe.md (the table) under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / PROBE_JSON).write_text(json.dumps(probe, indent=1))
    (out / PROBE_MD).write_text(probe_table(probe) + "\n")
    return out / PROBE_MD
