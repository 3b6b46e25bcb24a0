"""ScalingBinning: the two halves, the bin means, against a numpy reference."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, softmax
from sklearn.linear_model import LogisticRegression

from calibrate import ScalingBinning
from calibrate.datasets import make_miscalibrated, make_miscalibrated_binary


def halves(n, seed=0):
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def split_bins(s, n_bins):
    """Gupta-Ramdas equal-count groups: upper edges, then bin of each score."""
    groups = np.array_split(np.sort(s), n_bins)
    return np.array([g.max() for g in groups[:-1]])


def test_binary_platt_then_mean_scaled_score_per_bin():
    data = make_miscalibrated_binary(4_000, temperature=2.0, random_state=3)
    z, y = data.logits, data.labels
    first, second = halves(len(y))
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
    lr.fit(z[first, None], y[first])
    a, b = lr.coef_[0, 0], lr.intercept_[0]
    s = expit(a * z[second] + b)
    upper = split_bins(s, 10)
    cell = np.searchsorted(upper, s, side="left")
    means = np.bincount(cell, weights=s) / np.bincount(cell)
    cal = ScalingBinning(n_bins=10, scaler="platt").fit(z, y)
    assert cal.coef_[0] == pytest.approx(a, abs=1e-5)
    test = np.linspace(-6, 6, 101)
    t = expit(a * test + b)
    expected = means[np.searchsorted(upper, t, side="left")]
    np.testing.assert_allclose(cal.predict_proba(test)[:, 1], expected, atol=1e-6)


def test_multiclass_top_label_temperature_then_bins():
    data = make_miscalibrated(4_000, 5, temperature=2.0, random_state=4)
    z, y = data.logits, data.labels
    first, second = halves(len(y))

    def nll(log_t):
        lp = log_softmax(z[first] / np.exp(log_t), axis=1)
        return -lp[np.arange(len(first)), y[first]].mean()

    t = np.exp(
        minimize_scalar(
            nll, bounds=(-3, 3), method="bounded", options={"xatol": 1e-10}
        ).x
    )
    conf = softmax(z[second] / t, axis=1).max(axis=1)
    upper = split_bins(conf, 8)
    cell = np.searchsorted(upper, conf, side="left")
    means = np.bincount(cell, weights=conf) / np.bincount(cell)
    cal = ScalingBinning(n_bins=8).fit(z, y)
    assert 1 / cal.coef_[0] == pytest.approx(t, rel=1e-6)
    P = cal.predict_proba(z)
    top = z.argmax(axis=1)
    t_conf = softmax(z / t, axis=1).max(axis=1)
    expected = means[np.searchsorted(upper, t_conf, side="left")]
    np.testing.assert_allclose(P[np.arange(len(y)), top], expected, rtol=1e-6)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    assert len(np.unique(np.round(P[np.arange(len(y)), top], 10))) <= 8


def test_random_state_sets_the_split():
    data = make_miscalibrated_binary(2_000, temperature=2.0, random_state=5)
    a = ScalingBinning(random_state=1).fit(data.logits, data.labels)
    b = ScalingBinning(random_state=1).fit(data.logits, data.labels)
    c = ScalingBinning(random_state=2).fit(data.logits, data.labels)
    np.testing.assert_array_equal(a.edges_, b.edges_)
    assert not np.array_equal(a.edges_, c.edges_)


def test_too_few_rows_and_bad_options():
    with pytest.raises(ValueError, match="too few calibration rows.*n_samples=20"):
        ScalingBinning(n_bins=15).fit(np.linspace(-2, 2, 20), [0, 1] * 10)
    with pytest.raises(ValueError, match="scaler must be one of"):
        ScalingBinning(scaler="beta").fit(np.zeros(40), [0, 1] * 20)
