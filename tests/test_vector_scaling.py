import warnings

import numpy as np
import pytest
from scipy.special import log_softmax, softmax
from sklearn.metrics import log_loss

from calibrate import CalibrationWarning, TemperatureScaling, VectorScaling
from calibrate.datasets import make_miscalibrated


def draw_labels(u, rng):
    """Labels drawn from softmax(u) with the Gumbel-max trick."""
    return np.argmax(u + rng.gumbel(size=u.shape), axis=1)


def test_recovers_a_known_vector_map(rng):
    # The true probabilities are softmax(w * z + b): fitting must find w and b
    # (b up to a common shift, which softmax ignores).
    n, w, b = 100_000, np.array([0.5, 1.0, 2.0, 1.5]), np.array([0.3, -0.2, 0.0, 0.5])
    z = rng.normal(size=(n, 4)) * 2.0
    y = draw_labels(w * z + b, rng)
    cal = VectorScaling().fit(z, y)
    np.testing.assert_allclose(cal.coef_, w, atol=0.05)
    np.testing.assert_allclose(
        cal.intercept_ - cal.intercept_.mean(), b - b.mean(), atol=0.05
    )


def test_gradient_vanishes_at_the_fit(rng):
    z = rng.normal(size=(2_000, 3)) * 2.0
    y = draw_labels(z / 1.5 + [0.2, 0.0, -0.3], rng)
    cal = VectorScaling().fit(z, y)

    def nll(w, b):
        return -np.mean(log_softmax(w * z + b, axis=1)[np.arange(len(y)), y])

    eps = 1e-6
    for i in range(3):
        e = np.zeros(3)
        e[i] = eps
        dw = nll(cal.coef_ + e, cal.intercept_) - nll(cal.coef_ - e, cal.intercept_)
        db = nll(cal.coef_, cal.intercept_ + e) - nll(cal.coef_, cal.intercept_ - e)
        assert abs(dw / (2 * eps)) < 1e-6
        assert abs(db / (2 * eps)) < 1e-6


def test_nested_family_never_worse_than_temperature_scaling():
    data = make_miscalibrated(5_000, 10, temperature=1.8, random_state=0)
    z, y = data.logits, data.labels
    ts = TemperatureScaling().fit(z, y)
    vs = VectorScaling().fit(z, y)
    assert log_loss(y, vs.predict_proba(z)) <= log_loss(y, ts.predict_proba(z))


def test_real_logits_nested_and_accuracy_preserved_on_test(shared_data):
    data = shared_data("mukhoti_c10_resnet110_brier")
    zv, yv = data["val_logits"], data["val_labels"]
    ts = TemperatureScaling().fit(zv, yv)
    vs = VectorScaling().fit(zv, yv)
    assert log_loss(yv, vs.predict_proba(zv)) <= log_loss(yv, ts.predict_proba(zv))
    # Test NLL improves on the uncalibrated model.
    zt, yt = data["test_logits"], data["test_labels"]
    assert log_loss(yt, vs.predict_proba(zt)) < log_loss(yt, softmax(zt, axis=1))


def test_absent_class_parameters_stay_at_the_temperature_solution(rng):
    z = rng.normal(size=(1_000, 4)) * 2
    y = draw_labels(z[:, :3] / 2, rng)  # class 3 never occurs
    with pytest.warns(CalibrationWarning, match=r"classes \[3\] never occur"):
        cal = VectorScaling().fit(z, y)
    ts = TemperatureScaling().fit(z, y)  # one T: absent classes need no warning
    assert cal.coef_[3] == pytest.approx(1 / ts.temperature_, rel=1e-6)
    assert cal.intercept_[3] == 0.0
    assert np.isfinite(cal.predict_log_proba(z)).all()
    # The absent class is not pushed to zero by the other classes' parameters:
    # its probability stays of the order temperature scaling gives it.
    p_vs = cal.predict_proba(z)[:, 3].mean()
    p_ts = ts.predict_proba(z)[:, 3].mean()
    assert p_ts / 10 < p_vs < p_ts * 10


def test_separable_data_warn(rng):
    z = rng.normal(size=(40, 3)) * 3
    with pytest.warns(CalibrationWarning, match="perfectly separated"):
        VectorScaling().fit(z, z.argmax(axis=1))


@pytest.mark.parametrize(
    "params, error",
    [({"tol": -1.0}, ValueError), ({"max_iter": 2.5}, TypeError)],
)
def test_bad_hyperparameters(rng, params, error):
    z = rng.normal(size=(30, 3))
    with pytest.raises(error):
        VectorScaling(**params).fit(z, np.arange(30) % 3)


