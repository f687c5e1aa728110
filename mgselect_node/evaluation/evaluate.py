"""`mgselect eval`: closed-loop success of every selection strategy on the same seeded simulator scenes.

    mgselect eval --policy default --episodes 20 \\
        --strategies greedy,sample,likelihood,mg_select:text,mg_select:state,mg_select:both \\
        --num-candidates 1,2,4,8 --temperature 0.5 --out eval/sim-mgselect-star

In-process, no DDS: the policy (mgselect_node.engine) drives sim/env.SimEnv directly. Episode k of
every cell uses scene seed `--seed + k` (default 1_000_000: `mgselect collect` trains on seeds from 0, so
these are unseen scenes), and the sampling seed of inference j in episode k is the same for every cell
(common random numbers: the strategies differ only in how they choose, not in luck).

Closed loop: at every inference the selected chunk is turned into joint targets (delta policies add the
current state) and its first `--execute-steps` points are executed at the control rate, then the policy
replans, until success or the episode's time limit. An inference with no valid action at all (no
candidate and not the engine's greedy fallback decoded) holds the arm for `--execute-steps` steps.

Cells (N = --num-candidates): greedy once (N is meaningless for it); sample at every N: with N > 1 it
takes the first VALID candidate, so `sample N` is the control that separates "N draws give a valid action
more often" from "the score picks a better one"; likelihood and mg_select:<mask> at every N > 1. Their
N=1 cells are the sample N=1 cell (same seed -> the same single candidate) and are not rerun.

Writes to --out: results.md (success with a 95% Wilson interval, mean latency per inference, candidate
validity, inferences without any valid action), results.json (every episode), success.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mgselect_node.config import AGGREGATIONS, MASK_MODES, SelectionConfig
from mgselect_node.engine.scoring import aggregate
from mgselect_node.engine.strategies import GREEDY, SAMPLE, STRATEGY_NAMES, get_strategy
from mgselect_node.errors import InputError

DEFAULT_STRATEGIES = "greedy,sample,likelihood,mg_select:text,mg_select:state,mg_select:both"
DEFAULT_NUM_CANDIDATES = "1,2,4,8"
DEFAULT_EPISODES = 20
DEFAULT_SEED = 1_000_000      # scene seeds disjoint from `mgselect collect`'s (0, 1, 2, ...)
DEFAULT_EXECUTE_STEPS = 5     # half of a 10-step chunk, then replan
DEFAULT_TEMPERATURE = 0.5
WILSON_Z = 1.959963984540054  # 95 % two-sided
SEED_STRIDE = 1000            # sampling seed = episode seed * stride + inference index (mod 2^31)
SEED_MODULUS = 2**31
RESULTS_MD, RESULTS_JSON, PLOT_PNG = "results.md", "results.json", "success.png"
PLOT_NUDGE = 0.04             # log2 units between the families' markers at the same N


@dataclass(frozen=True)
class Cell:
    """One (strategy, mask, N) combination; `label` is what the table shows."""

    strategy: str
    num_candidates: int
    mask_mode: str | None = None

    @property
    def label(self) -> str:
        return self.family if not get_strategy(self.strategy).samples else f"{self.family} N={self.num_candidates}"

    @property
    def family(self) -> str:
        return f"{self.strategy}:{self.mask_mode}" if get_strategy(self.strategy).needs_reference else self.strategy


def parse_strategies(text: str) -> list[tuple[str, str | None]]:
    """'greedy,mg_select:text' -> [('greedy', None), ('mg_select', 'text')]; a strategy with a masked
    reference takes a mask (bare = the first mask mode, text)."""
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, mask = item.partition(":")
        strategy = get_strategy(name) if name in STRATEGY_NAMES else None
        if strategy is not None and strategy.needs_reference:
            mask = mask or MASK_MODES[0]
            if mask not in MASK_MODES:
                raise InputError(f"--strategies: {item!r} has mask {mask!r}, expected one of {MASK_MODES}")
            out.append((name, mask))
        elif strategy is not None and not mask:
            out.append((name, None))
        else:
            expected = [f"{s}:<{'|'.join(MASK_MODES)}>" if get_strategy(s).needs_reference else s
                        for s in STRATEGY_NAMES]
            raise InputError(f"--strategies: unknown {item!r}; expected one of {', '.join(expected)}")
    if not out:
        raise InputError("--strategies: expected at least one strategy")
    return out


def parse_counts(text: str) -> list[int]:
    try:
        counts = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError as exc:
        raise InputError(f"--num-candidates {text!r}: expected comma-separated integers") from exc
    if not counts or counts[0] < 1:
        raise InputError(f"--num-candidates {text!r}: expected integers >= 1")
    return counts


def plan_cells(strategies: Sequence[tuple[str, str | None]], counts: Sequence[int]) -> list[Cell]:
    """The deduplicated grid (see the module docstring)."""
    cells: list[Cell] = []
    for name, mask in strategies:
        strategy = get_strategy(name)
        if not strategy.samples:
            cells.append(Cell(name, 1))
        elif not strategy.by_score:
            cells += [Cell(name, n) for n in counts]
        else:
            cells += [Cell(name, n, mask) for n in counts if n > 1]
    # N=1 of a by-score strategy is the sample cell: make sure it is there when N=1 was asked for.
    if 1 in counts and any(get_strategy(c.strategy).by_score for c in cells) and Cell(SAMPLE, 1) not in cells:
        cells.insert(1 if cells and cells[0].strategy == GREEDY else 0, Cell(SAMPLE, 1))
    return list(dict.fromkeys(cells))


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float]:
    """95 % Wilson score interval for a binomial proportion (sensible at 0 %, 100 % and small n)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EpisodeResult:
    cell: str
    episode: int
    scene_seed: int
    task: str
    success: bool
    steps: int
    inferences: int
    latency_ms: list[float] = field(default_factory=list)
    candidates: int = 0
    valid_candidates: int = 0
    no_action: int = 0          # inferences where nothing valid came out (arm held)
    fallbacks: int = 0          # inferences rescued by the engine's greedy fallback
    final_distance: float = float("nan")
    nearest_pad: str = ""


