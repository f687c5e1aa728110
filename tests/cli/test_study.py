"""`mgselect study`: a short development sweep and a paired analysis with a contact sheet, on the bundle."""

from __future__ import annotations

import json

from mgselect_node.cli.eval import main as eval_main
from mgselect_node.cli.study import main
from mgselect_node.evaluation.cells import Cell
from mgselect_node.evaluation.runner import EvalSettings
from mgselect_node.evaluation.study import contact_sheets


def test_dev_sweep_writes_diversity_and_a_choice(tmp_path):
    code = main(["dev", "--policy", "default", "--episodes", "1", "--temperatures", "1.0", "--masks", "state",
                 "--num-candidates", "2", "--episode-seconds", "1", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    data = json.loads((tmp_path / "dev.json").read_text())
    assert [r["cell"] for r in data["rows"]] == ["greedy", "sample N=2", "mg_select:state N=2"]
    greedy, sample, mg = data["rows"]
    assert greedy["mean_distinct"] == 1.0 and greedy["all_identical"] == 0.0
    assert 1.0 <= sample["mean_distinct"] <= 2.0 and mg["mean_token_kl"] > 0
    assert data["chosen"]["cell"] == "mg_select:state N=2"


def test_compare_reproduces_episodes_and_draws_sheets(tmp_path):
    """The contact sheet re-runs an evaluated episode: same settings (the instruction style too) and seed -> the
    same outcome."""
    run = tmp_path / "eval"
    assert eval_main(["--policy", "default", "--episodes", "2", "--strategies", "greedy,mg_select:state",
                      "--num-candidates", "2", "--episode-seconds", "1.5", "--instructions", "position",
                      "--out", str(run), "--no-progress"]) == 0
    code = main(["compare", "--results", str(run / "results.json"), "--treatment", "mg_select:state N=2",
                 "--controls", "greedy", "--sheets", "0", "--out", str(tmp_path / "cmp")])
    assert code == 0
    text = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| mg_select:state N=2 | greedy | 2 |" in text and "target row" in text
    data = json.loads((run / "results.json").read_text())
    settings = EvalSettings(**data["settings"])
    assert settings.instructions == "position"
    [(path, outcomes)] = contact_sheets(settings, [Cell("greedy", 1), Cell("mg_select", 2, "state")],
                                        [settings.seed + 1], tmp_path / "cmp")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    expected = {e["cell"]: e["success"] for e in data["episodes"] if e["episode"] == 1}
    assert outcomes == [expected["greedy"], expected["mg_select:state N=2"]]
    reran = [e for e in data["episodes"] if e["episode"] == 1]
    assert all(e["steps"] >= 1 for e in reran)
