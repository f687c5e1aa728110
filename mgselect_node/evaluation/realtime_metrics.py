"""Execution-quality metrics of one simulated episode, their per-configuration summary, table and plot.

Why separate from the runner: the metrics are plain arithmetic on time series and are unit-tested alone.
Definitions (also in the README):
- seam jump: at each chunk switch, max over joints of |first point of the new trajectory - what the old one
  commanded at that same time| (the re-anchor of the reference; 0 when the new chunk continues the old);
- seam peak acceleration: max |second difference| of the commanded reference within +-SEAM_WINDOW_S;
- reversal: a switch where some joint moving faster than VELOCITY_EPS in the SEAM_WINDOW_S before moves
  the other way in the SEAM_WINDOW_S after;
- jerk: third difference of the measured joint positions per tick, / tick^3 (rad/s^3);
- underrun: time after the first trajectory with no future point left in the controller;
- deadline miss: an inference whose chunk arrived after the committed trajectory had ended, or too late to
  have any point left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mgselect_node.evaluation.statistics import wilson_interval

SEAM_WINDOW_S = 0.1
VELOCITY_EPS = 0.05       # rad/s: slower joints are "at rest" for reversal counting
JERK_QUANTILE = 0.99
PLOT_WINDOW_S = 4.0       # seconds of each episode shown: several seams, still readable


@dataclass
class Trace:
    """Per-tick series of one episode: time, commanded reference and measured positions; switch times."""

    tick: float
    commanded: list[np.ndarray] = field(default_factory=list)
    measured: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    switches: list[float] = field(default_factory=list)

    def add(self, t: float, commanded: np.ndarray, measured: np.ndarray) -> None:
        self.times.append(t)
        self.commanded.append(np.asarray(commanded, dtype=np.float64))
        self.measured.append(np.asarray(measured, dtype=np.float64))


@dataclass
class EpisodeMetrics:
    mode: str
    delay_ms: int
    episode: int
    success: bool
    duration_s: float
    seam_jumps: list[float] = field(default_factory=list)
    seam_peak_acc: list[float] = field(default_factory=list)
    reversals: int = 0
    jerk_rms: float = 0.0
    jerk_p99: float = 0.0
    underrun_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    deadline_misses: int = 0
    inferences: int = 0
    dropped_points: int = 0


def seam_shape(trace: Trace) -> tuple[list[float], int]:
    """Peak |acceleration| of the commanded reference around each switch, and the number of reversals."""
    if len(trace.times) < 3:
        return [], 0
    cmd = np.asarray(trace.commanded)
    times = np.asarray(trace.times)
    acc = np.abs(np.diff(cmd, n=2, axis=0)) / trace.tick ** 2           # acc[i] is centred on times[i + 1]
    half = max(1, round(SEAM_WINDOW_S / trace.tick))
    peaks, reversals = [], 0
    for t in trace.switches:
        i = int(np.searchsorted(times, t))
        lo, hi = max(0, i - half - 1), min(len(acc), i + half)
        if hi > lo:
            peaks.append(float(acc[lo:hi].max()))
        if i - half >= 0 and i + half < len(cmd):
            before = (cmd[i] - cmd[i - half]) / (half * trace.tick)
            after = (cmd[i + half] - cmd[i]) / (half * trace.tick)
            moving = (np.abs(before) > VELOCITY_EPS) & (np.abs(after) > VELOCITY_EPS)
            reversals += int(np.any(moving & (np.sign(before) != np.sign(after))))
    return peaks, reversals


def jerk_stats(trace: Trace) -> tuple[float, float]:
    """RMS and p99 of |third difference| / tick^3 of the measured positions, over all joints and ticks."""
    if len(trace.measured) < 4:
        return 0.0, 0.0
    jerk = np.abs(np.diff(np.asarray(trace.measured), n=3, axis=0)) / trace.tick ** 3
    return float(np.sqrt(np.mean(jerk ** 2))), float(np.quantile(jerk, JERK_QUANTILE))


@dataclass
class Summary:
    mode: str
    delay_ms: int
    episodes: int
    successes: int
    ci_low: float
    ci_high: float
    seam_jump_mean: float
    seam_jump_p95: float
    seam_peak_acc_mean: float
    reversal_rate: float       # reversals per seam
    jerk_rms: float            # mean over episodes
    jerk_p99: float            # mean over episodes of the per-episode p99
    underrun_share: float      # underrun time / episode time
    latency_p50_ms: float
    latency_p95_ms: float
    deadline_miss_rate: float  # per inference
    seams: int

    @property
    def success_rate(self) -> float:
        return self.successes / max(1, self.episodes)


def _q(values: Sequence[float], q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else float("nan")


def summarize(rows: Sequence[EpisodeMetrics]) -> list[Summary]:
    out = []
    for key in dict.fromkeys((r.mode, r.delay_ms) for r in rows):
        cell = [r for r in rows if (r.mode, r.delay_ms) == key]
        wins = sum(r.success for r in cell)
        low, high = wilson_interval(wins, len(cell))
        jumps = [j for r in cell for j in r.seam_jumps]
        lat = [s * 1000.0 for r in cell for s in r.latencies_s]
        inferences = sum(r.inferences for r in cell)
        out.append(Summary(
            mode=key[0], delay_ms=key[1], episodes=len(cell), successes=wins, ci_low=low, ci_high=high,
            seam_jump_mean=float(np.mean(jumps)) if jumps else float("nan"), seam_jump_p95=_q(jumps, 0.95),
            seam_peak_acc_mean=float(np.mean([a for r in cell for a in r.seam_peak_acc] or [np.nan])),
            reversal_rate=sum(r.reversals for r in cell) / max(1, len(jumps)),
            jerk_rms=float(np.mean([r.jerk_rms for r in cell])), jerk_p99=float(np.mean([r.jerk_p99 for r in cell])),
            underrun_share=sum(r.underrun_s for r in cell) / max(1e-9, sum(r.duration_s for r in cell)),
            latency_p50_ms=_q(lat, 0.5), latency_p95_ms=_q(lat, 0.95),
            deadline_miss_rate=sum(r.deadline_misses for r in cell) / max(1, inferences), seams=len(jumps)))
    return out


def markdown_table(summaries: Sequence[Summary]) -> str:
    lines = ["| mode | delay | success (95% CI) | seam jump mean / p95 (rad) | seam peak acc (rad/s²) "
             "| reversals / seam | jerk RMS / p99 (rad/s³) | underrun | latency p50 / p95 | deadline misses |",
             "|---|---:|---|---|---:|---:|---|---:|---|---:|"]
    for s in summaries:
        lines.append(
            f"| {s.mode} | {s.delay_ms} ms | {s.successes}/{s.episodes} = {s.success_rate:.0%} "
            f"[{s.ci_low:.0%}, {s.ci_high:.0%}] | {s.seam_jump_mean:.3f} / {s.seam_jump_p95:.3f} "
            f"| {s.seam_peak_acc_mean:.1f} | {s.reversal_rate:.2f} | {s.jerk_rms:.0f} / {s.jerk_p99:.0f} "
            f"| {s.underrun_share:.1%} | {s.latency_p50_ms:.0f} / {s.latency_p95_ms:.0f} ms "
            f"| {s.deadline_miss_rate:.1%} |")
    return "\n".join(lines)


def plot_traces(traces: dict[str, Trace], path: Path, joint: int, title: str) -> Path:
    """Commanded (solid) and measured (dotted) position of one joint per mode, chunk switches as ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(traces), 1, figsize=(8, 2.6 * len(traces)), sharex=True, squeeze=False)
    for ax, (label, trace) in zip(axes[:, 0], traces.items(), strict=True):
        t = np.asarray(trace.times)
        ax.plot(t, np.asarray(trace.commanded)[:, joint], label="commanded")
        ax.plot(t, np.asarray(trace.measured)[:, joint], ":", label="measured")
        for s in trace.switches:
            ax.axvline(s, color="grey", alpha=0.3, linewidth=0.8)
        ax.set_title(label, fontsize=9)
        ax.set_ylabel(f"joint {joint + 1} (rad)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlim(0.0, PLOT_WINDOW_S)
    axes[-1, 0].set_xlabel("simulated time (s); grey lines: chunk switches")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
