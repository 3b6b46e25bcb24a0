"""Finite but extreme inputs: huge and subnormal weights, logits near 1e308.

Every expectation is an independent property: results depend on weight
ratios only, temperature scaling is scale-equivariant (T(cZ) = c T(Z)), and
the NLL of logits so large that every non-maximal probability underflows is
``c (max z - z_y)`` worked by hand.
"""

import warnings

import numpy as np
import pytest

from calibrate import MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling
from calibrate.metrics import (
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 4)) * 2
    y = (Z / 2 + rng.gumbel(size=Z.shape)).argmax(axis=1)
    return Z, y


METRICS = {
    "nll": negative_log_likelihood,
    "ece": expected_calibration_error,
    "brier": brier_score,
}


@pytest.mark.parametrize("weight", [1e307, 1e-320, 5e-324])
@pytest.mark.parametrize("name", sorted(METRICS))
def test_equal_weights_of_any_size_are_unit_weights(data, weight, name):
    Z, y = data
    metric = METRICS[name]
    ones = metric(y, Z, input_type="logits")
    got = metric(y, Z, input_type="logits", sample_weight=np.full(len(y), weight))
    np.testing.assert_allclose(got, ones, rtol=1e-12)


@pytest.mark.parametrize("weight", [1e307, 1e-320])
def test_fits_with_extreme_equal_weights_are_unweighted_fits(data, weight):
    Z, y = data
    w = np.full(len(y), weight)
    t_ones = TemperatureScaling().fit(Z, y).temperature_
    t_w = TemperatureScaling().fit(Z, y, sample_weight=w).temperature_
    np.testing.assert_allclose(t_w, t_ones, rtol=1e-9)
    v_ones = VectorScaling().fit(Z, y)
    v_w = VectorScaling().fit(Z, y, sample_weight=w)
    np.testing.assert_allclose(v_w.coef_, v_ones.coef_, rtol=1e-6)


def test_weight_ratios_survive_a_huge_scale(data):
    Z, y = data
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    for name, metric in METRICS.items():
        a = metric(y, Z, input_type="logits", sample_weight=w)
        b = metric(y, Z, input_type="logits", sample_weight=w * 1e307)
        np.testing.assert_allclose(b, a, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("top", [1e150, 1e307, 1.7e308])
def test_nll_of_huge_logits_is_finite_and_worked_by_hand(data, top):
    Z, y = data
    big = Z * (top / np.abs(Z).max())
    rows = np.arange(len(y))
    # Every non-maximal probability underflows: the loss of a row is exactly
    # max z - z_y (0 for a correct row).  The largest logit is `top`, the
    # smallest about -top / 2: the differences stay below float64's maximum.
    expected = np.sum((big.max(axis=1) - big[rows, y]) / len(y))
    got = negative_log_likelihood(y, big, input_type="logits")
    assert np.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("top", [1e30, 1e150, 1e307])
def test_temperature_is_scale_equivariant_up_to_1e307(data, top):
    Z, y = data
    c = top / np.abs(Z).max()
    t = TemperatureScaling().fit(Z, y).temperature_
    t_big = TemperatureScaling().fit(Z * c, y).temperature_
    assert np.isfinite(t_big)
    np.testing.assert_allclose(t_big, c * t, rtol=1e-8)


def test_binary_temperature_is_scale_equivariant(data):
    Z, y = data
    z = Z[:, 0] - Z[:, 1]
    yb = (y == 0).astype(int)
    t = TemperatureScaling().fit(z, yb).temperature_
    t_big = TemperatureScaling().fit(z * 1e300, yb).temperature_
    np.testing.assert_allclose(t_big, 1e300 * t, rtol=1e-8)


@pytest.mark.parametrize("cls", [VectorScaling, MatrixScaling, PlattScaling])
def test_affine_fits_refuse_huge_logits_in_one_line(data, cls):
    Z, y = data
    with pytest.raises(ValueError, match=r"too large to fit in float64.*Divide"):
        cls().fit(Z * 1e150, y)


def test_ordinary_logits_are_fitted_as_before(data):
    # Below 2**64 nothing is rescaled: the temperature is exactly the one of
    # the logits divided by a power of two, times that power (both unscaled).
    Z, y = data
    t = TemperatureScaling().fit(Z, y).temperature_
    np.testing.assert_allclose(TemperatureScaling().fit(Z * 2.0**40, y).temperature_,
                               t * 2.0**40, rtol=1e-9)  # fmt: skip


def test_a_fit_ending_in_nan_is_refused_and_leaves_no_state(data):
    Z, y = data

    class Broken(TemperatureScaling):
        def _fit(self, Z, y, w):
            super()._fit(Z, y, w)
            self.temperature_ = float("nan")

    cal = Broken()
    with pytest.raises(ValueError, match="non-finite temperature_"):
        cal.fit(Z, y)
    assert not hasattr(cal, "temperature_")


def test_no_numpy_warning_escapes_on_extreme_valid_input(data):
    Z, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for top in (1e150, 1.7e308):
            big = Z * (top / np.abs(Z).max())
            negative_log_likelihood(y, big, input_type="logits")
            expected_calibration_error(y, big, input_type="logits")
            brier_score(y, big, input_type="logits")
            TemperatureScaling().fit(big, y).predict_proba(big)
