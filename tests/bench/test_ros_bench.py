"""`mgselect bench --ros`: a short latency run and a short soak run produce the documented report.

Smoke runs only (a few samples, a few seconds): the numbers are benchmarks, not pass/fail thresholds here,
except that they must be measured and be consistent with each other. Both runs share one node process (started
with the latency mode's parameters: the soak only checks its report here), through the bench's own entry point.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mgselect_node.bench import ros_bench
from mgselect_node.ros.resources import PROFILE_ENV_VARS

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

LATENCY_SAMPLES = 5
BENCH_ARGS = ("--num-candidates", "2")


@pytest.fixture(scope="module")
def session():
    """The bench's main sets this process's environment as a CLI run would (the Fast DDS profile): undone
    afterwards, so later modules see the test environment."""
    from mgselect_node.model.bundle import load_spec, resolve_policy_path

    args = ros_bench.parse_args(list(BENCH_ARGS))
    saved = {name: os.environ.get(name) for name in PROFILE_ENV_VARS}
    try:
        with ros_bench.node_session(args, load_spec(resolve_policy_path(args.policy)),
                                    latency_mode=True) as running:
            yield running
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def bench(tmp_path: Path, session, *args: str) -> dict:
    out_path = tmp_path / "bench.json"
    assert ros_bench.main(["--ros", *args, *BENCH_ARGS, "--json", str(out_path)], session=session) == 0
    return json.loads(out_path.read_text())


def test_latency_report(tmp_path, session):
    report = bench(tmp_path, session, "--samples", str(LATENCY_SAMPLES))
    # a frame whose candidates and greedy fallback are all invalid publishes nothing: that sample fails
    assert report["samples"] + report["failed_samples"] == LATENCY_SAMPLES and report["samples"] >= 1
    assert report["image"] == "640x480 rgb8"
    overhead, e2e, engine = report["node_overhead_p50_ms"], report["e2e_p50_ms"], report["engine_p50_ms"]
    assert 0 < overhead < e2e and engine > 0
    for key in ("conversion_p50_ms", "preprocess_p50_ms", "build_p50_ms"):
        assert report[key] is not None and report[key] >= 0


def test_soak_report(tmp_path, session):
    report = bench(tmp_path, session, "--soak", "6")
    assert report["mode"] == "soak" and report["frames_published"] > 0
    assert 0 < report["frames_received"] <= report["frames_published"]
    assert report["dropped_frames"] == report["frames_published"] - report["frames_received"]
    assert report["rss_baseline_mb"] > 0 and "rss_growth_pct" in report
    assert report["engine_alone_p50_ms"] > 0 and report["in_node_engine_p50_ms"] > 0
