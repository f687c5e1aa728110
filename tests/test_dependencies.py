"""What the deployed node imports: never the simulator's or the evaluation's extras (MuJoCo, matplotlib), and
the process contracts import nothing heavy. Checked in a fresh interpreter (this one may have loaded them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = ("mujoco", "matplotlib")
DEPLOYED_LAYERS = ("mgselect_node.tokenization", "mgselect_node.model", "mgselect_node.engine",
                   "mgselect_node.control")


def loaded_after(code: str) -> set[str]:
    """Top-level module names loaded by a fresh interpreter after running `code`."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_node_and_its_layers_never_import_the_sim_or_eval_extras():
    walk = f"""
import importlib, pkgutil
import mgselect_node.ros.node
for layer in {DEPLOYED_LAYERS!r}:
    package = importlib.import_module(layer)
    for info in pkgutil.walk_packages(package.__path__, layer + "."):
        importlib.import_module(info.name)
"""
    loaded = loaded_after(walk)
    assert "mgselect_node" in loaded and "rclpy" in loaded and "torch" in loaded   # the probe did import
    assert not loaded & set(EXTRAS_ONLY), f"the deployed node imports {sorted(loaded & set(EXTRAS_ONLY))}"


def test_contracts_import_neither_rclpy_nor_torch():
    loaded = loaded_after("import mgselect_node.contracts")
    assert "mgselect_node" in loaded
    assert not loaded & {"rclpy", "torch", *EXTRAS_ONLY}


def test_pip_install_of_the_node_leaves_the_extras_out(monkeypatch):
    from tests.ros.test_launch import setup_kwargs

    kwargs = setup_kwargs(monkeypatch)
    required = {r.split("==")[0] for r in kwargs["install_requires"]}
    assert {"torch", "scipy", "psutil"} <= required and not required & set(EXTRAS_ONLY)
    assert "mujoco" in str(kwargs["extras_require"]["sim"]) and "matplotlib" in str(kwargs["extras_require"]["eval"])
