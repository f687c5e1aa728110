"""Statistics of evaluation results: binomial confidence intervals and paired differences."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

WILSON_Z = 1.959963984540054  # 95 % two-sided


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float]:
    """95 % Wilson score interval for a binomial proportion (sensible at 0 %, 100 % and small n)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference(values: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """Mean of values - reference and its standard error (nan for fewer than two pairs)."""
    diff = np.asarray(values) - np.asarray(reference)
    if diff.size < 2:
        return float("nan"), float("nan")
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size))
