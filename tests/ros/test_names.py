"""Topic parameters are checked as ROS names (expanded like rclpy does) before anything is created."""

from __future__ import annotations

import re

import pytest

from mgselect_node.config import Config, ConfigError
from mgselect_node.contracts import trajectory_topic
from mgselect_node.ros.names import check_full_node_name, check_names, check_node_name, full_topic_name


@pytest.mark.parametrize("changes", [
    {"image_topics": ["/camera/image_raw", "wrist/image_raw/compressed", "~/cam"]},
    {"controller_name": "/arm_controller/"},
    {"controller_name": "{node}_controller"},
])
def test_valid_names_pass(changes):
    check_names(Config().with_flat(changes), "mgselect", "/robot1")


@pytest.mark.parametrize("changes, words", [
    ({"image_topics": ["/bad topic name!"]}, re.escape("image_topics: '/bad topic name!' is not a valid ROS")),
    ({"image_topics": ["/cam/"]}, "must not end with a forward slash"),
    ({"controller_name": "arm//ctl?"}, re.escape("controller_name: 'arm//ctl?/joint_trajectory' is not a valid")),
    ({"controller_name": "/"}, "controller_name must not be empty"),
    ({"controller_name": "c" * 1_000_000}, r"\(1000017 characters\) is not a valid ROS topic name"),
])
def test_invalid_names_are_refused_with_the_parameter_and_reason(changes, words):
    with pytest.raises(ConfigError, match=words) as info:
        check_names(Config().with_flat(changes), "mgselect", "/")
    assert len(str(info.value)) < 400


def test_trajectory_topic():
    assert trajectory_topic("/arm_controller/") == "/arm_controller/joint_trajectory"


def test_node_names():
    check_node_name("mgselect_record", "--node-name")
    # rclpy's second and third lines (the name again, a caret under the bad character) are dropped
    with pytest.raises(ConfigError, match=re.escape("--node-name: 'bad node' is not a valid ROS node name: ")
                       + r".*must not contain characters other than alphanumerics or '_'\"$"):
        check_node_name("bad node", "--node-name")
    with pytest.raises(ConfigError, match="must not start with a number"):
        check_node_name("9node", "--node-name")


def test_full_topic_name_is_the_expansion_rclpy_uses():
    assert full_topic_name("camera/image_raw", "--topics", "rec", "/") == "/camera/image_raw"
    assert full_topic_name("~/status", "--topics", "rec", "/robot1") == "/robot1/rec/status"
    assert full_topic_name("/abs/{node}", "--topics", "rec", "/robot1") == "/abs/rec"
    with pytest.raises(ConfigError, match=re.escape("--topics: 'cam//x' is not a valid ROS topic name")):
        full_topic_name("cam//x", "--topics", "rec", "/")


@pytest.mark.parametrize("name", ["/mgselect", "mgselect", "/robot1/mgselect", "robot1/mgselect"])
def test_full_node_names_pass(name):
    check_full_node_name(name, "--node")


@pytest.mark.parametrize("name, words", [
    ("/", "node name must not be empty"),
    ("/robot1/", "node name must not be empty"),
    ("//mgselect", "repeated '/'"),
    ("~/mgselect", "namespace must not contain characters"),
    ("/{ns}/mgselect", "namespace must not contain characters"),
    ("/robot1/my node", "node name must not contain characters"),
])
def test_bad_full_node_names_are_refused(name, words):
    with pytest.raises(ConfigError, match=re.escape(f"--node: {name!r} is not a valid ROS node name: ") + ".*" +
                       re.escape(words)):
        check_full_node_name(name, "--node")
