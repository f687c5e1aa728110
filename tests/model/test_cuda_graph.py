"""The graph decode step's buffer logic, run eagerly on the CPU (capture needs CUDA: tests/engine/test_cuda.py).

Everything the captured graph does besides the capture itself is checked here: static buffers loaded per call,
warm-up runs rewound, on-device slot and positions, cache reuse across calls and shapes, and the every-k-steps
finished check; results must equal the dynamic-cache path."""

import numpy as np
import pytest
import torch

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.engine import SelectionEngine
from mgselect_node.engine.policy import Policy, load_policy
from mgselect_node.model.cuda_graph import GraphedDecodeStep

INSTRUCTION = "pick up the red cube"
ATOL = 1e-4
HOT = 5.0  # a flat draw: with the terminator among few allowed tokens, rows end after a few tokens


@pytest.fixture(scope="module")
def policies(random_bundle):
    dynamic = load_policy(random_bundle)
    buffered = Policy(dynamic.bundle)  # shares the weights
    buffered.engine = SelectionEngine(dynamic.bundle, static_cache=True, cuda_graph=True)
    return dynamic, buffered


def _observation(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)], rng.uniform(-1, 1, 6)


def _assert_same(a, b) -> None:
    assert a.tokens == b.tokens
    for kl_a, kl_b, lp_a, lp_b in zip(a.token_kl, b.token_kl, a.token_logprob, b.token_logprob, strict=True):
        np.testing.assert_allclose(kl_a, kl_b, atol=ATOL)
        np.testing.assert_allclose(lp_a, lp_b, atol=ATOL)


def test_cpu_defaults_and_guards(random_bundle):
    policy = load_policy(random_bundle, static_cache=True)
    assert policy.engine.cuda_graph is False  # static cache alone never turns the graph on off CUDA
    with pytest.raises(ValueError, match="needs static_cache=True"):
        SelectionEngine(policy.bundle, static_cache=False, cuda_graph=True)
    backend = policy.engine.backend
    with pytest.raises(ValueError, match="need a CUDA device"):
        GraphedDecodeStep(backend, None, 2, 64, capture=True)


def test_step_before_bind_is_an_error(policies):
    _, buffered = policies
    step = GraphedDecodeStep(buffered.engine.backend, None, 2, 64)
    with pytest.raises(RuntimeError, match="before bind"):
        step.step(torch.zeros(2, dtype=torch.long), None)


@pytest.mark.parametrize(("n", "mask_mode"), [(1, "text"), (4, "state"), (2, "both")])
def test_buffered_step_matches_dynamic(policies, n, mask_mode):
    dynamic, buffered = policies
    images, state = _observation(n)
    config = SelectionConfig(num_candidates=n, temperature=1.0, mask_mode=mask_mode, seed=3, max_action_tokens=10)
    expected = dynamic.engine.select(images, state, INSTRUCTION, config, fallback=False)
    for _ in range(2):  # second call: same graph object, buffers reloaded, stale slots masked
        _assert_same(expected, buffered.engine.select(images, state, INSTRUCTION, config, fallback=False))
    graph = buffered.engine._graph
    assert graph is not None and graph.shape == (2 * n, graph.cache.layers[0].max_cache_len)


def test_shape_change_rebuilds_the_step(policies):
    dynamic, buffered = policies
    images, state = _observation(5)
    seen = []
    for n in (4, 2, 4):
        config = SelectionConfig(num_candidates=n, temperature=1.0, seed=n, max_action_tokens=8)
        _assert_same(dynamic.engine.select(images, state, INSTRUCTION, config, fallback=False),
                     buffered.engine.select(images, state, INSTRUCTION, config, fallback=False))
        seen.append(buffered.engine._graph)
    assert seen[0] is not seen[1] and seen[1] is not seen[2]
    assert seen[2].cache is buffered.engine.backend._static_caches[seen[2].shape]


def test_early_terminators_and_the_every_k_finished_check(policies, early_ending_pairs):
    """Rows end at different steps and all end well before the budget; the loop, which checks 'all finished'
    only every few steps, gives the same tokens and scores as the check-every-step dynamic path."""
    dynamic, buffered = policies
    images, state = _observation(7)
    pairs, ended_early = early_ending_pairs(dynamic.engine, buffered.engine, images, state, range(3), HOT)
    for expected, got in pairs:
        _assert_same(expected, got)
    assert ended_early


def test_fixed_length_decodes_the_full_budget_and_leaves_the_engine_alone(random_bundle):
    policy = load_policy(random_bundle, static_cache=True)
    images, state = _observation(2)
    config = SelectionConfig(num_candidates=3, max_action_tokens=9, complete_chunks=False)
    result = policy.engine.select(images, state, INSTRUCTION, config, fallback=False,
                                  allowed_tokens=policy.engine.token_mask(terminator=False))
    assert [len(t) for t in result.tokens] == [9, 9, 9]
    assert not result.fallback
    assert policy.engine.token_mask()[policy.bundle.layout.terminator_id]  # still allowed in production
    with pytest.raises(ValueError, match="complete_chunks=False"):
        policy.engine.select(images, state, INSTRUCTION, config.replace(complete_chunks=True),
                             allowed_tokens=policy.engine.token_mask(terminator=False))
