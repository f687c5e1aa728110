"""`mgselect sim`'s topic arguments, without starting it: a bad name is refused on one line with exit status 2
before rclpy is initialised (tests/sim/test_sim_node.py runs the node over DDS)."""

from __future__ import annotations

import re

import pytest

from mgselect_node.sim import sim_node


@pytest.fixture
def no_ros(monkeypatch):
    """Fail the test if main() goes on to pick a DDS domain or start rclpy."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("sim_node.main went past argument checking")

    monkeypatch.setattr(sim_node, "run", refuse)
    monkeypatch.setattr(sim_node, "_apply_loopback", refuse)


@pytest.mark.parametrize("argv, words", [
    (["--camera-topic", "bad topic!"], "--camera-topic: 'bad topic!' is not a valid ROS topic name: .*must not "
                                       "contain characters other than alphanumerics"),
    (["--joint-states-topic", "/joint_states/"], "--joint-states-topic: '/joint_states/' is not a valid ROS topic "
                                                 "name: .*must not end with a forward slash"),
    (["--controller", "arm//ctl?"], re.escape("--controller: 'arm//ctl?/joint_trajectory' is not a valid ROS "
                                              "topic name")),
    (["--instruction-topic", "9instruction"], "--instruction-topic: '9instruction' is not a valid ROS topic "
                                              "name: .*must not start with a number"),
    (["--camera-topic", "bad topic!", "--ros-args", "-r", "__ns:=/robot1"], "--camera-topic: 'bad topic!'"),
])
def test_bad_topics_are_refused_before_ros_starts(capsys, no_ros, argv, words):
    assert sim_node.main(argv) == 2
    err = capsys.readouterr().err
    assert re.match(f"mgselect sim: {words}", err), err
    assert err.count("\n") == 1 and len(err) < 400, err


def test_every_bad_topic_is_named_on_one_line(capsys, no_ros):
    assert sim_node.main(["--camera-topic", "/cam era", "--joint-states-topic", "js/", "--episodes", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for words in ("--episodes -1", "--camera-topic: '/cam era'", "--joint-states-topic: 'js/'"):
        assert words in err, err


def test_valid_topics_pass():
    args = sim_node.build_parser().parse_args(
        ["--camera-topic", "camera/image_raw", "--joint-states-topic", "~/joint_states", "--controller",
         "/arm_controller/", "--instruction-topic", ""])
    assert sim_node._problems(args) == []
    assert sim_node._problems(sim_node.build_parser().parse_args([])) == []
