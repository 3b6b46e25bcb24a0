"""Fits of the affine family stop on the gradient and reproduce across BLAS kernels.

The reference for "converged" here is independent of the solver: the gradient
of the objective is computed in this file from the formulas (softmax and
sigmoid likelihoods written out with scipy), and a fit run in a subprocess
under a different OpenBLAS kernel must give the same metrics.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.special import expit, softmax

from calibrate import MatrixScaling, PlattScaling, VectorScaling
from calibrate.datasets import load_example

FIT_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np
    from calibrate import MatrixScaling, PlattScaling, VectorScaling
    from calibrate.datasets import load_example
    from calibrate.metrics import negative_log_likelihood, expected_calibration_error
    warnings.simplefilter("ignore")
    out = {}
    for name in ("digits_mlp", "digits_naive_bayes", "digits_logistic_regression"):
        d = load_example(name)
        for cls in (VectorScaling, MatrixScaling, PlattScaling):
            P = cls().fit(d.val_logits, d.val_labels).predict_proba(d.test_logits)
            out[name + "/" + cls.__name__] = [
                negative_log_likelihood(d.test_labels, P),
                expected_calibration_error(d.test_labels, P),
            ]
    json.dump(out, sys.stdout)
    """
)


def run_fits(coretype):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    done = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_fitted_metrics_agree_across_blas_kernels():
    # Before the fits stopped on the gradient, vector scaling on digits_mlp
    # differed by 1.8e-4 relative between the Haswell and Sandybridge kernels
    # (818 against 1000 L-BFGS-B iterations).  The fits guarantee 1e-7.
    native = run_fits(None)
    other = run_fits("Sandybridge")
    assert native.keys() == other.keys()
    for key, values in native.items():
        np.testing.assert_allclose(values, other[key], rtol=1e-7, err_msg=key)


def softmax_gradient(logits_fn, z, y, theta, step=1e-6):
    """Central-difference gradient of the mean softmax NLL (independent of the code)."""

    def nll(t):
        P = softmax(logits_fn(t), axis=1)
        return -np.mean(np.log(P[np.arange(len(y)), y]))

    g = np.zeros_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = step
        g[i] = (nll(theta + e) - nll(theta - e)) / (2 * step)
    return g


@pytest.mark.parametrize("name", ["digits_mlp", "digits_naive_bayes"])
def test_vector_scaling_ends_at_a_stationary_point_with_centred_intercepts(name):
    d = load_example(name)
    z, y = d.val_logits, d.val_labels
    cal = VectorScaling().fit(z, y)
    k = z.shape[1]
    theta = np.concatenate([cal.coef_, cal.intercept_])
    g = softmax_gradient(lambda t: z * t[:k] + t[k:], z, y, theta)
    # The stated criterion is |grad| <= tol = 1e-8; the central difference
    # itself is accurate to about 1e-9 here.
    assert np.linalg.norm(g) < 1e-7
    # The softmax's free constant is fixed: intercepts sum to zero.
    assert abs(cal.intercept_.sum()) < 1e-12 * np.abs(cal.intercept_).max()


def test_matrix_scaling_without_penalty_fixes_both_free_directions(rng):
    z = rng.normal(size=(3_000, 3)) * 2.0
    y = np.argmax(
        z @ np.array([[1, 0.3, 0], [0, 0.8, 0.2], [0.1, 0, 1.2]]).T
        + rng.gumbel(size=z.shape),
        axis=1,
    )
    cal = MatrixScaling(reg_lambda=0.0, reg_mu=0.0).fit(z, y)
    W, b = cal.coef_, cal.intercept_
    theta = np.concatenate([W.ravel(), b])
    g = softmax_gradient(lambda t: z @ t[:9].reshape(3, 3).T + t[9:], z, y, theta)
    assert np.linalg.norm(g) < 1e-7
    assert abs(b.sum()) < 1e-12
    # The rows' common shift is fixed so that their mean is the start's (I / T):
    # the mean row is (1 / (3 T)) * ones, proportional to ones.
    mean_row = W.mean(axis=0)
    np.testing.assert_allclose(mean_row, mean_row[0], rtol=1e-9)


def test_platt_columns_end_with_vanishing_gradients():
    d = load_example("digits_naive_bayes")
    z, y = d.val_logits, d.val_labels
    cal = PlattScaling().fit(z, y)
    Y = np.eye(z.shape[1])[y]
    r = expit(z * cal.coef_ + cal.intercept_) - Y
    # Gradient of the mean binary cross-entropy per column, written out.
    g_a, g_b = (r * z).mean(axis=0), r.mean(axis=0)
    assert np.hypot(g_a, g_b).max() < 1e-8
