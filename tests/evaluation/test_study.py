"""evaluation/study.py: diversity bookkeeping, the dev choice rule, cell labels."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.evaluation.cells import Cell
from mgselect_node.evaluation.study import RecordingPolicy, cell_from_label, choose_setting, distinct_candidates


def test_distinct_candidates_counts_token_sequences():
    assert distinct_candidates([[1, 2], [1, 2], [1, 3], [1, 2, 0]]) == 3
    assert distinct_candidates([[5]] * 4) == 1


def test_recording_policy_passes_results_through_and_logs_them():
    result = SimpleNamespace(tokens=[[1], [1], [2]], candidates=[np.zeros(1), None, np.zeros(1)],
                             token_kl=[np.array([0.2, 0.4]), np.array([9.0]), np.array([0.6])])
    inner = SimpleNamespace(select=lambda *a, **k: result, spec="the spec")
    recorder = RecordingPolicy(inner)
    assert recorder.select("obs") is result and recorder.spec == "the spec"
    assert recorder.log.candidates == [3] and recorder.log.distinct == [2]
    assert recorder.log.token_kl == [pytest.approx(0.45)]  # the invalid candidate's KL is left out


def test_choose_setting_takes_most_successes_and_breaks_ties_by_order():
    rows = [{"family": "greedy", "successes": 9}, {"family": "sample", "successes": 8},
            {"family": "mg_select:text", "successes": 5, "temperature": 0.5},
            {"family": "mg_select:state", "successes": 7, "temperature": 0.5},
            {"family": "mg_select:text", "successes": 7, "temperature": 1.0}]
    assert choose_setting(rows) is rows[3]
    with pytest.raises(InputError):
        choose_setting(rows[:2])


@pytest.mark.parametrize("cell", [Cell("greedy", 1), Cell("sample", 4), Cell("mg_select", 4, "both"),
                                  Cell("likelihood", 2)])
def test_cell_labels_round_trip(cell):
    assert cell_from_label(cell.label) == cell


def test_bad_cell_label_is_rejected():
    with pytest.raises(InputError):
        cell_from_label("beam N=4")
