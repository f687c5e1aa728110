"""eval-realtime: metric arithmetic, the cumulative modes, and simulated-time episodes with a fake policy."""

from __future__ import annotations

import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.evaluation import realtime_metrics as rm
from mgselect_node.evaluation.realtime import (
    MODES,
    RealtimeEvaluator,
    RealtimeSettings,
    mode_overrides,
    parse_delays,
)
from mgselect_node.sim.env import JOINT_NAMES
from tests.ros.fakes import FakePolicy, fake_spec

TICK = 0.01


def trace_of(positions: np.ndarray, switches: list[float]) -> rm.Trace:
    trace = rm.Trace(TICK)
    for i, p in enumerate(positions):
        trace.add(i * TICK, np.atleast_1d(p), np.atleast_1d(p))
    trace.switches = switches
    return trace


def test_a_switch_that_turns_the_arm_around_is_a_reversal():
    t = np.arange(100) * TICK
    vee = np.where(t < 0.5, t, 1.0 - t)                       # 1 rad/s out, then back at the switch
    peaks, reversals = rm.seam_shape(trace_of(vee, [0.5]))
    assert reversals == 1 and peaks[0] == pytest.approx(2.0 / TICK)
    assert rm.seam_shape(trace_of(t, [0.5])) == ([pytest.approx(0.0, abs=1e-6)], 0)   # straight on


def test_jerk_of_a_cubic_is_its_constant_third_derivative():
    t = np.arange(50) * TICK
    rms, p99 = rm.jerk_stats(trace_of(2.0 * t ** 3, []))
    assert rms == pytest.approx(12.0, rel=1e-6) and p99 == pytest.approx(12.0, rel=1e-6)
    assert rm.jerk_stats(trace_of(t ** 2, [])) == pytest.approx((0.0, 0.0), abs=1e-6)


def test_summary_pools_seams_and_gives_a_wilson_interval():
    rows = [rm.EpisodeMetrics("continuous", 300, k, success=k < 3, duration_s=10.0, seam_jumps=[0.1, 0.3],
                              reversals=1, underrun_s=1.0, latencies_s=[0.3, 0.4], inferences=2)
            for k in range(4)]
    (s,) = rm.summarize(rows)
    assert (s.successes, s.episodes, s.seams) == (3, 4, 8)
    assert s.seam_jump_mean == pytest.approx(0.2) and s.reversal_rate == pytest.approx(0.5)
    assert s.underrun_share == pytest.approx(0.1) and s.ci_low < 0.75 < s.ci_high
    assert "continuous | 300 ms | 3/4" in rm.markdown_table([s])


def test_modes_are_cumulative():
    assert mode_overrides("fixed-rate", 1.0, 0.5) == {"execution_mode": "fixed_rate", "drop_stale_points": False,
                                                      "coherence_weight": 0.0, "blend_decay": 0.0}
    assert mode_overrides("blend", 1.0, 0.5) == {"execution_mode": "continuous", "drop_stale_points": True,
                                                 "coherence_weight": 1.0, "blend_decay": 0.5}
    with pytest.raises(InputError, match="mode"):
        mode_overrides("async", 0.0, 0.0)
    assert parse_delays("300, 0,100") == [0, 100, 300]
    with pytest.raises(InputError):
        parse_delays("-5")


def sim_spec():
    n = len(JOINT_NAMES)
    return fake_spec(joint_names=list(JOINT_NAMES), horizon=10, state_q01=[-1.0] * n, state_q99=[1.0] * n,
                     action_q01=[-1.0] * n, action_q99=[1.0] * n, joint_lower=[-3.0] * n, joint_upper=[3.0] * n)


@pytest.fixture(scope="module")
def evaluator():
    ev = RealtimeEvaluator(RealtimeSettings(episodes=1, compute_ms=50.0, episode_seconds=3.0, num_candidates=2),
                           policy=FakePolicy(spec=sim_spec()))
    yield ev
    ev.close()


def test_the_instruction_style_reaches_the_simulator():
    ev = RealtimeEvaluator(RealtimeSettings(episodes=1, instructions="position"), policy=FakePolicy(spec=sim_spec()))
    ev.env.reset(seed=3)
    assert ev.env.instruction.split()[2] in ("left", "middle", "right")
    ev.close()


@pytest.mark.parametrize("mode", MODES)
def test_simulated_delay_keeps_the_arm_fed_and_never_sends_a_due_point(evaluator, mode):
    metrics, trace = evaluator.run_episode(mode, 300, 0, trace=True)
    assert metrics.latencies_s and min(metrics.latencies_s) == pytest.approx(0.35)   # 50 ms compute + 300 ms
    assert len(trace.times) == 300 and trace.switches
    if mode == "fixed-rate":
        assert metrics.dropped_points == 0          # the old behaviour replays the stale points
    else:
        assert metrics.dropped_points >= 3 * len(trace.switches)   # 350 ms late at 10 Hz: 3 points per chunk
    if mode in ("continuous", "coherence", "blend"):
        assert metrics.underrun_s == 0.0 and metrics.deadline_misses == 0


def test_stale_dropping_removes_the_reanchor_jump(evaluator):
    old, _ = evaluator.run_episode("fixed-rate", 300, 0)
    new, _ = evaluator.run_episode("drop-stale", 300, 0)
    # The fake chunk is a ramp from the observed state: started late it pulls the arm back by 3-4 ramp steps.
    assert np.mean(old.seam_jumps) > 2 * np.mean(new.seam_jumps)


def test_the_default_mode_is_what_the_node_defaults_amount_to():
    from mgselect_node.config import ExecutionConfig
    from mgselect_node.evaluation.realtime import DEFAULT_MODE

    defaults = ExecutionConfig()
    assert mode_overrides(DEFAULT_MODE, defaults.coherence_weight, defaults.blend_decay) == {
        name: getattr(defaults, name) for name in ("execution_mode", "drop_stale_points", "coherence_weight",
                                                   "blend_decay")}