def test_rejects_binary_and_multilabel_input():
    with pytest.raises(ValueError, match="supports multiclass"):
        VectorScaling().fit(np.array([0.1, -0.3, 2.0]), [0, 1, 1])
    with pytest.raises(ValueError, match="supports multiclass"):
        VectorScaling().fit(np.zeros((2, 3)), np.array([[0, 1, 1], [1, 0, 0]]))


def test_softmax_of_transform_is_predict_proba(rng):
    z = rng.normal(size=(200, 5)) * 3
    y = draw_labels(z / 2, rng)
    cal = VectorScaling().fit(z, y)
    np.testing.assert_allclose(softmax(cal.transform(z), axis=1), cal.predict_proba(z))
    np.testing.assert_allclose(
        cal.predict_proba(z), softmax(cal.coef_ * z + cal.intercept_, axis=1)
    )


def test_float32_hessian_matches_finite_differences_of_the_gradient(rng):
    # The Newton steps use the Hessian formed by one float32 rank-m update per
    # chunk; checked against central differences of the exact float64
    # gradient, written out here from the softmax NLL.
    from calibrate.calibrators._newton import _class_label_sums, _per_class_terms

    n, k = 3_000, 6
    z = (rng.normal(size=(n, k)) * 2).astype(np.float32)
    y = rng.integers(k, size=n)
    w = rng.random(n)
    w /= w.sum()
    absent = np.zeros(k, dtype=bool)
    theta = np.concatenate([rng.uniform(0.3, 1.0, k), rng.normal(size=k) * 0.3])

    def gradient(theta):
        Z = z.astype(np.float64)
        R = softmax(Z * theta[:k] + theta[k:], axis=1)
        R[np.arange(n), y] -= 1.0
        R *= w[:, None]
        return np.concatenate([(R * Z).sum(axis=0), R.sum(axis=0)])

    labels = _class_label_sums(z, y, w)
    _, g, H = _per_class_terms(z, w, theta[:k], theta[k:], absent, labels)
    np.testing.assert_allclose(g, gradient(theta), rtol=1e-10, atol=1e-14)
    eps = 1e-6
    numeric = np.column_stack(
        [
            (gradient(theta + eps * e) - gradient(theta - eps * e)) / (2 * eps)
            for e in np.eye(2 * k)
        ]
    )
    np.testing.assert_allclose(H, numeric, atol=1e-5 * np.abs(numeric).max())


def test_many_classes_reach_the_gradient_tolerance_and_beat_lbfgs(rng):
    # Beyond 256 classes the Hessian is formed only where a step is taken and
    # its factorisation reused (chord steps): the fit must still end where
    # the gradient (written out here) vanishes, no higher than L-BFGS-B.
    from scipy.optimize import minimize

    n, k = 5_000, 300
    u = rng.normal(size=(n, k))
    z = 2.0 * u
    y = draw_labels(u + np.log(k) * (rng.random((n, k)) < 1 / k), rng)
    cal = VectorScaling().fit(z, y)

    def fun(theta):
        S = z * theta[:k] + theta[k:]
        L = log_softmax(S, axis=1)
        R = np.exp(L)
        R[np.arange(n), y] -= 1.0
        R /= n
        nll = -L[np.arange(n), y].mean()
        return nll, np.concatenate([(R * z).sum(axis=0), R.sum(axis=0)])

    theta = np.concatenate([cal.coef_, cal.intercept_])
    value, grad = fun(theta)
    assert np.linalg.norm(grad) < 1e-7
    x0 = np.concatenate([np.ones(k), np.zeros(k)])
    ref = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    assert value <= ref.fun + 1e-12


def test_own_column_separation_worked_by_hand():
    from calibrate.calibrators._vector import own_column_separated

    z = np.array(
        [
            [3.0, 0.0, 1.0, 5.0],
            [2.0, 1.0, 1.0, 5.0],
            [0.5, 2.0, 1.0, 5.0],
            [1.0, 0.5, 1.0, 5.0],
            [9.0, 9.0, 9.0, 5.0],
        ]
    )
    y = np.array([0, 0, 1, 2, 3])
    w = np.array([1.0, 1.0, 1.0, 1.0, 0.0])  # the last row does not count
    absent = np.array([False, False, False, True])  # class 3 has weight 0
    # Class 0: its rows score 3 and 2, the others 0.5 and 1: separated.
    # Class 1: its row scores 2, the others 0, 1, 0.5: separated.
    # Class 2: its row ties the others at 1 (a constant column): no ray helps.
    # Class 3: absent.
    expected = [True, True, False, False]
    assert own_column_separated(z, y, w, absent).tolist() == expected
    # A tie at the threshold still separates (the ray lowers no row's
    # likelihood and raises the strict ones'); one row across does not.
    z[3, 0] = 2.0
    assert own_column_separated(z, y, w, absent).tolist() == expected
    z[3, 0] = 2.5
    assert own_column_separated(z, y, w, absent).tolist() == [False, True, False, False]
    # Mirrored: class 0's rows the lowest of its column (a falling scale).
    z[:, 0] = [-3.0, -2.0, 0.5, 1.0, 9.0]
    assert own_column_separated(z, y, w, absent).tolist() == expected
    z[1, 0] = 0.7
    assert own_column_separated(z, y, w, absent).tolist() == [False, True, False, False]
    # Row weights of 0 drop rows: without row 2, class 1 has no row at all.
    w[2] = 0.0
    assert not own_column_separated(z, y, w, absent)[1]


