import numpy as np
import pytest
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from calibrate import CalibrationWarning, PlattScaling
from calibrate.datasets import make_miscalibrated_binary, make_miscalibrated_multilabel


def logistic_regression(z, y, sample_weight=None):
    """Unregularised logistic regression of scikit-learn on one score column."""
    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000)
    lr.fit(z.reshape(-1, 1), y, sample_weight=sample_weight)
    return lr.coef_[0, 0], lr.intercept_[0]


def test_binary_equals_unregularised_logistic_regression():
    data = make_miscalibrated_binary(5_000, temperature=1.7, random_state=0)
    z = data.logits + 0.4  # a bias for b to find
    cal = PlattScaling().fit(z, data.labels)
    a, b = logistic_regression(z, data.labels)
    assert cal.coef_ == pytest.approx(a, abs=1e-5)
    assert cal.intercept_ == pytest.approx(b, abs=1e-5)
    np.testing.assert_allclose(cal.predict_proba(z)[:, 1], expit(a * z + b), atol=1e-6)


def test_binary_with_weights_equals_weighted_logistic_regression(rng):
    data = make_miscalibrated_binary(3_000, temperature=0.8, random_state=1)
    weights = rng.uniform(0.1, 3.0, size=3_000)
    cal = PlattScaling().fit(data.logits, data.labels, sample_weight=weights)
    a, b = logistic_regression(data.logits, data.labels, sample_weight=weights)
    assert cal.coef_ == pytest.approx(a, abs=1e-5)
    assert cal.intercept_ == pytest.approx(b, abs=1e-5)


def test_multilabel_is_one_logistic_regression_per_label():
    data = make_miscalibrated_multilabel(4_000, 3, temperature=2.0, random_state=2)
    cal = PlattScaling().fit(data.logits, data.labels)
    assert cal.coef_.shape == cal.intercept_.shape == (3,)
    for k in range(3):
        a, b = logistic_regression(data.logits[:, k], data.labels[:, k])
        assert cal.coef_[k] == pytest.approx(a, abs=1e-5)
        assert cal.intercept_[k] == pytest.approx(b, abs=1e-5)
    proba = cal.predict_proba(data.logits)
    np.testing.assert_allclose(
        proba, expit(data.logits * cal.coef_ + cal.intercept_), rtol=1e-12
    )
    np.testing.assert_array_equal(cal.predict(data.logits), (proba > 0.5).astype(int))


def test_string_labels_binary():
    data = make_miscalibrated_binary(1_000, temperature=1.0, random_state=3)
    labels = np.where(data.labels == 1, "spam", "ham")
    cal = PlattScaling().fit(data.logits, labels)
    np.testing.assert_array_equal(cal.classes_, ["ham", "spam"])
    a, _ = logistic_regression(data.logits, data.labels)
    assert cal.coef_ == pytest.approx(a, abs=1e-5)
    assert set(cal.predict(data.logits)) <= {"ham", "spam"}


def test_multiclass_smoothed_one_vs_rest_matches_scikit_learn_sigmoid(rng, logit_model):
    # scikit-learn's method="sigmoid" is one-vs-rest Platt scaling with Platt's
    # smoothed targets, normalised over classes.
    z = rng.normal(size=(3_000, 4)) * 2
    y = np.argmax(z / 1.5 + rng.gumbel(size=z.shape), axis=1)
    model = logit_model(z, y)
    sk = CalibratedClassifierCV(
        FrozenEstimator(model), method="sigmoid", ensemble=False
    )
    sk.fit(z, y)
    cal = PlattScaling(target_smoothing=True).fit(z, y)
    np.testing.assert_allclose(cal.predict_proba(z), sk.predict_proba(z), atol=1e-4)
    np.testing.assert_allclose(cal.predict_proba(z).sum(axis=1), 1.0, rtol=1e-12)


def test_smoothing_keeps_separable_data_finite():
    z = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    y = np.array([0, 0, 0, 1, 1, 1])
    cal = PlattScaling(target_smoothing=True).fit(z, y)
    assert np.isfinite(cal.coef_) and np.isfinite(cal.intercept_)
    # Platt's targets, computed by hand: N+ = N- = 3 -> 4/5 and 1/5.
    t = np.where(y == 1, 4 / 5, 1 / 5)
    s = cal.coef_ * z + cal.intercept_
    grad_a = np.mean((expit(s) - t) * z)
    grad_b = np.mean(expit(s) - t)
    assert abs(grad_a) < 1e-7 and abs(grad_b) < 1e-7


def test_one_class_binary_data_warns_instead_of_crashing(rng):
    z = rng.normal(size=50)
    with pytest.warns(CalibrationWarning, match="only class 0 occurs"):
        cal = PlattScaling().fit(z, np.zeros(50, dtype=int))
    assert np.isfinite(cal.coef_) and cal.predict_proba(z).shape == (50, 2)


def test_target_smoothing_must_be_a_boolean(rng):
    with pytest.raises(TypeError, match="target_smoothing must be True or False"):
        PlattScaling(target_smoothing="no").fit(rng.normal(size=10), np.arange(10) % 2)


def test_constant_multilabel_column_warns_and_stays_finite(rng):
    z = rng.normal(size=(500, 3))
    y = (z + rng.normal(size=z.shape) > 0).astype(int)
    y[:, 2] = 0
    with pytest.warns(CalibrationWarning, match=r"labels \[2\] are constant"):
        cal = PlattScaling().fit(z, y)
    assert np.isfinite(cal.coef_).all() and np.isfinite(cal.intercept_).all()


def test_column_subset_pass_equals_the_full_pass(rng):
    # The Newton passes sum only the columns still moving: those columns'
    # sums must be the full pass's (the columns are independent).
    from calibrate.calibrators._base import OneVsRestTargets, target_chunk
    from calibrate.calibrators._newton import _column_terms, _linear_target_terms

    n, k = 5_000, 7
    z = (rng.normal(size=(n, k)) * 3).astype(np.float32)
    y = rng.integers(k, size=n)
    w = rng.random(n)
    w /= w.sum()
    targets = OneVsRestTargets(y, np.zeros(k), np.ones(k))
    linear = _linear_target_terms(z, targets, w, target_chunk=target_chunk)
    # The target terms against their definition, summed densely here.
    Y = np.eye(k)[y]
    np.testing.assert_allclose(linear[0], (w[:, None] * Y * z).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(linear[1], w @ Y, rtol=1e-12)
    a, b = rng.uniform(0.2, 1.0, k), rng.normal(size=k)
    loss, g, h = _column_terms(z, w, a, b, linear)
    S = z.astype(np.float64) * a + b
    np.testing.assert_allclose(
        loss, w @ (np.logaddexp(0, S) - Y * S), rtol=1e-12, atol=1e-15
    )
    cols = np.array([1, 4, 5])
    s_loss, s_g, s_h = _column_terms(z, w, a[cols], b[cols], linear, cols)
    np.testing.assert_allclose(s_loss, loss[cols], rtol=1e-13)
    np.testing.assert_allclose(s_g, g[:, cols], rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(s_h, h[:, cols], rtol=1e-12, atol=1e-16)
