"""Our lerobot_pi0fast adapter against LeRobot 0.6.1 itself (golden files from scripts/lerobot_golden/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.decoding import decode_candidate
from mgselect_node.engine.engine import SelectionEngine
from mgselect_node.errors import InvalidActionTokens

DATA = Path(__file__).parents[2] / "data" / "lerobot_pi0fast_tiny"
GOLDEN = json.loads((DATA / "golden.json").read_text())
CASES = list(enumerate(GOLDEN["cases"]))
GREEDY = SelectionConfig(strategy="greedy", restrict_to_action_tokens=False, complete_chunks=False,
                         max_action_tokens=48)


@pytest.fixture(scope="module")
def arrays():
    return np.load(DATA / "golden.npz")


@pytest.fixture(scope="module")
def engine(lerobot_tiny_bundle):
    return SelectionEngine(lerobot_tiny_bundle)


def _inputs(arrays, index, case):
    images = [arrays[f"case{index}_image_{camera}"] for camera in GOLDEN["meta"]["cameras"]]
    return images, np.asarray(case["state"])


def test_golden_covers_every_decode_outcome():
    """Guard: the goldens hold strict-valid, relaxed-only and zero-chunk cases (else the tests below are weak)."""
    assert sum(c["zero_chunk"] for c in GOLDEN["cases"]) >= 1
    assert sum(not c["zero_chunk"] for c in GOLDEN["cases"]) >= 6
    assert any(d["zero_chunk"] for d in GOLDEN["decode"])


@pytest.mark.parametrize(("index", "case"), CASES)
def test_prompt_ids_equal_lerobot(lerobot_tiny_bundle, index, case):
    bundle = lerobot_tiny_bundle
    bins = bundle.prompts.state_bins(bundle.state_normalizer.normalize(np.asarray(case["state"])))
    ours = bundle.prompts.text_ids(case["task"], bins)
    ids, mask = np.asarray(case["prompt_ids"]), np.asarray(case["prompt_mask"], dtype=bool)
    assert ours == ids[mask].tolist()
    assert not mask[len(ours):].any() and (ids[~mask] == bundle.layout.pad_id).all()


@pytest.mark.parametrize(("index", "case"), CASES)
def test_logits_match_lerobot_at_every_step(engine, arrays, index, case):
    """Teacher-forced on LeRobot's own tokens: prefill + one cached step per token, float32."""
    bundle, backend = engine.bundle, engine.backend
    images, state = _inputs(arrays, index, case)
    prompt = engine.build_prompts(state, case["task"], None)[0]
    features = backend.encode_images(torch.from_numpy(bundle.images(images, bundle.spec.camera_names,
                                                                    bundle.spec.image_size)))
    logits, decode_state = backend.prefill([prompt], features, capacity=len(prompt) + len(case["tokens"]) + 1)
    steps = [logits[0]]
    for token in case["tokens"][:-1]:
        steps.append(backend.step(torch.tensor([token]), decode_state)[0])
    reference = arrays[f"case{index}_logits"]
    assert reference.shape == (len(case["tokens"]), bundle.layout.model_vocab_size)
    np.testing.assert_allclose(torch.stack(steps).numpy(), reference, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("index", "case"), CASES)
def test_greedy_tokens_and_actions_match_lerobot(engine, arrays, index, case):
    bundle = engine.bundle
    images, state = _inputs(arrays, index, case)
    result = engine.select(images, state, case["task"], GREEDY)
    tokens = bundle.prompts.suffix_prefix + [bundle.layout.to_model(k) for k in result.tokens[0]]
    assert [*tokens, bundle.layout.terminator_id] == case["tokens"]
    if case["zero_chunk"]:
        assert not result.valid and result.chunk is None  # LeRobot returned its zero chunk here
    elif result.valid:
        np.testing.assert_allclose(result.chunk, arrays[f"case{index}_chunk"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(result.chunk[:2], arrays[f"case{index}_select_action"], atol=1e-5, rtol=0)


def test_strict_decoding_rejects_what_lerobot_pads(engine, arrays):
    """Some golden cases decode only relaxed: strict (the default) rejects them instead of padding."""
    valid = [engine.select(*_inputs(arrays, i, c), c["task"], GREEDY).valid for i, c in CASES]
    assert 3 <= sum(valid) < len(valid) - 1


@pytest.mark.parametrize(("index", "case"), CASES)
def test_relaxed_decoding_matches_lerobot(engine, arrays, index, case):
    images, state = _inputs(arrays, index, case)
    result = engine.select(images, state, case["task"], GREEDY.replace(decoding="relaxed"))
    assert result.valid is (not case["zero_chunk"])
    if result.valid:
        np.testing.assert_allclose(result.chunk, arrays[f"case{index}_chunk"], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("index", "case"), list(enumerate(GOLDEN["decode"])))
def test_decoding_branches_match_lerobot_detokenizer(lerobot_tiny_bundle, arrays, index, case):
    """LeRobot's detokenizer alone on crafted sequences; the engine stops at "|", so cut there first."""
    bundle = lerobot_tiny_bundle
    ids = case["tokens"]
    ids = ids[:ids.index(bundle.layout.terminator_id)] if bundle.layout.terminator_id in ids else ids
    if case["zero_chunk"]:
        with pytest.raises(InvalidActionTokens, match="negative"):
            decode_candidate(bundle, ids, "relaxed")
        return
    expected = bundle.action_normalizer.unnormalize(arrays[f"decode{index}_chunk_normalized"])
    np.testing.assert_allclose(decode_candidate(bundle, ids, "relaxed"), expected, atol=1e-5, rtol=0)