@pytest.mark.filterwarnings("ignore:.*never occur in y")
def test_separated_classes_keep_the_temperature_map_and_the_rest_is_fitted(rng):
    # Vocabulary-scale data: 250 rows, 300 classes, most seen once, many of
    # them the top of their own column.  Along the ray that raises such a
    # class's scale the NLL (written out here) falls without bound, so no
    # finite optimum exists; the fit holds those classes at 1 / T, fits the
    # others to a vanishing gradient, and is no worse than temperature
    # scaling.
    n, k = 250, 300
    u = rng.normal(size=(n, k))
    hot = rng.integers(k, size=n)
    u[np.arange(n), hot] += np.log(k)
    z = 2.0 * u
    y = draw_labels(u, rng)
    labels = np.array([f"token{j:03d}" for j in range(k)])  # named in the warning

    def nll(a, b):
        return -np.mean(log_softmax(z * a + b, axis=1)[np.arange(n), y])

    ts = TemperatureScaling().fit(z, labels[y], classes=labels)
    a0 = np.full(k, 1 / ts.temperature_)
    own = np.array([z[y == j, j].min() if (y == j).any() else np.inf for j in range(k)])
    other = np.array([z[y != j, j].max() for j in range(k)])
    own_top = np.array([z[y == j, j].max() if (y == j).any() else 0 for j in range(k)])
    other_low = np.array([z[y != j, j].min() for j in range(k)])
    present = np.bincount(y, minlength=k) > 0
    separated = ((own >= other) | (own_top <= other_low)) & present
    assert 10 < separated.sum() < (np.bincount(y, minlength=k) > 0).sum()
    j = int(np.flatnonzero(own >= other)[0])
    ray = np.zeros(k)
    ray[j] = 1.0
    c = (own[j] + other[j]) / 2
    steps = [nll(a0 + t * ray, -t * c * ray) for t in (0.0, 1.0, 10.0, 100.0)]
    assert np.all(np.diff(steps) < 0)

    first = labels[np.flatnonzero(separated)[0]]
    with pytest.warns(CalibrationWarning, match=rf"classes \['{first}', .*separated"):
        cal = VectorScaling().fit(z, labels[y], classes=labels)
    assert cal.n_iter_ < 100
    np.testing.assert_allclose(cal.coef_[separated], 1 / ts.temperature_, rtol=1e-6)
    assert nll(cal.coef_, cal.intercept_) <= nll(a0, np.zeros(k)) + 1e-12
    # The gradient over the fitted parameters (every present class's
    # intercept, the scales of the others) vanishes, on the softmax over the
    # classes that occur (see the absent-class test above).
    S = z * cal.coef_ + cal.intercept_
    S[:, np.bincount(y, minlength=k) == 0] = -np.inf
    R = softmax(S, axis=1)
    R[np.arange(n), y] -= 1.0
    R /= n
    fitted = ~separated & (np.bincount(y, minlength=k) > 0)
    grad = np.concatenate([(R * z).sum(axis=0)[fitted], R.sum(axis=0)[present]])
    assert np.linalg.norm(grad) < 1e-7


