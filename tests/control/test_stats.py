"""NodeStats: counts, percentiles, inference rate."""

from __future__ import annotations

import time

from mgselect_node.control.stats import NodeStats, StepRecord


def rec(status: str, reason: str = "", ms: float | None = None, published: bool = False) -> StepRecord:
    return StepRecord(status, reason, published, {"x_ms": ms} if ms is not None else {}, None)


def test_counts_and_last_problem():
    stats = NodeStats()
    stats.record(rec("ok", ms=1.0, published=True), ran_inference=True)
    stats.record(rec("stale", reason="camera stale"), ran_inference=False)
    stats.record(rec("ok", ms=3.0, published=True), ran_inference=True)
    last, counts, published, problem = stats.snapshot()
    assert counts == {"ok": 2, "stale": 1} and published == 2
    assert problem == "camera stale" and last.status == "ok"


def test_percentiles():
    stats = NodeStats()
    assert stats.percentile("x_ms") is None
    for v in range(1, 102):
        stats.record(rec("ok", ms=float(v)), ran_inference=True)
    assert stats.percentile("x_ms", 50) == 51.5           # window keeps the last 100: 2..101
    stats = NodeStats()
    stats.record(rec("ok", ms=4.0), ran_inference=True)
    assert stats.percentile("x_ms") == 4.0


def test_inference_rate():
    stats = NodeStats()
    assert stats.inference_rate_hz() == 0.0
    for _ in range(3):
        stats.record(rec("ok"), ran_inference=True)
        time.sleep(0.05)
    assert 5.0 < stats.inference_rate_hz() < 40.0
