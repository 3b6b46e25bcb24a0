"""IsotonicCalibration against scikit-learn's isotonic regression and by hand."""

import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression

from calibrate import CalibrationWarning, IsotonicCalibration
from calibrate.calibrators._isotonic import _tie_starts, apply_isotonic, fit_isotonic


class ProbaModel(ClassifierMixin, BaseEstimator):
    """A fitted 'classifier' whose predict_proba is its input (probabilities)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.asarray(X)

    def predict(self, X):
        return self.classes_[np.argmax(X, axis=1)]


def multiclass_probs(rng, n, k, scale=2.0):
    logits = rng.normal(size=(n, k)) * scale
    labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    return softmax(logits, axis=1), labels


def test_pav_by_hand():
    # [1, 0, 1, 0, 1] on increasing x: PAV pools (1, 0) -> 0.5 and (1, 0) -> 0.5.
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    xs, ys = fit_isotonic(x, y, np.ones(5))
    np.testing.assert_array_equal(xs, [0.1, 0.4, 0.5])
    np.testing.assert_array_equal(ys, [0.5, 0.5, 1.0])
    # Weight 3 on the first row: (3*1 + 0) / 4 = 0.75, then (0.75*4 + 1 + 0)/6.
    xs, ys = fit_isotonic(x, y, np.array([3.0, 1, 1, 1, 1]))
    np.testing.assert_allclose(ys[0], 4.0 / 6.0)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_equals_sklearn_isotonic_regression(rng, weighted):
    p = rng.uniform(0.001, 0.999, size=3_000)
    y = (rng.uniform(size=3_000) < p**2).astype(int)
    p[:200] = np.round(p[:200], 2)  # ties among equal scores
    w = rng.uniform(0.0, 3.0, size=3_000) if weighted else None
    cal = IsotonicCalibration(input_type="probs").fit(p, y, sample_weight=w)
    ref = IsotonicRegression(out_of_bounds="clip").fit(p, y, sample_weight=w)
    test = np.concatenate([rng.uniform(size=2_000), [0.0, 1.0]])
    np.testing.assert_allclose(
        cal.predict_proba(test)[:, 1], ref.predict(test), rtol=0, atol=1e-12
    )


def test_multilabel_is_one_isotonic_regression_per_column(rng):
    P = rng.uniform(size=(2_000, 3))
    Y = (rng.uniform(size=P.shape) < P).astype(int)
    w = rng.integers(0, 4, size=2_000).astype(float)
    cal = IsotonicCalibration(input_type="probs").fit(P, Y, sample_weight=w)
    test = rng.uniform(size=(500, 3))
    out = cal.predict_proba(test)
    for k in range(3):
        ref = IsotonicRegression(out_of_bounds="clip").fit(P[:, k], Y[:, k], w)
        np.testing.assert_allclose(out[:, k], ref.predict(test[:, k]), atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_equals_calibrated_classifier_cv(rng, weighted):
    P, y = multiclass_probs(rng, 3_000, 4)
    w = rng.integers(0, 4, size=len(y)).astype(float) if weighted else None
    ref = CalibratedClassifierCV(
        FrozenEstimator(ProbaModel().fit(P, y)), method="isotonic"
    )
    with warnings.catch_warnings():
        # FrozenEstimator takes no weights; the isotonic fits themselves do.
        warnings.simplefilter("ignore", UserWarning)
        ref.fit(P, y, sample_weight=w)
    cal = IsotonicCalibration(input_type="probs").fit(P, y, sample_weight=w)
    test, _ = multiclass_probs(rng, 1_000, 4, scale=2.5)
    np.testing.assert_allclose(
        cal.predict_proba(test), ref.predict_proba(test), atol=1e-12
    )


def test_logits_and_probabilities_give_the_same_map(rng):
    P, y = multiclass_probs(rng, 2_000, 5)
    test, _ = multiclass_probs(rng, 500, 5)
    from_probs = IsotonicCalibration(input_type="probs").fit(P, y).predict_proba(test)
    from_logits = IsotonicCalibration().fit(np.log(P), y).predict_proba(np.log(test))
    np.testing.assert_allclose(from_logits, from_probs, atol=1e-12)
    z = rng.normal(size=1_000)
    yb = (rng.uniform(size=1_000) < expit(z / 2)).astype(int)
    a = IsotonicCalibration().fit(z, yb).predict_proba(z)
    b = (
        IsotonicCalibration(input_type="probs")
        .fit(expit(z), yb)
        .predict_proba(expit(z))
    )
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_row_order_does_not_matter_with_ties(rng):
    p = 0.05 + 0.9 * np.round(rng.uniform(size=1_000), 1)  # eleven values only
    y = (rng.uniform(size=1_000) < p).astype(int)
    perm = rng.permutation(1_000)
    a = IsotonicCalibration(input_type="probs").fit(p, y)
    b = IsotonicCalibration(input_type="probs").fit(p[perm], y[perm])
    np.testing.assert_array_equal(a.predict_proba(p), b.predict_proba(p))


def test_all_zero_row_gets_the_uniform_distribution():
    # Class 2 never occurs (its map is 0); the targets of classes 0 and 1 are
    # already monotone in their scores, 0 up to a score of 0.3 and 1 above.
    P = np.array([[0.6, 0.3, 0.1], [0.3, 0.6, 0.1], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1]])
    y = np.array([0, 1, 0, 1])
    with pytest.warns(CalibrationWarning, match="never occur"):
        cal = IsotonicCalibration(input_type="probs").fit(P, y)
    out = cal.predict_proba(np.array([[0.25, 0.25, 0.5]]))
    np.testing.assert_allclose(out, [[1 / 3, 1 / 3, 1 / 3]])
    lp = cal.predict_log_proba(np.array([[0.6, 0.3, 0.1]]))
    assert lp[0, 2] == -np.inf and lp[0, 0] == 0.0


def test_bad_input_gets_one_clear_line(rng):
    P, y = multiclass_probs(rng, 50, 3)
    P_nan = P.copy()
    P_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        IsotonicCalibration(input_type="probs").fit(P_nan, y)
    with pytest.raises(ValueError, match="different numbers of rows"):
        IsotonicCalibration(input_type="probs").fit(P, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        IsotonicCalibration(input_type="probs").fit(P, y, sample_weight=np.ones(3))


@pytest.mark.parametrize(
    "scores", ["distinct", "rounded", "float32", "zeros_and_ones"]
)
def test_equal_weight_kernel_equals_sklearn_knot_for_knot(rng, scores):
    # The unweighted 0/1 path pools blocks before PAVA (see
    # _fit_isotonic_binary); its knots must be scikit-learn's, exactly.
    for n in (1, 2, 7, 300, 5_000):
        x = rng.uniform(size=n)
        if scores == "rounded":
            x = np.round(x, 2)
        elif scores == "float32":
            x = np.round(x, 3).astype(np.float32).astype(np.float64)
        elif scores == "zeros_and_ones":
            x[rng.uniform(size=n) < 0.3] = 0.0
            x[rng.uniform(size=n) < 0.1] = -0.0
            x[rng.uniform(size=n) < 0.1] = 1.0
        for y in (
            (rng.uniform(size=n) < x**2).astype(float),
            np.zeros(n),
            np.ones(n),
        ):
            xs, ys = fit_isotonic(x, y, np.full(n, 1.0 / n))
            ref = IsotonicRegression(out_of_bounds="clip").fit(x, y)
            np.testing.assert_array_equal(xs, ref.X_thresholds_)
            np.testing.assert_allclose(ys, ref.y_thresholds_, rtol=0, atol=1e-12)



def test_multiclass_with_tied_float32_scores_equals_sklearn(rng):
    P, y = multiclass_probs(rng, 20_000, 5)
    P = P.astype(np.float32).astype(np.float64)
    P /= P.sum(axis=1, keepdims=True)
    P = np.round(P, 3)
    P /= P.sum(axis=1, keepdims=True)  # many equal scores in every column
    ref = CalibratedClassifierCV(
        FrozenEstimator(ProbaModel().fit(P, y)), method="isotonic"
    ).fit(P, y)
    cal = IsotonicCalibration(input_type="probs").fit(P, y)
    np.testing.assert_allclose(cal.predict_proba(P), ref.predict_proba(P), atol=1e-12)


def _make_unique_starts(v):
    # scikit-learn's _make_unique loop, transcribed: the first index of each
    # group of scores it pools.
    starts, current = [], None
    for j, x in enumerate(v):
        if current is None or x - current >= np.finfo(np.float64).resolution:
            starts.append(j)
            current = x
    return np.array(starts, dtype=np.intp)


@pytest.mark.parametrize("layout", ["one_chain", "repeated", "mixed", "tiny"])
def test_tie_groups_in_chains_wider_than_the_resolution_equal_sklearn(rng, layout):
    # Scores a few ulps apart chain into runs far wider than float64's
    # resolution (1e-15); the greedy rule then splits each run at every
    # score 1e-15 past its group's first one.  The vectorised grouping must
    # give scikit-learn's groups, and so its knots.
    ulp = 2.0**-53  # the spacing of float64 just above 0.5
    n = 3_000
    if layout == "one_chain":
        x = 0.5 + np.arange(n) * ulp
    elif layout == "repeated":
        x = np.repeat(0.5 + np.arange(n // 3) * ulp, rng.integers(1, 6, size=n // 3))
    elif layout == "mixed":
        x = np.concatenate(
            [
                rng.uniform(size=n),
                0.25 + rng.integers(0, 400, size=n) * ulp / 2,
                0.75 + rng.integers(0, 400, size=n) * ulp * 2,
            ]
        )
    else:
        x = np.concatenate([np.zeros(50), rng.integers(0, 300, size=n) * 1e-17])
    x = np.sort(x)
    np.testing.assert_array_equal(_tie_starts(x), _make_unique_starts(x))
    y = (rng.uniform(size=len(x)) < 0.5).astype(float)
    for w in (np.ones(len(x)), rng.uniform(0.5, 2.0, size=len(x))):
        xs, ys = fit_isotonic(x, y, w)
        ref = IsotonicRegression(out_of_bounds="clip").fit(x, y, sample_weight=w)
        np.testing.assert_array_equal(xs, ref.X_thresholds_)
        np.testing.assert_allclose(ys, ref.y_thresholds_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scores", ["spread", "tiny", "ulp_ties", "padded"])
def test_apply_isotonic_equals_np_interp_bit_for_bit(rng, scores):
    # The lookup of apply_isotonic must give np.interp's values exactly, on
    # the knots, one ulp beside them, outside them, at 0, -0.0 and 1.
    n = 4_000
    x = rng.uniform(size=n) ** rng.uniform(1, 30)
    if scores == "tiny":
        x = rng.uniform(size=n) * 1e-300  # subnormal and small normal floats
    elif scores == "ulp_ties":
        x = 0.5 + rng.integers(0, 200, size=n) * 2.0**-53
    # Knots as fit_isotonic leaves them: increasing scores, non-decreasing
    # values with constant runs.
    xs = np.unique(rng.choice(x, size=300))
    ys = rng.uniform(size=len(xs))
    ys = np.sort(np.where(rng.uniform(size=len(xs)) < 0.3, 0.5, ys))
    assert len(xs) > 20
    xsp, ysp = xs, ys
    if scores == "padded":
        # IsotonicCalibration pads rows with the last knot.
        xsp, ysp = np.pad(xs, (0, 3), "edge"), np.pad(ys, (0, 3), "edge")
    q = np.concatenate(
        [
            x,
            rng.uniform(size=n) ** rng.uniform(1, 30),
            xs,
            np.nextafter(xs, 2.0),
            np.nextafter(xs, -1.0),
            [0.0, -0.0, 1.0, -1.0, 2.0, 5e-324],
        ]
    )
    np.testing.assert_array_equal(apply_isotonic(q, xsp, ysp), np.interp(q, xs, ys))
    Q = np.column_stack([q, q])  # a strided column, as predict passes it
    np.testing.assert_array_equal(
        apply_isotonic(Q[:, 1], xsp, ysp), np.interp(q, xs, ys)
    )
