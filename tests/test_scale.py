"""Bounded memory: memory maps, float16, chunked kernels, out=, apply --dtype.

The references are plain numpy formulas on the whole array (softmax in
float64, one column at a time), written here independently of the kernels.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from scipy.special import softmax

from calibrate import PlattScaling, TemperatureScaling, VectorScaling
from calibrate.binning import ColumnBinSums, bin_stats_by_column
from calibrate.cli import main
from calibrate.io import save_calibrator
from calibrate.metrics import (
    brier_score,
    evaluate,
    expected_calibration_error,
    ks_calibration_error,
)


def vocabulary_logits(rng, n, k, dtype=np.float32):
    """Logits of many classes, most of them rare; labels drawn from softmax(z / 1.5)."""
    z = rng.normal(size=(n, k)) * 1.5
    z[np.arange(n), rng.integers(k, size=n)] += np.log(k) + 1.0
    y = np.argmax(z / 1.5 + rng.gumbel(size=z.shape), axis=1)
    return z.astype(dtype), y


def reference_classwise_ece(y, P, n_bins):
    edges = np.arange(n_bins + 1) / n_bins
    errors = []
    for k in range(P.shape[1]):
        p, t = P[:, k], (y == k).astype(np.float64)
        b = np.searchsorted(edges[1:-1], p, side="left")
        gap = np.bincount(b, weights=t - p, minlength=n_bins)
        errors.append(np.abs(gap).sum() / len(p))
    return float(np.mean(errors))


def reference_ks(scores, targets):
    order = np.argsort(scores, kind="stable")
    s, gap = scores[order], np.cumsum((targets - scores)[order])
    end = np.append(s[1:] != s[:-1], True)
    return float(np.abs(gap[end]).max() / len(scores))


@pytest.mark.parametrize("input_type", ["logits", "probs"])
def test_classwise_ece_equals_a_column_by_column_reference(rng, input_type):
    z, y = vocabulary_logits(rng, 600, 300, np.float64)
    P = softmax(z, axis=1)
    X = z if input_type == "logits" else P
    expected = reference_classwise_ece(y, P, 15)
    got = expected_calibration_error(y, X, reduction="classwise", input_type=input_type)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    chunked = evaluate(
        y, X, metrics=["ece_classwise"], input_type=input_type, chunk_rows=77
    )["ece_classwise"]
    assert chunked == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_column_bin_sums_equal_bin_stats_by_column(rng):
    z, y = vocabulary_logits(rng, 500, 40, np.float64)
    P = softmax(z, axis=1)
    w = rng.integers(0, 4, size=500).astype(np.float64)
    Y = np.eye(40)[y]
    expected = bin_stats_by_column(P, Y, n_bins=10, sample_weight=w)
    for dense in (False, True):
        sums = ColumnBinSums(40, 10, weight_scale=float(w.max()))
        for start in range(0, 500, 64):
            rows = slice(start, start + 64)
            if dense:
                sums.add(P[rows].copy(), w[rows], targets=Y[rows])
            else:
                sums.add(P[rows].copy(), w[rows], labels=y[rows])
        for got, want in zip(sums.stats(), expected, strict=True):
            np.testing.assert_array_equal(got.counts, want.counts)
            np.testing.assert_allclose(got.weights, want.weights, rtol=1e-12)
            np.testing.assert_allclose(
                got.effective_counts, want.effective_counts, rtol=1e-12
            )
            np.testing.assert_allclose(
                got.mean_score, want.mean_score, rtol=1e-12, atol=1e-15
            )
            np.testing.assert_allclose(
                got.mean_target, want.mean_target, rtol=1e-12, atol=1e-15
            )


def test_quantile_classwise_and_classwise_ks_read_blocks_of_columns(rng):
    z, y = vocabulary_logits(rng, 400, 120, np.float64)
    P = softmax(z, axis=1)
    Y = np.eye(120)[y]
    ks = np.mean([reference_ks(P[:, k], Y[:, k]) for k in range(120)])
    got = ks_calibration_error(y, z, reduction="classwise", input_type="logits")
    assert got == pytest.approx(ks, rel=1e-12)
    stats = bin_stats_by_column(P, Y, n_bins=10, strategy="quantile")
    expected = np.mean(
        [np.abs(s.weights * s.gap)[s.nonempty].sum() / 400 for s in stats]
    )
    got = evaluate(
        y,
        z,
        metrics=["ece_classwise"],
        input_type="logits",
        strategy="quantile",
        n_bins=10,
    )["ece_classwise"]
    assert got == pytest.approx(expected, rel=1e-12)


def test_no_metric_allocates_n_by_k_float64(rng, monkeypatch):
    # Deterministic (tracemalloc counts bytes, not time): the classwise ECE
    # and the Brier score of 8,000 x 1,000 float32 probabilities, and every
    # metric of the logits, allocate far less than one (n, K) float64 copy
    # (64 MB; the old cost was three of them): O(chunk), 2**20 values.
    # The column kernels (classwise KS, in "every metric") hold blocks of
    # columns within COLUMN_BLOCK_BYTES (256 MB); 4 MB here, to see them.
    monkeypatch.setattr("calibrate.metrics._predictions.COLUMN_BLOCK_BYTES", 2**22)
    z, y = vocabulary_logits(rng, 8000, 1000)
    P = softmax(z.astype(np.float64), axis=1).astype(np.float32)
    P /= P.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    n_by_k = P.shape[0] * P.shape[1] * 8
    for func in (
        lambda: expected_calibration_error(y, P, reduction="classwise"),
        lambda: brier_score(y, P),
        lambda: evaluate(y, z, input_type="logits"),
    ):
        tracemalloc.start()
        try:
            func()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # Plus the O(K) state per class the contract allows: the
        # class-conditional top-label bins hold sums of n_bins per class
        # (GroupBinSums), whatever the number of rows.
        assert peak < 0.3 * n_by_k + 4096 * P.shape[1], peak


def test_float16_memmap_evaluates_and_fits_as_its_float32_copy(rng, tmp_path):
    z, y = vocabulary_logits(rng, 700, 64, np.float16)
    path = tmp_path / "z.npy"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=z.shape)
    mapped[:] = z
    mapped.flush()
    mapped = np.load(path, mmap_mode="r")
    wide = z.astype(np.float32)  # exact
    a = evaluate(y, mapped, input_type="logits", chunk_rows=100)
    b = evaluate(y, wide, input_type="logits")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == pytest.approx(b[name], rel=1e-12, abs=1e-15), name
    for cls in (TemperatureScaling, VectorScaling, PlattScaling):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f16 = cls().fit(mapped, y)
            f32 = cls().fit(wide, y)
        np.testing.assert_allclose(
            f16.predict_log_proba(wide), f32.predict_log_proba(wide), atol=1e-7
        )


def test_finite_check_names_the_row_in_a_later_chunk(tmp_path):
    z = np.zeros((5000, 300), dtype=np.float16)
    z[4321, 7] = np.inf
    with pytest.raises(ValueError, match=r"row 4321, column 7"):
        TemperatureScaling().fit(z, np.zeros(5000, dtype=int))


def test_predictions_into_out_and_memory_maps(rng, tmp_path):
    z, y = vocabulary_logits(rng, 3000, 50)
    cal = TemperatureScaling().fit(z, y)
    for method in ("predict_proba", "predict_log_proba", "transform"):
        expected = getattr(cal, method)(z)
        out = np.lib.format.open_memmap(
            tmp_path / f"{method}.npy", mode="w+", dtype=np.float32, shape=z.shape
        )
        assert getattr(cal, method)(z, out=out) is out
        np.testing.assert_array_equal(out, expected.astype(np.float32))
        out64 = np.empty(z.shape)
        getattr(cal, method)(z, out=out64)
        np.testing.assert_array_equal(out64, expected)
    with pytest.raises(ValueError, match=r"out must have shape \(3000, 50\)"):
        cal.predict_proba(z, out=np.empty((3000, 49)))
    with pytest.raises(ValueError, match="floating dtype"):
        cal.predict_proba(z, out=np.empty(z.shape, dtype=np.int64))
    # softmax(z / T), computed here without the library
    np.testing.assert_allclose(
        cal.predict_proba(z), softmax(z / cal.temperature_, axis=1), rtol=1e-6
    )


@pytest.mark.parametrize(
    "stored, option, expected",
    [
        (np.float16, None, np.float32),
        (np.float32, None, np.float32),
        (np.float64, None, np.float64),
        (np.float32, "float16", np.float16),
        (np.float16, "float64", np.float64),
    ],
)
def test_apply_dtype(rng, tmp_path, stored, option, expected):
    z, y = vocabulary_logits(rng, 400, 20)
    cal = TemperatureScaling().fit(z, y)
    model = tmp_path / "model.json"
    save_calibrator(cal, model)
    scores = tmp_path / "scores.npy"
    np.save(scores, z.astype(stored))
    out = tmp_path / "out.npy"
    argv = ["apply", str(model), str(scores), "-o", str(out)]
    if option is not None:
        argv += ["--dtype", option]
    assert main(argv) == 0
    written = np.load(out)
    assert written.dtype == expected
    reference = softmax(z.astype(stored).astype(np.float64) / cal.temperature_, axis=1)
    np.testing.assert_array_equal(written, reference.astype(expected))


def test_bfloat16_reads_as_its_float32_copy(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    z, y = vocabulary_logits(rng, 900, 30)
    narrow = z.astype(ml_dtypes.bfloat16)
    wide = narrow.astype(np.float32)  # exact
    a = evaluate(y, narrow, input_type="logits", chunk_rows=200)
    b = evaluate(y, wide, input_type="logits")
    for name in a:
        assert a[name] == pytest.approx(b[name], rel=1e-12, abs=1e-15), name
    fitted = TemperatureScaling().fit(narrow, y)
    assert fitted.temperature_ == TemperatureScaling().fit(wide, y).temperature_


def test_evaluate_calibrator_spills_whole_input_metrics_to_a_memory_map(
    rng, monkeypatch
):
    from calibrate.metrics import evaluate_calibrator

    z, y = vocabulary_logits(rng, 800, 60)
    cal = TemperatureScaling().fit(z, y)
    names = ["ks", "ks_classwise", "ece_top_label_conditional", "nll"]
    held = evaluate_calibrator(cal, z, y, metrics=names)
    monkeypatch.setattr("calibrate.metrics._engine.COLUMN_BLOCK_BYTES", 2**12)
    spilled = evaluate_calibrator(cal, z, y, metrics=names)
    # the reference: the metrics of the calibrated probabilities, in numpy
    P = softmax(z.astype(np.float64) / cal.temperature_, axis=1)
    want = np.mean([reference_ks(P[:, k], (y == k) * 1.0) for k in range(60)])
    assert spilled["ks_classwise"] == pytest.approx(want, rel=1e-9)
    for name in names:
        assert spilled[name] == pytest.approx(held[name], rel=1e-12), name


def _small_working_set(monkeypatch, nbytes):
    """Shrink every fixed working set of the report to ``nbytes``, to see it."""
    for where in (
        "calibrate.metrics._predictions.COLUMN_BLOCK_BYTES",
        "calibrate.metrics._engine.COLUMN_BLOCK_BYTES",
        "calibrate.report._build.COLUMN_BLOCK_BYTES",
        "calibrate.report._bootstrap._DENSE_BYTES",
    ):
        monkeypatch.setattr(where, nbytes)
    monkeypatch.setattr("calibrate.report._bootstrap._BLOCK_ELEMENTS", nbytes // 64)


def test_report_memory_does_not_grow_with_n_times_k(rng, tmp_path, monkeypatch):
    # build_report on memory-mapped float32 test splits of 1,500 and 6,000
    # rows x 1,000 classes: the calibrated log-probabilities go to a
    # temporary memory map and the bootstrap's classwise sums are streamed
    # over chunks of rows, so the peak (tracemalloc) grows by far less than
    # the (n, K) float64 array it would hold (36 MB more for the larger).
    # The fixed working sets (chunks of 2**20 values) cancel in the
    # difference; what grows is O(n) (labels, per-row terms, the few
    # classwise entries above the first bin).  Before, the report held three
    # (n, K) float64 arrays per method.
    from calibrate.report import build_report

    _small_working_set(monkeypatch, 2**20)
    zv, yv = vocabulary_logits(rng, 1000, 1000)
    peaks = []
    for n in (1500, 6000):
        zt, yt = vocabulary_logits(rng, n, 1000)
        np.save(tmp_path / f"test{n}.npy", zt)
        zt = np.load(tmp_path / f"test{n}.npy", mmap_mode="r")
        tracemalloc.start()
        try:
            report = build_report(
                (zv, yv),
                (zt, yt),
                methods=["temperature"],
                n_bootstrap=20,
                random_state=0,
            )
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    grown = 4500 * 1000 * 8
    assert peaks[1] - peaks[0] < 0.15 * grown, peaks
    # and the numbers are the library's (the full check is in test_report.py)
    T = report.parameters["temperature"]["temperature_"]
    P = softmax(zt.astype(np.float64) / T, axis=1)
    got = report.metrics.loc["temperature", ("ece_classwise", "value")]
    assert got == pytest.approx(reference_classwise_ece(yt, P, 15), rel=1e-9)
