"""`colcon build` of ros2_ws/ (colcon from PyPI) into a temporary directory, then the installed executable.

This is what a ROS user does (`colcon build && . install/setup.sh && ros2 run mgselect_node mgselect_node`);
`ros2 run` is not available as a wheel, so the test runs the executable from lib/mgselect_node directly,
in the environment install/setup.sh creates, from a directory outside the checkout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mgselect_node.contracts import EXECUTABLE, NODE_NAME
from mgselect_node.ros.resources import PROFILE_ENV_VARS
from mgselect_node.testing.client import NodeClient
from mgselect_node.testing.node_process import NodeProcess

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "mgselect_node"
START_TIMEOUT_S = 150.0
NODE_STOP_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("colcon")
    cmd = [sys.executable, "-m", "colcon", "--log-base", str(tmp / "log"), "build", "--base-paths",
           str(REPO / "ros2_ws" / "src"), "--build-base", str(tmp / "build"), "--install-base", str(tmp / "install")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"colcon build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Finished <<< mgselect_node" in done.stdout
    return tmp / "install"


def sourced(install: Path, command: str) -> list[str]:
    """Run `command` in a shell that sourced the workspace's setup.sh (as a user would)."""
    return ["bash", "-c", f". '{install}/setup.sh' && {command}"]


def user_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH", *PROFILE_ENV_VARS)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def test_installed_layout(install):
    prefix = install / PACKAGE
    assert (prefix / "lib" / PACKAGE / "mgselect_node").is_file()       # where `ros2 run` looks
    assert (prefix / "lib" / PACKAGE / "mgselect").is_file()
    share = prefix / "share" / PACKAGE
    for rel in ("package.xml", "launch/mgselect.launch.py", "config/mgselect.yaml", "config/fastdds_shm.xml"):
        assert (share / rel).is_file(), rel
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()


def test_installed_package_is_the_one_imported(install, tmp_path):
    out = subprocess.run(sourced(install, "python3 -c 'import mgselect_node, mgselect_node.ros.resources as r; "
                                          "print(mgselect_node.__file__); "
                                          "print(r.find_shared_file(\"config/fastdds_shm.xml\"))'"),
                         cwd=tmp_path, env=user_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    module, profile = out.stdout.split()
    assert module.startswith(str(install)) and profile.startswith(str(install / PACKAGE / "share"))


def test_installed_executable_help(install, tmp_path):
    exe = install / PACKAGE / "lib" / PACKAGE / "mgselect_node"
    out = subprocess.run(sourced(install, f"'{exe}' --help"), cwd=tmp_path, env=user_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--params-file" in out.stdout and "--ros-args" in out.stdout


def test_installed_executable_starts_the_bundled_policy_and_stops_cleanly(install, tmp_path):
    """Started as a user would (sourced workspace, installed params file); ready when its lifecycle state is
    active; SIGINT (Ctrl-C) exits 0."""
    exe = install / PACKAGE / "lib" / PACKAGE / EXECUTABLE
    params = install / PACKAGE / "share" / PACKAGE / "config" / "mgselect.yaml"
    # `bash -c CMD NAME ARGS...`: the harness's --params-file arguments reach the executable as "$@"
    command = ["bash", "-c", f". '{install}/setup.sh' && exec '{exe}' \"$@\"", EXECUTABLE]
    proc = NodeProcess(tmp_path, params_file=params, command=command, cwd=tmp_path, env=user_env(),
                       stop_timeout_s=NODE_STOP_TIMEOUT_S)
    client = NodeClient(NODE_NAME, "arm_controller", "/colcon_test/image_raw", [], [], camera_hz=None,
                        joints_hz=None)
    try:
        client.wait_ready(proc, START_TIMEOUT_S)
    finally:
        client.close()
        code = proc.stop(signal.SIGINT)
    profile = install / PACKAGE / "share" / PACKAGE / "config" / "fastdds_shm.xml"
    assert f"Fast DDS profile: {profile}" in proc.log()
    assert code == 0, proc.describe()
