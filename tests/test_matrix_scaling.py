import numpy as np
import pytest
from scipy.special import log_softmax, softmax
from sklearn.metrics import log_loss

from calibrate import (
    CalibrationWarning,
    MatrixScaling,
    TemperatureScaling,
    VectorScaling,
)
from calibrate.datasets import make_miscalibrated


def draw_labels(u, rng):
    return np.argmax(u + rng.gumbel(size=u.shape), axis=1)


def centre(W, b):
    """Remove what softmax cannot see: a common shift of the rows' outputs."""
    return W - W.mean(axis=0), b - b.mean()


def odir_objective(W, b, z, y, lam, mu):
    """NLL + ODIR penalty of Kull et al. 2019, written independently."""
    k = W.shape[0]
    nll = -np.mean(log_softmax(z @ W.T + b, axis=1)[np.arange(len(y)), y])
    off = W[~np.eye(k, dtype=bool)]
    return nll + lam * np.sum(off**2) / (k * (k - 1)) + mu * np.sum(b**2) / k


def test_recovers_a_known_affine_map_without_regularisation(rng):
    W = np.array([[1.2, 0.4, 0.0], [-0.3, 0.8, 0.2], [0.1, -0.5, 1.5]])
    b = np.array([0.2, -0.4, 0.1])
    z = rng.normal(size=(150_000, 3)) * 1.5
    y = draw_labels(z @ W.T + b, rng)
    cal = MatrixScaling(reg_lambda=0.0, reg_mu=0.0).fit(z, y)
    W_hat, b_hat = centre(cal.coef_, cal.intercept_)
    W_true, b_true = centre(W, b)
    np.testing.assert_allclose(W_hat, W_true, atol=0.05)
    np.testing.assert_allclose(b_hat, b_true, atol=0.05)


@pytest.mark.parametrize("lam, mu", [(0.0, 0.0), (0.3, 0.1), (5.0, 2.0)])
def test_fit_is_a_stationary_point_of_the_odir_objective(rng, lam, mu):
    z = rng.normal(size=(1_500, 3)) * 2
    y = draw_labels(z / 1.5 + [0.3, 0.0, -0.2], rng)
    cal = MatrixScaling(reg_lambda=lam, reg_mu=mu).fit(z, y)
    theta = np.concatenate([cal.coef_.ravel(), cal.intercept_])

    def J(th):
        return odir_objective(th[:9].reshape(3, 3), th[9:], z, y, lam, mu)

    eps = 1e-6
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        assert abs((J(theta + e) - J(theta - e)) / (2 * eps)) < 1e-6


def test_strong_off_diagonal_penalty_gives_vector_scaling(rng):
    z = rng.normal(size=(3_000, 4)) * 2
    y = draw_labels(z * [0.5, 1.0, 0.7, 1.2] + [0.1, 0.0, -0.3, 0.2], rng)
    ms = MatrixScaling(reg_lambda=1e9, reg_mu=0.0).fit(z, y)
    vs = VectorScaling().fit(z, y)
    off = ms.coef_[~np.eye(4, dtype=bool)]
    assert np.abs(off).max() < 1e-5
    np.testing.assert_allclose(np.diag(ms.coef_), vs.coef_, atol=1e-4)
    np.testing.assert_allclose(
        ms.intercept_ - ms.intercept_.mean(),
        vs.intercept_ - vs.intercept_.mean(),
        atol=1e-4,
    )


def test_penalty_shrinks_off_diagonal_weights(rng):
    z = rng.normal(size=(2_000, 4)) * 2
    W = np.eye(4) + 0.3 * rng.normal(size=(4, 4))
    y = draw_labels(z @ W.T, rng)
    norms = [
        np.abs(
            MatrixScaling(reg_lambda=lam).fit(z, y).coef_[~np.eye(4, dtype=bool)]
        ).sum()
        for lam in (0.0, 1.0, 10.0, 100.0)
    ]
    assert all(a > b for a, b in zip(norms, norms[1:], strict=False))


def test_nested_family_never_worse_than_temperature_scaling():
    data = make_miscalibrated(5_000, 6, temperature=2.5, random_state=1)
    z, y = data.logits, data.labels
    ts_nll = log_loss(y, TemperatureScaling().fit(z, y).predict_proba(z))
    for params in ({}, {"reg_lambda": 0.0, "reg_mu": 0.0}, {"reg_lambda": 100.0}):
        ms = MatrixScaling(**params).fit(z, y)
        assert log_loss(y, ms.predict_proba(z)) <= ts_nll


