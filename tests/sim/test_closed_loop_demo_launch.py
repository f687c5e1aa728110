"""The closed-loop demo launch file, checked the same way as the node's (tests/ros/test_launch.py)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from tests.ros.test_launch import REPO, setup_kwargs, stub_modules

LAUNCH = REPO / "launch" / "sim_demo.launch.py"


def test_sim_demo_launch_starts_installed_executables_and_records(monkeypatch):
    modules = stub_modules()
    modules["launch.actions"].ExecuteProcess = type("ExecuteProcess", (modules["launch_ros.actions"].Node,), {})
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    description = runpy.run_path(str(LAUNCH))["generate_launch_description"]()
    actions = {type(a).__name__: a for a in description.args[0]}
    scripts = {entry.split("=")[0].strip() for entry in setup_kwargs(monkeypatch)["entry_points"]["console_scripts"]}
    assert actions["Node"].kwargs["executable"] in scripts and actions["Node"].kwargs["arguments"][0] == "sim"
    assert actions["LifecycleNode"].kwargs["executable"] in scripts
    assert actions["LifecycleNode"].kwargs["name"] == "mgselect"
    recorded = actions["ExecuteProcess"].kwargs["cmd"]
    assert recorded[:3] == ["ros2", "bag", "record"] and "/arm_controller/joint_trajectory" in recorded
    installed = {f"{dest}/{Path(src).name}" for dest, files in setup_kwargs(monkeypatch)["data_files"]
                 for src in files}
    assert "share/mgselect_node/launch/sim_demo.launch.py" in installed