def test_newton_solve_of_an_indefinite_hessian_is_a_descent_direction():
    # Rounding can leave the float32 Hessian indefinite where rows are nearly
    # certain.  The solve must still point downhill (g . step < 0); the old
    # least-squares fallback returned -H^+ g, here (-1e-6, 1000), uphill.
    from calibrate.calibrators._newton import _factorise

    H = np.diag([1.0, -1e-3])
    g = np.array([1e-6, 1.0])
    step = _factorise(H.copy(), np.array([True, True]))(g)
    assert g @ step < 0
    # A negative trace (measured on separable data: mean diagonal -9.5e-7)
    # gave no usable ridge and a step of length inf.
    H = np.array([[1e-6, 0.0], [0.0, -3e-6]])
    step = _factorise(H.copy(), np.array([True, True]))(g)
    assert np.all(np.isfinite(step)) and g @ step < 0
    # A positive definite Hessian is solved exactly (up to the 1e-12 ridge).
    H = np.array([[2.0, 0.5], [0.5, 1.0]])
    step = _factorise(H.copy(), np.array([True, True]))(g)
    np.testing.assert_allclose(step, -np.linalg.solve(H, g), rtol=1e-9)


def test_sign_separation_worked_by_hand():
    # With the intercept penalised (or absent) only the threshold 0 separates.
    from calibrate.calibrators._vector import own_column_separated

    z = np.array([[2.0, -1.0], [1.0, -2.0], [0.5, 1.0], [-1.0, 3.0]])
    y = np.array([0, 0, 1, 1])
    w = np.full(4, 0.25)
    absent = np.zeros(2, dtype=bool)
    # Column 0: own rows 2, 1 against 0.5, -1: separated at c = 0.75 but not
    # at 0; column 1: own rows 1, 3 against -1, -2, separated at 0 too.
    assert own_column_separated(z, y, w, absent).tolist() == [True, True]
    sign = own_column_separated(z, y, w, absent, free_intercept=False)
    assert sign.tolist() == [False, True]
    z[2, 0] = 0.0  # a 0 still separates at the threshold 0
    sign = own_column_separated(z, y, w, absent, free_intercept=False)
    assert sign.tolist() == [True, True]
    z[:, 1] = 0.0  # a column of zeros moves no row along the ray
    sign = own_column_separated(z, y, w, absent, free_intercept=False)
    assert sign.tolist() == [True, False]


def test_separable_data_fit_without_overflow(rng):
    # Argmax-separable logits made the float32 Hessian indefinite with a
    # negative trace; its fallback step was infinite and the line search
    # overflowed (a RuntimeWarning, an error under this suite's settings).
    n, k = 200, 6
    y = rng.integers(k, size=n)
    z = rng.normal(size=(n, k)) * 10
    z[np.arange(n), y] = np.maximum(z[np.arange(n), y] + 12, z.max(axis=1) + 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", CalibrationWarning)
        cal = VectorScaling().fit(z, y)
        ts = TemperatureScaling().fit(z, y)
    assert np.all(np.isfinite(cal.coef_)) and np.all(np.isfinite(cal.intercept_))
    assert (
        log_loss(y, cal.predict_proba(z), labels=range(k))
        <= log_loss(y, ts.predict_proba(z), labels=range(k)) + 1e-12
    )


@pytest.mark.parametrize("free_intercept", [True, False])
def test_separation_on_many_rows_matches_a_direct_count(rng, free_intercept):
    # 20,000 x 12 scores (a subsample screens the classes first): classes 3
    # and 7 are planted separated, at a threshold 0 and 1.5 respectively;
    # the reference is computed column by column here.
    from calibrate.calibrators._vector import own_column_separated

    n, k = 20_000, 12
    z = rng.normal(size=(n, k)).astype(np.float32)
    y = rng.integers(k, size=n)
    z[:, 3] = -np.abs(z[:, 3])
    z[y == 3, 3] *= -1
    z[:, 7] = np.where(y == 7, 1.5 + np.abs(z[:, 7]), 1.5 - np.abs(z[:, 7]))
    w = rng.random(n)
    w[rng.random(n) < 0.1] = 0.0
    counted = w > 0
    expected = np.zeros(k, dtype=bool)
    for j in range(k):
        own, other = z[counted & (y == j), j], z[counted & (y != j), j]
        c = 0.0
        if free_intercept:
            above = own.min() >= other.max()
            below = own.max() <= other.min()
        else:
            above = own.min() >= c >= other.max()
            below = own.max() <= c <= other.min()
        expected[j] = above or below
    assert expected[3] and expected[7] == free_intercept
    absent = np.zeros(k, dtype=bool)
    found = own_column_separated(z, y, w, absent, free_intercept=free_intercept)
    assert found.tolist() == expected.tolist()
    # One row of class 3 across the threshold, whether or not the screening
    # subsample holds it (every row, or one in 14 here): no longer separated.
    for i in np.flatnonzero(counted & (y == 3))[:14]:
        z_moved = z.copy()
        z_moved[i, 3] = -0.5
        found = own_column_separated(
            z_moved, y, w, absent, free_intercept=free_intercept
        )
        assert not found[3]
