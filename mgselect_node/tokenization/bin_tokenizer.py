"""OpenVLA-style action tokenizer: every normalized value becomes one of 256 uniform bins over [-1, 1].

Why keep it next to FAST: it is the other common autoregressive VLA action format, fixed-length (exactly
horizon * action_dim ids, time-major: all dimensions of step 0, then step 1, ...), needs no training, and
makes a simple baseline. Values beyond [-1, 1] clip to the edge bins; decoding returns bin centres, so the
round-trip error is at most half a bin width (1 / n_bins) for values inside [-1, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mgselect_node.errors import BundleError, InputError, InvalidActionTokens
from mgselect_node.tokenization.action_tokenizer import (
    META_FILE,
    check_chunk,
    check_training_chunks,
    meta_int,
    read_meta,
    write_meta,
)
from mgselect_node.tokenization.normalization import NORMALIZED_HIGH, NORMALIZED_LOW, discretize_state

DEFAULT_BINS = 256
MIN_BINS = 2


class BinActionTokenizer:
    """Uniform-bin tokenizer for chunks of shape (horizon, action_dim); vocab_size == n_bins."""

    kind: ClassVar[str] = "bins"

    def __init__(self, horizon: int, action_dim: int, n_bins: int = DEFAULT_BINS) -> None:
        if horizon < 1 or action_dim < 1 or n_bins < MIN_BINS:
            raise InputError(
                f"horizon={horizon}, action_dim={action_dim}, n_bins={n_bins}; expected horizon >= 1, "
                f"action_dim >= 1, n_bins >= {MIN_BINS}"
            )
        self.horizon = int(horizon)
        self.action_dim = int(action_dim)
        self.n_bins = int(n_bins)
        width = (NORMALIZED_HIGH - NORMALIZED_LOW) / self.n_bins
        self._centres = NORMALIZED_LOW + (np.arange(self.n_bins) + 0.5) * width

    @property
    def vocab_size(self) -> int:
        return self.n_bins

    def values_per_token(self) -> np.ndarray:
        """One value per id."""
        return np.ones(self.n_bins, dtype=np.int64)

    @property
    def bin_width(self) -> float:
        return (NORMALIZED_HIGH - NORMALIZED_LOW) / self.n_bins

    @classmethod
    def fit(cls, chunks: Any, n_bins: int = DEFAULT_BINS) -> BinActionTokenizer:
        """Nothing to learn: takes horizon and action_dim from chunks (M, H, D) normalized to [-1, 1]."""
        _, horizon, action_dim = check_training_chunks(chunks).shape
        return cls(horizon, action_dim, n_bins)

    def encode(self, chunk: Any) -> list[int]:
        """Chunk (horizon, action_dim) -> horizon * action_dim ids in [0, n_bins), time-major."""
        array = check_chunk(chunk, self.horizon, self.action_dim)
        return discretize_state(array.reshape(-1), self.n_bins).tolist()

    def decode(self, ids: Any) -> np.ndarray:
        """Exactly horizon * action_dim ids in [0, n_bins) -> bin centres (horizon, action_dim)."""
        array = np.asarray(ids)
        expected = self.horizon * self.action_dim
        if array.size and (array.ndim != 1 or not np.issubdtype(array.dtype, np.integer)):
            raise InvalidActionTokens(
                f"action tokens must be a 1-D sequence of integer ids, got dtype {array.dtype} "
                f"shape {array.shape}"
            )
        if array.size != expected:
            raise InvalidActionTokens(
                f"got {array.size} action tokens, expected horizon*dim = "
                f"{self.horizon}*{self.action_dim} = {expected}"
            )
        bad = np.flatnonzero((array < 0) | (array >= self.n_bins))
        if bad.size:
            raise InvalidActionTokens(
                f"unknown action token id {int(array[bad[0]])} at position {int(bad[0])}; "
                f"expected ids in [0, {self.n_bins})"
            )
        return self._centres[array.astype(np.int64)].reshape(self.horizon, self.action_dim)

    def save(self, directory: str | Path) -> None:
        write_meta(
            directory,
            {
                "kind": self.kind,
                "horizon": self.horizon,
                "action_dim": self.action_dim,
                "n_bins": self.n_bins,
            },
        )

    @classmethod
    def load(cls, directory: str | Path) -> BinActionTokenizer:
        """Inverse of save; BundleError naming the file when it is missing or malformed."""
        meta = read_meta(directory, ("kind", "horizon", "action_dim", "n_bins"))
        if meta["kind"] != cls.kind:
            raise BundleError(f"{Path(directory) / META_FILE}: kind={meta['kind']!r}; expected {cls.kind!r}")
        return cls(
            meta_int(meta, "horizon", directory),
            meta_int(meta, "action_dim", directory),
            meta_int(meta, "n_bins", directory, MIN_BINS),
        )

    def __repr__(self) -> str:
        return (
            f"BinActionTokenizer(horizon={self.horizon}, action_dim={self.action_dim}"
            f", n_bins={self.n_bins})"
        )
