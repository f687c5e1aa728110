"""The byte-level FAST tokenizer as real checkpoints ship it: round trip, strict and relaxed decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mgselect_node.errors import InvalidActionTokens
from mgselect_node.tokenization.fast_bytelevel import ByteLevelFastTokenizer

FAST = Path(__file__).parents[1] / "data" / "lerobot_pi0fast_tiny" / "fast_tokenizer"


@pytest.fixture(scope="module")
def fast():
    return ByteLevelFastTokenizer.load(FAST, horizon=10, action_dim=6)


@pytest.fixture(scope="module")
def chunk():
    t = np.linspace(0, 1, 10)[:, None]
    return np.tanh(np.array([0.3, -0.5, 0.8, 0.1, -0.2, 0.6]))[None] * (1 - t) + 0.4 * t


def test_round_trip_within_rounding(fast, chunk):
    ids = fast.encode(chunk)
    assert len(ids) < 60  # BPE merged several coefficients per token
    np.testing.assert_allclose(fast.decode(ids), chunk, atol=0.5 / 10 * np.sqrt(10))
    assert int(fast.values_per_token()[ids].sum()) == 60  # lead bytes per token add up to the coefficients


def test_both_layouts_load(tmp_path, fast):
    """BPE file at the root only (older saves) loads the same as under bpe_tokenizer/."""
    import shutil

    root = Path(shutil.copytree(FAST, tmp_path / "fast"))
    shutil.rmtree(root / "bpe_tokenizer")
    assert ByteLevelFastTokenizer.load(root, 10, 6).vocab_size == fast.vocab_size


def test_strict_rejects_what_relaxed_pads_truncates_or_drops(fast, chunk):
    ids = fast.encode(chunk)
    for broken in (ids[:-1], ids + ids[:2], [*ids[:2], fast.vocab_size + 5, *ids[2:]]):
        with pytest.raises(InvalidActionTokens):
            fast.decode(broken)
        assert fast.decode_relaxed(broken).shape == (10, 6)
    np.testing.assert_array_equal(fast.decode_relaxed(ids + ids[:2]), fast.decode(ids))  # truncated
    np.testing.assert_array_equal(fast.decode_relaxed([*ids[:2], fast.vocab_size + 5, *ids[2:]]), fast.decode(ids))
    with pytest.raises(InvalidActionTokens, match="negative"):
        fast.decode_relaxed([*ids, -3])


def test_partial_characters_are_invalid_in_strict_mode(fast):
    """A token holding only a continuation byte does not make whole characters."""
    lone = [i for i, n in enumerate(fast.values_per_token()) if n == 0]
    assert lone
    with pytest.raises(InvalidActionTokens, match=r"UTF-8|coefficients"):
        fast.decode([lone[0]] * 60)
