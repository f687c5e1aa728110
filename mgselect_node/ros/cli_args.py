"""Command line of `mgselect_node` / `mgselect node`: the package's shorthands turned into --ros-args."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

USAGE = """\
usage: mgselect_node [--params-file FILE] [--log-level LEVEL] [--ros-args ...]
       mgselect node [--params-file FILE] [--log-level LEVEL] [--ros-args ...]

Runs the `mgselect` lifecycle node. --params-file FILE is shorthand for `--ros-args --params-file FILE`
(a standard ros__parameters YAML, e.g. config/mgselect.yaml); everything after --ros-args goes to ROS.
Fast DDS uses the package's shared-memory profile (config/fastdds_shm.xml) unless FASTDDS_DEFAULT_PROFILES_FILE
or FASTRTPS_DEFAULT_PROFILES_FILE is set.
"""


def to_ros_args(argv: Sequence[str]) -> list[str]:
    """`--params-file F` / `--log-level L` before --ros-args -> the equivalent --ros-args section."""
    argv = list(argv)
    if "--ros-args" in argv:
        cut = argv.index("--ros-args")
        own, ros = argv[:cut], argv[cut:]
    else:
        own, ros = argv, []
    parser = argparse.ArgumentParser(prog="mgselect_node", add_help=False)
    parser.add_argument("--params-file", action="append", default=[])
    parser.add_argument("--log-level")
    opts, unknown = parser.parse_known_args(own)
    if unknown:
        raise SystemExit(f"mgselect_node: unrecognized arguments {unknown}\n\n{USAGE}")
    extra: list[str] = []
    for path in opts.params_file:
        extra += ["--params-file", path]
    if opts.log_level:
        extra += ["--log-level", opts.log_level]
    return (["--ros-args", *extra] if extra else []) + ros
