"""Observation assembly: freshness, synchronization, joint picking by name, and the reason when unusable."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mgselect_node.control.observation import (
    INPUT_ERROR,
    JOINT_ERROR,
    STALE,
    UNSYNCED,
    WAITING,
    ObservationBuffer,
    ObservationUnavailable,
)

JOINTS = ["a", "b", "c"]
IMG = np.zeros((4, 4, 3), np.uint8)


def full_buffer(stamp: float = 10.0) -> ObservationBuffer:
    buf = ObservationBuffer(2)
    buf.put_frame(0, IMG, stamp)
    buf.put_frame(1, IMG, stamp)
    buf.put_joint_state(["c", "x", "a", "b"], [3.0, 9.0, 1.0, 2.0], stamp)
    return buf


def assemble(buf: ObservationBuffer, now: float = 10.1, max_age: float = 0.5, slop: float = 0.1):
    return buf.assemble(now, JOINTS, max_age, slop, ["/cam0", "/cam1"])


def reason(buf: ObservationBuffer, **kw) -> tuple[str, str]:
    with pytest.raises(ObservationUnavailable) as info:
        assemble(buf, **kw)
    return info.value.kind, str(info.value)


def test_joints_are_picked_and_ordered_by_name():
    obs = assemble(full_buffer())
    np.testing.assert_array_equal(obs.state, [1.0, 2.0, 3.0])
    assert obs.stamps == {"/cam0": 10.0, "/cam1": 10.0, "joint_states": 10.0}
    assert obs.age_s == pytest.approx(0.1)
    assert len(obs.images) == 2


def test_waiting_for_parts():
    buf = ObservationBuffer(2)
    assert reason(buf) == (WAITING, "no frame received yet from /cam0")
    buf.put_frame(0, IMG, 10.0)
    buf.put_frame(1, IMG, 10.0)
    assert reason(buf) == (WAITING, "no joint state received yet")


def test_stale_camera_is_named():
    buf = full_buffer()
    kind, msg = reason(buf, now=11.0)
    assert kind == STALE and "/cam0 is stale" in msg and "max_observation_age" in msg


def test_data_from_the_future_is_refused_after_a_clock_jump():
    buf = full_buffer(stamp=10.0)
    kind, msg = reason(buf, now=5.0)           # /clock jumped back 5 s (a looping bag)
    assert kind == STALE and "in the future" in msg and "clock jump" in msg
    assert assemble(buf, now=9.95).stamps      # a little skew stays usable


def test_unsynced_parts():
    buf = full_buffer()
    buf.put_frame(1, IMG, 10.3)
    kind, msg = reason(buf, now=10.35)
    assert kind == UNSYNCED and "sync_slop" in msg


def test_missing_joint_and_nan_are_named():
    buf = ObservationBuffer(2)
    buf.put_frame(0, IMG, 10.0)
    buf.put_frame(1, IMG, 10.0)
    buf.put_joint_state(["a", "b"], [1.0, 2.0], 10.0)
    kind, msg = reason(buf)
    assert kind == JOINT_ERROR and "missing joint(s) ['c']" in msg
    buf.put_joint_state(["c"], [math.nan], 10.0)
    kind, msg = reason(buf)
    assert kind == JOINT_ERROR and "NaN/inf position for ['c']" in msg
    buf.put_joint_state(["c"], [0.5], 10.0)
    np.testing.assert_array_equal(assemble(buf).state, [1.0, 2.0, 0.5])


def test_nan_in_an_unused_joint_is_ignored():
    buf = full_buffer()
    buf.put_joint_state(["x"], [math.nan], 10.0)
    assert assemble(buf).state.tolist() == [1.0, 2.0, 3.0]


def test_malformed_frame_blocks_until_a_good_one():
    buf = full_buffer()
    buf.put_frame_error(1, "unsupported image encoding '16UC1'", 10.05)
    kind, msg = reason(buf)
    assert kind == INPUT_ERROR and msg == "/cam1: unsupported image encoding '16UC1'"
    buf.put_frame(1, IMG, 10.05)
    assert assemble(buf).stamps["/cam1"] == 10.05
    assert buf.counters.input_errors == 1 and buf.counters.frames == [1, 3]


def test_joint_state_length_mismatch():
    buf = full_buffer()
    buf.put_joint_state(["a", "b"], [1.0], 10.0)
    kind, msg = reason(buf)
    assert kind == INPUT_ERROR and "2 names but 1 positions" in msg


def test_clear_and_resize_forget_everything():
    buf = full_buffer()
    buf.clear()
    assert reason(buf)[0] == WAITING
    buf = full_buffer()
    buf.resize(1)
    assert buf.num_cameras == 1
    with pytest.raises(IndexError, match="out of range"):
        buf.put_frame(1, IMG, 0.0)


def test_joint_dropped_from_later_messages_is_named_once_it_lags():
    buf = full_buffer(stamp=10.0)
    buf.put_frame(0, IMG, 10.6)
    buf.put_frame(1, IMG, 10.6)
    buf.put_joint_state(["a", "b"], [1.0, 2.0], 10.6)
    kind, msg = reason(buf, now=10.65, slop=1.0)
    assert kind == JOINT_ERROR and "['c'] missing from recent joint states" in msg


# ------------------------------------------------------------------------------ joint states from several sources
def test_arm_and_gripper_from_separate_messages_merge_by_name():
    buf = ObservationBuffer(2)
    buf.put_frame(0, IMG, 10.0)
    buf.put_frame(1, IMG, 10.0)
    buf.put_joint_state(["b", "a"], [2.0, 1.0], 10.0)          # the arm
    buf.put_joint_state(["c"], [3.0], 10.02)                   # the gripper, separately
    obs = assemble(buf)
    np.testing.assert_array_equal(obs.state, [1.0, 2.0, 3.0])
    assert obs.stamps["joint_states"] == 10.0                  # the oldest joint's stamp


def test_names_without_positions_are_ignored_not_refused():
    buf = full_buffer()
    buf.put_joint_state(["a", "b", "c"], [], 10.05)            # e.g. a velocity/effort-only publisher
    np.testing.assert_array_equal(assemble(buf).state, [1.0, 2.0, 3.0])
    assert buf.counters.joint_states_ignored == 1 and buf.counters.input_errors == 0


def test_duplicate_joint_name_is_refused_with_a_reason_and_recovers():
    buf = full_buffer()
    buf.put_joint_state(["a", "a", "b", "c"], [1.0, 5.0, 2.0, 3.0], 10.05)
    kind, msg = reason(buf)
    assert kind == INPUT_ERROR and "joint(s) ['a'] more than once" in msg
    buf.put_joint_state(["a", "b", "c"], [1.0, 2.0, 3.0], 10.06)
    assert assemble(buf).state.tolist() == [1.0, 2.0, 3.0]


def test_inconsistent_message_about_other_joints_does_not_block():
    buf = full_buffer()
    buf.put_joint_state(["x", "y"], [1.0], 10.05)              # only joints the policy does not use
    assert assemble(buf).state.tolist() == [1.0, 2.0, 3.0]
    assert buf.counters.input_errors == 1


def test_oversized_joint_state_is_refused_and_the_name_store_stays_bounded():
    from mgselect_node.control.observation import MAX_JOINTS_PER_MESSAGE, MAX_KNOWN_JOINTS

    buf = full_buffer()
    many = [f"n{i}" for i in range(MAX_JOINTS_PER_MESSAGE + 1)]
    buf.put_joint_state(many, [0.0] * len(many), 10.05)
    kind, msg = reason(buf)
    assert kind == INPUT_ERROR and f"at most {MAX_JOINTS_PER_MESSAGE}" in msg
    buf.put_joint_state(["a", "b", "c"], [1.0, 2.0, 3.0], 10.06)   # a good message clears it
    for k in range(3 * MAX_KNOWN_JOINTS // MAX_JOINTS_PER_MESSAGE + 1):    # a flood of new names
        names = [f"spam{k}_{i}" for i in range(MAX_JOINTS_PER_MESSAGE)]
        buf.put_joint_state(names, [0.0] * len(names), 10.06)
        buf.put_joint_state(["a", "b", "c"], [1.0, 2.0, 3.0], 10.06)   # the arm keeps publishing
    assert len(buf.known_joints()) <= MAX_KNOWN_JOINTS
    assert assemble(buf).state.tolist() == [1.0, 2.0, 3.0]


# ------------------------------------------------------------------------------ wall-clock receipt watchdog
def test_parts_not_received_for_max_age_on_the_wall_clock_are_stale_whatever_their_stamps():
    """use_sim_time after a replay ends: /clock stops, so stamps never age; receipt time still does."""
    buf = ObservationBuffer(2)
    buf.put_frame(0, IMG, 10.0, received_s=500.0)
    buf.put_frame(1, IMG, 10.0, received_s=500.0)
    buf.put_joint_state(["a", "b", "c"], [1.0, 2.0, 3.0], 10.0, received_s=500.2)
    obs = buf.assemble(10.1, JOINTS, 0.5, 0.1, ["/cam0", "/cam1"], received_now_s=500.3)
    assert obs.received_s == 500.0
    with pytest.raises(ObservationUnavailable) as info:
        buf.assemble(10.1, JOINTS, 0.5, 0.1, ["/cam0", "/cam1"], received_now_s=500.6)
    assert info.value.kind == STALE and "/cam0" in str(info.value) and "wall clock" in str(info.value)
