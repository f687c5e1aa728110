"""ament_python package: installs the Python package, launch/ and config/ into share/, and the CLI."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mgselect_node"

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
    install_requires=["setuptools"],
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
