"""ament_python package: installs the Python package, launch/ and config/ into share/, and the CLI."""

import re
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "mgselect_node"
# What the deployed node needs (rclpy and the message packages come from ROS); the tools' extras on top.
# Versions are pinned once, in requirements.txt (`make setup` installs all of it, what CI tests).
RUNTIME = ["numpy", "scipy", "PyYAML", "opencv-python-headless", "psutil", "torch", "transformers", "tokenizers",
           "safetensors"]
EXTRAS = {
    "sim": ["mujoco"],                               # mgselect sim / collect, the closed-loop demo
    "eval": ["mujoco", "matplotlib", "tqdm"],        # mgselect eval (runs the simulator, plots)
    "bag": ["rosbags", "tqdm"],                      # mgselect replay / record
}


def pinned(names: list[str]) -> list[str]:
    """`name==version` from requirements.txt where it pins the name, else the bare name."""
    path = Path(__file__).resolve().parent / "requirements.txt"
    lines = path.read_text().splitlines() if path.is_file() else []
    pins = {m.group(1).lower(): line.strip() for line in lines if (m := re.match(r"^([A-Za-z0-9_.-]+)==", line))}
    return [pins.get(name.lower(), name) for name in names]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["policies/DEFAULT", "policies/*/*", "policies/*/*/*", "data/*", "sim/*.xml"]},
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=["setuptools", *pinned(RUNTIME)],
    extras_require={name: pinned(names) for name, names in EXTRAS.items()},
    zip_safe=False,
    maintainer="mgselect_node maintainers",
    maintainer_email="maintainers@mgselect.invalid",
    description="MG-Select test-time action selection for autoregressive VLA policies as a ROS 2 node.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "mgselect = mgselect_node.cli.main:main",
            "mgselect_node = mgselect_node.ros.node:main",
        ],
    },
)
