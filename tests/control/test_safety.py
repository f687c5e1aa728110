"""Safety: clamping, jump rejection, non-finite rejection."""

from __future__ import annotations

import numpy as np
import pytest

from mgselect_node.control.safety import SafetyLimits, check_chunk

NAMES = ["a", "b"]


def limits(step: float = 0.2, start: float = 0.3, lo=(-1.0, -1.0), hi=(1.0, 1.0)) -> SafetyLimits:
    return SafetyLimits.build(list(lo), list(hi), step, start)


def test_within_limits_passes_unchanged():
    pos = np.array([[0.1, 0.0], [0.2, 0.1]])
    res = check_chunk(pos, np.zeros(2), limits(), NAMES)
    assert not res.rejected and res.clamped_points == 0
    np.testing.assert_array_equal(res.positions, pos)


def test_positions_are_clamped_to_limits():
    pos = np.array([[0.95, -0.9], [1.1, -1.05]])
    res = check_chunk(pos, np.array([0.9, -0.9]), limits(), NAMES)
    assert not res.rejected and res.clamped_points == 2
    np.testing.assert_allclose(res.positions[1], [1.0, -1.0])


def test_first_point_too_far_rejects_the_chunk():
    res = check_chunk(np.array([[0.0, 0.5]]), np.zeros(2), limits(), NAMES)
    assert res.rejected and res.positions is None
    assert "b" in res.reason and "max_start_distance" in res.reason


def test_step_change_too_large_rejects_the_chunk():
    pos = np.array([[0.1, 0.0], [0.1, 0.0], [0.5, 0.0]])
    res = check_chunk(pos, np.zeros(2), limits(), NAMES)
    assert res.rejected and "step 1->2 changes a by 0.4000" in res.reason


def test_non_finite_and_shape_mismatch_reject():
    assert check_chunk(np.array([[np.nan, 0.0]]), np.zeros(2), limits()).rejected
    res = check_chunk(np.zeros((2, 3)), np.zeros(2), limits())
    assert res.rejected and "does not match 2 joints" in res.reason


def test_no_limits_means_no_clamp():
    free = SafetyLimits.build([], [], 10.0, 10.0)
    res = check_chunk(np.array([[5.0, -5.0]]), np.array([4.0, -4.0]), free)
    assert not res.rejected and res.positions.tolist() == [[5.0, -5.0]]


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        SafetyLimits.build([0.0], [1.0, 2.0], 1.0, 1.0)
    with pytest.raises(ValueError, match="lower limit above upper"):
        SafetyLimits.build([1.0], [0.0], 1.0, 1.0)
