"""`mgselect bench` runs every variant on the bundled policy and writes the ratios the README quotes: the
headline at equal decoded length, the variable-length numbers in their own section."""

import json

import pytest

from mgselect_node.bench import engine_bench
from mgselect_node.bench.engine_bench import FIXED, REFERENCE_N, main


def test_quick_bench_compares_at_equal_length(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engine_bench, "SWEEP_N", (1, REFERENCE_N))  # the structure, not the whole sweep
    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    names = {"greedy", f"naive_mg_select_n{REFERENCE_N}", f"hf_generate_mg_select_n{REFERENCE_N}", "mg_select_n1",
             f"mg_select_n{REFERENCE_N}"}
    timings = report["timings_ms"]
    assert set(timings) == {name + FIXED for name in names} and all(ms > 0 for ms in timings.values())
    budget = report["decode_budget_tokens"]
    assert report["shortest_row_tokens"] == {"greedy": budget, f"mg_select_n{REFERENCE_N}": budget}
    assert report["ratios"] == {
        "mg_select_n4_over_greedy_fixed_length": round(
            timings["mg_select_n4_fixed_length"] / timings["greedy_fixed_length"], 3),
        "naive_over_mg_select_n4_fixed_length": round(
            timings["naive_mg_select_n4_fixed_length"] / timings["mg_select_n4_fixed_length"], 3),
        "hf_generate_over_mg_select_n4_fixed_length": round(
            timings["hf_generate_mg_select_n4_fixed_length"] / timings["mg_select_n4_fixed_length"], 3)}

    variable = report["variable_length"]
    assert "mix cost with chunk length" in variable["meaning"]
    assert set(variable["timings_ms"]) == names
    assert variable["ratios"]["naive_over_mg_select_n4"] == round(
        variable["timings_ms"]["naive_mg_select_n4"] / variable["timings_ms"]["mg_select_n4"], 3)
    assert set(variable["ratios"]) == {name.removesuffix(FIXED) for name in report["ratios"]}
    # The bench observation is one on which the default bundle's greedy chunk decodes within the budget.
    assert variable["greedy_valid"]
    assert 0 < variable["decoded_tokens"]["greedy"] < budget
    assert "naive_over_mg_select_n4_fixed_length" in capsys.readouterr().out


@pytest.mark.slow
def test_quick_bench_on_an_imported_lerobot_checkpoint(tmp_path, lerobot_tiny):
    """`mgselect bench --policy <LeRobot pi0_fast dir>` goes through the lerobot_pi0fast adapter."""
    path, options = lerobot_tiny
    out = tmp_path / "bench.json"
    assert main(["--quick", "--policy", path, "--text-tokenizer", options.text_tokenizer,
                 "--action-tokenizer", options.action_tokenizer, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["policy"] == "checkpoint"
    assert all(ms > 0 for ms in report["timings_ms"].values())
    assert all(ms > 0 for ms in report["variable_length"]["timings_ms"].values())
