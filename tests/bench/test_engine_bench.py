"""`mgselect bench` runs every variant on the bundled policy and writes the ratios the README quotes."""

import json

from mgselect_node.bench.engine_bench import REFERENCE_N, SWEEP_N, main


def test_quick_bench_writes_every_timing_and_ratio(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    timings = report["timings_ms"]
    expected = {"greedy", f"naive_mg_select_n{REFERENCE_N}", f"hf_generate_mg_select_n{REFERENCE_N}"}
    expected |= {f"mg_select_n{n}" for n in SWEEP_N} | {"greedy_fixed_length", f"mg_select_n{REFERENCE_N}_fixed_length"}
    assert set(timings) == expected and all(ms > 0 for ms in timings.values())
    ratios = report["ratios"]
    assert ratios["mg_select_n4_over_greedy"] == round(timings["mg_select_n4"] / timings["greedy"], 3)
    assert ratios["mg_select_n4_over_greedy_fixed_length"] == round(
        timings["mg_select_n4_fixed_length"] / timings["greedy_fixed_length"], 3)
    assert set(report["decoded_tokens"]) == {"greedy", f"mg_select_n{REFERENCE_N}"}
    assert 0 < report["decoded_tokens"]["greedy"] <= report["decode_budget_tokens"]
    assert ratios["naive_over_mg_select_n4"] == round(timings["naive_mg_select_n4"] / timings["mg_select_n4"], 3)
    assert "mg_select_n4_over_greedy" in capsys.readouterr().out


def test_quick_bench_on_an_imported_lerobot_checkpoint(tmp_path, lerobot_tiny):
    """`mgselect bench --policy <LeRobot pi0_fast dir>` goes through the lerobot_pi0fast adapter."""
    path, options = lerobot_tiny
    out = tmp_path / "bench.json"
    assert main(["--quick", "--policy", path, "--text-tokenizer", options.text_tokenizer,
                 "--action-tokenizer", options.action_tokenizer, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["policy"] == "checkpoint" and report["valid_candidates_n4"] >= 1
    assert all(ms > 0 for ms in report["timings_ms"].values())
