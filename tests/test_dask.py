"""Dask arrays chunked along rows: the same numbers as numpy, block by block."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.special import softmax

from calibrate import TemperatureScaling, VectorScaling
from calibrate.metrics import METRICS, evaluate

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


@pytest.mark.parametrize("input_type", ["logits", "probs"])
def test_evaluate_equals_numpy(rng, input_type):
    z, y = logits(rng)
    X = z if input_type == "logits" else softmax(z, axis=1)
    w = rng.integers(1, 4, size=len(y)).astype(float)
    d = da.from_array(X, chunks=(600, 10))  # columns split too: rechunked
    got = evaluate(y, d, input_type=input_type, sample_weight=w)
    # every metric that combines over blocks of rows, none of the others
    assert set(got) == {
        name
        for name, m in METRICS.items()
        if m.combine != "whole" and "multiclass" in m.tasks
    }
    want = evaluate(y, X, input_type=input_type, sample_weight=w, metrics=list(got))
    for name in got:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-15), name


def test_evaluate_refuses_whole_metrics(rng):
    z, y = logits(rng, n=200)
    with pytest.raises(ValueError, match="ks needs every row at once"):
        evaluate(y, da.from_array(z, chunks=50), input_type="logits", metrics="ks")


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
    with pytest.raises(TypeError, match="VectorScaling does not fit dask arrays"):
        VectorScaling().fit(da.from_array(z, chunks=50), y)


def test_dask_nan_is_refused(rng):
    z, y = logits(rng, n=100)
    z[70, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        TemperatureScaling().fit(da.from_array(z, chunks=50), y)
