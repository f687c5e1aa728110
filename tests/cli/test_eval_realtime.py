"""`mgselect eval-realtime` arguments and reporting from a partial log (no simulation, no policy)."""

from __future__ import annotations

import json
from dataclasses import asdict

from mgselect_node.cli.eval_realtime import main
from mgselect_node.evaluation.realtime_metrics import EpisodeMetrics


def test_bad_arguments_exit_2_with_the_reason(tmp_path, capsys):
    assert main(["--modes", "async", "--out", str(tmp_path)]) == 2
    assert "mode 'async'" in capsys.readouterr().err
    assert main(["--delays", "x", "--out", str(tmp_path)]) == 2
    assert "--delays" in capsys.readouterr().err


def test_a_partial_log_reports_only_the_scenes_every_cell_finished(tmp_path, capsys):
    rows = [EpisodeMetrics(mode, 300, k, success=True, duration_s=5.0, seam_jumps=[0.1], latencies_s=[0.34],
                           inferences=1)
            for k in range(3) for mode in ("fixed-rate", "continuous")][:-1]   # scene 2 lacks "continuous"
    log = tmp_path / "realtime.jsonl"
    log.write_text("".join(json.dumps(asdict(r)) + "\n" for r in rows))
    assert main(["--from-log", str(log), "--out", str(tmp_path / "out"), "--no-plot"]) == 0
    table = (tmp_path / "out" / "realtime.md").read_text()
    assert "| fixed-rate | 300 ms | 2/2" in table and "| continuous | 300 ms | 2/2" in table
    assert "2 scenes per cell" in table
