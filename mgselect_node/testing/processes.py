"""Child processes of the tools (node, simulator, recorder): stopping them the same way everywhere."""

from __future__ import annotations

import signal
import subprocess


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
