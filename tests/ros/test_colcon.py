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
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "mgselect_node"
START_TIMEOUT_S = 150.0


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
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
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
    exe = install / PACKAGE / "lib" / PACKAGE / "mgselect_node"
    params = install / PACKAGE / "share" / PACKAGE / "config" / "mgselect.yaml"
    log = tmp_path / "node.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(sourced(install, f"exec '{exe}' --ros-args --params-file '{params}'"),
                                cwd=tmp_path, env=user_env(), stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "active: commanding the arm" not in log.read_text():
            assert proc.poll() is None, f"node exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"node did not become active:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        text = log.read_text()
        assert f"Fast DDS profile: {install / PACKAGE / 'share' / PACKAGE / 'config' / 'fastdds_shm.xml'}" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
