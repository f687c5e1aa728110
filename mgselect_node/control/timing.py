"""Chunk timing on one clock: when each point is meant to run, which points are stale, when to infer next.

Why: a chunk computed from the observation stamped t_obs describes the arm from t_obs on (point k at
t_obs + (k+1)/control_rate). Started "now" (t_obs + latency) its first points are stale and the arm is pulled
back to where it was. Every function here is plain arithmetic on seconds of the node's clock (ROS time, i.e.
/clock under use_sim_time), so it is unit-testable and the same in the node, offline replay and evaluation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

FIXED_RATE, CONTINUOUS = "fixed_rate", "continuous"


def intended_times(t_obs: float, num_points: int, dt: float) -> np.ndarray:
    """Absolute time of each chunk point: t_obs + (k+1) * dt."""
    return t_obs + dt * np.arange(1, num_points + 1, dtype=np.float64)


@dataclass(frozen=True)
class Retimed:
    """The part of a chunk still ahead of `now`, with its time_from_start relative to `now`."""

    first_index: int                 # index in the original chunk of the first kept point
    absolute_times: np.ndarray       # (K',) s on the node clock
    time_from_start: np.ndarray      # (K',) s after `now`, strictly increasing and > 0

    @property
    def dropped(self) -> int:
        return self.first_index

    @property
    def empty(self) -> bool:
        return self.absolute_times.size == 0


def drop_stale(times: np.ndarray, now: float, margin: float) -> Retimed:
    """Keep the points due later than now + margin; time_from_start = intended time - now.

    The kept times are a suffix of `times`, so they stay strictly increasing; every one is > margin >= 0.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or np.any(np.diff(times) <= 0):
        raise ValueError(f"chunk times must be a strictly increasing 1-D array, got {times.tolist()}")
    first = int(np.searchsorted(times, now + margin, side="right"))
    kept = times[first:]
    return Retimed(first, kept, kept - now)


def start_now(num_points: int, dt: float, now: float) -> Retimed:
    """Pre-issue-11 timing: the whole chunk starts at publish time, point k at now + (k+1) * dt."""
    tfs = dt * np.arange(1, num_points + 1, dtype=np.float64)
    return Retimed(0, now + tfs, tfs)


class LatencyEstimator:
    """Quantile of recent inference latencies (observation stamp to publish), ignoring warm-up.

    The estimate only schedules inferences; which points are stale is decided from the time that actually
    elapsed. It is clamped to [0, cap]: one slow outlier (a GC pause, a first CUDA call) must not make the
    scheduler believe a chunk can never be used (LeRobot RTC's warm-up bug, lerobot#4223).
    """

    def __init__(self, window: int, warmup: int, quantile: float) -> None:
        if window < 1 or warmup < 0 or not 0.0 <= quantile <= 1.0:
            raise ValueError(f"window={window} (>= 1), warmup={warmup} (>= 0), quantile={quantile} (0..1)")
        self.warmup = warmup
        self.quantile = quantile
        self._seen = 0
        self._window: deque[float] = deque(maxlen=window)

    def add(self, latency_s: float) -> None:
        self._seen += 1
        if self._seen > self.warmup and np.isfinite(latency_s) and latency_s >= 0:
            self._window.append(float(latency_s))

    def reset(self) -> None:
        self._seen = 0
        self._window.clear()

    @property
    def samples(self) -> int:
        return len(self._window)

    def estimate(self, cap: float) -> float | None:
        """The quantile of the window clamped to [0, cap]; None before any post-warm-up sample."""
        if not self._window:
            return None
        return float(min(max(np.quantile(np.fromiter(self._window, float), self.quantile), 0.0), cap))


def should_start(mode: str, now: float, last_start: float, period: float, time_left: float,
                 latency_estimate: float | None, margin: float) -> bool:
    """Whether the next inference should start at `now`.

    fixed_rate: one inference per period. continuous: when the committed trajectory's remaining time is no
    more than the latency estimate + margin (no estimate yet, or nothing committed: at once).
    """
    if mode == FIXED_RATE:
        return now >= last_start + period
    if mode != CONTINUOUS:
        raise ValueError(f"execution mode {mode!r}: expected {FIXED_RATE!r} or {CONTINUOUS!r}")
    if latency_estimate is None or time_left <= 0:
        return True
    return time_left <= latency_estimate + margin


def start_time(mode: str, now: float, last_start: float, period: float, end_time: float,
               latency_estimate: float | None, margin: float) -> float:
    """The earliest time >= now at which `should_start` holds (for loops that wait instead of polling)."""
    if mode == FIXED_RATE:
        return max(now, last_start + period)
    if latency_estimate is None:
        return now
    return max(now, end_time - latency_estimate - margin)