@dataclass
class EvalSettings:
    policy: str
    episodes: int = DEFAULT_EPISODES
    seed: int = DEFAULT_SEED
    temperature: float = DEFAULT_TEMPERATURE
    aggregation: str = "sum"
    execute_steps: int = DEFAULT_EXECUTE_STEPS
    episode_seconds: float = 0.0   # 0 = the simulator's default
    image_size: int = 0            # 0 = the simulator's default (what `mgselect collect` records)
    threads: int = 1


class Evaluator:
    """One policy + one simulator; runs episodes of any cell. One per worker process."""

    def __init__(self, settings: EvalSettings) -> None:
        import torch

        from mgselect_node.engine.policy import load_policy
        from mgselect_node.sim.env import DEFAULT_EPISODE_SECONDS, DEFAULT_IMAGE_SIZE, SimEnv

        if settings.threads > 0:
            torch.set_num_threads(settings.threads)
        self.settings = settings
        self.policy = load_policy(settings.policy)
        spec = self.policy.spec
        self.env = SimEnv(seed=settings.seed, image_size=settings.image_size or DEFAULT_IMAGE_SIZE,
                          control_rate=spec.control_rate,
                          episode_seconds=settings.episode_seconds or DEFAULT_EPISODE_SECONDS)
        if list(spec.joint_names) != list(self.env.joint_names) or \
                list(spec.camera_names) != list(self.env.camera_names):
            raise InputError(f"policy {settings.policy!r} drives joints {spec.joint_names} / cameras "
                             f"{spec.camera_names}; the simulator has {list(self.env.joint_names)} / "
                             f"{list(self.env.camera_names)}")
        self.policy.warmup()

    def config(self, cell: Cell) -> SelectionConfig:
        return SelectionConfig(strategy=cell.strategy, num_candidates=cell.num_candidates,
                               temperature=self.settings.temperature, mask_mode=cell.mask_mode or "text",
                               aggregation=self.settings.aggregation)

    def run_episode(self, cell: Cell, episode: int) -> EpisodeResult:
        env, policy, spec = self.env, self.policy, self.policy.spec
        scene = self.settings.seed + episode
        obs = env.reset(seed=scene)
        base = self.config(cell)
        out = EpisodeResult(cell=cell.label, episode=episode, scene_seed=scene, task=env.task, success=False,
                            steps=0, inferences=0)
        while not env.done:
            seed = (scene * SEED_STRIDE + out.inferences) % SEED_MODULUS
            result = policy.select(obs.images, obs.state, obs.instruction, base.replace(seed=seed))
            out.inferences += 1
            out.latency_ms.append(result.timing.total_ms)
            out.candidates += len(result.candidates)
            out.valid_candidates += sum(c is not None for c in result.candidates)
            out.fallbacks += int(result.fallback)
            if result.valid:
                targets = spec.to_joint_positions(result.chunk, obs.state)
            else:
                out.no_action += 1
                targets = np.repeat(obs.state[None], self.settings.execute_steps, axis=0)
            for target in targets[:self.settings.execute_steps]:
                obs = env.step(target)
                if env.done:
                    break
        info = env.info()
        out.success, out.steps = bool(env.success), env.steps
        out.final_distance = float(info["tip_distance"])
        out.nearest_pad = str(info["nearest_pad"])
        return out

    def close(self) -> None:
        self.env.close()


