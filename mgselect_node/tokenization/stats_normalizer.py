"""Normalization exactly as LeRobot and openpi apply their saved statistics (no clipping).

Why not QuantileNormalizer: a pi0-FAST checkpoint was trained with its framework's own formula: LeRobot's
MEAN_STD `(x - mean) / (std + 1e-8)`, QUANTILES / MIN_MAX with a zero range replaced by 1e-8, openpi's
quantiles `(x - q01) / (q99 - q01 + 1e-6) * 2 - 1`. Values are neither clipped before the state is binned
(LeRobot's bins -1 and 256 occur) nor after unnormalizing, as in those frameworks. Arithmetic is float32,
as theirs, so state bins agree at bin edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mgselect_node.errors import BundleError, InputError

LEROBOT_EPS = 1e-8
OPENPI_EPS = 1e-6
MODES = ("mean_std", "quantiles", "min_max", "quantile10", "openpi_quantiles", "identity")
_STATS = {"mean_std": ("mean", "std"), "quantiles": ("q01", "q99"), "min_max": ("min", "max"),
          "quantile10": ("q10", "q90"), "openpi_quantiles": ("q01", "q99"), "identity": ()}


class StatsNormalizer:
    """Per-dimension affine map of one framework's mode; `dim` values in, `dim` values out."""

    def __init__(self, mode: str, stats: Mapping[str, Any]) -> None:
        if mode not in MODES:
            raise BundleError(f"normalization mode {mode!r} is not supported; expected one of {MODES}")
        keys = _STATS[mode]
        missing = [k for k in keys if k not in stats]
        if missing:
            raise BundleError(f"normalization {mode}: statistics {missing} missing (have {sorted(stats)})")
        self.mode = mode
        arrays = [np.asarray(stats[k], dtype=np.float32).reshape(-1) for k in keys]
        if arrays and (len({a.size for a in arrays}) != 1 or not all(np.isfinite(a).all() for a in arrays)):
            raise BundleError(f"normalization {mode}: statistics {keys} differ in length or are not finite")
        self._a, self._b = (arrays + [np.zeros(0, np.float32)] * 2)[:2]
        self.dim = int(self._a.size) if arrays else 0

    def _check(self, values: Any, name: str) -> np.ndarray:
        array = np.asarray(values, dtype=np.float32)
        if self.dim and (array.ndim < 1 or array.shape[-1] != self.dim):
            raise InputError(f"{name} has shape {array.shape}; expected (..., {self.dim})")
        return array

    def _span(self) -> np.ndarray:
        span = self._b - self._a
        if self.mode == "openpi_quantiles":
            return span + np.float32(OPENPI_EPS)
        return np.where(span == 0, np.float32(LEROBOT_EPS), span)

    def normalize(self, values: Any, name: str = "values") -> np.ndarray:
        array = self._check(values, name)
        if self.mode == "identity":
            return array.astype(np.float64)
        if self.mode == "mean_std":
            return ((array - self._a) / (self._b + np.float32(LEROBOT_EPS))).astype(np.float64)
        return (np.float32(2.0) * (array - self._a) / self._span() - np.float32(1.0)).astype(np.float64)

    def unnormalize(self, normalized: Any, clip: bool = False, name: str = "normalized values") -> np.ndarray:
        """Normalized -> robot units; never clipped (`clip` is accepted for interface compatibility)."""
        array = self._check(normalized, name)
        if self.mode == "identity":
            return array.astype(np.float64)
        if self.mode == "mean_std":
            return (array * self._b + self._a).astype(np.float64)
        return ((array + np.float32(1.0)) * self._span() / np.float32(2.0) + self._a).astype(np.float64)

    def robot_range(self) -> tuple[list[float], list[float]]:
        """A plausible (low, high) per dimension: q01/q99, min/max, or mean -+ 2 std."""
        if self.mode == "mean_std":
            return (self._a - 2 * self._b).tolist(), (self._a + 2 * self._b).tolist()
        return self._a.tolist(), self._b.tolist()

    def __repr__(self) -> str:
        return f"StatsNormalizer(mode={self.mode}, dim={self.dim})"
