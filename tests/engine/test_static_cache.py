"""The static-KV-cache decode path gives the same tokens and scores as the dynamic one."""

import numpy as np
import pytest

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.policy import load_policy

INSTRUCTION = "push the blue block to the green pad"


@pytest.fixture(scope="module")
def policies(random_bundle):
    return load_policy(random_bundle), load_policy(random_bundle, static_cache=True)


@pytest.mark.parametrize("mask_mode", ["text", "state", "both"])
@pytest.mark.parametrize("n", [1, 4])
def test_static_cache_matches_dynamic(policies, mask_mode, n):
    dynamic, static = policies
    rng = np.random.default_rng(n)
    images = [rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)]
    state = rng.uniform(-1, 1, 6)
    config = SelectionConfig(num_candidates=n, temperature=1.0, mask_mode=mask_mode, seed=5, max_action_tokens=12)
    a = dynamic.select(images, state, INSTRUCTION, config)
    for _ in range(2):  # the second call reuses the preallocated cache: stale slots must not leak in
        b = static.select(images, state, INSTRUCTION, config)
        assert a.tokens == b.tokens
        for kl_a, kl_b, lp_a, lp_b in zip(a.token_kl, b.token_kl, a.token_logprob, b.token_logprob, strict=True):
            np.testing.assert_allclose(kl_a, kl_b, atol=1e-4)
            np.testing.assert_allclose(lp_a, lp_b, atol=1e-4)



@pytest.mark.parametrize("cuda_graph", [False, True])
def test_static_cache_and_graph_step_match_dynamic_on_an_imported_checkpoint(lerobot_tiny_bundle, cuda_graph):
    """pi0-FAST layout: forced "Action: " steps, "|" terminator, two cameras; the graphed step runs eagerly here."""
    from mgselect_node.engine.engine import SelectionEngine

    dynamic = SelectionEngine(lerobot_tiny_bundle)
    static = SelectionEngine(lerobot_tiny_bundle, static_cache=True, cuda_graph=cuda_graph)
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, (40, 30, 3), dtype=np.uint8) for _ in range(2)]
    state = rng.uniform(-1, 1, 6)
    config = SelectionConfig(num_candidates=4, temperature=1.0, mask_mode="both", seed=2, max_action_tokens=20)
    a = dynamic.select(images, state, "open the drawer", config)
    for _ in range(2):
        b = static.select(images, state, "open the drawer", config)
        assert a.tokens == b.tokens and any(len(t) > 3 for t in a.tokens)
        for kl_a, kl_b in zip(a.token_kl, b.token_kl, strict=True):
            np.testing.assert_allclose(kl_a, kl_b, atol=1e-4)
