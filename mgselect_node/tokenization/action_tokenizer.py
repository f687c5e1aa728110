"""The interface every action tokenizer (FAST, bins) offers, and loading one from a directory by its kind.

Why a Protocol: the model and engine layers only need encode/decode/sizes/save; which tokenizer a bundle
uses is recorded in `action_tokenizer.json` ("kind") so loading needs no outside knowledge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mgselect_node.errors import BundleError, InputError

META_FILE = "action_tokenizer.json"
FORMAT_VERSION = 1
NORMALIZED_LIMIT = 1.0


@runtime_checkable
class ActionTokenizer(Protocol):
    """Chunk (horizon, action_dim) of normalized actions in [-1, 1] <-> list of ids in [0, vocab_size)."""

    kind: str

    @property
    def vocab_size(self) -> int: ...

    @property
    def horizon(self) -> int: ...

    @property
    def action_dim(self) -> int: ...

    def encode(self, chunk: np.ndarray) -> list[int]: ...

    def decode(self, ids: Any) -> np.ndarray:
        """Raises InvalidActionTokens unless ids make exactly horizon x action_dim values."""
        ...

    def values_per_token(self) -> np.ndarray:
        """(vocab_size,) int64: how many chunk values each id expands into (decoding constrains on it)."""
        ...

    def save(self, directory: str | Path) -> None: ...


def check_chunk(chunk: Any, horizon: int, action_dim: int) -> np.ndarray:
    """chunk -> finite float64 array of shape exactly (horizon, action_dim); InputError otherwise."""
    expected = f"shape ({horizon}, {action_dim}) of finite normalized actions"
    try:
        array = np.asarray(chunk, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"action chunk is not numeric ({exc}); expected {expected}") from exc
    if array.shape != (horizon, action_dim):
        raise InputError(f"action chunk has shape {array.shape}; expected {expected}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"action chunk contains NaN or inf; expected {expected}")
    return array


def check_training_chunks(chunks: Any) -> np.ndarray:
    """Training chunks -> float64 (M, H, D) in [-1, 1]; InputError otherwise (e.g. unnormalized data)."""
    expected = "shape (M, horizon, action_dim), M >= 1, finite values normalized to [-1, 1]"
    try:
        array = np.asarray(chunks, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"training chunks are not numeric ({exc}); expected {expected}") from exc
    if array.ndim != 3 or min(array.shape) < 1:
        raise InputError(f"training chunks have shape {array.shape}; expected {expected}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"training chunks contain NaN or inf; expected {expected}")
    peak = float(np.max(np.abs(array)))
    if peak > NORMALIZED_LIMIT + 1e-6:
        raise InputError(
            f"training chunks reach |value| = {peak:.4g}; expected {expected} "
            "(normalize them with QuantileNormalizer first)"
        )
    return array


def write_meta(directory: str | Path, meta: dict[str, Any]) -> Path:
    """Write action_tokenizer.json (creating the directory); returns the directory."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / META_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2) + "\n")
    return path


def read_meta(directory: str | Path, required: tuple[str, ...] = ("kind",)) -> dict[str, Any]:
    """Read action_tokenizer.json; BundleError naming the file if it is missing, corrupt or lacks keys."""
    path = Path(directory) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BundleError(f"{path}: missing; expected the action tokenizer's {META_FILE}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: unreadable or not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise BundleError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    missing = [key for key in required if key not in meta]
    if missing:
        raise BundleError(f"{path}: missing keys {missing}")
    return meta


def meta_int(meta: dict[str, Any], key: str, directory: str | Path, minimum: int = 1) -> int:
    """An integer field of the meta file, >= minimum; BundleError naming the file otherwise."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BundleError(f"{Path(directory) / META_FILE}: {key}={value!r}; expected an integer >= {minimum}")
    return value


def load_action_tokenizer(directory: str | Path) -> ActionTokenizer:
    """Load whichever action tokenizer was saved in directory (dispatch on its "kind")."""
    from mgselect_node.tokenization.bin_tokenizer import BinActionTokenizer
    from mgselect_node.tokenization.fast_tokenizer import FastActionTokenizer

    kinds: dict[str, Any] = {
        FastActionTokenizer.kind: FastActionTokenizer,
        BinActionTokenizer.kind: BinActionTokenizer,
    }
    kind = read_meta(directory)["kind"]
    if kind not in kinds:
        raise BundleError(f"{Path(directory) / META_FILE}: kind={kind!r}; expected one of {sorted(kinds)}")
    return kinds[kind].load(directory)
