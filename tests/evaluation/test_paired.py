"""Paired statistics: exact McNemar against hand-checked values, Newcombe's interval, difficulty labels."""

from __future__ import annotations

import math

import pytest

from mgselect_node.errors import InputError
from mgselect_node.evaluation.paired import (
    compare,
    comparison_table,
    exact_mcnemar,
    outcomes_by_cell,
    paired_difference_interval,
    scene_difficulty,
    split_by_difficulty,
)


@pytest.mark.parametrize(("wins", "losses", "p"), [
    (0, 0, 1.0),
    (5, 0, 0.0625),          # 2 * 0.5^5
    (3, 3, 1.0),
    (22, 8, 0.016124801710247993),
    (16, 5, 0.02660369873046875),
])
def test_exact_mcnemar_matches_the_binomial_tail(wins, losses, p):
    assert exact_mcnemar(wins, losses) == pytest.approx(p, rel=1e-12)
    assert exact_mcnemar(losses, wins) == pytest.approx(p, rel=1e-12)  # two-sided: symmetric


def test_exact_mcnemar_rejects_negative_counts():
    with pytest.raises(InputError):
        exact_mcnemar(-1, 3)


def test_newcombe_interval_contains_the_estimate_and_narrows_with_correlation():
    low, high = paired_difference_interval(36, 12, 2, 0)
    assert low < (12 - 2) / 50 < high and low > 0 and high < 1
    # The same margins with concordant pairs (strong positive correlation) give a narrower interval.
    independent = paired_difference_interval(10, 30, 10, 50)
    correlated = paired_difference_interval(40, 0, 0, 60)
    assert correlated[1] - correlated[0] < independent[1] - independent[0]
    assert correlated[0] < 0 < correlated[1]
    assert paired_difference_interval(0, 0, 0, 0) == (-1.0, 1.0)


def test_newcombe_interval_is_antisymmetric_when_arms_swap():
    low, high = paired_difference_interval(20, 15, 5, 60)
    swapped = paired_difference_interval(20, 5, 15, 60)
    assert swapped == pytest.approx((-high, -low))


def _episodes(cell, outcomes, first_seed=100):
    return [{"cell": cell, "scene_seed": first_seed + i, "success": ok} for i, ok in enumerate(outcomes)]


def test_compare_counts_wins_and_losses_on_shared_scenes():
    rows = _episodes("greedy", [1, 0, 0, 1, 0]) + _episodes("mg_select:text N=4", [1, 1, 1, 0, 0])
    rows += [{"cell": "greedy", "scene_seed": 999, "success": True}]  # not shared: ignored
    result = compare(outcomes_by_cell(rows), "mg_select:text N=4", "greedy")
    assert (result.pairs, result.wins, result.losses) == (5, 2, 1)
    assert (result.treatment_successes, result.control_successes) == (3, 2)
    assert result.difference == pytest.approx(0.2)
    assert result.relative_gain == pytest.approx(0.5)
    assert result.p_value == pytest.approx(1.0)
    table = comparison_table([result])
    assert "| mg_select:text N=4 | greedy | 5 |" in table and "2 / 1" in table and "+50%" in table


def test_compare_names_missing_cells():
    with pytest.raises(InputError, match="sample N=4"):
        compare(outcomes_by_cell(_episodes("greedy", [1])), "sample N=4", "greedy")


def test_scene_difficulty_labels_rows_and_neighbours():
    near, far = (0.18, 0.0), (0.28 * math.cos(0.3), 0.28 * math.sin(0.3))
    neighbour, distant = (0.18 * math.cos(0.6), 0.18 * math.sin(0.6)), (0.18 * math.cos(-0.6), -0.18 * math.sin(0.6))
    assert scene_difficulty({"red": near, "blue": neighbour, "green": far}, "red") == \
        {"target row": "near", "neighbouring pads": "2"}
    assert scene_difficulty({"red": far, "blue": distant}, "red") == {"target row": "far", "neighbouring pads": "0"}


def test_split_by_difficulty_counts_each_group():
    outcomes = outcomes_by_cell(_episodes("greedy", [1, 0, 0]) + _episodes("sample N=4", [1, 1, 0]))
    labels = {100: {"target row": "near"}, 101: {"target row": "near"}, 102: {"target row": "far"}}
    table = split_by_difficulty(outcomes, labels, ["greedy", "sample N=4"])
    assert "| target row | far | 1 | 0/1 = 0% | 0/1 = 0% |" in table
    assert "| target row | near | 2 | 1/2 = 50% | 2/2 = 100% |" in table
