"""TrajectoryFollower: joint_trajectory_controller semantics without ROS."""

import numpy as np
import pytest

from mgselect_node.sim.trajectory import TrajectoryError, TrajectoryFollower

START = np.zeros(2)


def _follower() -> TrajectoryFollower:
    return TrajectoryFollower(START)


def test_holds_the_initial_position_without_a_trajectory() -> None:
    f = _follower()
    position, velocity = f.sample(123.0)
    np.testing.assert_array_equal(position, START)
    np.testing.assert_array_equal(velocity, 0.0)
    assert not f.active


def test_linear_interpolation_from_the_current_setpoint_then_hold() -> None:
    f = _follower()
    assert f.set_trajectory([1.0, 2.0], [[1.0, -1.0], [3.0, -1.0]], None, start_time=10.0, now=10.0) == 2
    np.testing.assert_allclose(f.sample(10.5)[0], [0.5, -0.5])
    np.testing.assert_allclose(f.sample(11.0)[0], [1.0, -1.0])
    np.testing.assert_allclose(f.sample(11.5)[0], [2.0, -1.0])
    np.testing.assert_allclose(f.sample(11.5)[1], [2.0, 0.0])
    np.testing.assert_allclose(f.sample(99.0)[0], [3.0, -1.0])  # after the end: hold the last point
    np.testing.assert_array_equal(f.sample(99.0)[1], 0.0)


def test_hermite_segments_pass_through_points_with_their_velocities() -> None:
    f = _follower()
    f.set_trajectory([1.0, 2.0], [[1.0, 1.0], [2.0, 2.0]], [[1.0, 1.0], [0.0, 0.0]], start_time=0.0, now=0.0)
    position, velocity = f.sample(1.0)
    np.testing.assert_allclose(position, [1.0, 1.0])
    np.testing.assert_allclose(velocity, [1.0, 1.0])
    mid = f.sample(1.5)[0]
    assert 1.5 < mid[0] < 2.0  # a cubic with entry velocity 1 and exit 0 overshoots the linear midpoint


def test_a_new_trajectory_replaces_the_old_one_without_a_jump() -> None:
    f = _follower()
    f.set_trajectory([2.0], [[2.0, 2.0]], None, start_time=0.0, now=0.0)
    before = f.sample(1.0)[0]  # halfway: [1, 1]
    f.set_trajectory([1.0], [[-1.0, 0.0]], None, start_time=1.0, now=1.0)
    np.testing.assert_allclose(f.sample(1.0)[0], before)
    np.testing.assert_allclose(f.sample(1.5)[0], (before + np.array([-1.0, 0.0])) / 2)
    np.testing.assert_allclose(f.sample(5.0)[0], [-1.0, 0.0])  # the old goal is gone


def test_future_start_holds_then_runs() -> None:
    f = _follower()
    f.set_trajectory([1.0], [[1.0, 1.0]], None, start_time=5.0, now=2.0)
    np.testing.assert_allclose(f.sample(4.9)[0], START)
    np.testing.assert_allclose(f.sample(5.5)[0], [0.5, 0.5])


def test_a_past_stamp_jumps_like_joint_trajectory_controller() -> None:
    # Stamped 0.5 s ago: the current setpoint is placed at the stamp, so "now" is half-way to the first point.
    f = _follower()
    f.set_trajectory([1.0, 2.0], [[1.0, 1.0], [2.0, 2.0]], None, start_time=1.0, now=1.5)
    np.testing.assert_allclose(f.sample(1.5)[0], np.asarray(START) + 0.5 * (np.array([1.0, 1.0]) - START))
    # The same points retimed for stamp 0 (what the node sends) start at the current setpoint: no jump.
    g = _follower()
    g.set_trajectory([0.5, 1.5], [[1.0, 1.0], [2.0, 2.0]], None, start_time=1.5, now=1.5)
    np.testing.assert_allclose(g.sample(1.5)[0], START)


def test_nonzero_final_velocity_is_rejected_when_not_allowed() -> None:
    strict = TrajectoryFollower(np.asarray(START, dtype=float), allow_nonzero_velocity_at_trajectory_end=False)
    with pytest.raises(TrajectoryError, match="non-zero velocity"):
        strict.set_trajectory([1.0], [[1.0, 1.0]], [[0.1, 0.0]], start_time=0.0, now=0.0)
    assert strict.set_trajectory([1.0], [[1.0, 1.0]], [[0.0, 0.0]], start_time=0.0, now=0.0) == 1


def test_points_in_the_past_are_skipped_and_all_past_is_rejected() -> None:
    f = _follower()
    assert f.set_trajectory([1.0, 2.0, 3.0], [[1, 1], [2, 2], [3, 3]], None, start_time=0.0, now=1.5) == 2
    with pytest.raises(TrajectoryError, match="in the past"):
        f.set_trajectory([1.0], [[1, 1]], None, start_time=0.0, now=5.0)


@pytest.mark.parametrize(("times", "positions", "velocities", "match"), [
    ([], np.zeros((0, 2)), None, "no points"),
    ([1.0], [[1.0, 2.0, 3.0]], None, "positions have shape"),
    ([1.0], [[1.0, 2.0]], [[1.0]], "velocities have shape"),
    ([1.0, 1.0], [[0, 0], [1, 1]], None, "strictly increasing"),
    ([-1.0, 1.0], [[0, 0], [1, 1]], None, "strictly increasing"),
    ([1.0], [[np.nan, 0.0]], None, "non-finite"),
])
def test_malformed_trajectories_are_rejected(times, positions, velocities, match) -> None:
    f = _follower()
    with pytest.raises(TrajectoryError, match=match):
        f.set_trajectory(times, positions, velocities, start_time=0.0, now=0.0)
    np.testing.assert_array_equal(f.sample(10.0)[0], START)  # a rejected trajectory changes nothing
