"""The policy node in its own process, as tests, benchmarks and the demo run it: a params file, DDS on
loopback, its log in a file, readiness through its lifecycle state (never its log text)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mgselect_node.contracts import NODE_NAME
from mgselect_node.testing.processes import TOOL_COMMAND, ChildProcess

NODE_COMMAND = (*TOOL_COMMAND, "node")       # `mgselect node`; tests pass their fake-policy script instead
BYTES_PER_MB = 1024.0 * 1024.0
KB_PER_MB = 1024.0


def write_params(path: Path, params: Mapping[str, Any], node_name: str = NODE_NAME) -> Path:
    """A standard ROS params file (`<node>: ros__parameters: {...}`)."""
    import yaml

    path.write_text(yaml.safe_dump({node_name: {"ros__parameters": dict(params)}}))
    return path


class NodeProcess(ChildProcess):
    """`mgselect node --params-file <workdir>/params.yaml [--ros-args ...]`, log in <workdir>/node.log.

    `params` are written to the params file; `params_file` uses an existing one instead. `command` is what
    runs the node (default `mgselect node`; e.g. a script with a fake policy, or an installed executable);
    it must accept `--params-file` and `--ros-args` like the node's own entry points."""

    def __init__(self, workdir: Path, params: Mapping[str, Any] | None = None, params_file: Path | None = None,
                 command: Sequence[str] = NODE_COMMAND, ros_args: Sequence[str] = (),
                 node_name: str = NODE_NAME, **kwargs: Any) -> None:
        workdir = Path(workdir)
        self.node_name = node_name
        if params is not None:
            params_file = write_params(workdir / "params.yaml", params, node_name)
        self.params_path = params_file
        args = ["--params-file", str(params_file)] if params_file is not None else []
        if ros_args:
            args += ["--ros-args", *ros_args]
        super().__init__(args, workdir / "node.log", command=command, **kwargs)

    def memory_mb(self) -> dict[str, float]:
        """RSS, and its anonymous / shared-memory parts where /proc tells them apart (Linux).

        Fast DDS maps a camera publisher's shared-memory segment into the node: those pages count in RSS as
        they are first touched, which is not a leak, so growth is reported for both."""
        import psutil

        out = {"rss": psutil.Process(self.pid).memory_info().rss / BYTES_PER_MB}
        status = Path(f"/proc/{self.pid}/status")
        if status.is_file():
            for line in status.read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssShmem", "RssFile"):
                    out[key[3:].lower()] = float(value.split()[0]) / KB_PER_MB
        return out
