"""Running statistics the node reports on /diagnostics: counts per outcome, latencies, inference rate.

Pure Python (no rclpy) so it is unit-testable and the benchmark can read the same names back.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mgselect_node.control.pipeline import StepOutcome

WINDOW = 100            # steps kept for percentiles and the rate estimate


@dataclass
class StepRecord:
    """One worker step as seen by the node (the pipeline's outcome plus what the node measured)."""

    status: str
    reason: str
    published: bool
    timings_ms: dict[str, float]
    observation_age_s: float | None
    margin: float | None = None
    selected: int | None = None
    scores: list[float] | None = None
    inference_index: int | None = None     # which inference (None: the policy did not run)
    strategy: str | None = None            # as reported by the engine's result, i.e. what was really used
    mask_mode: str | None = None


class NodeStats:
    """Thread-safe: the worker records, the diagnostics timer reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: deque[StepRecord] = deque(maxlen=WINDOW)
        self._inference_times: deque[float] = deque(maxlen=WINDOW)
        self.counts: Counter[str] = Counter()
        self.published = 0
        self.last: StepRecord | None = None
        self.last_problem = ""           # the most recent reason nothing was commanded

    def record(self, rec: StepRecord, ran_inference: bool) -> None:
        with self._lock:
            self._records.append(rec)
            self.counts[rec.status] += 1
            self.published += int(rec.published)
            if ran_inference:
                self._inference_times.append(time.monotonic())
            if rec.reason:
                self.last_problem = rec.reason
            self.last = rec

    def percentile(self, key: str, q: float = 50.0) -> float | None:
        """q-th percentile of timing `key` over the window (None when never measured)."""
        with self._lock:
            values = [r.timings_ms[key] for r in self._records if key in r.timings_ms]
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        index = min(max(round(q) - 1, 0), len(cuts) - 1)
        return cuts[index]

    def inference_rate_hz(self) -> float:
        with self._lock:
            times = list(self._inference_times)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def snapshot(self) -> tuple[StepRecord | None, dict[str, int], int, str]:
        with self._lock:
            return self.last, dict(self.counts), self.published, self.last_problem


def step_record(outcome: StepOutcome, published: bool, conversion_ms: float, build_ms: float,
                receipt_to_publish_ms: float | None = None) -> StepRecord:
    """The record of one step: the outcome plus the node's own timings (conversion, message building)."""
    timings = dict(outcome.timings_ms)
    result = outcome.result
    if result is not None:
        t = result.timing
        timings.update(preprocess_ms=t.preprocess_ms, prefill_ms=t.prefill_ms, decode_ms=t.decode_ms,
                       engine_select_ms=t.select_ms, engine_total_ms=t.total_ms)
        timings.update(conversion_ms=conversion_ms, build_ms=build_ms)
        timings["node_overhead_ms"] = (conversion_ms + t.preprocess_ms + build_ms
                                       + timings.get("assemble_ms", 0.0) + timings.get("safety_ms", 0.0))
        if receipt_to_publish_ms is not None:
            timings["receipt_to_publish_ms"] = receipt_to_publish_ms
    return StepRecord(
        status=outcome.status, reason=outcome.reason, published=published, timings_ms=timings,
        observation_age_s=outcome.observation_age_s,
        margin=result.margin if result is not None else None,
        selected=result.selected if result is not None else None,
        scores=[float(s) for s in result.scores] if result is not None else None,
        inference_index=outcome.inference_index if result is not None else None,
        strategy=result.strategy if result is not None else None,
        mask_mode=result.mask_mode if result is not None else None)
