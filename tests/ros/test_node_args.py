"""The node's command line, without starting it."""

from __future__ import annotations

import pytest

from mgselect_node.ros.node import to_ros_args


def test_params_file_shorthand_becomes_ros_args():
    assert to_ros_args(["--params-file", "a.yaml"]) == ["--ros-args", "--params-file", "a.yaml"]
    assert to_ros_args(["--params-file", "a.yaml", "--log-level", "debug", "--ros-args", "-p", "x:=1"]) == [
        "--ros-args", "--params-file", "a.yaml", "--log-level", "debug", "--ros-args", "-p", "x:=1"]
    assert to_ros_args(["--ros-args", "-r", "__ns:=/r1"]) == ["--ros-args", "-r", "__ns:=/r1"]
    with pytest.raises(SystemExit, match="unrecognized arguments"):
        to_ros_args(["--bogus"])
