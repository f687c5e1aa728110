"""`mgselect record`'s names, without DDS: a bad topic or node name is one line on stderr and exit status 2,
before the bag directory, the rclpy context or the node exists (tests/bag/test_record.py records for real)."""

from __future__ import annotations

import re

import pytest

from mgselect_node.bag import session
from mgselect_node.bag.record import check_topic_names, record
from mgselect_node.cli import main as mgselect
from mgselect_node.cli import record as record_cli
from mgselect_node.config import ConfigError


@pytest.fixture
def no_ros(monkeypatch):
    """Fail the test if a RosSession (rclpy context + node) is started."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a RosSession was started for a refused name")

    monkeypatch.setattr(session, "RosSession", refuse)


@pytest.mark.parametrize("args, words", [
    (["--topics", "bad topic!"], "--topics: 'bad topic!' is not a valid ROS topic name: .*must not contain "
                                 "characters other than alphanumerics"),
    (["--topics", "/joint_states", "/camera/"], "--topics: '/camera/' is not a valid ROS topic name: .*must not "
                                                "end with a forward slash"),
    (["--topics", "9cam"], "--topics: '9cam' is not a valid ROS topic name: .*must not start with a number"),
    (["--topics", "/a/{x}"], r"--topics: '/a/\{x\}' is not a valid ROS topic name: .*unknown substitution"),
    (["--topics", "/joint_states", "--node-name", "bad node"],
     "--node-name: 'bad node' is not a valid ROS node name: .*must not contain characters"),
])
def test_bad_names_are_refused_before_the_bag_or_dds(tmp_path, capsys, no_ros, args, words):
    out = tmp_path / "out_bag"
    assert record_cli.main([str(out), *args]) == 2
    err = capsys.readouterr().err
    assert re.match(f"mgselect record: {words}", err), err
    assert err.count("\n") == 1 and len(err) < 400, err
    assert not out.exists()


def test_the_mgselect_command_refuses_a_bad_topic(tmp_path, capsys, no_ros):
    out = tmp_path / "out_bag"
    assert mgselect.main(["record", str(out), "--topics", "/joint_states", "bad topic!"]) == 2
    assert "--topics: 'bad topic!' is not a valid ROS topic name" in capsys.readouterr().err
    assert not out.exists()


def test_record_refuses_a_bad_topic_before_creating_the_bag(tmp_path, no_ros):
    out = tmp_path / "out_bag"
    with pytest.raises(ConfigError, match=re.escape("--topics: '/cam//image' is not a valid ROS topic name")):
        record(str(out), ["/joint_states", "/cam//image"], duration=0.1)
    assert not out.exists()


def test_a_huge_name_is_clipped():
    with pytest.raises(ConfigError, match=r"\(100000 characters\) is not a valid ROS topic name") as info:
        check_topic_names(["/" + "c" * 99_999], "mgselect_record")
    assert len(str(info.value)) < 400 and "\\n" not in str(info.value)   # rclpy's caret lines are dropped


def test_valid_names_pass():
    check_topic_names(["/joint_states", "camera/image_raw", "~/selection", "/mgselect/{node}"], "mgselect_record")
