"""FAST tokenizer: round trip within the quantization bound, compression, strict decoding, persistence."""

import time

import numpy as np
import pytest
from scipy.fft import dct

from mgselect_node.errors import BundleError, InputError, InvalidActionTokens
from mgselect_node.tokenization.action_tokenizer import ActionTokenizer, load_action_tokenizer
from mgselect_node.tokenization.fast_tokenizer import FastActionTokenizer

from .conftest import ACTION_DIM, HORIZON, make_smooth_chunks


def quantization_bound(scale: float, horizon: int) -> float:
    """Rounding moves each scaled coefficient by <= 0.5, i.e. <= 0.5/scale unscaled; the orthonormal DCT
    preserves the L2 norm, so per dimension the L2 error over time is <= 0.5/scale * sqrt(horizon)."""
    return 0.5 / scale * np.sqrt(horizon)


def test_round_trip_within_quantization_bound(fast_tokenizer, test_chunks):
    bound = quantization_bound(fast_tokenizer.scale, HORIZON)
    worst = 0.0
    for chunk in test_chunks:
        decoded = fast_tokenizer.decode(fast_tokenizer.encode(chunk))
        assert decoded.shape == (HORIZON, ACTION_DIM)
        worst = max(worst, float(np.linalg.norm(decoded - chunk, axis=0).max()))
    assert worst <= bound + 1e-9
    assert worst > 0.0  # the test data actually exercises rounding


@pytest.mark.parametrize("scale", [4.0, 50.0])
def test_bound_follows_scale(train_chunks, test_chunks, scale):
    tok = FastActionTokenizer.fit(train_chunks, vocab_size=512, scale=scale)
    errors = [np.linalg.norm(tok.decode(tok.encode(c)) - c, axis=0).max() for c in test_chunks[:50]]
    assert max(errors) <= quantization_bound(scale, HORIZON) + 1e-9


def test_bpe_is_lossless_and_frequency_major(fast_tokenizer, test_chunks):
    chunk = test_chunks[0]
    expected = np.round(dct(chunk, type=2, axis=0, norm="ortho") * fast_tokenizer.scale).astype(np.int64)
    np.testing.assert_array_equal(fast_tokenizer.coefficients(fast_tokenizer.encode(chunk)), expected)
    # Frequency-major: a constant offset on dimension 1 only lands on flat position 1 (coefficient 0
    # of dim 1), where a dimension-major flattening would put it at position HORIZON.
    only_dim1 = np.zeros((HORIZON, ACTION_DIM))
    only_dim1[:, 1] = 0.5
    ids = fast_tokenizer.encode(only_dim1)
    flat = np.concatenate([[ord(ch) for ch in fast_tokenizer._bpe.id_to_token(i)] for i in ids])
    nonzero = np.flatnonzero(flat + fast_tokenizer.min_coeff)
    assert nonzero.tolist() == [1]


def test_smooth_chunks_compress(fast_tokenizer, test_chunks):
    lengths = [len(fast_tokenizer.encode(c)) for c in test_chunks]
    assert np.mean(lengths) < 0.4 * HORIZON * ACTION_DIM


def test_ids_in_range_and_any_chunk_encodes(fast_tokenizer):
    rng = np.random.default_rng(5)
    for chunk in [
        rng.uniform(-1, 1, (HORIZON, ACTION_DIM)),
        np.ones((HORIZON, ACTION_DIM)),
        -np.ones((HORIZON, ACTION_DIM)),
    ]:
        ids = fast_tokenizer.encode(chunk)
        assert all(0 <= i < fast_tokenizer.vocab_size for i in ids)
        err = np.linalg.norm(fast_tokenizer.decode(ids) - chunk, axis=0).max()
        assert err <= quantization_bound(fast_tokenizer.scale, HORIZON) + 1e-9
    assert fast_tokenizer.vocab_size <= 512
    assert (
        fast_tokenizer.vocab_size > fast_tokenizer.max_coeff - fast_tokenizer.min_coeff + 1
    )  # merges learned


def test_out_of_range_chunk_clips_coefficients(fast_tokenizer):
    big = np.full((HORIZON, ACTION_DIM), 5.0)
    coeffs = fast_tokenizer.coefficients(fast_tokenizer.encode(big))
    assert coeffs.max() == fast_tokenizer.max_coeff
    assert np.all(np.isfinite(fast_tokenizer.decode(fast_tokenizer.encode(big))))


