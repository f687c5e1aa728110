"""The engine against a brute-force reference, plus determinism and input checking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.policy import Policy, load_policy
from mgselect_node.errors import InputError

INSTRUCTION = "pick up the red cube"
BUDGET = 6


@pytest.fixture(scope="module")
def policy(random_bundle):
    return load_policy(random_bundle)


@pytest.fixture(scope="module")
def imported_policy(lerobot_tiny_bundle):
    """The tiny pi0_fast checkpoint saved by LeRobot (two cameras, "Action: " forced, "|" terminator)."""
    return Policy(lerobot_tiny_bundle)


@pytest.fixture(scope="module")
def observation():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)
    state = rng.uniform(-1.0, 1.0, 6)
    return [image], state


def brute_force_log_probs(policy, images, state, prompt_mask, prefix_tokens):
    """log softmax of the next-token logits from a full, unpadded, uncached HF forward."""
    engine = policy.engine
    prompt = engine.build_prompts(engine.check_state(state), INSTRUCTION, prompt_mask)[-1]
    suffix = engine.prompts.suffix_prefix + list(prefix_tokens)
    pixels = torch.from_numpy(policy.bundle.images(images, policy.spec.camera_names, policy.spec.image_size))
    ids = torch.tensor([prompt + suffix])
    token_type = torch.tensor([[0] * len(prompt) + [1] * len(suffix)])
    with torch.inference_mode():
        logits = policy.bundle.model(input_ids=ids, pixel_values=pixels, token_type_ids=token_type).logits
    return torch.log_softmax(logits[0, -1].float(), dim=-1)


@pytest.mark.parametrize("which", ["native", "imported"])
@pytest.mark.parametrize("mask_mode", ["text", "state", "both"])
@pytest.mark.parametrize("n", [1, 3, 8])
def test_engine_matches_brute_force(request, observation, monkeypatch, mask_mode, n, which):
    policy = request.getfixturevalue("policy" if which == "native" else "imported_policy")
    images, state = observation
    images = images * len(policy.spec.camera_names)
    # Scoring math is checked independently of whether random weights decode to a valid chunk.
    monkeypatch.setattr(policy.engine, "decode_candidate", lambda ids: np.zeros((10, 6)))
    config = SelectionConfig(strategy="mg_select", num_candidates=n, temperature=1.0, mask_mode=mask_mode,
                             seed=3, max_action_tokens=BUDGET)
    trace: list = []
    result = policy.engine.select(images, state, INSTRUCTION, config, trace=trace)
    layout = policy.bundle.layout
    likelihood = policy.engine.select(images, state, INSTRUCTION, config.replace(strategy="likelihood"))
    for i in range(n):
        model_ids = [layout.to_model(t) for t in result.tokens[i]]
        kl_sum = logp_sum = 0.0
        for j, token in enumerate(model_ids):
            log_p = brute_force_log_probs(policy, images, state, None, model_ids[:j])
            log_q = brute_force_log_probs(policy, images, state, mask_mode, model_ids[:j])
            np.testing.assert_allclose(trace[j][0][i].numpy(), log_p.numpy(), atol=1e-4)
            np.testing.assert_allclose(trace[j][1][i].numpy(), log_q.numpy(), atol=1e-4)
            kl = float((log_q.exp() * (log_q - log_p)).sum())
            assert result.token_kl[i][j] == pytest.approx(kl, abs=1e-4)
            assert result.token_logprob[i][j] == pytest.approx(float(log_p[token]), abs=1e-4)
            kl_sum += kl
            logp_sum += float(log_p[token])
        assert result.scores[i] == pytest.approx(kl_sum, abs=1e-4)
        # Same seed and no reference rows: the likelihood run draws the same candidates.
        assert likelihood.tokens[i] == result.tokens[i]
        assert likelihood.scores[i] == pytest.approx(logp_sum, abs=1e-4)
    assert result.selected == int(np.argmax(result.scores))


def test_seeded_runs_reproduce_and_seeds_differ(policy, observation):
    images, state = observation
    config = SelectionConfig(num_candidates=4, temperature=1.0, seed=11, max_action_tokens=BUDGET)
    a = policy.select(images, state, INSTRUCTION, config)
    b = policy.select(images, state, INSTRUCTION, config)
    c = policy.select(images, state, INSTRUCTION, config.replace(seed=12))
    assert a.tokens == b.tokens
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.tokens != c.tokens


def test_greedy_is_deterministic_and_single(policy, observation):
    images, state = observation
    a = policy.select(images, state, INSTRUCTION, strategy="greedy", seed=1, max_action_tokens=BUDGET)
    b = policy.select(images, state, INSTRUCTION, strategy="greedy", seed=2, max_action_tokens=BUDGET)
    assert len(a.tokens) == 1 and a.tokens == b.tokens


def test_invalid_candidates_are_never_selected(policy, observation):
    images, state = observation
    result = policy.select(images, state, INSTRUCTION, num_candidates=3, max_action_tokens=BUDGET)
    # A 6-token budget cannot encode a 10x6 FAST chunk: nothing decodes, and that is said explicitly.
    assert not result.valid and result.chunk is None
    assert "no valid action" in result.reason
    assert np.all(np.isneginf(result.scores))


@pytest.mark.parametrize("strategy", ["greedy", "mg_select"])
def test_complete_chunks_makes_every_candidate_decode(policy, observation, strategy):
    """An untrained model rarely stops at exactly horizon x dim values; constrained decoding always does,
    without changing the distributions the scores are computed from."""
    images, state = observation
    values = policy.bundle.action_tokenizer.values_per_token()
    chunk_values = policy.spec.horizon * policy.spec.action_dim
    config = SelectionConfig(strategy=strategy, num_candidates=6, temperature=1.0, seed=3,
                             max_action_tokens=chunk_values)
    free = policy.engine.select(images, state, INSTRUCTION, config.replace(complete_chunks=False), fallback=False)
    assert not all(np.isfinite(free.scores))
    trace: list = []
    result = policy.engine.select(images, state, INSTRUCTION, config, trace=trace, fallback=False)
    assert result.valid and all(np.isfinite(result.scores))
    for i, tokens in enumerate(result.tokens):   # FAST ids
        assert sum(values[t] for t in tokens) == chunk_values
        assert result.candidates[i] is not None
    if strategy == "mg_select":  # P at the first step is the model's, not the constrained one
        log_p = brute_force_log_probs(policy, images, state, None, [])
        np.testing.assert_allclose(trace[0][0][0].numpy(), log_p.numpy(), atol=1e-4)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_candidates": 0}, "num_candidates"),
    ({"temperature": -1.0}, "temperature"),
    ({"strategy": "beam"}, "strategy"),
    ({"mask_mode": "image"}, "mask_mode"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_options_are_rejected_clearly(policy, observation, kwargs, message):
    images, state = observation
    with pytest.raises(InputError, match=message):
        policy.select(images, state, INSTRUCTION, **kwargs)


@pytest.mark.parametrize(("images", "state", "message"), [
    ([np.zeros((32, 32, 3), dtype=np.float32)], np.zeros(6), "uint8"),
    ([np.zeros((32, 32), dtype=np.uint8)], np.zeros(6), "HxWx3"),
    ([np.zeros((32, 32, 4), dtype=np.uint8)], np.zeros(6), "HxWx3"),
    ([], np.zeros(6), "expected 1 image"),
    ([np.zeros((32, 32, 3), dtype=np.uint8)], np.array([0, 0, np.nan, 0, 0, 0]), "non-finite"),
    ([np.zeros((32, 32, 3), dtype=np.uint8)], np.array([0, 0, np.inf, 0, 0, 0]), "non-finite"),
    ([np.zeros((32, 32, 3), dtype=np.uint8)], np.zeros(5), "expected 6 values"),
])
def test_bad_observations_are_rejected_clearly(policy, images, state, message):
    with pytest.raises(InputError, match=message):
        policy.select(images, state, INSTRUCTION)


def test_instruction_must_be_text(policy, observation):
    images, state = observation
    with pytest.raises(InputError, match="instruction"):
        policy.select(images, state, 42)


def test_instruction_beyond_the_context_is_refused_before_any_model_call(policy, observation, monkeypatch):
    """The prompt plus the decode budget must fit the model's positions; a longer one used to try to allocate
    attention memory for it (1.4 TB for a 1 MB instruction)."""
    images, state = observation
    context = policy.engine.backend.context_size
    assert context and policy.select(images, state, "pick up the cube", num_candidates=1).chunk is not None
    monkeypatch.setattr(policy.engine.backend.language_model.config, "max_position_embeddings", 60)

    def no_model(*_, **__):
        raise AssertionError("the model must not run on a prompt that does not fit")
    monkeypatch.setattr(policy.engine.backend, "prefill", no_model)
    with pytest.raises(InputError, match="context of 60 tokens"):
        policy.select(images, state, "pick up the red cube " * 10, num_candidates=1)


def test_oversized_instruction_is_refused_by_the_engine_for_every_prompt_format(policy, observation, monkeypatch):
    images, state = observation

    def no_tokenizer(*_, **__):
        raise AssertionError("must be refused before any tokenizer sees it")
    monkeypatch.setattr(policy.engine.prompts, "token_ids", no_tokenizer)
    with pytest.raises(InputError, match="instruction refused"):
        policy.select(images, state, "a" * 1_000_000, num_candidates=1)
