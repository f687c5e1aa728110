"""What `mgselect study` does: choose settings on development scenes, then explain a primary comparison.

    mgselect study dev --policy sim-mgselect-star --episodes 100 --seed 2000000 \\
        --temperatures 0.5,1.0 --masks text,state,both --num-candidates 4 --out out/dev
    mgselect study compare --results out/primary/results.json --treatment "mg_select:text N=4" \\
        --controls "greedy,sample N=4" --sheets 3 --out out/primary

`dev` runs greedy, `sample N` and `mg_select:<mask> N` at every temperature on scenes that must be disjoint from
the evaluation's (default seeds from 2_000_000; `mgselect eval` uses 1_000_000 on, `collect` 0 on) and
records per inference how many of the N candidates are distinct token sequences, the mean token KL(Q||P) of
each reference (the grounding diagnostic: how much the policy's distribution depends on that condition) and
per episode whether the arm ended nearest the named pad. It names the mg_select (mask, temperature) with the
most successes (ties: lower temperature, then the order of --masks): the setting to pre-register.

`compare` reads an evaluation's results.json and writes compare.md: exact McNemar tests with 95% intervals
(evaluation/paired.py), success split by scene difficulty, and side-by-side contact sheets (PNG) of scenes where
the treatment and the first control disagree, re-run with the evaluation's own settings and seeds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mgselect_node.errors import InputError
from mgselect_node.evaluation.cells import Cell
from mgselect_node.evaluation.paired import (
    compare,
    comparison_table,
    outcomes_by_cell,
    scene_difficulty,
    split_by_difficulty,
)
from mgselect_node.evaluation.runner import EpisodeResult, EvalSettings, Evaluator

DEFAULT_DEV_SEED = 2_000_000      # development scenes: disjoint from eval (1_000_000..) and collect (0..)
SHEET_FRAMES = 8                  # frames per row of a contact sheet


@dataclass
class InferenceLog:
    """What a RecordingPolicy saw per inference."""

    candidates: list[int] = field(default_factory=list)
    distinct: list[int] = field(default_factory=list)
    token_kl: list[float] = field(default_factory=list)   # mean over the valid candidates' action tokens

    def clear(self) -> None:
        self.candidates.clear()
        self.distinct.clear()
        self.token_kl.clear()


def distinct_candidates(tokens: Sequence[Sequence[int]]) -> int:
    """How many different token sequences the N candidates of one inference are."""
    return len({tuple(t) for t in tokens})


class RecordingPolicy:
    """Wraps a Policy: every `select` is passed through unchanged and logged (diversity, token KL)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.log = InferenceLog()

    def select(self, *args: Any, **kwargs: Any) -> Any:
        result = self.policy.select(*args, **kwargs)
        self.log.candidates.append(len(result.tokens))
        self.log.distinct.append(distinct_candidates(result.tokens))
        kl = [float(np.mean(k)) for k, c in zip(result.token_kl, result.candidates, strict=True)
              if c is not None and len(k)]
        if kl:
            self.log.token_kl.append(float(np.mean(kl)))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)


