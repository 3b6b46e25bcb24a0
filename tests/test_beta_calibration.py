"""BetaCalibration against scikit-learn's unregularised logistic regression."""

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression

from calibrate import BetaCalibration


def logistic_regression(X, y, sample_weight=None, fit_intercept=True):
    """Unregularised LogisticRegression of scikit-learn, tight tolerance."""
    lr = LogisticRegression(
        C=np.inf, tol=1e-12, max_iter=100_000, fit_intercept=fit_intercept
    )
    lr.fit(X, y, sample_weight=sample_weight)
    return lr.coef_[0], (lr.intercept_[0] if fit_intercept else 0.0)


def features(p):
    return np.column_stack([np.log(p), -np.log1p(-p)])


def beta_data(rng, n, a, b, c):
    p = rng.uniform(0.005, 0.995, size=n)
    y = (rng.uniform(size=n) < expit(a * np.log(p) - b * np.log1p(-p) + c)).astype(int)
    return p, y


@pytest.mark.parametrize("weighted", [False, True])
def test_abm_equals_logistic_regression_on_beta_features(rng, weighted):
    p, y = beta_data(rng, 4_000, 1.5, 0.7, 0.3)
    w = rng.uniform(0.1, 3.0, size=len(y)) if weighted else None
    cal = BetaCalibration(input_type="probs").fit(p, y, sample_weight=w)
    coef, c = logistic_regression(features(p), y, w)
    np.testing.assert_allclose(cal.coef_, coef, atol=1e-5)
    assert cal.intercept_ == pytest.approx(c, abs=1e-5)
    q = expit(coef[0] * np.log(p) - coef[1] * np.log1p(-p) + c)
    np.testing.assert_allclose(cal.predict_proba(p)[:, 1], q, atol=1e-6)


def test_logits_give_the_same_fit_as_probabilities(rng):
    p, y = beta_data(rng, 3_000, 1.2, 2.0, -0.4)
    a = BetaCalibration(input_type="probs").fit(p, y)
    b = BetaCalibration().fit(np.log(p) - np.log1p(-p), y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)


def test_negative_a_is_refitted_with_a_fixed_at_zero(rng):
    # A true map with a < 0: the unconstrained fit has a < 0, the paper then
    # drops log p and fits b and c alone.
    p, y = beta_data(rng, 6_000, -1.0, 1.5, 0.5)
    unconstrained, _ = logistic_regression(features(p), y)
    assert unconstrained[0] < 0
    cal = BetaCalibration(input_type="probs").fit(p, y)
    coef, c = logistic_regression(features(p)[:, 1:], y)
    assert cal.coef_[0] == 0.0
    assert cal.coef_[1] == pytest.approx(coef[0], abs=1e-5)
    assert cal.intercept_ == pytest.approx(c, abs=1e-5)


def test_am_and_ab_variants(rng):
    p, y = beta_data(rng, 4_000, 1.3, 0.8, 0.2)
    am = BetaCalibration(parameters="am", input_type="probs").fit(p, y)
    coef, c = logistic_regression(np.log(p / (1 - p))[:, None], y)
    np.testing.assert_allclose(am.coef_, [coef[0], coef[0]], atol=1e-5)
    assert am.intercept_ == pytest.approx(c, abs=1e-5)
    ab = BetaCalibration(parameters="ab", input_type="probs").fit(p, y)
    coef, _ = logistic_regression(features(p), y, fit_intercept=False)
    np.testing.assert_allclose(ab.coef_, coef, atol=1e-5)
    assert ab.intercept_ == 0.0


def test_multilabel_per_column_and_multiclass_one_vs_rest(rng):
    P = rng.uniform(0.01, 0.99, size=(3_000, 3))
    Y = (rng.uniform(size=P.shape) < P**1.5).astype(int)
    cal = BetaCalibration(input_type="probs").fit(P, Y)
    for k in range(3):
        coef, c = logistic_regression(features(P[:, k]), Y[:, k])
        np.testing.assert_allclose(cal.coef_[k], coef, atol=1e-5)
        assert cal.intercept_[k] == pytest.approx(c, abs=1e-5)
    z = rng.normal(size=(3_000, 4)) * 2
    Pm = softmax(z, axis=1)
    y = (z / 2 + rng.gumbel(size=z.shape)).argmax(axis=1)
    cal = BetaCalibration().fit(z, y)
    raw = np.empty_like(Pm)
    for k in range(4):
        coef, c = logistic_regression(features(Pm[:, k]), y == k)
        np.testing.assert_allclose(cal.coef_[k], coef, atol=1e-5)
        raw[:, k] = expit(features(Pm[:, k]) @ cal.coef_[k] + cal.intercept_[k])
    np.testing.assert_allclose(
        cal.predict_proba(z), raw / raw.sum(axis=1, keepdims=True), rtol=1e-10
    )


def test_bad_parameters_value():
    with pytest.raises(ValueError, match="parameters must be one of"):
        BetaCalibration(parameters="abc").fit(np.zeros(4), [0, 1, 0, 1])
