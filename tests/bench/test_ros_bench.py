"""`mgselect bench --ros`: a short latency run and a short soak run produce the documented report.

Smoke runs only (a few samples, a few seconds): the numbers are benchmarks, not pass/fail thresholds here,
except that they must be measured and be consistent with each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LATENCY_SAMPLES = 5


def bench(tmp_path: Path, *args: str) -> dict:
    out_path = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "mgselect_node.cli.main", "bench", "--ros", *args,
                           "--num-candidates", "2", "--json", str(out_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return json.loads(out_path.read_text())


def test_latency_report(tmp_path):
    report = bench(tmp_path, "--samples", str(LATENCY_SAMPLES))
    # a frame whose candidates and greedy fallback are all invalid publishes nothing: that sample fails
    assert report["samples"] + report["failed_samples"] == LATENCY_SAMPLES and report["samples"] >= 1
    assert report["image"] == "640x480 rgb8"
    overhead, e2e, engine = report["node_overhead_p50_ms"], report["e2e_p50_ms"], report["engine_p50_ms"]
    assert 0 < overhead < e2e and engine > 0
    for key in ("conversion_p50_ms", "preprocess_p50_ms", "build_p50_ms"):
        assert report[key] is not None and report[key] >= 0


def test_soak_report(tmp_path):
    report = bench(tmp_path, "--soak", "6")
    assert report["mode"] == "soak" and report["frames_published"] > 0
    assert 0 < report["frames_received"] <= report["frames_published"]
    assert report["dropped_frames"] == report["frames_published"] - report["frames_received"]
    assert report["rss_baseline_mb"] > 0 and "rss_growth_pct" in report
