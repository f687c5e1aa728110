"""Real-time chunk execution without ROS: what was committed to the controller, and what to send next.

One ChunkExecutor per pipeline. The node (and offline replay, and the evaluator) call, in order:
`should_start`/`next_start` to schedule an inference, `choose` to trade the selection score against
coherence with the committed trajectory, and `finalize` at publish time to drop stale points, blend the
overlap, compute velocities and commit. Times are seconds on the node's clock (ROS time; /clock in sim).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from mgselect_node.config import ExecutionConfig
from mgselect_node.control import seams, timing
from mgselect_node.control.seams import Committed


@dataclass(frozen=True)
class Execution:
    """A chunk retimed for publishing at `publish_time`: the points to send and how they came about."""

    positions: np.ndarray            # (K', J)
    velocities: np.ndarray           # (K', J), last row zero
    time_from_start: np.ndarray      # (K',) s after publish_time, > 0 and strictly increasing
    absolute_times: np.ndarray       # (K',) s on the node clock
    dropped: int                     # leading points dropped as stale
    blended: int                     # leading points blended with the committed trajectory
    underrun_s: float                # how long the controller had no point left before this publish
    start_position: np.ndarray       # (J,) where the reference is at publish time (the seam's start knot)


@dataclass
class ExecutionCounters:
    """Cumulative since the last reset; reported in /diagnostics."""

    published: int = 0
    all_stale: int = 0               # chunks with no point left at publish time (nothing sent)
    points_dropped: int = 0
    underruns: int = 0               # publishes that found the controller without points
    underrun_s: float = 0.0
    last_underrun_s: float = 0.0     # of the last publish (0 = the controller still had points)
    last_time_left_s: float = float("nan")   # committed time left at the last publish
    released: int = 0                # committed trajectories let go because the arm was elsewhere


class ChunkExecutor:
    """The committed trajectory, the latency estimate and the execution decisions; thread-safe."""

    def __init__(self, config: ExecutionConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._latency = timing.LatencyEstimator(config.latency_window, config.latency_warmup,
                                                config.latency_quantile)
        self._committed: Committed | None = None
        self.counters = ExecutionCounters()

    @property
    def config(self) -> ExecutionConfig:
        return self._config

    def update_config(self, config: ExecutionConfig) -> None:
        with self._lock:
            if (config.latency_window, config.latency_warmup, config.latency_quantile) != (
                    self._config.latency_window, self._config.latency_warmup, self._config.latency_quantile):
                self._latency = timing.LatencyEstimator(config.latency_window, config.latency_warmup,
                                                        config.latency_quantile)
            self._config = config

    def reset(self) -> None:
        """Deactivation: nothing is committed any more and the next activation warms up again."""
        with self._lock:
            self._committed = None
            self._latency.reset()
            self.counters = ExecutionCounters()

    @property
    def committed(self) -> Committed | None:
        return self._committed

    def release_if_diverged(self, t: float, measured: np.ndarray, tolerance: float) -> bool:
        """Let go of the committed trajectory when the arm measured at `t` is more than `tolerance` (any joint)
        from where that trajectory put it: it was reset, stopped or moved by hand, and a controller no longer
        follows it. Otherwise coherence, blending and the seam would pull every new chunk towards a trajectory
        the arm has left, and safety would reject them all (the node would never command again)."""
        with self._lock:
            committed = self._committed
            if committed is None:
                return False
            gap = float(np.max(np.abs(committed.position_at(t)[0] - np.asarray(measured, dtype=np.float64))))
            if gap <= tolerance:
                return False
            self._committed = None
            self.counters.released += 1
            return True

    # --- scheduling ----------------------------------------------------------------------------------
    def record_latency(self, seconds: float) -> None:
        """Inference start to publish, on the node clock (what the committed trajectory must outlast)."""
        with self._lock:
            self._latency.add(seconds)

    def latency_estimate(self, horizon_s: float) -> float | None:
        with self._lock:
            return self._latency.estimate(horizon_s)

    def time_left(self, now: float) -> float:
        committed = self._committed
        return committed.time_left(now) if committed is not None else 0.0

    def next_start(self, now: float, last_start: float, period: float, horizon_s: float) -> float:
        """When the next inference should start (>= now) in the configured mode."""
        committed = self._committed
        end = committed.end_time if committed is not None else now
        return timing.start_time(self._config.execution_mode, now, last_start, period, end,
                                 self.latency_estimate(horizon_s), self._config.schedule_margin)

    # --- selection -----------------------------------------------------------------------------------
    def choose(self, candidates: list[np.ndarray | None], scores: np.ndarray, times: np.ndarray) -> int | None:
        """Candidate index by score and coherence (None: leave the strategy's choice alone)."""
        cfg, committed = self._config, self._committed
        if cfg.coherence_weight <= 0 or committed is None:
            return None
        costs = seams.coherence_costs(candidates, times, committed, cfg.coherence_decay)
        return seams.coherent_choice(scores, costs, cfg.coherence_weight)

    # --- publishing ----------------------------------------------------------------------------------
    def finalize(self, positions: np.ndarray, t_obs: float, dt: float, now: float,
                 current_position: np.ndarray) -> Execution | None:
        """Retime `positions` (K, J; point k meant for t_obs + (k+1) dt) for publishing at `now`.

        Returns None when every point is already due (nothing may be sent). Does not commit: call `commit`
        once the safety check of what is sent has passed and it was published.
        """
        cfg = self._config
        positions = np.asarray(positions, dtype=np.float64)
        if cfg.drop_stale_points:
            retimed = timing.drop_stale(timing.intended_times(t_obs, positions.shape[0], dt), now, cfg.stale_margin)
        else:
            retimed = timing.start_now(positions.shape[0], dt, now)
        if retimed.empty:
            with self._lock:
                self.counters.all_stale += 1
            return None
        committed = self._committed
        start = (committed.position_at(now)[0] if committed is not None
                 else np.asarray(current_position, dtype=np.float64))
        kept = positions[retimed.first_index:]
        sent = seams.blend_overlap(kept, retimed.absolute_times, committed, cfg.blend_decay)
        blended = seams.overlap_count(retimed.absolute_times, committed) if cfg.blend_decay > 0 else 0
        underrun = max(0.0, now - committed.end_time) if committed is not None else 0.0
        return Execution(positions=sent, velocities=seams.seam_velocities(now, start, retimed.absolute_times, sent),
                         time_from_start=retimed.time_from_start, absolute_times=retimed.absolute_times,
                         dropped=retimed.dropped, blended=blended, underrun_s=underrun,
                         start_position=start)

    def commit(self, execution: Execution, now: float) -> None:
        """`execution` was published at `now`: it is what the controller follows from here on."""
        with self._lock:
            committed = self._committed
            c = self.counters
            c.published += 1
            c.points_dropped += execution.dropped
            c.last_time_left_s = committed.time_left(now) if committed is not None else float("nan")
            c.last_underrun_s = execution.underrun_s
            if execution.underrun_s > 0:
                c.underruns += 1
                c.underrun_s += execution.underrun_s
            self._committed = Committed(now, execution.start_position, execution.absolute_times,
                                        execution.positions)
