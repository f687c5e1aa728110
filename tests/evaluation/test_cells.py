"""The evaluation grid: deduplicated, and bad strategy / N lists refused with the flag named."""

from __future__ import annotations

import pytest

from mgselect_node.errors import InputError
from mgselect_node.evaluation.cells import Cell, parse_counts, parse_strategies, plan_cells


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
