"""Evaluation: the statistics, the deduplicated grid, and a CI-sized closed-loop smoke run on the bundle."""

from __future__ import annotations

import json

import pytest

from mgselect_node.errors import InputError
from mgselect_node.evaluation.evaluate import (
    PLOT_PNG,
    RESULTS_JSON,
    RESULTS_MD,
    Cell,
    main,
    parse_counts,
    parse_strategies,
    plan_cells,
    wilson_interval,
)


@pytest.mark.parametrize(("wins", "n", "low", "high"), [
    (0, 10, 0.0, 0.2775),     # reference values of the Wilson score interval, z = 1.96
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (50, 100, 0.4038, 0.5962),
])
def test_wilson_interval_matches_reference_values(wins, n, low, high):
    assert wilson_interval(wins, n) == pytest.approx((low, high), abs=1e-4)


def test_grid_is_deduplicated():
    cells = plan_cells(parse_strategies("greedy,sample,likelihood,mg_select:text,mg_select:both"),
                       parse_counts("1,2,4"))
    labels = [c.label for c in cells]
    assert labels == ["greedy", "sample N=1", "sample N=2", "sample N=4", "likelihood N=2", "likelihood N=4",
                      "mg_select:text N=2", "mg_select:text N=4", "mg_select:both N=2", "mg_select:both N=4"]
    # N=1 of a selecting strategy is the single-sample cell, added even when `sample` was not asked for.
    assert plan_cells(parse_strategies("mg_select:state"), [1, 8]) == [Cell("sample", 1),
                                                                         Cell("mg_select", 8, "state")]


@pytest.mark.parametrize("text", ["beam", "mg_select:image", "greedy:text", ""])
def test_bad_strategies_are_rejected(text):
    with pytest.raises(InputError, match="strategies"):
        parse_strategies(text)


def test_bad_candidate_counts_are_rejected():
    with pytest.raises(InputError, match="num-candidates"):
        parse_counts("0,2")


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
