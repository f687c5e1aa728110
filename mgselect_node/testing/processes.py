"""Child processes of the tools and tests (node, simulator, recorder): started and stopped the same way
everywhere, with their output in a log file and DDS kept on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from mgselect_node.ros.dds_env import keep_or_use_loopback

TOOL_COMMAND = (sys.executable, "-m", "mgselect_node.cli.main")   # + a subcommand: `mgselect <subcommand>`
STOP_TIMEOUT_S = 20.0
LOG_TAIL_CHARS = 4000
ISOLATION_VARIABLES = ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID")


def stop_process(proc: subprocess.Popen, timeout_s: float, sig: int = signal.SIGTERM) -> int | None:
    """Send `sig` (SIGINT lets a ROS node shut down as on Ctrl-C), kill the process if it has not exited within
    `timeout_s`, and reap it, so that no child outlives its caller. Returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def isolated_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with DDS on loopback in this process's private domain
    (kept if already chosen, so the child and this process's own ROS clients find each other)."""
    keep_or_use_loopback()
    env = dict(os.environ if base is None else base)
    env.update({key: os.environ[key] for key in ISOLATION_VARIABLES})
    return env


class ChildProcess:
    """`command + args` in its own process, stdout and stderr in `log_path`; a context manager that stops it.

    The default command is the package's CLI (`mgselect <args>`); `env` replaces the inherited environment
    (DDS isolation is added to it). `stop()` sends SIGINT (a ROS node shuts down
    as on Ctrl-C) and kills the process if it has not exited after `stop_timeout_s`."""

    def __init__(self, args: Sequence[str], log_path: Path, command: Sequence[str] = TOOL_COMMAND,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None, new_session: bool = False,
                 stop_timeout_s: float = STOP_TIMEOUT_S) -> None:
        self.log_path = Path(log_path)
        self.stop_timeout_s = stop_timeout_s
        self.argv = [*command, *args]
        with self.log_path.open("w") as handle:   # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self.argv, stdout=handle, stderr=subprocess.STDOUT, env=isolated_env(env),
                                         cwd=cwd, start_new_session=new_session)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.log()[-chars:]

    def describe(self) -> str:
        """Exit state and the end of the log, for error messages."""
        state = "running" if self.alive() else f"exited with {self.returncode}"
        return f"{' '.join(self.argv[-4:])} ({state}); log {self.log_path}:\n{self.log_tail()}"

    def wait(self, timeout_s: float) -> int:
        return self.proc.wait(timeout_s)

    def stop(self, sig: int = signal.SIGINT) -> int | None:
        return stop_process(self.proc, self.stop_timeout_s, sig)

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
