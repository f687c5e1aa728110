"""QuantileNormalizer and discretize_state: range mapping, clipping to edge bins, constant dims, bad input."""

import numpy as np
import pytest

from mgselect_node.errors import BundleError, InputError
from mgselect_node.tokenization.normalization import QuantileNormalizer, discretize_state

Q01 = [0.0, -2.0, 10.0]
Q99 = [1.0, 2.0, 10.0]  # last dimension constant


def test_quantiles_map_to_plus_minus_one_and_clip():
    norm = QuantileNormalizer(Q01, Q99)
    np.testing.assert_allclose(norm.normalize([0.0, -2.0, 10.0]), [-1.0, -1.0, 0.0])
    np.testing.assert_allclose(norm.normalize([1.0, 2.0, 10.0]), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(norm.normalize([0.5, 0.0, 3.0]), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(norm.normalize([5.0, -9.0, 99.0]), [1.0, -1.0, 0.0])


def test_unnormalize_inverts_normalize_inside_range():
    norm = QuantileNormalizer(Q01, Q99)
    values = np.array([[0.25, 1.5, 10.0], [0.9, -1.9, 10.0]])
    np.testing.assert_allclose(norm.unnormalize(norm.normalize(values)), values)
    # clip=True keeps actions inside [q01, q99]; clip=False extrapolates linearly.
    np.testing.assert_allclose(norm.unnormalize([2.0, -3.0, 0.5]), [1.0, -2.0, 10.0])
    np.testing.assert_allclose(norm.unnormalize([2.0, -3.0, 0.5], clip=False), [1.5, -6.0, 10.0])


def test_from_data_uses_1_and_99_percent_quantiles_and_handles_constant_dims():
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.normal(size=1000), np.full(1000, 3.0)])
    norm = QuantileNormalizer.from_data(data)
    np.testing.assert_allclose(norm.q01[0], np.quantile(data[:, 0], 0.01))
    np.testing.assert_allclose(norm.q99[0], np.quantile(data[:, 0], 0.99))
    out = norm.normalize(data)
    assert np.all(np.isfinite(out))
    assert np.all(out[:, 1] == 0.0)
    assert out[:, 0].min() == -1.0 and out[:, 0].max() == 1.0


def test_states_beyond_quantiles_clip_to_edge_bins():
    norm = QuantileNormalizer([-1.0, 0.0], [1.0, 4.0])
    np.testing.assert_array_equal(norm.state_bins([-50.0, 400.0]), [0, 255])
    np.testing.assert_array_equal(norm.state_bins([-1.0, 4.0]), [0, 255])
    np.testing.assert_array_equal(norm.state_bins([0.0, 2.0]), [128, 128])


def test_discretize_state_uniform_bins():
    bins = discretize_state(np.linspace(-1.0, 1.0, 10_001))
    assert bins.dtype == np.int64
    assert bins.min() == 0 and bins.max() == 255
    counts = np.bincount(bins, minlength=256)
    assert counts.min() >= 38 and counts.max() <= 41  # 10001 points over 256 equal bins
    assert discretize_state([-0.999, 0.999], n_bins=4).tolist() == [0, 3]
    assert np.all(np.diff(bins) >= 0)


@pytest.mark.parametrize("bad", [[np.nan, 0.0, 10.0], [np.inf, 0.0, 10.0]])
def test_nan_or_inf_state_rejected(bad):
    norm = QuantileNormalizer(Q01, Q99)
    with pytest.raises(InputError, match="NaN or inf"):
        norm.normalize(bad)
    with pytest.raises(InputError, match="NaN or inf"):
        norm.state_bins(bad)
    with pytest.raises(InputError, match="NaN or inf"):
        discretize_state(bad)


def test_wrong_length_or_ndim_rejected_with_expected_shape():
    norm = QuantileNormalizer(Q01, Q99)
    with pytest.raises(InputError, match=r"expected shape \(3,\)"):
        norm.normalize([1.0, 2.0])
    with pytest.raises(InputError, match=r"expected shape \(3,\)"):
        norm.normalize(1.0)
    with pytest.raises(InputError, match=r"expected shape \(3,\)"):
        norm.state_bins(np.zeros((1, 3)))
    with pytest.raises(InputError, match="numeric"):
        norm.normalize(["a", "b", "c"])
    with pytest.raises(InputError):
        discretize_state(0.5)


def test_bad_stats_rejected():
    with pytest.raises(InputError, match="q99 < q01"):
        QuantileNormalizer([1.0], [0.0])
    with pytest.raises(InputError, match="same length"):
        QuantileNormalizer([0.0, 1.0], [1.0])
    with pytest.raises(InputError, match=r"\(M, D\)"):
        QuantileNormalizer.from_data(np.zeros(5))


def test_dict_round_trip_and_bad_dict():
    norm = QuantileNormalizer(Q01, Q99)
    again = QuantileNormalizer.from_dict(norm.to_dict())
    np.testing.assert_array_equal(again.q01, norm.q01)
    np.testing.assert_array_equal(again.q99, norm.q99)
    with pytest.raises(BundleError, match="q99"):
        QuantileNormalizer.from_dict({"q01": [0.0]})
    with pytest.raises(BundleError, match="q99 < q01"):
        QuantileNormalizer.from_dict({"q01": [1.0], "q99": [0.0]})
