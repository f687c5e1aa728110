"""What can be checked of the launch file without launch_ros (not available as a wheel here).

The launch file is executed against small stand-ins for the launch / launch_ros classes it uses, which
record what it builds; then: every parameter it sets is declared by the node, every file it references is
installed by setup.py, and the executable it starts is the console script setup.py installs.
"""

from __future__ import annotations

import ast
import runpy
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import setuptools

from mgselect_node.config import Config

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "mgselect.launch.py"
PACKAGE = "mgselect_node"
NODE_DECLARES = set(Config.fields_by_name()) | {"use_sim_time"}   # rclpy declares use_sim_time itself


class Recorded:
    """Any launch class: remembers its arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(Recorded):
    def perform(self, context: Any) -> str:
        return context.launch_configurations[self.args[0]]


class PathJoinSubstitution(Recorded):
    def parts(self) -> list[Any]:
        return list(self.args[0])


def stub_modules() -> dict[str, types.ModuleType]:
    mods = {name: types.ModuleType(name) for name in (
        "launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions",
        "launch_ros.substitutions")}
    mods["launch"].LaunchDescription = type("LaunchDescription", (Recorded,), {})
    mods["launch.actions"].DeclareLaunchArgument = type("DeclareLaunchArgument", (Recorded,), {})
    mods["launch.actions"].OpaqueFunction = type("OpaqueFunction", (Recorded,), {})
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch.substitutions"].PathJoinSubstitution = PathJoinSubstitution
    mods["launch_ros.actions"].LifecycleNode = type("LifecycleNode", (Recorded,), {})
    mods["launch_ros.actions"].Node = type("Node", (Recorded,), {})
    mods["launch_ros.substitutions"].FindPackageShare = type("FindPackageShare", (Recorded,), {})
    return mods


@pytest.fixture
def launch_module(monkeypatch) -> dict[str, Any]:
    for name, module in stub_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return runpy.run_path(str(LAUNCH))


def setup_kwargs(monkeypatch) -> dict[str, Any]:
    """Run setup.py with setuptools.setup replaced by a recorder (nothing is built)."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))
    monkeypatch.chdir(REPO)
    runpy.run_path(str(REPO / "setup.py"), run_name="__main__")
    return captured


def installed_share_files(monkeypatch) -> set[str]:
    return {f"{dest}/{Path(src).name}" for dest, files in setup_kwargs(monkeypatch)["data_files"]
            for src in files}


def declared_arguments(description) -> dict[str, Any]:
    return {a.args[0]: a.kwargs["default_value"] for a in description.args[0]
            if type(a).__name__ == "DeclareLaunchArgument"}


def node_action(description, values: dict[str, str]):
    opaque = [a for a in description.args[0] if type(a).__name__ == "OpaqueFunction"]
    assert len(opaque) == 1
    context = types.SimpleNamespace(launch_configurations=values)
    (node,) = opaque[0].kwargs["function"](context)
    return node


def test_launch_file_parses():
    ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def test_declares_the_documented_arguments(launch_module):
    args = declared_arguments(launch_module["generate_launch_description"]())
    assert set(args) == {"params_file", "namespace", "use_sim_time", "controller_name"}


@pytest.mark.parametrize("sim, controller", [("true", "my_controller"), ("false", "")])
def test_every_parameter_it_sets_is_declared_by_the_node(launch_module, sim, controller):
    description = launch_module["generate_launch_description"]()
    node = node_action(description, {"params_file": "/p.yaml", "namespace": "robot1",
                                     "use_sim_time": sim, "controller_name": controller})
    assert type(node).__name__ == "LifecycleNode"
    assert node.kwargs["name"] == "mgselect" and node.kwargs["package"] == PACKAGE
    params_file, overrides = node.kwargs["parameters"]
    assert params_file.args == ("params_file",)
    assert set(overrides) <= NODE_DECLARES
    assert overrides["use_sim_time"] is (sim == "true")
    assert overrides.get("controller_name") == (controller or None)


def test_referenced_files_and_executable_are_installed(launch_module, monkeypatch):
    description = launch_module["generate_launch_description"]()
    default = declared_arguments(description)["params_file"]
    share, *rest = default.parts()
    assert share.args == (PACKAGE,)
    installed = installed_share_files(monkeypatch)
    assert f"share/{PACKAGE}/{'/'.join(rest)}" in installed
    assert f"share/{PACKAGE}/launch/{LAUNCH.name}" in installed
    assert f"share/{PACKAGE}/config/fastdds_shm.xml" in installed
    assert f"share/{PACKAGE}/package.xml" in installed
    scripts = setup_kwargs(monkeypatch)["entry_points"]["console_scripts"]
    node = node_action(description, {"params_file": "/p", "namespace": "", "use_sim_time": "false",
                                     "controller_name": ""})
    assert f"{node.kwargs['executable']} = mgselect_node.ros.node:main" in scripts
    # `ros2 run` looks for executables in lib/<package>
    assert f"install_scripts=$base/lib/{PACKAGE}" in (REPO / "setup.cfg").read_text()


def test_default_params_file_is_valid_and_declared():
    config = Config.from_yaml(str(REPO / "config" / "mgselect.yaml"))
    assert config.node.controller_name == "arm_controller"
    import yaml

    keys = set(yaml.safe_load((REPO / "config" / "mgselect.yaml").read_text())["mgselect"]["ros__parameters"])
    assert keys <= NODE_DECLARES
