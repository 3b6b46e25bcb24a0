"""Dask arrays chunked along rows: the same numbers as numpy, block by block."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.special import expit, softmax

from calibrate import MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling
from calibrate.exceptions import CalibrationWarning
from calibrate.metrics import METRICS, evaluate, negative_log_likelihood

da = pytest.importorskip("dask.array")


def logits(rng, n=2500, k=30):
    z = rng.normal(size=(n, k)) * 2.0
    z[np.arange(n), rng.integers(k, size=n)] += 2.0
    y = np.argmax(z / 2.0 + rng.gumbel(size=z.shape), axis=1)
    return z, y


def test_importing_calibrate_does_not_import_dask():
    code = (
        "import sys, numpy as np, calibrate, calibrate.metrics, calibrate.cli;"
        "from calibrate import TemperatureScaling;"
        "z = np.random.default_rng(0).normal(size=(50, 3)); y = z.argmax(1);"
        "TemperatureScaling().fit(z, y).predict_proba(z);"
        "calibrate.metrics.evaluate(y, z, input_type='logits');"
        "print('dask' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("input_type", ["logits", "probs"])
def test_evaluate_equals_numpy(rng, input_type, strategy):
    z, y = logits(rng)
    X = z if input_type == "logits" else softmax(z, axis=1)
    w = rng.integers(1, 4, size=len(y)).astype(float)
    d = da.from_array(X, chunks=(600, 10))  # columns split too: rechunked
    got = evaluate(y, d, input_type=input_type, sample_weight=w, strategy=strategy)
    # every metric of the task, the whole-array ones (KS, smooth ECE) included
    assert list(got) == [n for n, m in METRICS.items() if "multiclass" in m.tasks]
    assert {METRICS[n].combine for n in got} == {"mean", "binned", "whole"}
    want = evaluate(y, X, input_type=input_type, sample_weight=w, strategy=strategy)
    for name in got:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-15), name


@pytest.mark.parametrize("k", [1, 4])
def test_evaluate_whole_metrics_equal_numpy_binary_and_multilabel(rng, k):
    z = rng.normal(size=(900, k)) * 2.0
    y = (rng.random(z.shape) < expit(z / 1.5)).astype(int)
    y = y[:, 0] if k == 1 else y
    X = z[:, 0] if k == 1 else z
    d = da.from_array(X, chunks=250)
    got = evaluate(y, d, input_type="logits", strategy="quantile")
    want = evaluate(y, X, input_type="logits", strategy="quantile")
    assert list(got) == list(want)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-15), name


def test_temperature_fit_and_predictions_equal_numpy(rng, tmp_path):
    z, y = logits(rng, n=6000, k=20)
    d = da.from_array(z.astype(np.float32), chunks=(1000, 20))
    fitted = TemperatureScaling().fit(d, y)
    plain = TemperatureScaling().fit(z.astype(np.float32), y)
    # both stop at a predicted error below 1e-10 in log T
    assert fitted.temperature_ == pytest.approx(plain.temperature_, rel=1e-9)
    for method in ("predict_proba", "predict_log_proba", "transform"):
        lazy = getattr(fitted, method)(d)
        assert type(lazy).__module__.startswith("dask")
        np.testing.assert_allclose(
            lazy.compute(), getattr(fitted, method)(z.astype(np.float32)), rtol=1e-12
        )
    out = np.lib.format.open_memmap(
        tmp_path / "p.npy", mode="w+", dtype=np.float32, shape=z.shape
    )
    assert fitted.predict_proba(d, out=out) is out
    np.testing.assert_allclose(
        out, softmax(z.astype(np.float32) / fitted.temperature_, axis=1), rtol=1e-5
    )


def test_other_calibrators_refuse_dask_clearly(rng):
    z, y = logits(rng, n=100)
    with pytest.raises(TypeError, match="MatrixScaling does not fit dask arrays"):
        MatrixScaling().fit(da.from_array(z, chunks=50), y)


def softmax_affine_gradient(z, y, w, a, b):
    """Gradient of the weighted mean softmax NLL of ``a * z + b`` (by hand)."""
    R = softmax(z * a + b, axis=1)
    R[np.arange(len(y)), y] -= 1.0
    R *= (w / w.sum())[:, None]
    return np.concatenate([(R * z).sum(axis=0), R.sum(axis=0)])


def sigmoid_affine_gradients(z, T, w, a, b):
    """Per-column gradient norms of the mean NLL of ``sigmoid(a z + b)`` (by hand)."""
    R = (expit(z * a + b) - T) * (w / w.sum())[:, None]
    return np.hypot((R * z).sum(axis=0), R.sum(axis=0))


# 12 classes: the exact-Hessian Newton path; 260 (above 256): trust-region
# Newton-CG with Hessian-vector products.
@pytest.mark.parametrize("k", [12, 260])
@pytest.mark.parametrize("weighted", [False, True])
def test_vector_scaling_fit_equals_numpy(rng, k, weighted):
    z, y = logits(rng, n=1500 if k > 100 else 4000, k=k)
    y[:k] = np.arange(k)  # every class occurs
    z = z.astype(np.float32)
    w = rng.integers(1, 4, size=len(y)).astype(float) if weighted else None
    d = da.from_array(z, chunks=(700, k))
    dw = None if w is None else da.from_array(w, chunks=500)
    fitted = VectorScaling().fit(d, y, sample_weight=dw)
    plain = VectorScaling().fit(z, y, sample_weight=w)
    # The fit's stated criterion: the gradient of the mean NLL at most tol
    # (1e-8), here of a float64 formula written out independently.
    ones = np.ones(len(y)) if w is None else w
    grad = softmax_affine_gradient(
        z.astype(np.float64), y, ones, fitted.coef_, fitted.intercept_
    )
    assert np.linalg.norm(grad) <= fitted.tol
    # Two fits meeting it agree to about tol / lambda_min (the smallest
    # curvature, above 1e-3 on these data).
    np.testing.assert_allclose(fitted.coef_, plain.coef_, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fitted.intercept_, plain.intercept_, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        fitted.predict_proba(d).compute(), plain.predict_proba(z), rtol=0, atol=1e-6
    )


def test_vector_scaling_absent_class_on_dask(rng):
    z, y = logits(rng, n=3000, k=8)
    y[y == 5] = 4
    d = da.from_array(z, chunks=(1000, 8))
    with pytest.warns(match="never occur"):
        fitted = VectorScaling().fit(d, y)
    with pytest.warns(match="never occur"):
        plain = VectorScaling().fit(z, y)
    np.testing.assert_allclose(fitted.coef_, plain.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fitted.intercept_, plain.intercept_, rtol=0, atol=1e-6)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("smoothing", [False, True])
def test_platt_scaling_fit_equals_numpy(rng, task, smoothing):
    z, y = logits(rng, n=3000, k=6)
    w = rng.integers(1, 4, size=len(y)).astype(float)
    if task == "binary":
        z, y = z[:, 0] - z[:, 1], (y == 0).astype(np.int64)
        T = y[:, None].astype(float)
    elif task == "multilabel":
        y = (expit(z / 2) > rng.uniform(size=z.shape)).astype(np.int64)
        T = y.astype(float)
    else:
        T = (y[:, None] == np.arange(z.shape[1])).astype(float)
    d = da.from_array(z, chunks=(800,) + z.shape[1:])
    fitted = PlattScaling(target_smoothing=smoothing).fit(
        d, y, sample_weight=da.from_array(w, chunks=800)
    )
    plain = PlattScaling(target_smoothing=smoothing).fit(z, y, sample_weight=w)
    a, b = np.atleast_1d(fitted.coef_), np.atleast_1d(fitted.intercept_)
    if smoothing:  # Platt's targets from the weighted counts (n = 3000 rows)
        n_pos = len(y) * (w @ T) / w.sum()
        T = np.where(T == 1, (n_pos + 1) / (n_pos + 2), 1 / (len(y) - n_pos + 2))
    Z2 = z.reshape(len(y), -1)
    assert sigmoid_affine_gradients(Z2, T, w, a, b).max() <= fitted.tol
    np.testing.assert_allclose(a, np.atleast_1d(plain.coef_), rtol=0, atol=1e-6)
    np.testing.assert_allclose(b, np.atleast_1d(plain.intercept_), rtol=0, atol=1e-6)


def test_dask_nan_is_refused(rng):
    z, y = logits(rng, n=100)
    z[70, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        TemperatureScaling().fit(da.from_array(z, chunks=50), y)


def metric_cases(rng):
    """(task, y, scores, input_type): each task, each input type."""
    z, y = logits(rng, n=1800, k=7)
    P = softmax(z, axis=1)
    zb = z[:, 0] - z[:, 1]
    yb = np.where(rng.uniform(size=len(zb)) < expit(zb / 2), "yes", "no")
    yb[:700] = "yes"  # a whole block of one class (string labels, encoded once)
    Y = (expit(z / 2) > rng.uniform(size=z.shape)).astype(np.int64)
    return [
        ("multiclass", y, z, "logits"),
        ("multiclass", y, P, "probs"),
        ("multiclass", y, np.log(P), "log_probs"),
        ("binary", yb, zb, "logits"),
        ("binary", yb, expit(zb), "probs"),
        ("multilabel", Y, z, "logits"),
        ("multilabel", Y, expit(z), "probs"),
    ]


@pytest.mark.parametrize("name", list(METRICS))
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_every_registry_metric_equals_numpy(rng, name, strategy):
    metric = METRICS[name]
    options = {"n_bins": 12, "strategy": strategy}
    options = {o: v for o, v in options.items() if o in metric.options}
    for task, y, X, input_type in metric_cases(rng):
        if task not in metric.tasks:
            continue
        w = rng.integers(1, 4, size=len(y)).astype(float)
        d = da.from_array(X, chunks=(700,) + X.shape[1:])  # uneven last block
        for weights in (None, w):
            dw = None if weights is None else da.from_array(weights, chunks=500)
            got = metric(y, d, input_type=input_type, sample_weight=dw, **options)
            want = metric(y, X, input_type=input_type, sample_weight=weights, **options)
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (task, input_type)


@pytest.mark.parametrize(
    "func, kwargs",
    [
        ("expected_calibration_error", {"norm": "l2", "debias": True}),
        ("expected_calibration_error", {"reduction": "top_label_conditional"}),
        ("expected_calibration_error", {"norm": "max_cell", "strategy": "quantile",
                                        "reduction": "top_label_conditional"}),
        ("maximum_calibration_error", {"reduction": "classwise"}),
        ("ks_calibration_error", {"reduction": "classwise"}),
        ("smooth_calibration_error", {"bandwidth": 0.05}),
        ("smooth_calibration_error", {"reduction": "classwise"}),
    ],
)
def test_public_metric_options_on_dask(rng, func, kwargs):
    import calibrate.metrics as metrics

    z, y = logits(rng, n=1500, k=5)
    w = rng.integers(1, 4, size=len(y)).astype(float)
    f = getattr(metrics, func)
    d = da.from_array(z, chunks=(400, 5))
    got = f(y, d, input_type="logits", sample_weight=w, **kwargs)
    want = f(y, z, input_type="logits", sample_weight=w, **kwargs)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_bins_and_bandwidth_on_dask(rng):
    from calibrate.metrics import calibration_bins, smooth_ece_bandwidth

    z, y = logits(rng, n=1200, k=4)
    d = da.from_array(z, chunks=300)
    got = calibration_bins(y, d, input_type="logits", n_bins=10)
    want = calibration_bins(y, z, input_type="logits", n_bins=10)
    np.testing.assert_array_equal(got.counts, want.counts)
    np.testing.assert_allclose(got.mean_score, want.mean_score, rtol=1e-12)
    np.testing.assert_array_equal(
        smooth_ece_bandwidth(y, d, input_type="logits"),
        smooth_ece_bandwidth(y, z, input_type="logits"),
    )


def test_dask_metric_input_errors(rng):
    from calibrate.metrics import brier_score, ks_calibration_error

    z, y = logits(rng, n=400, k=3)
    P = softmax(z, axis=1)
    P[350, 0] += 0.1  # a row that does not sum to 1, in the last block
    with pytest.raises(ValueError, match="sum to 1"):
        brier_score(y, da.from_array(P, chunks=100))
    with pytest.raises(ValueError, match="different numbers of rows"):
        ks_calibration_error(y[:-1], da.from_array(softmax(z, axis=1), chunks=100))


@pytest.mark.parametrize("binary", [False, True])
def test_evaluate_calibrator_equals_numpy(rng, binary):
    from calibrate.metrics import evaluate_calibrator

    z, y = logits(rng, n=1200, k=6)
    if binary:
        z, y = z[:, 0] - z[:, 1], (y == 0).astype(int)
    cal = (PlattScaling() if binary else TemperatureScaling()).fit(z, y)
    got = evaluate_calibrator(cal, da.from_array(z, chunks=300), y)
    # the numpy path, and evaluate() on the calibrated probabilities by hand
    want = evaluate_calibrator(cal, z, y)
    P = cal.predict_proba(z)
    by_hand = evaluate(y, P[:, 1] if binary else P)
    assert list(got) == list(want) == list(by_hand)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-15), name
        assert got[name] == pytest.approx(by_hand[name], rel=1e-9, abs=1e-12), name


def test_block_warnings_reach_the_client_once(rng):
    # Probabilities with exact zeros at the true class: every block floors
    # some in the NLL.  The warning is raised inside the tasks and handed to
    # the client, once, saying how many blocks raised it.
    P = softmax(rng.normal(size=(800, 3)), axis=1)
    y = rng.integers(3, size=800)
    P[np.arange(800) % 4 == 0] = 0.0
    P[np.arange(800) % 4 == 0, (y[np.arange(800) % 4 == 0] + 1) % 3] = 1.0
    d = da.from_array(P, chunks=200)
    with pytest.warns(CalibrationWarning, match="floored") as record:
        got = negative_log_likelihood(y, d)
    floored = [r for r in record if "floored" in str(r.message)]
    assert len(floored) == 1
    assert "reported for 4 chunks of rows" in str(floored[0].message)
    with pytest.warns(CalibrationWarning, match="floored"):
        want = negative_log_likelihood(y, P)
    assert got == pytest.approx(want, rel=1e-12)


def test_block_warnings_reach_the_client_from_a_distributed_worker(rng):
    distributed = pytest.importorskip("distributed")
    P = softmax(rng.normal(size=(400, 3)), axis=1)
    y = rng.integers(3, size=400)
    P[:5] = [1.0, 0.0, 0.0]
    y[:5] = 1
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        with pytest.warns(CalibrationWarning, match="5 observed outcomes"):
            evaluate(y, da.from_array(P, chunks=100), metrics="nll")
