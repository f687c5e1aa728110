"""The evaluation report: per-cell summary, markdown table, plot, results.md / results.json / success.png."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mgselect_node.engine.strategies import GREEDY, SAMPLE, get_strategy
from mgselect_node.evaluation.cells import Cell
from mgselect_node.evaluation.runner import EpisodeResult, EvalSettings
from mgselect_node.evaluation.statistics import wilson_interval

RESULTS_MD, RESULTS_JSON, PLOT_PNG = "results.md", "results.json", "success.png"
PLOT_NUDGE = 0.04             # log2 units between the families' markers at the same N


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
