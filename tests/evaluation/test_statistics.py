"""Evaluation statistics against reference values."""

from __future__ import annotations

import math

import pytest

from mgselect_node.contracts import SEED_MODULUS
from mgselect_node.evaluation.runner import inference_seed
from mgselect_node.evaluation.statistics import paired_difference, wilson_interval


@pytest.mark.parametrize(("wins", "n", "low", "high"), [
    (0, 10, 0.0, 0.2775),     # reference values of the Wilson score interval, z = 1.96
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (50, 100, 0.4038, 0.5962),
])
def test_wilson_interval_matches_reference_values(wins, n, low, high):
    assert wilson_interval(wins, n) == pytest.approx((low, high), abs=1e-4)


def test_paired_difference_mean_and_standard_error():
    mean, se = paired_difference([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])   # differences 2, 3, 4
    assert mean == pytest.approx(3.0) and se == pytest.approx(1.0 / math.sqrt(3.0))
    assert all(math.isnan(v) for v in paired_difference([1.0], [0.0]))


def test_inference_seed_is_per_scene_and_index_and_bounded():
    assert inference_seed(1_000_000, 3) == (1_000_000 * 1000 + 3) % SEED_MODULUS
    assert inference_seed(5, 0) != inference_seed(5, 1) != inference_seed(6, 0)
