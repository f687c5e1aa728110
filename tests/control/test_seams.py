"""Seams: the committed reference, coherence costs and choice, overlap blending, seam velocities."""

from __future__ import annotations

import numpy as np
import pytest

from mgselect_node.control import seams
from mgselect_node.control.seams import Committed

TIMES = np.array([1.1, 1.2, 1.3])


def committed() -> Committed:
    # From 0 at t=1.0 to 0.3 at t=1.3 on one joint; a second joint stays at 1.
    return Committed(1.0, np.array([0.0, 1.0]), TIMES, np.array([[0.1, 1.0], [0.2, 1.0], [0.3, 1.0]]))


def test_committed_reference_interpolates_and_holds():
    c = committed()
    np.testing.assert_allclose(c.position_at(1.15)[0], [0.15, 1.0])
    np.testing.assert_allclose(c.position_at(0.5)[0], [0.0, 1.0])
    np.testing.assert_allclose(c.position_at(9.0)[0], [0.3, 1.0])
    assert c.end_time == pytest.approx(1.3) and c.time_left(1.25) == pytest.approx(0.05) and c.time_left(2) == 0


def test_overlap_counts_the_points_inside_the_committed_span():
    assert seams.overlap_count(np.array([1.2, 1.3, 1.4]), committed()) == 2
    assert seams.overlap_count(np.array([1.4, 1.5]), committed()) == 0
    assert seams.overlap_count(TIMES, None) == 0


def test_coherence_prefers_the_candidate_closest_to_the_committed_trajectory():
    times = np.array([1.2, 1.3, 1.4])
    near = np.array([[0.2, 1.0], [0.3, 1.0], [5.0, 5.0]])          # the point after the overlap is ignored
    far = near + np.array([0.5, 0.0])
    costs = seams.coherence_costs([far, None, near], times, committed(), decay=0.99)
    assert costs[2] == pytest.approx(0.0) and costs[0] == pytest.approx(0.5) and np.isinf(costs[1])
    scores = np.array([2.0, -np.inf, 1.0])                          # the strategy alone picks `far`
    assert seams.coherent_choice(scores, costs, weight=0.0) == 0
    assert seams.coherent_choice(scores, costs, weight=2.0) == 2
    assert seams.coherent_choice(np.array([-np.inf]), np.array([0.0]), 1.0) is None


def test_no_overlap_means_no_coherence_preference():
    costs = seams.coherence_costs([np.zeros((2, 2)), np.ones((2, 2))], np.array([5.0, 5.1]), committed(), 0.9)
    np.testing.assert_array_equal(costs, [0.0, 0.0])
    assert seams.coherent_choice(np.array([0.0, 1.0]), costs, weight=10.0) == 1


def test_blending_uses_decaying_weights_inside_the_overlap_only():
    new = np.array([[1.2, 1.0], [1.3, 1.0], [1.4, 1.0]])
    times = np.array([1.2, 1.3, 1.4])
    out = seams.blend_overlap(new, times, committed(), decay=0.5)
    np.testing.assert_allclose(out[:, 0], [0.5 * 0.2 + 0.5 * 1.2, 0.25 * 0.3 + 0.75 * 1.3, 1.4])
    np.testing.assert_array_equal(seams.blend_overlap(new, times, committed(), decay=0.0), new)
    np.testing.assert_array_equal(seams.blend_overlap(new, times, None, decay=0.5), new)


def test_seam_velocities_follow_the_actual_times_and_end_at_rest():
    times = np.array([0.05, 0.15, 0.25])
    positions = np.array([[0.05], [0.15], [0.25]])                 # 1 rad/s from the start knot on
    v = seams.seam_velocities(0.0, np.array([0.0]), times, positions)
    np.testing.assert_allclose(v[:2, 0], [1.0, 1.0])
    assert v[-1, 0] == 0.0
    single = seams.seam_velocities(0.0, np.array([0.0]), np.array([0.1]), np.array([[0.3]]))
    np.testing.assert_array_equal(single, [[0.0]])