@pytest.mark.parametrize(
    "name", ["mukhoti_c10_resnet110_brier", "mukhoti_c100_resnet110_brier"]
)
def test_default_regularisation_beats_temperature_scaling_on_real_logits(
    shared_data, name
):
    # The documented reason for the "auto" strengths: on both real models the
    # default matrix scaling generalises better than temperature scaling
    # (test NLL 0.1960 and 1.0990 in ../shared/data/README.md).
    data = shared_data(name)
    zv, yv, zt, yt = (
        data[k] for k in ("val_logits", "val_labels", "test_logits", "test_labels")
    )
    labels = np.arange(zv.shape[1])
    ms = MatrixScaling().fit(zv, yv)
    ts = TemperatureScaling().fit(zv, yv)
    ms_nll = log_loss(yt, ms.predict_proba(zt), labels=labels)
    assert ms_nll < log_loss(yt, ts.predict_proba(zt), labels=labels)
    assert ms_nll < log_loss(yt, softmax(zt, axis=1), labels=labels)


@pytest.mark.parametrize("params", [{}, {"reg_lambda": 0.0, "reg_mu": 0.0}])
def test_absent_class_keeps_a_temperature_scaled_probability(rng, params):
    z = rng.normal(size=(2_000, 4)) * 2
    y = draw_labels(z[:, :3] / 2, rng)  # class 3 never occurs
    with pytest.warns(CalibrationWarning, match=r"classes \[3\] never occur"):
        ms = MatrixScaling(**params).fit(z, y)
        ts = TemperatureScaling().fit(z, y)
    p_ms = ms.predict_proba(z)[:, 3].mean()
    p_ts = ts.predict_proba(z)[:, 3].mean()
    assert p_ts / 10 < p_ms < p_ts * 10
    np.testing.assert_allclose(ms.coef_[3], np.eye(4)[3] / ts.temperature_)


def test_auto_strengths_are_one_hundredth_per_entry(rng):
    z = rng.normal(size=(400, 4)) * 2
    y = draw_labels(z / 2, rng)
    auto = MatrixScaling().fit(z, y)
    explicit = MatrixScaling(reg_lambda=0.01 * 4 * 3, reg_mu=0.01 * 4).fit(z, y)
    np.testing.assert_allclose(auto.coef_, explicit.coef_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf, "strong", True])
def test_rejects_bad_regularisation(rng, bad):
    z = rng.normal(size=(30, 3))
    with pytest.raises((ValueError, TypeError), match="reg_lambda"):
        MatrixScaling(reg_lambda=bad).fit(z, np.arange(30) % 3)


def odir_gradient(W, b, z, y, lam, mu):
    """Gradient of :func:`odir_objective` in ``(W, b)``, from the formulas."""
    k = W.shape[0]
    R = softmax(z @ W.T + b, axis=1)
    R[np.arange(len(y)), y] -= 1.0
    R /= len(y)
    off = ~np.eye(k, dtype=bool)
    gW = R.T @ z + 2 * lam / (k * (k - 1)) * W * off
    gb = R.sum(axis=0) + 2 * mu / k * b
    return np.concatenate([gW.ravel(), gb])


@pytest.mark.parametrize("coarse", [False, True])
@pytest.mark.parametrize("mode", ["dense", "blocks", "kronecker"])
@pytest.mark.parametrize("lam, mu", [(0.0, 0.0), (0.5, 0.1), ("auto", "auto")])
def test_preconditioned_newton_reaches_the_optimum(
    rng, monkeypatch, mode, lam, mu, coarse
):
    # Each preconditioner of the solver (chosen by K and by whether W is
    # penalised: dense, blocks, Kronecker; the diagonal with lam > 0) is
    # forced on a small problem, with and without the float32 objective of
    # the first iterations (used from 128 classes); the reference is scipy's
    # L-BFGS-B on the objective written out in this file, from the same
    # start (temperature scaling).
    from scipy.optimize import minimize

    from calibrate.calibrators import _matrix_newton

    limits = {"dense": (8, 8), "blocks": (0, 8), "kronecker": (0, 0)}[mode]
    monkeypatch.setattr(_matrix_newton, "DENSE_HESSIAN_MAX_CLASSES", limits[0])
    monkeypatch.setattr(_matrix_newton, "EXACT_BLOCKS_MAX_CLASSES", limits[1])
    monkeypatch.setattr(_matrix_newton, "_COARSE_MIN_CLASSES", 0 if coarse else 10**9)
    k = 6
    z = rng.normal(size=(3_000, k)) * 2.5
    W_true = np.eye(k) / 1.5 + 0.2 * rng.normal(size=(k, k))
    y = draw_labels(z @ W_true.T + 0.3 * rng.normal(size=k), rng)
    cal = MatrixScaling(reg_lambda=lam, reg_mu=mu).fit(z, y)
    lam_v = 0.01 * k * (k - 1) if lam == "auto" else lam
    mu_v = 0.01 * k if mu == "auto" else mu
    g = odir_gradient(cal.coef_, cal.intercept_, z, y, lam_v, mu_v)
    assert np.linalg.norm(g) <= cal.tol
    t = TemperatureScaling().fit(z, y).temperature_
    x0 = np.concatenate([(np.eye(k) / t).ravel(), np.zeros(k)])

    def fun(th):
        W, b = th[: k * k].reshape(k, k), th[k * k :]
        return odir_objective(W, b, z, y, lam_v, mu_v), odir_gradient(
            W, b, z, y, lam_v, mu_v
        )

    ref = minimize(
        fun, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 0}
    )
    ours = odir_objective(cal.coef_, cal.intercept_, z, y, lam_v, mu_v)
    assert ours <= ref.fun + 1e-12