# Worker-process plumbing: one Evaluator per process, built once by the pool initializer.
_WORKER: Evaluator | None = None


def _init_worker(settings: EvalSettings) -> None:
    global _WORKER
    _WORKER = Evaluator(settings)


def _run_job(job: tuple[Cell, int]) -> EpisodeResult:
    assert _WORKER is not None
    return _WORKER.run_episode(*job)


def run_cells(settings: EvalSettings, cells: Sequence[Cell], workers: int = 1,
              progress: bool = True) -> list[EpisodeResult]:
    """Every (cell, episode) job, in-process (workers=1) or over `workers` spawned processes."""
    from tqdm import tqdm

    jobs = [(cell, k) for cell in cells for k in range(settings.episodes)]
    results: list[EpisodeResult] = []
    bar = tqdm(total=len(jobs), desc="eval", unit="ep", disable=not progress, dynamic_ncols=True)
    if workers <= 1:
        evaluator = Evaluator(settings)
        try:
            for job in jobs:
                results.append(evaluator.run_episode(*job))
                _progress(bar, results)
        finally:
            evaluator.close()
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # never fork a process that holds torch threads
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(settings,)) as pool:
            for result in pool.map(_run_job, jobs):
                results.append(result)
                _progress(bar, results)
    bar.close()
    return results


def _progress(bar: object, results: list[EpisodeResult]) -> None:
    last = results[-1]
    same = [r for r in results if r.cell == last.cell]
    bar.set_postfix_str(f"{last.cell}: {sum(r.success for r in same)}/{len(same)}", refresh=False)
    bar.update(1)


# ---------------------------------------------------------------------------------------------- report
@dataclass
class CellSummary:
    cell: str
    family: str
    num_candidates: int
    episodes: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    mean_latency_ms: float
    valid_candidate_rate: float
    no_action_rate: float
    mean_steps: float


def summarize(cells: Sequence[Cell], results: Sequence[EpisodeResult]) -> list[CellSummary]:
    out = []
    for cell in cells:
        rows = [r for r in results if r.cell == cell.label]
        if not rows:
            continue
        wins = sum(r.success for r in rows)
        low, high = wilson_interval(wins, len(rows))
        latencies = [ms for r in rows for ms in r.latency_ms]
        candidates = sum(r.candidates for r in rows)
        inferences = sum(r.inferences for r in rows)
        out.append(CellSummary(
            cell=cell.label, family=cell.family, num_candidates=cell.num_candidates, episodes=len(rows),
            successes=wins, success_rate=wins / len(rows), ci_low=low, ci_high=high,
            mean_latency_ms=float(np.mean(latencies)) if latencies else float("nan"),
            valid_candidate_rate=sum(r.valid_candidates for r in rows) / max(1, candidates),
            no_action_rate=sum(r.no_action for r in rows) / max(1, inferences),
            mean_steps=float(np.mean([r.steps for r in rows]))))
    return out


