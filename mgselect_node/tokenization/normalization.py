"""Quantile normalization of states/actions to [-1, 1] and the 256-bin state discretization.

Why quantiles (q01, q99) instead of min/max: a few outliers in the data set would otherwise squeeze the
useful range; pi0-FAST and OpenVLA both normalize this way and clip what lies beyond.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mgselect_node.errors import BundleError, InputError

LOW_QUANTILE = 0.01
HIGH_QUANTILE = 0.99
NORMALIZED_LOW = -1.0
NORMALIZED_HIGH = 1.0
DEFAULT_STATE_BINS = 256
# A dimension whose q99 - q01 is at most this is treated as constant (normalizes to 0, no division).
CONSTANT_RANGE_EPS = 1e-8


def _finite_array(values: Any, name: str, expected: str) -> np.ndarray:
    """values -> float64 array; InputError if it is not numeric or holds NaN/inf."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} is not a numeric array ({exc}); expected {expected}") from exc
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[:3].tolist()
        raise InputError(
            f"{name} contains NaN or inf (at index {bad}...); expected finite values, {expected}"
        )
    return array


def discretize_state(normalized: Any, n_bins: int = DEFAULT_STATE_BINS) -> np.ndarray:
    """Normalized values in [-1, 1] -> int64 bin indices in [0, n_bins): n_bins uniform bins over [-1, 1].

    Values beyond [-1, 1] clip to the edge bins 0 and n_bins - 1 (1.0 itself falls in the last bin).
    Any shape with ndim >= 1 is accepted; the output has the same shape.
    """
    if n_bins < 2:
        raise InputError(f"n_bins={n_bins}; expected an integer >= 2")
    array = _finite_array(normalized, "normalized state", "a 1-D array of values in [-1, 1]")
    if array.ndim < 1:
        raise InputError(f"normalized state has shape {array.shape}; expected a 1-D array (state_dim,)")
    unit = (array - NORMALIZED_LOW) / (NORMALIZED_HIGH - NORMALIZED_LOW)
    return np.clip(np.floor(unit * n_bins), 0, n_bins - 1).astype(np.int64)


class QuantileNormalizer:
    """Per-dimension affine map q01 -> -1, q99 -> +1, with clipping to [-1, 1]."""

    def __init__(self, q01: Sequence[float] | np.ndarray, q99: Sequence[float] | np.ndarray) -> None:
        low = _finite_array(q01, "q01", "a 1-D list of finite floats")
        high = _finite_array(q99, "q99", "a 1-D list of finite floats")
        if low.ndim != 1 or high.ndim != 1 or low.shape != high.shape or low.size == 0:
            raise InputError(
                f"q01 has shape {low.shape} and q99 has shape {high.shape}; expected two non-empty "
                "1-D arrays of the same length (one entry per dimension)"
            )
        if np.any(high < low):
            dims = np.flatnonzero(high < low).tolist()
            raise InputError(f"q99 < q01 in dimensions {dims}; expected q99 >= q01 in every dimension")
        self.q01 = low
        self.q99 = high
        span = high - low
        self._constant = span <= CONSTANT_RANGE_EPS
        self._span = np.where(self._constant, 1.0, span)

    @property
    def dim(self) -> int:
        return int(self.q01.size)

    @classmethod
    def from_data(cls, data: Any) -> QuantileNormalizer:
        """Fit q01/q99 (1% / 99% quantiles) per column of data with shape (M, D), M >= 1."""
        array = _finite_array(data, "data", "shape (M, D) with M >= 1 samples")
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
            raise InputError(f"data has shape {array.shape}; expected shape (M, D) with M >= 1 samples")
        q01, q99 = np.quantile(array, [LOW_QUANTILE, HIGH_QUANTILE], axis=0)
        return cls(q01, np.maximum(q99, q01))

    def _check(self, values: Any, name: str) -> np.ndarray:
        expected = f"shape ({self.dim},) or (..., {self.dim})"
        array = _finite_array(values, name, expected)
        if array.ndim < 1 or array.shape[-1] != self.dim:
            raise InputError(f"{name} has shape {array.shape}; expected {expected}")
        return array

    def normalize(self, values: Any, name: str = "values") -> np.ndarray:
        """Robot units -> [-1, 1] (clipped). Constant dimensions map to 0. Shape (D,) or (..., D)."""
        array = self._check(values, name)
        unit = (array - self.q01) / self._span
        normalized = NORMALIZED_LOW + unit * (NORMALIZED_HIGH - NORMALIZED_LOW)
        normalized = np.where(self._constant, 0.0, normalized)
        return np.clip(normalized, NORMALIZED_LOW, NORMALIZED_HIGH)

    def unnormalize(self, normalized: Any, clip: bool = True, name: str = "normalized values") -> np.ndarray:
        """[-1, 1] -> robot units. clip=True first clips to [-1, 1], so the result stays within [q01, q99]
        (the range the policy was trained on). Constant dimensions return their q01 (== q99)."""
        array = self._check(normalized, name)
        if clip:
            array = np.clip(array, NORMALIZED_LOW, NORMALIZED_HIGH)
        unit = (array - NORMALIZED_LOW) / (NORMALIZED_HIGH - NORMALIZED_LOW)
        values = self.q01 + unit * (self.q99 - self.q01)
        return np.where(self._constant, self.q01, values)

    def state_bins(self, state: Any, n_bins: int = DEFAULT_STATE_BINS) -> np.ndarray:
        """One robot state, shape exactly (D,) -> int64 bins in [0, n_bins) for the prompt."""
        array = _finite_array(state, "state", f"shape ({self.dim},)")
        if array.shape != (self.dim,):
            raise InputError(f"state has shape {array.shape}; expected shape ({self.dim},)")
        return discretize_state(self.normalize(array, name="state"), n_bins)

    def to_dict(self) -> dict[str, list[float]]:
        return {"q01": self.q01.tolist(), "q99": self.q99.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantileNormalizer:
        """Inverse of to_dict; BundleError if the keys are missing or the stats are malformed."""
        try:
            return cls(data["q01"], data["q99"])
        except (KeyError, TypeError) as exc:
            raise BundleError(
                f"normalizer stats: missing or bad key {exc}; expected {{'q01': [...], 'q99': [...]}}"
            ) from exc
        except InputError as exc:
            raise BundleError(f"normalizer stats: {exc}") from exc

    def __repr__(self) -> str:
        return f"QuantileNormalizer(dim={self.dim})"
