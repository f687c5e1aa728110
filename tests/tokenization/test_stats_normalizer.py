"""Normalization with each framework's formula, no clipping."""

from __future__ import annotations

import numpy as np
import pytest

from mgselect_node.errors import BundleError, InputError
from mgselect_node.tokenization.stats_normalizer import StatsNormalizer

X = np.array([0.5, -2.0, 3.0])


@pytest.mark.parametrize(("mode", "stats", "expected"), [
    ("mean_std", {"mean": [0, 1, 2], "std": [1, 2, 0.5]}, [0.5, -1.5, 2.0]),
    ("quantiles", {"q01": [0, -2, 0], "q99": [1, 2, 0]}, [0.0, -1.0, 2 * 3 / 1e-8 - 1]),
    ("min_max", {"min": [-1, -1, -1], "max": [1, 1, 1]}, [0.5, -2.0, 3.0]),
    ("openpi_quantiles", {"q01": [0, -2, 1], "q99": [1, 2, 2]},
     [2 * 0.5 / (1 + 1e-6) - 1, -1.0, 2 * 2 / (1 + 1e-6) - 1]),
])
def test_formulas_and_inverse(mode, stats, expected):
    norm = StatsNormalizer(mode, stats)
    out = norm.normalize(X)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)  # float32 arithmetic, as the frameworks
    assert abs(out).max() > 1 or mode == "quantiles"  # never clipped
    if mode != "quantiles":
        np.testing.assert_allclose(norm.unnormalize(out), X, rtol=1e-5, atol=1e-6)


def test_identity_and_bad_stats():
    np.testing.assert_array_equal(StatsNormalizer("identity", {}).normalize(X), X)
    with pytest.raises(BundleError, match=r"statistics \['std'\] missing"):
        StatsNormalizer("mean_std", {"mean": [0.0]})
    with pytest.raises(BundleError, match="differ in length"):
        StatsNormalizer("quantiles", {"q01": [0.0], "q99": [1.0, 2.0]})
    with pytest.raises(BundleError, match="not supported"):
        StatsNormalizer("log", {})
    with pytest.raises(InputError, match="expected"):
        StatsNormalizer("mean_std", {"mean": [0, 0], "std": [1, 1]}).normalize(X)