def markdown_table(summaries: Sequence[CellSummary]) -> str:
    lines = ["| strategy | N | success | 95% CI (Wilson) | mean latency / inference | valid candidates "
             "| inferences without valid action |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for s in summaries:
        lines.append(f"| {s.family} | {s.num_candidates} | {s.successes}/{s.episodes} = {s.success_rate:.0%} "
                     f"| [{s.ci_low:.0%}, {s.ci_high:.0%}] | {s.mean_latency_ms:.0f} ms "
                     f"| {s.valid_candidate_rate:.1%} | {s.no_action_rate:.1%} |")
    return "\n".join(lines)


def plot(summaries: Sequence[CellSummary], path: Path, title: str) -> Path:
    """Success rate vs N per strategy family, Wilson intervals as error bars; single cells as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    families = list(dict.fromkeys(s.family for s in summaries))
    counts = sorted({s.num_candidates for s in summaries})
    single = [s for s in summaries if s.family == SAMPLE and s.num_candidates == 1]
    for index, family in enumerate(families):
        rows = sorted((s for s in summaries if s.family == family), key=lambda s: s.num_candidates)
        if get_strategy(family.partition(":")[0]).by_score:
            rows = single + rows  # their N=1 is the single-sample cell
        x = [s.num_candidates for s in rows]
        y = np.array([s.success_rate for s in rows])
        err = np.clip([[s.success_rate - s.ci_low for s in rows], [s.ci_high - s.success_rate for s in rows]],
                      0.0, None)  # Wilson bounds can miss 0 % / 100 % by rounding
        if len(rows) == 1 and family in (GREEDY, SAMPLE):
            ax.axhline(y[0], linestyle="--" if family == GREEDY else ":", color="k" if family == GREEDY
                       else "grey", label=f"{family} ({y[0]:.0%})")
            continue
        nudge = 2.0 ** (PLOT_NUDGE * (index - (len(families) - 1) / 2))  # keep error bars apart
        ax.errorbar(np.asarray(x) * nudge, y, yerr=err, marker="o", capsize=3, label=family)
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts or [1])
    ax.set_xticklabels([str(c) for c in counts] or ["1"])
    ax.set_xlabel("N candidates")
    ax.set_ylabel("success rate (95% Wilson CI)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(out: Path, settings: EvalSettings, cells: Sequence[Cell], results: Sequence[EpisodeResult],
                 elapsed_s: float) -> list[CellSummary]:
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarize(cells, results)
    header = (f"Policy `{settings.policy}`, {settings.episodes} episodes per cell (scene seeds {settings.seed}.."
              f"{settings.seed + settings.episodes - 1}, the same for every cell), temperature "
              f"{settings.temperature}, aggregation {settings.aggregation}, execute {settings.execute_steps} "
              f"steps then replan. {elapsed_s / 60:.1f} min on {os.cpu_count()} CPU(s).")
    (out / RESULTS_MD).write_text(header + "\n\n" + markdown_table(summaries) + "\n")
    (out / RESULTS_JSON).write_text(json.dumps({
        "settings": asdict(settings), "elapsed_s": elapsed_s,
        "summary": [asdict(s) for s in summaries], "episodes": [asdict(r) for r in results]}, indent=1))
    plot(summaries, out / PLOT_PNG, f"{Path(settings.policy).name}: closed-loop success")
    return summaries


# ---------------------------------------------------------------------------------------------- offline probe
PROBE_EVERY = 4          # expert steps between probed observations
PROBE_RULES = ("first (sample)", "likelihood", "mg_select", "random valid", "oracle best")


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
                seed = ((settings.seed + k) * SEED_STRIDE + step) % SEED_MODULUS
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
        "error_vs_first_m": {m: {r: _paired(v, rules["first (sample)"]) for r, v in rules.items()}
                             for m, rules in errors.items()},
        "mean_token_kl": {m: float(np.mean(v)) if v else float("nan") for m, v in token_kl.items()},
        "mean_score_std": {m: float(np.mean(v)) if v else float("nan") for m, v in score_spread.items()},
    }


def _paired(values: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """Mean of values - reference and its standard error (nan for fewer than two pairs)."""
    diff = np.asarray(values) - np.asarray(reference)
    if diff.size < 2:
        return float("nan"), float("nan")
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size))


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


# ---------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgselect eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="default", help="bundle directory or built-in name")
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="episodes per cell")
    parser.add_argument("--strategies", default=DEFAULT_STRATEGIES)
    parser.add_argument("--num-candidates", default=DEFAULT_NUM_CANDIDATES)
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    parser.add_argument("--aggregation", choices=AGGREGATIONS, default=SelectionConfig().aggregation)
    parser.add_argument("--execute-steps", type=int, default=DEFAULT_EXECUTE_STEPS,
                        help="chunk points executed before replanning")
    parser.add_argument("--episode-seconds", type=float, default=0.0, help="time limit (0 = simulator default)")
    parser.add_argument("--image-size", type=int, default=0, help="camera size (0 = simulator default)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="scene seed of episode 0")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (each loads the policy)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", default="eval_out", help="directory for results.md, results.json, success.png")
    parser.add_argument("--probe", type=int, default=0, metavar="SCENES",
                        help="instead of closed loop: offline selection probe on SCENES expert-driven scenes "
                             "(N = the largest --num-candidates), writes probe.md / probe.json")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cells = plan_cells(parse_strategies(args.strategies), parse_counts(args.num_candidates))
        if args.episodes < 1 or args.execute_steps < 1 or args.workers < 1:
            raise InputError("--episodes, --execute-steps and --workers must be >= 1")
        settings = EvalSettings(policy=args.policy, episodes=args.episodes, seed=args.seed,
                                temperature=args.temperature, aggregation=args.aggregation,
                                execute_steps=args.execute_steps, episode_seconds=args.episode_seconds,
                                image_size=args.image_size, threads=args.threads)
        if args.probe:
            probe = probe_selection(settings, args.probe, parse_counts(args.num_candidates)[-1],
                                    progress=not args.no_progress)
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "probe.json").write_text(json.dumps(probe, indent=1))
            (out / "probe.md").write_text(probe_table(probe) + "\n")
            print(probe_table(probe))
            return 0
        started = time.perf_counter()
        results = run_cells(settings, cells, workers=args.workers, progress=not args.no_progress)
        summaries = write_report(Path(args.out), settings, cells, results, time.perf_counter() - started)
    except InputError as exc:
        print(f"mgselect eval: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(summaries))
    print(f"wrote {Path(args.out) / RESULTS_MD}, {RESULTS_JSON}, {PLOT_PNG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