def test_subsample_start_only_when_it_pays(rng, monkeypatch):
    # The subsample warm start is fitted only when the objective can fall by
    # far more than the subsample's sampling noise: not when temperature
    # scaling is the true map (the start is then optimal up to noise), but
    # when the true map mixes the classes.  Either way the fit ends at the
    # full data's optimum (the gradient from the formulas of this file).
    from calibrate.calibrators import _matrix_newton
    from calibrate.calibrators._matrix_newton import _SoftmaxAffine, _subsample_pays

    n, k = 40_000, 4
    u = rng.normal(size=(n, k)) * 2.0
    mixed = np.eye(k) + 0.8 * rng.normal(size=(k, k))
    cases = {"temperature": u / 2.0, "mixed": u @ mixed.T}
    penalty = np.full((k, k + 1), 0.01)
    penalty[np.arange(k), np.arange(k)] = 0.0
    w = np.full(n, 1.0 / n)
    pays = {}
    for name, truth in cases.items():
        y = draw_labels(truth, rng)
        t = TemperatureScaling().fit(u, y).temperature_
        theta = np.concatenate([np.eye(k) / t, np.zeros((k, 1))], axis=1)
        obj = _SoftmaxAffine(u, y, w, absent=np.zeros(k, bool), penalty=penalty)
        _, grad = obj.value_grad(theta)
        pays[name] = _subsample_pays(obj, grad, w[::20], np.ones(k, bool))
        obj.close()
        # End to end with the subsample path enabled (2,000 of the rows).
        monkeypatch.setattr(_matrix_newton, "_SUBSAMPLE_MIN_ELEMENTS", 0)
        monkeypatch.setattr(_matrix_newton, "_SUBSAMPLE_ELEMENTS", n * k // 20)
        cal = MatrixScaling().fit(u, y)
        g = odir_gradient(cal.coef_, cal.intercept_, u, y, 0.01 * k * (k - 1), 0.01 * k)
        assert np.linalg.norm(g) <= cal.tol
        monkeypatch.undo()
    assert pays == {"temperature": False, "mixed": True}


@pytest.mark.parametrize("mu", ["auto", 0.0])
def test_sign_separated_class_keeps_its_diagonal_weight(rng, mu):
    # Class 2's score is positive on its own rows and negative on all others:
    # the unpenalised diagonal weight W_22 lowers the ODIR objective (written
    # out here) without bound along W_22 += t, so it has no finite optimum.
    # Before, the fit stopped "converged" at W_22 = 87,000 without a word.
    n, k = 200, 5
    z = rng.normal(size=(n, k))
    y = rng.integers(k, size=n)
    z[:, 2] = -np.abs(z[:, 2])
    z[y == 2, 2] = np.abs(z[y == 2, 2]) + 0.1
    lam, mu_value = 0.01 * k * (k - 1), 0.01 * k if mu == "auto" else 0.0
    T = TemperatureScaling().fit(z, y).temperature_
    W0, b0 = np.eye(k) / T, np.zeros(k)
    ray = np.zeros((k, k))
    ray[2, 2] = 1.0
    path = [
        odir_objective(W0 + t * ray, b0, z, y, lam, mu_value) for t in (0, 1, 10, 100)
    ]
    assert np.all(np.diff(path) < 0)

    with pytest.warns(CalibrationWarning, match=r"classes \[2\] .* separated"):
        cal = MatrixScaling(reg_mu=mu).fit(z, y)
    assert cal.coef_[2, 2] == pytest.approx(1 / T, rel=1e-6)
    W, b = cal.coef_, cal.intercept_
    assert odir_objective(W, b, z, y, lam, mu_value) <= odir_objective(
        W0, b0, z, y, lam, mu_value
    )
    # Every other parameter is at a stationary point (with mu = 0 the
    # intercepts are centred; the softmax ignores their common shift).
    grad = odir_gradient(W, b, z, y, lam, mu_value)
    grad[2 * k + 2] = 0.0  # W_22, held
    assert np.linalg.norm(grad) < 1e-7