class RecordingEnv:
    """Wraps a SimEnv: keeps the camera frame of every reset and step (for contact sheets)."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.frames: list[np.ndarray] = []

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        obs = self.env.reset(*args, **kwargs)
        self.frames = [obs.image]
        return obs

    def step(self, *args: Any, **kwargs: Any) -> Any:
        obs = self.env.step(*args, **kwargs)
        self.frames.append(obs.image)
        return obs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


# ---------------------------------------------------------------------------------------------- dev sweep
def dev_cells(masks: Sequence[str], num_candidates: int) -> list[Cell]:
    return [Cell("sample", num_candidates)] + [Cell("mg_select", num_candidates, m) for m in masks]


def _row(cell: Cell, temperature: float | None, episodes: list[EpisodeResult], log: InferenceLog) -> dict:
    n = len(episodes)
    distinct = np.asarray(log.distinct, dtype=float)
    counts = np.asarray(log.candidates, dtype=float)
    return {"cell": cell.label, "family": cell.family, "temperature": temperature, "episodes": n,
            "successes": sum(e.success for e in episodes),
            "nearest_named_pad": sum(e.nearest_pad == e.task for e in episodes) / max(1, n),
            "mean_distinct": float(distinct.mean()) if distinct.size else float("nan"),
            "all_identical": float(np.mean((distinct == 1) & (counts > 1))) if distinct.size else float("nan"),
            "mean_token_kl": float(np.mean(log.token_kl)) if log.token_kl else float("nan")}


def dev_sweep(settings: EvalSettings, temperatures: Sequence[float], masks: Sequence[str], num_candidates: int,
              progress: bool = True) -> list[dict]:
    """Greedy once, then sample and every mg_select mask at every temperature, on the same scenes."""
    from tqdm import tqdm

    evaluator = Evaluator(settings)
    recorder = RecordingPolicy(evaluator.policy)
    evaluator.policy = recorder
    plan = [(Cell("greedy", 1), None)] + [(c, t) for t in temperatures for c in dev_cells(masks, num_candidates)]
    rows = []
    bar = tqdm(total=len(plan) * settings.episodes, desc="dev", unit="ep", disable=not progress)
    try:
        for cell, temperature in plan:
            evaluator.settings = replace(settings, temperature=settings.temperature if temperature is None
                                         else temperature)
            recorder.log.clear()
            episodes = []
            for k in range(settings.episodes):
                episodes.append(evaluator.run_episode(cell, k))
                bar.update(1)
            rows.append(_row(cell, temperature, episodes, recorder.log))
    finally:
        bar.close()
        evaluator.close()
    return rows


def choose_setting(rows: Sequence[dict]) -> dict:
    """The mg_select row with the most successes; ties go to the earlier row (lower temperature, mask order)."""
    candidates = [r for r in rows if r["family"].startswith("mg_select")]
    if not candidates:
        raise InputError("no mg_select cell in the sweep")
    best = max(range(len(candidates)), key=lambda i: (candidates[i]["successes"], -i))
    return candidates[best]


def dev_table(rows: Sequence[dict]) -> str:
    lines = ["| cell | temperature | success | arm ends nearest the named pad | mean distinct candidates "
             "| inferences with all N identical | mean token KL(Q‖P) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = "-" if r["temperature"] is None else f"{r['temperature']:g}"
        kl = "-" if np.isnan(r["mean_token_kl"]) else f"{r['mean_token_kl']:.3f}"
        lines.append(f"| {r['cell']} | {t} | {r['successes']}/{r['episodes']} = {r['successes'] / r['episodes']:.0%}"
                     f" | {r['nearest_named_pad']:.0%} | {r['mean_distinct']:.2f} | {r['all_identical']:.0%} "
                     f"| {kl} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- compare
def cell_from_label(label: str) -> Cell:
    """Inverse of Cell.label: 'greedy', 'sample N=4', 'mg_select:text N=4', 'likelihood N=2'."""
    name, _, count = label.partition(" N=")
    family, _, mask = name.partition(":")
    if family == "greedy" and not count:
        return Cell("greedy", 1)
    if family not in ("sample", "likelihood", "mg_select") or not count.isdigit():
        raise InputError(f"cell {label!r}: expected a label such as 'greedy', 'sample N=4', 'mg_select:text N=4'")
    return Cell(family, int(count), mask or None)


def scene_labels(settings: EvalSettings, seeds: Sequence[int]) -> dict[int, dict[str, str]]:
    """Difficulty labels per scene seed (resets the simulator on each seed; no policy involved)."""
    from mgselect_node.sim.env import SimEnv

    labels = {}
    with SimEnv(seed=0, image_size=16) as env:
        for seed in seeds:
            env.reset(seed=seed)
            labels[seed] = scene_difficulty(env.pad_positions, env.task)
    return labels


def contact_sheets(settings: EvalSettings, cells: Sequence[Cell], seeds: Sequence[int],
                   out: Path) -> list[tuple[Path, list[bool]]]:
    """One PNG per scene: a row of frames per cell, the same scene and sampling seeds as the evaluation.
    Returns each sheet's path with the re-run outcome per cell (it must match the evaluation's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evaluator = Evaluator(settings)
    recorder = RecordingEnv(evaluator.env)
    evaluator.env = recorder
    paths = []
    try:
        for seed in seeds:
            fig, axes = plt.subplots(len(cells), SHEET_FRAMES, figsize=(1.6 * SHEET_FRAMES, 1.9 * len(cells)),
                                     squeeze=False)
            outcomes = []
            for row, cell in enumerate(cells):
                result = evaluator.run_episode(cell, seed - settings.seed)
                outcomes.append(result.success)
                picks = np.unique(np.linspace(0, len(recorder.frames) - 1, SHEET_FRAMES).round().astype(int))
                for col, ax in enumerate(axes[row]):
                    ax.axis("off")
                    if col < len(picks):
                        ax.imshow(recorder.frames[picks[col]])
                        ax.set_title(f"t={picks[col] / evaluator.env.control_rate:.1f}s", fontsize=7)
                axes[row][0].text(-0.1, 0.5, f"{cell.label}\n{'success' if result.success else 'fail'}",
                                  transform=axes[row][0].transAxes, ha="right", va="center", fontsize=8)
            fig.suptitle(f"scene {seed}: {evaluator.env.instruction}", fontsize=9)
            fig.tight_layout()
            path = out / f"sheet_{seed}.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            paths.append((path, outcomes))
    finally:
        evaluator.close()
    return paths


def analyze(results_path: Path, treatment: str, controls: Sequence[str], sheets: int, out: Path) -> str:
    """compare.md (and contact sheets) for one evaluation; returns the markdown."""
    data = json.loads(results_path.read_text())
    settings = EvalSettings(**data["settings"])
    outcomes = outcomes_by_cell(data["episodes"])
    comparisons = [compare(outcomes, treatment, c) for c in controls]
    seeds = sorted(outcomes[treatment])
    cells = [*controls, treatment]
    parts = [f"Paired on the same scenes ({results_path}):", "", comparison_table(comparisons), "",
             "Success by scene difficulty:", "", split_by_difficulty(outcomes, scene_labels(settings, seeds), cells)]
    out.mkdir(parents=True, exist_ok=True)
    if sheets:
        first = controls[0]
        wins = [s for s in seeds if outcomes[treatment][s] and not outcomes[first].get(s, True)]
        losses = [s for s in seeds if outcomes[first].get(s, False) and not outcomes[treatment][s]]
        chosen = wins[:max(1, sheets - 1)] + losses[:1]
        sheets_run = contact_sheets(settings, [cell_from_label(first), cell_from_label(treatment)], chosen, out)
        same = all(ok == [outcomes[first][s], outcomes[treatment][s]] for s, (_, ok) in zip(chosen, sheets_run,
                                                                                             strict=True))
        parts += ["", "Contact sheets (same scene, same sampling seeds): "
                  + ", ".join(p.name for p, _ in sheets_run)
                  + ("; re-run outcomes match the evaluation" if same else "; RE-RUN OUTCOMES DIFFER")]
    text = "\n".join(parts) + "\n"
    (out / "compare.md").write_text(text)
    (out / "compare.json").write_text(json.dumps([asdict(c) for c in comparisons], indent=1))
    return text
