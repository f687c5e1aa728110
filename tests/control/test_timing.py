"""Timing arithmetic of chunk execution: intended times, stale points, latency estimate, scheduling."""

from __future__ import annotations

import numpy as np
import pytest

from mgselect_node.control import timing

DT = 0.1


def test_intended_times_start_one_period_after_the_observation():
    np.testing.assert_allclose(timing.intended_times(5.0, 4, DT), [5.1, 5.2, 5.3, 5.4])


def test_points_already_due_are_dropped_and_the_rest_retimed_from_now():
    times = timing.intended_times(10.0, 10, DT)          # 10.1 .. 11.0
    out = timing.drop_stale(times, now=10.33, margin=0.02)
    assert out.dropped == 3                              # 10.1, 10.2, 10.3 are past; 10.4 is 0.07 ahead
    np.testing.assert_allclose(out.absolute_times, times[3:])
    np.testing.assert_allclose(out.time_from_start, times[3:] - 10.33)
    assert np.all(out.time_from_start > 0.02) and np.all(np.diff(out.time_from_start) > 0)


def test_the_margin_drops_a_point_due_too_soon():
    times = timing.intended_times(0.0, 5, DT)
    assert timing.drop_stale(times, now=0.09, margin=0.0).dropped == 0
    assert timing.drop_stale(times, now=0.09, margin=0.02).dropped == 1


def test_a_chunk_entirely_in_the_past_leaves_nothing():
    out = timing.drop_stale(timing.intended_times(0.0, 5, DT), now=0.6, margin=0.0)
    assert out.empty and out.dropped == 5 and out.time_from_start.size == 0


def test_nothing_dropped_when_published_before_the_first_point():
    out = timing.drop_stale(timing.intended_times(1.0, 3, DT), now=0.5, margin=0.02)
    assert out.dropped == 0
    np.testing.assert_allclose(out.time_from_start, [0.6, 0.7, 0.8])


def test_non_increasing_times_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        timing.drop_stale(np.array([0.1, 0.1, 0.2]), now=0.0, margin=0.0)


def test_start_now_is_the_old_behaviour():
    out = timing.start_now(3, DT, now=7.0)
    np.testing.assert_allclose(out.time_from_start, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(out.absolute_times, [7.1, 7.2, 7.3])


def test_latency_estimate_ignores_warmup_and_is_clamped():
    est = timing.LatencyEstimator(window=5, warmup=2, quantile=0.95)
    assert est.estimate(cap=1.0) is None
    est.add(30.0)                                # a first-call outlier: warm-up, ignored
    est.add(0.5)
    assert est.estimate(cap=1.0) is None and est.samples == 0
    for value in (0.1, 0.2, 0.3):
        est.add(value)
    assert est.estimate(cap=1.0) == pytest.approx(np.quantile([0.1, 0.2, 0.3], 0.95))
    est.add(5.0)                                  # a later outlier cannot exceed the cap
    assert est.estimate(cap=1.0) == 1.0
    for value in (0.1,) * 5:                      # the window slides
        est.add(value)
    assert est.estimate(cap=1.0) == pytest.approx(0.1)


def test_latency_estimate_skips_invalid_samples_and_resets():
    est = timing.LatencyEstimator(window=3, warmup=0, quantile=0.5)
    est.add(float("nan"))
    est.add(-1.0)
    assert est.samples == 0
    est.add(0.2)
    est.reset()
    assert est.estimate(cap=1.0) is None


def test_fixed_rate_schedule():
    assert not timing.should_start("fixed_rate", 1.4, last_start=1.0, period=0.5, time_left=0.0,
                                   latency_estimate=None, margin=0.0)
    assert timing.should_start("fixed_rate", 1.5, 1.0, 0.5, 0.0, None, 0.0)
    assert timing.start_time("fixed_rate", 1.2, 1.0, 0.5, 0.0, None, 0.0) == pytest.approx(1.5)


def test_continuous_schedule_starts_when_time_left_is_below_latency_plus_margin():
    kw = dict(last_start=0.0, period=0.5, latency_estimate=0.3, margin=0.05)
    assert not timing.should_start("continuous", 1.0, time_left=0.4, **kw)
    assert timing.should_start("continuous", 1.0, time_left=0.35, **kw)
    assert timing.should_start("continuous", 1.0, time_left=0.4, last_start=0.0, period=0.5,
                               latency_estimate=None, margin=0.05)          # no estimate yet: at once
    assert timing.start_time("continuous", 1.0, 0.0, 0.5, end_time=2.0, latency_estimate=0.3,
                             margin=0.05) == pytest.approx(1.65)
    assert timing.start_time("continuous", 1.9, 0.0, 0.5, 2.0, 0.3, 0.05) == pytest.approx(1.9)
    with pytest.raises(ValueError, match="execution mode"):
        timing.should_start("sometimes", 1.0, 0.0, 0.5, 0.4, 0.3, 0.05)
