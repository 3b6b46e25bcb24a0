"""Dirichlet calibration and ensemble temperature scaling, checked independently.

The references are written out here with scipy: the ODIR objective of
Kull et al. (2019) on log-probabilities, minimised by a plain L-BFGS-B run,
and the Mix-n-Match mixture of Zhang et al. (2020) with its weights found by
a brute-force search over the simplex.
"""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.metrics import log_loss

from calibrate import (
    CalibrationWarning,
    DirichletCalibration,
    EnsembleTemperatureScaling,
    TemperatureScaling,
    VectorScaling,
)
from calibrate.io import load_calibrator, save_calibrator


def make_probs(rng, n=1_500, k=4):
    """Probabilities of an over-confident model with a class-dependent bias."""
    z = rng.normal(size=(n, k)) * 3
    true = z / 2 + np.linspace(-0.5, 0.5, k)
    cdf = np.cumsum(softmax(true, axis=1), axis=1)
    y = np.minimum((rng.random((n, 1)) > cdf).sum(axis=1), k - 1)
    return softmax(z, axis=1), y


def odir_objective(theta, L, y, lam, mu, k):
    W, b = theta[: k * k].reshape(k, k), theta[k * k :]
    S = L @ W.T + b
    nll = -np.mean(log_softmax(S, axis=1)[np.arange(len(y)), y])
    off = W - np.diag(np.diag(W))
    return nll + lam / (k * (k - 1)) * np.sum(off**2) + mu / k * np.sum(b**2)


@pytest.mark.parametrize("lam, mu", [(0.0, 0.0), (0.3, 0.1), (5.0, 2.0)])
def test_full_dirichlet_minimises_the_odir_objective(rng, lam, mu):
    P, y = make_probs(rng)
    k = P.shape[1]
    L = np.log(P)
    cal = DirichletCalibration(reg_lambda=lam, reg_mu=mu).fit(P, y)
    theta = np.concatenate([cal.coef_.ravel(), cal.intercept_])
    # Gradient zero at the fit (central differences of the written-out objective).
    eps = 1e-6
    grad = np.array(
        [
            (
                odir_objective(theta + e, L, y, lam, mu, k)
                - odir_objective(theta - e, L, y, lam, mu, k)
            )
            / (2 * eps)
            for e in np.eye(len(theta)) * eps
        ]
    )
    assert np.linalg.norm(grad) < 1e-6
    # Objective no higher than scipy's L-BFGS-B from the same start (T on log p).
    T = TemperatureScaling(input_type="probs").fit(P, y).temperature_
    x0 = np.concatenate([(np.eye(k) / T).ravel(), np.zeros(k)])
    ref = minimize(
        odir_objective,
        x0,
        args=(L, y, lam, mu, k),
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-10},
    )
    assert odir_objective(theta, L, y, lam, mu, k) <= ref.fun + 1e-10


def test_diagonal_dirichlet_without_penalty_is_vector_scaling_of_log_probs(rng):
    P, y = make_probs(rng)
    dirichlet = DirichletCalibration("diagonal", reg_mu=0.0).fit(P, y)
    vector = VectorScaling(input_type="probs").fit(P, y)
    np.testing.assert_allclose(np.diag(dirichlet.coef_), vector.coef_, rtol=1e-6)
    np.testing.assert_allclose(
        dirichlet.predict_proba(P), vector.predict_proba(P), atol=1e-9
    )


@pytest.mark.filterwarnings("ignore:.*never occur in y")
def test_diagonal_dirichlet_holds_the_classes_vector_scaling_holds(rng):
    # 200 rows of 120 classes: many classes are the top of their own
    # log-probability column, which leaves unpenalised per-class maps with no
    # finite optimum; both fits hold those classes at the start and agree.
    n, k = 200, 120
    u = rng.normal(size=(n, k))
    u[np.arange(n), rng.integers(k, size=n)] += np.log(k)
    y = np.argmax(u + rng.gumbel(size=u.shape), axis=1)
    P = softmax(2.0 * u, axis=1)
    with pytest.warns(CalibrationWarning, match="separated by their own score"):
        dirichlet = DirichletCalibration("diagonal", reg_mu=0.0).fit(P, y)
    with pytest.warns(CalibrationWarning, match="separated by their own score"):
        vector = VectorScaling(input_type="probs").fit(P, y)
    assert dirichlet.n_iter_ < 100
    np.testing.assert_allclose(np.diag(dirichlet.coef_), vector.coef_, rtol=1e-6)
    np.testing.assert_allclose(
        dirichlet.predict_proba(P), vector.predict_proba(P), atol=1e-9
    )


def test_fixed_diagonal_dirichlet_is_a_stationary_point(rng):
    P, y = make_probs(rng)
    L = np.log(P)
    k = P.shape[1]
    mu = 0.5
    cal = DirichletCalibration("fixed_diagonal", reg_mu=mu).fit(P, y)
    a = cal.coef_[0, 0]
    np.testing.assert_array_equal(cal.coef_, a * np.eye(k))

    def objective(t):
        S = t[0] * L + t[1:]
        nll = -np.mean(log_softmax(S, axis=1)[np.arange(len(y)), y])
        return nll + mu / k * np.sum(t[1:] ** 2)

    theta = np.concatenate([[a], cal.intercept_])
    eps = 1e-6
    grad = [
        (objective(theta + e) - objective(theta - e)) / (2 * eps)
        for e in np.eye(len(theta)) * eps
    ]
    assert np.linalg.norm(grad) < 1e-6


