"""`mgselect eval`: a CI-sized closed-loop smoke run on the bundled policy writes the table, JSON and plot."""

from __future__ import annotations

import json

from mgselect_node.cli.eval import main
from mgselect_node.evaluation.report import PLOT_PNG, RESULTS_JSON, RESULTS_MD


def test_smoke_eval_writes_table_json_and_plot(tmp_path):
    """Two short episodes per cell with the bundled default policy in the real simulator."""
    out = tmp_path / "eval"
    code = main(["--policy", "default", "--episodes", "2", "--strategies", "greedy,mg_select:state",
                 "--num-candidates", "2", "--episode-seconds", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    table = (out / RESULTS_MD).read_text()
    assert "| greedy | 1 |" in table and "| mg_select:state | 2 |" in table and "Wilson" in table
    data = json.loads((out / RESULTS_JSON).read_text())
    assert [s["cell"] for s in data["summary"]] == ["greedy", "mg_select:state N=2"]
    episodes = data["episodes"]
    assert len(episodes) == 4
    # Same scenes for every cell; every episode ran inferences and stopped at the 2 s limit or on success.
    assert [e["scene_seed"] for e in episodes[:2]] == [e["scene_seed"] for e in episodes[2:]]
    assert all(e["inferences"] >= 1 and (e["success"] or e["steps"] == 20) for e in episodes)
    assert all(s["mean_latency_ms"] > 0 for s in data["summary"])
    assert (out / PLOT_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
