"""Token KL and aggregation: the functions the engine's decode loop and the benchmarks share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mgselect_node.config import AGGREGATIONS, SelectionConfig
from mgselect_node.engine.scoring import (
    AGGREGATION_NAMES,
    aggregate,
    backward_coherence,
    coherent_choice,
    token_kl,
)


def test_token_kl_is_kl_of_reference_from_conditioned():
    generator = torch.Generator().manual_seed(0)
    log_q = torch.log_softmax(torch.randn(3, 11, generator=generator), dim=-1)
    log_p = torch.log_softmax(torch.randn(3, 11, generator=generator), dim=-1)
    q, p = log_q.exp().double().numpy(), log_p.exp().double().numpy()
    expected = (q * np.log(q / p)).sum(axis=-1)  # KL(Q || P), reference first
    np.testing.assert_allclose(token_kl(log_q, log_p).numpy(), expected, rtol=1e-5)
    assert not np.allclose(token_kl(log_p, log_q).numpy(), expected, rtol=1e-3)  # the order matters
    np.testing.assert_allclose(token_kl(log_p, log_p).numpy(), 0.0, atol=1e-7)


def test_aggregations_on_numpy_and_torch():
    values = np.array([0.5, 1.5, 4.0])
    assert aggregate("sum", values) == 6.0 and aggregate("mean", values) == 2.0
    assert aggregate("sum", torch.tensor(values)) == 6.0 and aggregate("mean", torch.tensor(values)) == 2.0
    assert aggregate("mean", np.zeros(0)) == 0.0


def test_config_choices_are_the_registry():
    assert AGGREGATIONS == AGGREGATION_NAMES == ("sum", "mean")
    assert SelectionConfig(aggregation="mean").aggregation == "mean"
    with pytest.raises(KeyError, match="sum"):
        aggregate("max", np.ones(2))


def test_backward_coherence_weights_early_points_more():
    reference = np.zeros((2, 1))
    early_off = np.array([[1.0], [0.0], [9.0]])       # points past the overlap do not count
    late_off = np.array([[0.0], [1.0], [9.0]])
    costs = backward_coherence([early_off, late_off, None], reference, decay=0.5)
    assert costs[0] == pytest.approx(1 / 1.5) and costs[1] == pytest.approx(0.5 / 1.5) and np.isinf(costs[2])
    assert list(backward_coherence([early_off], np.zeros((0, 1)), 0.5)) == [0.0]
    assert coherent_choice(np.array([1.0, 0.0, -np.inf]), costs, weight=0.0) == 0
    assert coherent_choice(np.array([1.0, 0.0, -np.inf]), costs, weight=2.0) == 1
