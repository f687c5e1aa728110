"""stop_process: a child that stops on the signal exits cleanly; one that ignores it is killed and reaped."""

import signal
import subprocess
import sys

from mgselect_node.testing.processes import stop_process

READY = "ready"


def _child(handler: str) -> subprocess.Popen:
    code = (f"import signal, sys, time\nsignal.signal(signal.SIGINT, {handler})\nprint({READY!r}, flush=True)\n"
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == READY   # the handler is installed before we signal
    return proc


def test_a_cooperative_child_exits_with_its_own_code():
    proc = _child("lambda *_: sys.exit(3)")
    assert stop_process(proc, timeout_s=10.0, sig=signal.SIGINT) == 3


def test_a_child_ignoring_the_signal_is_killed():
    proc = _child("signal.SIG_IGN")
    assert stop_process(proc, timeout_s=0.5, sig=signal.SIGINT) == -signal.SIGKILL
    assert proc.poll() is not None
