"""ChunkExecutor through ControlPipeline.finalize: what is sent at publish time, and what is committed."""

from __future__ import annotations

import numpy as np
import pytest

from mgselect_node.config import Config, ExecutionConfig
from mgselect_node.control import pipeline as pl
from mgselect_node.control.execution import ChunkExecutor
from tests.control.test_pipeline import NOW, STATE, feed, make
from tests.ros.fakes import RAMP

DT = 0.1     # the fake policy's 10 Hz


def stepped(config: Config | None = None):
    p, _ = make(config)
    feed(p)
    out = p.step(NOW)
    assert out.status == pl.OK
    return p, out


def test_publish_drops_due_points_and_shifts_time_from_start():
    p, out = stepped()
    sent = p.finalize(out, NOW + 0.25)                  # points at NOW+0.1, +0.2 are past; +0.3 is 0.05 ahead
    assert sent.status == pl.OK and sent.plan.dropped == 2
    assert sent.plan.time_from_start == pytest.approx([0.05, 0.15, 0.25])
    np.testing.assert_allclose(sent.plan.positions, out.plan.positions[2:])
    assert np.all(sent.plan.velocities[-1] == 0.0)
    np.testing.assert_allclose(sent.plan.velocities[1], RAMP / DT, rtol=1e-6)   # consistent with the ramp
    # nothing was committed: the seam starts at the measured state, 3 ramp steps behind the first point
    # (non-uniform central difference: between the slopes of its two sides)
    assert np.all((sent.plan.velocities[0] > RAMP / DT) & (sent.plan.velocities[0] < 3 * RAMP / 0.05))
    assert p.execution.time_left(NOW + 0.25) == pytest.approx(0.25)


def test_old_behaviour_starts_the_whole_chunk_at_publish_time():
    p, out = stepped(Config().with_flat({"drop_stale_points": False}))
    sent = p.finalize(out, NOW + 0.25)
    assert sent.plan.dropped == 0 and sent.plan.time_from_start == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_a_chunk_with_every_point_due_is_not_sent():
    p, out = stepped()
    sent = p.finalize(out, NOW + 0.6)
    assert sent.status == pl.STALE_CHUNK and sent.plan is None and "every point" in sent.reason
    assert p.execution.committed is None and p.execution.counters.all_stale == 1


def test_safety_is_applied_to_what_is_sent():
    # The controller's reference is far from this chunk (a committed trajectory 1 rad away): the sent
    # points would jump from it, so nothing is sent and the committed trajectory stays as it was. (Without
    # blending, which would pull the new points towards it.)
    p, out = stepped(Config().with_flat({"blend_decay": 0.0}))
    far = p.finalize(out, NOW + 0.05)
    far_plan = far.plan
    p.execution.commit(p.execution.finalize(far_plan.positions + 1.0, NOW, DT, NOW + 0.05, np.array(STATE)),
                       NOW + 0.05)
    before = p.execution.committed
    again = p.finalize(out, NOW + 0.15)
    assert again.status == pl.UNSAFE and "max_start_distance" in again.reason and again.plan is None
    assert p.execution.committed is before


def test_non_finite_sent_points_are_rejected():
    p, out = stepped()
    out.plan.positions[-1, 0] = np.nan
    assert p.finalize(out, NOW + 0.05).status == pl.UNSAFE


def test_underrun_is_counted_when_the_committed_trajectory_ran_out():
    p, out = stepped()
    p.finalize(out, NOW + 0.05)                           # runs until NOW + 0.5
    feed(p, stamp=NOW + 0.7)
    later = p.step(NOW + 0.7)
    sent = p.finalize(later, NOW + 0.75)
    assert sent.status == pl.OK
    c = p.execution.counters
    assert c.underruns == 1 and c.underrun_s == pytest.approx(0.25) and c.published == 2
    assert c.last_underrun_s == pytest.approx(0.25)
    feed(p, stamp=NOW + 0.8)
    p.finalize(p.step(NOW + 0.8), NOW + 0.85)              # in time: the warning clears
    assert p.execution.counters.last_underrun_s == 0.0 and c.underruns == 1


def test_blending_pulls_the_overlap_towards_the_committed_trajectory():
    p, out = stepped(Config().with_flat({"blend_decay": 0.5}))
    p.finalize(out, NOW + 0.05)
    feed(p, stamp=NOW + 0.2, state=[s + 0.05 for s in STATE])   # the next chunk is offset by 0.05
    nxt = p.step(NOW + 0.2)
    sent = p.finalize(nxt, NOW + 0.25)
    committed_ref = out.plan.positions[2:5]                # the old chunk at NOW+0.3 .. +0.5
    new = nxt.plan.positions[:3]
    w = np.array([0.5, 0.25, 0.125])[:, None]
    np.testing.assert_allclose(sent.plan.positions[:3], w * committed_ref + (1 - w) * new)


def test_reset_forgets_the_committed_trajectory_and_latency():
    ex = ChunkExecutor(ExecutionConfig(latency_warmup=0))
    ex.record_latency(0.3)
    assert ex.latency_estimate(1.0) == pytest.approx(0.3)
    ex.reset()
    assert ex.latency_estimate(1.0) is None and ex.committed is None


def test_continuous_next_start_uses_the_latency_estimate():
    p, out = stepped(Config().with_flat({"latency_warmup": 0, "schedule_margin": 0.05}))
    p.finalize(out, NOW + 0.05)                            # committed until NOW + 0.5
    assert p.next_start(NOW + 0.05, NOW) == pytest.approx(NOW + 0.05)   # no estimate yet: at once
    p.execution.record_latency(0.2)
    assert p.next_start(NOW + 0.05, NOW) == pytest.approx(NOW + 0.25)
    fixed = p.config.with_flat({"execution_mode": "fixed_rate", "inference_rate": 2.0})
    p.update_config(fixed)
    assert p.next_start(NOW + 0.05, NOW) == pytest.approx(NOW + 0.5)


def test_a_committed_trajectory_the_arm_has_left_is_released_and_commanding_goes_on():
    """A sim reset, an e-stop or a hand moves the arm away from what was sent: coherence, blending and the
    seam must then start from the measured state, or safety rejects every new chunk and the node stalls."""
    p, out = stepped(Config().with_flat({"blend_decay": 0.5, "max_start_distance": 0.5}))
    p.finalize(out, NOW + 0.05)
    moved = [s + 1.0 for s in STATE]                        # 1 rad away on every joint (> max_start_distance)
    feed(p, stamp=NOW + 0.2, state=moved)
    sent = p.finalize(p.step(NOW + 0.2), NOW + 0.25)
    assert sent.status == pl.OK, sent.reason
    assert p.execution.counters.released == 1
    np.testing.assert_allclose(p.execution.committed.start_position, moved)
    feed(p, stamp=NOW + 0.3, state=moved)                   # the arm follows the new trajectory: kept
    assert p.finalize(p.step(NOW + 0.3), NOW + 0.35).status == pl.OK
    assert p.execution.counters.released == 1