def test_logits_and_their_softmax_give_the_same_dirichlet_fit(rng):
    z = rng.normal(size=(800, 3)) * 3
    cdf = np.cumsum(softmax(z / 2, axis=1), axis=1)
    y = np.minimum((rng.random((800, 1)) > cdf).sum(axis=1), 2)
    from_logits = DirichletCalibration(input_type="logits").fit(z, y)
    from_probs = DirichletCalibration().fit(softmax(z, axis=1), y)
    np.testing.assert_allclose(
        from_logits.predict_proba(z),
        from_probs.predict_proba(softmax(z, axis=1)),
        atol=1e-7,
    )


@pytest.mark.parametrize("bad", ["full_matrix", None, 3])
def test_dirichlet_rejects_unknown_parameterization(rng, bad):
    P, y = make_probs(rng, n=50)
    with pytest.raises(ValueError, match="parameterization must be one of"):
        DirichletCalibration(bad).fit(P, y)


def mixture(z, y, T, v):
    k = z.shape[1]
    return v[0] * softmax(z / T, axis=1) + v[1] * softmax(z, axis=1) + v[2] / k


def simplex_grid(step=0.005):
    grid = np.arange(0, 1 + step / 2, step)
    w1, w2 = np.meshgrid(grid, grid, indexing="ij")
    keep = w1 + w2 <= 1 + 1e-12
    return np.stack([w1[keep], w2[keep], np.clip(1 - w1[keep] - w2[keep], 0, 1)], 1)


@pytest.mark.parametrize("loss", ["nll", "mse"])
def test_ets_weights_beat_a_brute_force_search_of_the_simplex(rng, loss):
    z = rng.normal(size=(2_000, 5)) * 4
    # Labels from a mixture of a tempered softmax and the uniform: ETS's family.
    truth = 0.7 * softmax(z / 2.5, axis=1) + 0.3 / 5
    y = (rng.random((2_000, 1)) > np.cumsum(truth, axis=1)).sum(axis=1).clip(0, 4)
    cal = EnsembleTemperatureScaling(loss).fit(z, y)
    T = TemperatureScaling().fit(z, y).temperature_
    assert cal.temperature_ == pytest.approx(T, rel=1e-9)
    Y = np.eye(5)[y]

    def score(v):
        P = mixture(z, y, T, v)
        if loss == "nll":
            return -np.mean(np.log(P[np.arange(len(y)), y]))
        return np.mean(np.sum((P - Y) ** 2, axis=1))

    assert np.all(cal.weights_ >= 0) and cal.weights_.sum() == pytest.approx(1)
    best_grid = min(score(v) for v in simplex_grid(0.01))
    assert score(cal.weights_) <= best_grid + 1e-12
    np.testing.assert_allclose(
        cal.predict_proba(z), mixture(z, y, T, cal.weights_), atol=1e-12
    )


# Labels drawn independently of the logits: T often sits on its upper bound.
@pytest.mark.filterwarnings("ignore::calibrate.CalibrationWarning")
def test_ets_is_never_worse_than_temperature_scaling_on_validation_nll(rng):
    for seed in range(10):
        r = np.random.default_rng(seed)
        n, k = int(r.integers(20, 400)), int(r.integers(2, 8))
        z = r.normal(size=(n, k)) * r.uniform(0.5, 6)
        y = r.integers(0, k, n)
        if len(np.unique(y)) < k:
            continue
        ts = TemperatureScaling().fit(z, y)
        ets = EnsembleTemperatureScaling().fit(z, y)
        labels = np.arange(k)
        assert (
            log_loss(y, ets.predict_proba(z), labels=labels)
            <= log_loss(y, ts.predict_proba(z), labels=labels) + 1e-12
        )


def test_ets_with_all_weight_on_the_tempered_softmax_is_temperature_scaling(rng):
    z = rng.normal(size=(500, 4)) * 3
    y = rng.integers(0, 4, 500)
    ets = EnsembleTemperatureScaling().fit(z, y)
    ets.weights_ = np.array([1.0, 0.0, 0.0])
    ts = TemperatureScaling().fit(z, y)
    np.testing.assert_allclose(ets.predict_proba(z), ts.predict_proba(z), atol=1e-12)


@pytest.mark.parametrize(
    "estimator",
    [
        DirichletCalibration(),
        DirichletCalibration("diagonal"),
        DirichletCalibration("fixed_diagonal"),
        EnsembleTemperatureScaling(),
        EnsembleTemperatureScaling("mse"),
    ],
    ids=repr,
)
def test_json_round_trip_is_exact(rng, tmp_path, estimator):
    P, y = make_probs(rng, n=400)
    X = np.log(P) if estimator.input_type == "logits" else P
    estimator.fit(X, y)
    save_calibrator(estimator, tmp_path / "m.json")
    loaded = load_calibrator(tmp_path / "m.json")
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    assert loaded.get_params() == estimator.get_params()


@pytest.mark.parametrize("cls", [DirichletCalibration, EnsembleTemperatureScaling])
def test_sample_weight_integers_equal_repeated_rows(rng, cls):
    P, y = make_probs(rng, n=300)
    X = P if cls is DirichletCalibration else np.log(P)
    sw = rng.integers(0, 4, len(y))
    weighted = cls().fit(X, y, sample_weight=sw)
    repeated = cls().fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-7
    )
