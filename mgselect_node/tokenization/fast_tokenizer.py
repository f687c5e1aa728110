"""FAST action tokenizer: DCT over time, scale and round, then byte-pair encoding of the integers.

Why: smooth action chunks have most of their energy in the first few DCT coefficients, so after rounding
most coefficients are 0 and BPE compresses the (frequency-major) sequence into a few tokens.

Encoding (per chunk of shape (H, D), normalized to [-1, 1]):
  1. per action dimension a DCT-II over time, norm="ortho" (so the L2 norm is preserved);
  2. multiply by `scale`, round to int, clip to [min_coeff, max_coeff];
  3. flatten frequency-major (coefficient 0 of every dimension, then coefficient 1, ...);
  4. map integer c to the unicode character chr(c - min_coeff) (as FAST does) and BPE-encode the string.

The integer range [min_coeff, max_coeff] covers every coefficient a chunk inside [-1, 1] can produce:
|c_k| <= ||column||_2 <= sqrt(H), so the range is +-round(scale * sqrt(H)) (widened to what the training
data held). It is the BPE initial alphabet, so every chunk encodes. A chunk outside [-1, 1] can produce a
coefficient beyond it; such coefficients are CLIPPED to the range (documented lossy behaviour, no error).

Decoding inverts this exactly up to rounding: the per-dimension L2 error over time is at most
0.5 / scale * sqrt(H). A token sequence that does not expand to exactly H * D coefficients, or that holds
an id outside [0, vocab_size), raises InvalidActionTokens: it is never turned into a zero chunk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.fft import dct, idct
from tokenizers import Tokenizer, models, trainers

from mgselect_node.errors import BundleError, InputError, InvalidActionTokens
from mgselect_node.tokenization.action_tokenizer import (
    META_FILE,
    check_chunk,
    check_training_chunks,
    meta_int,
    read_meta,
    write_meta,
)
from mgselect_node.tokenization.tokenizer_file import read_tokenizer_file

DEFAULT_SCALE = 10.0
DEFAULT_VOCAB_SIZE = 1024
DCT_TYPE = 2
DCT_NORM = "ortho"
BPE_FILE = "fast_bpe.json"
# BPE merges need a pair seen at least this often in training (FAST's choice too).
MIN_PAIR_FREQUENCY = 2
# Characters chr(0)..chr(MAX_ALPHABET) stay below the UTF-16 surrogate block.
MAX_ALPHABET = 0xD7FF


class FastActionTokenizer:
    """FAST tokenizer for chunks of shape (horizon, action_dim); see the module docstring."""

    kind: ClassVar[str] = "fast"

    def __init__(
        self, bpe: Tokenizer, horizon: int, action_dim: int, scale: float, min_coeff: int, max_coeff: int
    ) -> None:
        self._bpe = bpe
        self.horizon = int(horizon)
        self.action_dim = int(action_dim)
        self.scale = float(scale)
        self.min_coeff = int(min_coeff)
        self.max_coeff = int(max_coeff)
        self._vocab_size = bpe.get_vocab_size()
        vocab = bpe.get_vocab()
        missing = [
            c for c in range(self.min_coeff, self.max_coeff + 1) if chr(c - self.min_coeff) not in vocab
        ]
        if missing:
            raise InputError(
                f"BPE vocabulary lacks coefficients {missing[:5]}...; expected its alphabet to "
                f"cover every integer in [{self.min_coeff}, {self.max_coeff}]"
            )
        if sorted(vocab.values()) != list(range(self._vocab_size)):
            raise InputError("BPE vocabulary ids are not contiguous; expected ids 0..vocab_size-1")
        # id -> integer coefficients it stands for (decode never goes through strings joined by spaces).
        self._pieces: list[list[int]] = [[] for _ in range(self._vocab_size)]
        for token, index in vocab.items():
            self._pieces[index] = [ord(ch) + self.min_coeff for ch in token]

    # ------------------------------------------------------------------ sizes
    @property
    def vocab_size(self) -> int:
        """Number of ids the BPE actually uses (alphabet + merges); every id is in [0, vocab_size)."""
        return self._vocab_size

    @property
    def num_coefficients(self) -> int:
        return self.horizon * self.action_dim

    def values_per_token(self) -> np.ndarray:
        """Coefficients per id (a merged BPE token stands for several)."""
        return np.array([len(piece) for piece in self._pieces], dtype=np.int64)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls, chunks: Any, vocab_size: int = DEFAULT_VOCAB_SIZE, scale: float = DEFAULT_SCALE
    ) -> FastActionTokenizer:
        """Train the BPE on chunks (M, H, D) normalized to [-1, 1]. The result may use fewer than
        vocab_size ids when the data has no more frequent pairs (see .vocab_size)."""
        array = check_training_chunks(chunks)
        if not np.isfinite(scale) or scale <= 0:
            raise InputError(f"scale={scale}; expected a finite number > 0")
        _, horizon, action_dim = array.shape
        coeffs = _coefficients(array, scale)
        bound = int(np.round(scale * np.sqrt(horizon)))
        min_coeff = min(-bound, int(coeffs.min()))
        max_coeff = max(bound, int(coeffs.max()))
        alphabet_size = max_coeff - min_coeff + 1
        if alphabet_size > MAX_ALPHABET:
            raise InputError(
                f"scale={scale} with horizon={horizon} needs {alphabet_size} symbols; expected "
                f"at most {MAX_ALPHABET} (use a smaller scale)"
            )
        if vocab_size < alphabet_size:
            raise InputError(
                f"vocab_size={vocab_size} is smaller than the {alphabet_size} integer symbols "
                f"needed for horizon={horizon}, scale={scale}; expected vocab_size >= {alphabet_size}"
            )
        alphabet = [chr(i) for i in range(alphabet_size)]
        trainer = trainers.BpeTrainer(
            vocab_size=int(vocab_size),
            min_frequency=MIN_PAIR_FREQUENCY,
            show_progress=False,
            special_tokens=[],
            initial_alphabet=alphabet,
            limit_alphabet=alphabet_size,
        )
        bpe = Tokenizer(models.BPE())
        texts = [_to_text(row, min_coeff) for row in coeffs.reshape(coeffs.shape[0], -1)]
        bpe.train_from_iterator(texts, trainer=trainer, length=len(texts))
        return cls(bpe, horizon, action_dim, scale, min_coeff, max_coeff)

    # ------------------------------------------------------------------ encode / decode
    def _chunk_text(self, chunk: Any) -> str:
        """Chunk -> the BPE input string (clipped, frequency-major coefficients as characters)."""
        array = check_chunk(chunk, self.horizon, self.action_dim)
        flat = np.clip(_coefficients(array[None], self.scale)[0].reshape(-1), self.min_coeff, self.max_coeff)
        return _to_text(flat, self.min_coeff)

    def encode(self, chunk: Any) -> list[int]:
        """Chunk (horizon, action_dim) normalized to [-1, 1] -> BPE ids in [0, vocab_size)."""
        return list(self._bpe.encode(self._chunk_text(chunk), add_special_tokens=False).ids)

    def encode_batch(self, chunks: Any) -> list[list[int]]:
        """encode() for chunks of shape (M, horizon, action_dim) (one BPE call for all of them)."""
        array = np.asarray(chunks, dtype=np.float64)
        if array.ndim != 3:
            raise InputError(
                f"chunks have shape {array.shape}; expected (M, {self.horizon}, {self.action_dim})"
            )
        texts = [self._chunk_text(chunk) for chunk in array]
        return [list(enc.ids) for enc in self._bpe.encode_batch(texts, add_special_tokens=False)]

    def coefficients(self, ids: Any) -> np.ndarray:
        """BPE ids -> scaled, rounded DCT coefficients, int64 (horizon, action_dim); row k = frequency k.

        Raises InvalidActionTokens for an unknown id or when the ids do not expand to exactly
        horizon * action_dim coefficients.
        """
        values: list[int] = []
        for position, token in enumerate(_as_id_list(ids)):
            if not 0 <= token < self._vocab_size:
                raise InvalidActionTokens(
                    f"unknown action token id {token} at position {position}; "
                    f"expected ids in [0, {self._vocab_size})"
                )
            values.extend(self._pieces[token])
        if len(values) != self.num_coefficients:
            raise InvalidActionTokens(
                f"action tokens decode to {len(values)} coefficients, expected horizon*dim = "
                f"{self.horizon}*{self.action_dim} = {self.num_coefficients}"
            )
        return np.asarray(values, dtype=np.int64).reshape(self.horizon, self.action_dim)

    def decode(self, ids: Any) -> np.ndarray:
        """BPE ids -> chunk (horizon, action_dim) float64 in normalized units (not clipped to [-1, 1]).

        Raises InvalidActionTokens (see coefficients); an invalid sequence never becomes a zero chunk.
        """
        return idct(self.coefficients(ids) / self.scale, type=DCT_TYPE, axis=0, norm=DCT_NORM)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """Write action_tokenizer.json and fast_bpe.json into directory."""
        path = write_meta(
            directory,
            {
                "kind": self.kind,
                "horizon": self.horizon,
                "action_dim": self.action_dim,
                "scale": self.scale,
                "min_coeff": self.min_coeff,
                "max_coeff": self.max_coeff,
                "vocab_size": self._vocab_size,
                "bpe_file": BPE_FILE,
            },
        )
        self._bpe.save(str(path / BPE_FILE))

    @classmethod
    def load(cls, directory: str | Path) -> FastActionTokenizer:
        """Inverse of save; BundleError naming the file when one is missing or corrupt."""
        meta = read_meta(directory, ("kind", "horizon", "action_dim", "scale", "min_coeff", "max_coeff"))
        meta_file = Path(directory) / META_FILE
        if meta["kind"] != cls.kind:
            raise BundleError(f"{meta_file}: kind={meta['kind']!r}; expected {cls.kind!r}")
        horizon = meta_int(meta, "horizon", directory)
        action_dim = meta_int(meta, "action_dim", directory)
        scale = meta["scale"]
        if not isinstance(scale, int | float) or isinstance(scale, bool) or not scale > 0:
            raise BundleError(f"{meta_file}: scale={scale!r}; expected a number > 0")
        min_coeff, max_coeff = meta["min_coeff"], meta["max_coeff"]
        if (
            not all(isinstance(v, int) and not isinstance(v, bool) for v in (min_coeff, max_coeff))
            or max_coeff < min_coeff
        ):
            raise BundleError(
                f"{meta_file}: min_coeff={min_coeff!r}, max_coeff={max_coeff!r}; expected "
                "integers with min_coeff <= max_coeff"
            )
        bpe_path = Path(directory) / BPE_FILE
        if not bpe_path.is_file():
            raise BundleError(f"{bpe_path}: missing; expected the FAST BPE tokenizer file")
        bpe = read_tokenizer_file(bpe_path)
        try:
            tokenizer = cls(bpe, horizon, action_dim, float(scale), min_coeff, max_coeff)
        except InputError as exc:
            raise BundleError(f"{bpe_path}: {exc}") from exc
        saved_vocab = meta.get("vocab_size")
        if saved_vocab is not None and saved_vocab != tokenizer.vocab_size:
            raise BundleError(
                f"{bpe_path}: holds {tokenizer.vocab_size} ids but {meta_file} says vocab_size={saved_vocab}"
            )
        return tokenizer

    def __repr__(self) -> str:
        return (
            f"FastActionTokenizer(horizon={self.horizon}, action_dim={self.action_dim}, "
            f"scale={self.scale}, "
            f"vocab_size={self._vocab_size}, coeff_range=[{self.min_coeff}, {self.max_coeff}])"
        )


def _coefficients(chunks: np.ndarray, scale: float) -> np.ndarray:
    """(M, H, D) -> rounded scaled DCT coefficients (M, H, D) as int64; axis 1 is frequency."""
    return np.round(dct(chunks, type=DCT_TYPE, axis=1, norm=DCT_NORM) * scale).astype(np.int64)


def _to_text(flat: np.ndarray, min_coeff: int) -> str:
    """Frequency-major integers -> one character per integer (offset so the minimum is chr(0))."""
    return "".join(map(chr, (np.asarray(flat, dtype=np.int64) - min_coeff).tolist()))


def _as_id_list(ids: Any) -> list[int]:
    """ids -> list of Python ints; InvalidActionTokens if they are not integers."""
    array = np.asarray(ids)
    if array.size == 0:
        return []
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise InvalidActionTokens(
            f"action tokens must be a 1-D sequence of integer ids, got dtype {array.dtype} "
            f"shape {array.shape}"
        )
    return [int(v) for v in array.tolist()]
