"""The node-process harness without a node: child processes, their environment and how they fail."""

from __future__ import annotations

import os
import sys

import pytest

from mgselect_node.testing.node_process import NodeProcess, write_params
from mgselect_node.testing.processes import ChildProcess, isolated_env


def test_children_share_this_process_private_loopback_domain():
    env = isolated_env({"PATH": os.environ.get("PATH", ""), "ROS_DOMAIN_ID": "0"})
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["ROS_DOMAIN_ID"] == os.environ["ROS_DOMAIN_ID"] != "0"     # conftest's domain wins
    assert "PYTHONPATH" not in env or "PYTHONPATH" in os.environ


def test_params_file_is_keyed_by_the_node_name(tmp_path):
    import yaml

    path = write_params(tmp_path / "p.yaml", {"num_candidates": 3}, node_name="other")
    assert yaml.safe_load(path.read_text()) == {"other": {"ros__parameters": {"num_candidates": 3}}}


def test_a_child_logs_to_its_file_and_reports_how_it_ended(tmp_path):
    code = "import os; print('domain', os.environ['ROS_DOMAIN_ID']); raise SystemExit(3)"
    with ChildProcess(["-c", code], tmp_path / "child.log", command=[sys.executable]) as child:
        assert child.wait(30) == 3
    assert f"domain {os.environ['ROS_DOMAIN_ID']}" in child.log()
    assert "exited with 3" in child.describe()


def test_node_process_passes_params_file_and_ros_args(tmp_path):
    code = "import sys; print(sys.argv[1:])"
    proc = NodeProcess(tmp_path, {"seed": 1}, command=[sys.executable, "-c", code], ros_args=["-p", "x:=1"])
    assert proc.wait(30) == 0
    assert proc.log().strip() == str(["--params-file", str(tmp_path / "params.yaml"), "--ros-args", "-p", "x:=1"])
    assert not proc.alive() and proc.stop() == 0


@pytest.mark.slow
def test_readiness_fails_at_once_with_the_log_when_the_node_exits(tmp_path):
    """A node that cannot start (bad parameter): the wait ends when the process does, not at the timeout."""
    from mgselect_node.testing.client import NodeClient
    from mgselect_node.testing.lifecycle import NodeNotReady

    proc = NodeProcess(tmp_path, {"mask_mode": "foo"}, node_name="harness_t", ros_args=["-r", "__node:=harness_t"])
    client = NodeClient("harness_t", "c", "/harness_t/image_raw", [], [], camera_hz=None, joints_hz=None)
    try:
        with pytest.raises(NodeNotReady, match=r"(?s)exited before it was active.*mask_mode='foo'"):
            client.wait_ready(proc, timeout=600)
    finally:
        client.close()
        proc.stop()
