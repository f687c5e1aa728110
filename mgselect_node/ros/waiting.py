"""How the node's inference worker waits: for its start time on the node clock, for a frame, for a delay.

Kept apart from node.py (the ROS wiring): a mixin over the node's wake condition and its clock. The start time
comes from the rclpy-free scheduler (control/execution.py); with use_sim_time it is simulated time, so the
worker re-reads the clock at least every SCHEDULE_POLL_S instead of trusting a wall-clock timeout.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from mgselect_node.control.timing import CONTINUOUS

DELAY_POLL_S = 0.005          # injected_delay: how often the node clock is re-read
SCHEDULE_POLL_S = 0.02        # the worker re-reads the node clock at least this often while waiting to start


class WorkerWaits:
    """Mixin for MGSelectNode: needs _wake, _stopping, _active, _new_frame, _pipeline, _config and _now_s()."""

    _wake: threading.Condition
    _stopping: bool
    _active: bool
    _new_frame: bool
    _pipeline: Any
    _config: Any
    _last_step_wall: float = -math.inf     # time.monotonic() when the worker last ran a step

    def _now_s(self) -> float:
        raise NotImplementedError

    def _wait_until(self, ready: Callable[[], bool], deadline: float) -> None:
        """Wait on the condition (held) until `ready()`, the deadline, a stop or a deactivation."""
        while not self._stopping and self._active and not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(remaining)

    def _wait_for_start(self, last_start: float, last_ran: bool) -> bool:
        """With the condition held: wait towards the next start; True when an inference may start now.

        fixed_rate: one inference per period; continuous: when the committed trajectory runs short. Then (in
        fixed_rate, or after a step that ran no inference) as soon as a new frame arrives, but at most one more
        period later, so a dead camera is still reported as stale. A node clock that stopped (a /clock that
        died) must not stop the checks either: after a period + max_observation_age of wall time without a
        step, a step runs anyway (and finds its data stale by the wall clock).
        """
        now = self._now_s()
        start_at = self._pipeline.next_start(now, last_start) if self._pipeline is not None else now
        watchdog_s = 1.0 / self._config.node.inference_rate + self._config.node.max_observation_age
        if start_at > now and time.monotonic() - self._last_step_wall < watchdog_s:
            self._wait_until(lambda: False, time.monotonic() + min(start_at - now, SCHEDULE_POLL_S))
            return False
        if self._config.execution.execution_mode != CONTINUOUS or not last_ran:
            self._wait_until(lambda: self._new_frame, time.monotonic() + 1.0 / self._config.node.inference_rate)
        return True

    def _inject_delay(self, until_s: float) -> None:
        """Test/bench stand-in for a slower model, on the node's clock (simulated time under use_sim_time, so a
        simulation slower than real time sees the same delay); a stop or deactivation cuts it short."""
        with self._wake:
            while not self._stopping and self._active and self._now_s() < until_s:
                self._wake.wait(DELAY_POLL_S)


def restart_after_clock_jump(now: float, last_start: float) -> float:
    """A clock that jumped back (a looping bag's /clock) would otherwise hold the schedule for the jump."""
    return -math.inf if now < last_start else last_start
