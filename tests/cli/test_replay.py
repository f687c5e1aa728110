"""`mgselect replay`'s names, without DDS or a policy: a bad --remap, --instruction-topic or --node is one line on
stderr and exit status 2 before rclpy is initialized or a node is created (tests/bag/test_replay.py replays
for real)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from mgselect_node.bag import session
from mgselect_node.bag.bag_io import BagWriter
from mgselect_node.bag.replay import check_names, replay_window
from mgselect_node.cli import main as mgselect
from mgselect_node.cli import replay as replay_cli
from mgselect_node.config import ConfigError

REFUSED = "a RosSession was started"


@pytest.fixture
def no_ros(monkeypatch):
    """Fail if a RosSession (rclpy context + node) is started or rclpy.init is called."""
    import rclpy

    def refuse(*_args, **_kwargs):
        raise AssertionError(REFUSED)

    monkeypatch.setattr(session, "RosSession", refuse)
    monkeypatch.setattr(rclpy, "init", refuse)


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    """A real (tiny) bag, so an unchecked name would get as far as rclpy."""
    from std_msgs.msg import String

    path = tmp_path / "bag"
    with BagWriter(path) as writer:
        writer.write("/mgselect/instruction", 1, String(data="stack the cups"), "std_msgs/msg/String")
    return path


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = replay_cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    (["--node", "bad node"], "--node: 'bad node' is not a valid ROS node name: .*must not contain characters"),
    (["--node", "/mgselect/"], "--node: '/mgselect/' is not a valid ROS node name: .*must not be empty"),
    (["--node", "~/mgselect"], "--node: '~/mgselect' is not a valid ROS node name: .*namespace must not contain"),
    (["--node", "/robot//mgselect"], "--node: '/robot//mgselect' is not a valid ROS node name: .*repeated '/'"),
    (["--node", "/robot/9mgselect"], "--node: '/robot/9mgselect' is not a valid ROS node name: .*start with a "
                                     "number"),
    (["--instruction-topic", "/bad topic!"], "--instruction-topic: '/bad topic!' is not a valid ROS topic name: "
                                             ".*must not contain characters"),
    (["--instruction-topic", "/mgselect/instruction/"], "--instruction-topic: .* must not end with a forward slash"),
    (["--remap", "/cam 0:=/camera/image_raw"], "--remap FROM: '/cam 0' is not a valid ROS topic name"),
    (["--remap", "/cam0:=/camera//image_raw"], "--remap TO: '/camera//image_raw' is not a valid ROS topic name: "
                                               ".*repeated"),
    (["--remap", "/cam0:=/a:=/b"], "--remap TO: '/a:=/b' is not a valid ROS topic name"),
    (["--remap", "/cam0:=/{unknown}"], r"--remap TO: '/\{unknown\}' is not a valid ROS topic name: .*substitution"),
    (["--remap", "/cam0/image_raw"], "--remap '/cam0/image_raw': expected FROM:=TO"),
    (["--remap", ":=/camera/image_raw"], "--remap ':=/camera/image_raw': expected FROM:=TO"),
])
@pytest.mark.parametrize("mode", [[], ["--offline"]])
def test_bad_names_are_refused_before_rclpy(bag, capsys, no_ros, args, words, mode):
    code, err = _run([str(bag), *mode, "--no-progress", *args], capsys)
    assert code == 2, err
    assert re.match(f"mgselect replay: {words}", err), err
    assert err.count("\n") == 1 and len(err) < 400, err


def test_the_mgselect_command_refuses_a_bad_node(bag, capsys, no_ros):
    assert mgselect.main(["replay", str(bag), "--node", "my node"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mgselect replay: --node: 'my node' is not a valid ROS node name"), err


def test_valid_names_get_as_far_as_rclpy(bag, capsys, no_ros):
    """The refusal above is the name check: the same command with valid (relative, `~`) names reaches rclpy."""
    code, err = _run([str(bag), "--no-progress", "--node", "robot1/mgselect", "--instruction-topic",
                      "~/instruction", "--remap", "cam0/image_raw:=camera/image_raw"], capsys)
    assert code == 2 and REFUSED in err, err


def _args(**changes: object) -> argparse.Namespace:
    return replay_cli.build_parser().parse_args(["bag", *[f"--{k.replace('_', '-')}={v}" for k, v in changes.items()]])


def test_names_are_resolved_like_the_node_resolves_them():
    assert check_names(_args()) == "/mgselect/instruction"                      # the defaults
    assert check_names(_args(instruction_topic="~/instruction")) == "/mgselect/instruction"
    assert check_names(_args(node="robot1/mgselect", instruction_topic="~/instruction")) == \
        "/robot1/mgselect/instruction"
    assert check_names(_args(node="/robot1/mgselect", instruction_topic="instruction")) == "/robot1/instruction"
    with pytest.raises(ConfigError, match="--node"):
        check_names(_args(node="/"))


def test_remap_from_is_a_full_bag_topic_name_and_to_is_kept_as_written():
    window = replay_window(_args(remap="cam0/image_raw:=camera/image_raw"))
    assert window.remap == {"/cam0/image_raw": "camera/image_raw"}
    assert window.node_topic("/cam0/image_raw") == "camera/image_raw"