def test_invalid_sequences_rejected_never_zero_chunk(fast_tokenizer, test_chunks):
    ids = fast_tokenizer.encode(test_chunks[3])
    with pytest.raises(InvalidActionTokens, match=rf"expected horizon\*dim = {HORIZON}\*{ACTION_DIM}"):
        fast_tokenizer.decode(ids[:-1])
    with pytest.raises(InvalidActionTokens, match="coefficients"):
        fast_tokenizer.decode([*ids, ids[0]])
    with pytest.raises(InvalidActionTokens, match="decode to 0 coefficients"):
        fast_tokenizer.decode([])
    for unknown in (fast_tokenizer.vocab_size, -1, 10**9):
        with pytest.raises(InvalidActionTokens, match="unknown action token id"):
            fast_tokenizer.decode([*ids[:-1], unknown])
    with pytest.raises(InvalidActionTokens, match="integer"):
        fast_tokenizer.decode([1.5, 2.0])


def test_bad_inputs_rejected(train_chunks, fast_tokenizer):
    with pytest.raises(InputError, match="normalize"):
        FastActionTokenizer.fit(train_chunks * 3.0)
    with pytest.raises(InputError, match="vocab_size"):
        FastActionTokenizer.fit(train_chunks, vocab_size=16)
    with pytest.raises(InputError, match="scale"):
        FastActionTokenizer.fit(train_chunks, scale=0.0)
    with pytest.raises(InputError, match=r"expected shape \(10, 7\)"):
        fast_tokenizer.encode(np.zeros((HORIZON, ACTION_DIM + 1)))
    bad = np.zeros((HORIZON, ACTION_DIM))
    bad[2, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fast_tokenizer.encode(bad)


def test_encode_batch_matches_encode(fast_tokenizer, test_chunks):
    assert fast_tokenizer.encode_batch(test_chunks[:20]) == [
        fast_tokenizer.encode(c) for c in test_chunks[:20]
    ]


def test_save_load_round_trip(tmp_path, fast_tokenizer, test_chunks):
    fast_tokenizer.save(tmp_path / "tok")
    for loaded in (FastActionTokenizer.load(tmp_path / "tok"), load_action_tokenizer(tmp_path / "tok")):
        assert isinstance(loaded, FastActionTokenizer)
        assert isinstance(loaded, ActionTokenizer)
        assert (loaded.vocab_size, loaded.horizon, loaded.action_dim) == (
            fast_tokenizer.vocab_size,
            HORIZON,
            ACTION_DIM,
        )
        for chunk in test_chunks[:50]:
            ids = fast_tokenizer.encode(chunk)
            assert loaded.encode(chunk) == ids
            np.testing.assert_array_equal(loaded.decode(ids), fast_tokenizer.decode(ids))


def test_load_missing_or_corrupt_files_names_the_file(tmp_path, fast_tokenizer):
    with pytest.raises(BundleError, match=r"action_tokenizer\.json: missing"):
        FastActionTokenizer.load(tmp_path / "nothing")
    fast_tokenizer.save(tmp_path / "a")
    (tmp_path / "a" / "fast_bpe.json").unlink()
    with pytest.raises(BundleError, match=r"fast_bpe\.json: missing"):
        FastActionTokenizer.load(tmp_path / "a")
    fast_tokenizer.save(tmp_path / "b")
    (tmp_path / "b" / "fast_bpe.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"fast_bpe\.json: corrupt"):
        FastActionTokenizer.load(tmp_path / "b")
    fast_tokenizer.save(tmp_path / "c")
    (tmp_path / "c" / "action_tokenizer.json").write_text("[1, 2")
    with pytest.raises(BundleError, match=r"action_tokenizer\.json"):
        load_action_tokenizer(tmp_path / "c")


def test_fit_is_fast_enough():
    chunks = make_smooth_chunks(np.random.default_rng(9), 2000)
    start = time.perf_counter()
    tok = FastActionTokenizer.fit(chunks, vocab_size=1024)
    assert time.perf_counter() - start < 20.0  # measured ~0.25 s; generous for a loaded 2-core CI box
    assert tok.vocab_size <= 1024
