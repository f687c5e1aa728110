"""Bin (OpenVLA-style) tokenizer: round trip within a bin, edge clipping, strict decoding, persistence."""

import numpy as np
import pytest

from mgselect_node.errors import BundleError, InputError, InvalidActionTokens
from mgselect_node.tokenization.action_tokenizer import ActionTokenizer, load_action_tokenizer
from mgselect_node.tokenization.bin_tokenizer import BinActionTokenizer

from .conftest import ACTION_DIM, HORIZON


def test_round_trip_within_half_a_bin(train_chunks, test_chunks):
    tok = BinActionTokenizer.fit(train_chunks)
    assert (tok.vocab_size, tok.horizon, tok.action_dim) == (256, HORIZON, ACTION_DIM)
    assert isinstance(tok, ActionTokenizer)
    for chunk in test_chunks:
        ids = tok.encode(chunk)
        assert len(ids) == HORIZON * ACTION_DIM
        assert all(0 <= i < 256 for i in ids)
        assert np.abs(tok.decode(ids) - chunk).max() <= tok.bin_width / 2 + 1e-12


def test_time_major_order_and_edge_bins():
    tok = BinActionTokenizer(horizon=2, action_dim=3)
    chunk = np.array([[-1.0, 0.0, 1.0], [-7.0, 0.999, 7.0]])
    assert tok.encode(chunk) == [0, 128, 255, 0, 255, 255]


def test_decode_requires_exact_count_and_known_ids():
    tok = BinActionTokenizer(horizon=2, action_dim=3)
    with pytest.raises(InvalidActionTokens, match=r"got 5 action tokens, expected horizon\*dim = 2\*3 = 6"):
        tok.decode([1, 2, 3, 4, 5])
    with pytest.raises(InvalidActionTokens, match="got 7"):
        tok.decode([1] * 7)
    with pytest.raises(InvalidActionTokens, match="unknown action token id 256"):
        tok.decode([1, 2, 3, 4, 5, 256])
    with pytest.raises(InvalidActionTokens, match="unknown action token id -1"):
        tok.decode([-1, 2, 3, 4, 5, 6])
    with pytest.raises(InputError, match=r"expected shape \(2, 3\)"):
        tok.encode(np.zeros((3, 2)))


def test_save_load(tmp_path):
    tok = BinActionTokenizer(horizon=4, action_dim=2, n_bins=64)
    tok.save(tmp_path)
    loaded = load_action_tokenizer(tmp_path)
    assert isinstance(loaded, BinActionTokenizer)
    assert (loaded.horizon, loaded.action_dim, loaded.vocab_size) == (4, 2, 64)
    chunk = np.linspace(-1, 1, 8).reshape(4, 2)
    assert loaded.encode(chunk) == tok.encode(chunk)
    (tmp_path / "action_tokenizer.json").write_text(
        '{"kind": "bins", "horizon": 0, "action_dim": 2, "n_bins": 64}'
    )
    with pytest.raises(BundleError, match="horizon"):
        load_action_tokenizer(tmp_path)
    (tmp_path / "action_tokenizer.json").write_text('{"kind": "nope"}')
    with pytest.raises(BundleError, match="kind='nope'"):
        load_action_tokenizer(tmp_path)
