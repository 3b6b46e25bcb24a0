"""Tests for calibrate.report: build_report, its numbers and its renderings.

Every number of a report is checked against the function that defines it --
:data:`calibrate.metrics.METRICS`, :func:`calibrate.metrics.calibration_bins`,
:func:`calibrate.io.fitted_parameters` -- on calibrators fitted here, apart
from the report, and the proper scores against scikit-learn as well.  The
renderings are parsed (``html.parser``, ``json`` with the documented JSON
Schema, the Markdown table grammar), never compared with snapshots.  Figures
are ``matplotlib.figure.Figure`` objects drawn with the Agg canvas, never
registered with pyplot, and dropped when each test ends.
"""

import base64
import hashlib
import html
import importlib.metadata
import json
import platform
import re
import warnings
from html.parser import HTMLParser

import jsonschema
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    hamming_loss,
    log_loss,
)

import calibrate
from calibrate import (
    CalibrationWarning,
    MatrixScaling,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
)
from calibrate.datasets import (
    list_examples,
    load_example,
    make_miscalibrated,
    make_miscalibrated_binary,
    make_miscalibrated_multilabel,
)
from calibrate.io import fitted_parameters
from calibrate.metrics import METRICS, calibration_bins
from calibrate.report import (
    REPORT_METRICS,
    REPORT_SCHEMA,
    STATISTICS,
    build_report,
    format_markdown_table,
    load_metrics,
)
from calibrate.report._bootstrap import bootstrap_counts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_URI = "data:image/svg+xml;base64,"
# The report's metrics that need one label per row (NaN for multilabel data);
# the ECE is classwise there.
TOP_LABEL = ("mce", "ece_l2_debiased", "ece_top_label_conditional", "smooth_ece")
# The classes of the independent fits, per task: the defaults build_report
# documents (temperature, vector, matrix for multiclass; temperature and
# Platt for binary and multilabel scores).
DEFAULTS = {
    "multiclass": {
        "temperature": TemperatureScaling,
        "vector": VectorScaling,
        "matrix": MatrixScaling,
    },
    "binary": {"temperature": TemperatureScaling, "platt": PlattScaling},
    "multilabel": {"temperature": TemperatureScaling, "platt": PlattScaling},
}
SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


# -- data and references ------------------------------------------------------


def make_split(task, rng, n=300, temperature=2.0):
    """Return ``(val, test)`` pairs of ``n`` rows each from one generator."""
    if task == "multiclass":
        data = make_miscalibrated(2 * n, 4, temperature=temperature, random_state=rng)
    elif task == "binary":
        data = make_miscalibrated_binary(
            2 * n, temperature=temperature, random_state=rng
        )
    else:
        data = make_miscalibrated_multilabel(
            2 * n, 3, temperature=temperature, random_state=rng
        )
    z, y = data.logits, data.labels
    return (z[:n], y[:n]), (z[n:], y[n:])


def library_value(name, y, scores, *, input_type, n_bins=15, sample_weight=None):
    """The report's metric ``name`` from the registry function that defines it."""
    if np.ndim(y) == 2 and name in TOP_LABEL:
        return np.nan  # top-label errors need one label per row
    metric = METRICS["classification_error" if name == "accuracy" else name]
    options = {"n_bins": n_bins} if "n_bins" in metric.needs else {}
    value = metric(
        y, scores, input_type=input_type, sample_weight=sample_weight, **options
    )
    return 1.0 - value if name == "accuracy" else value


def independent_fits(classes, val, input_type="logits"):
    """Fit each calibrator class on ``val`` here, apart from the report."""
    return {name: cls(input_type=input_type).fit(*val) for name, cls in classes.items()}


def assert_values_match_library(report, val, test, classes, input_type="logits"):
    """Every ``value`` and ``change`` of the table against the registry."""
    X_test, y_test = test
    fits = independent_fits(classes, val, input_type)
    assert report.methods == ["uncalibrated", *classes]
    scores = {"uncalibrated": (X_test, input_type)}
    for name, fit in fits.items():
        # The report keeps the log-probabilities (binary: of the positive
        # class); the metrics are checked against the calibrated logits.
        log_proba = fit.predict_log_proba(X_test)
        if fit.task_ == "binary":
            log_proba = log_proba[:, 1]
        assert report.predictions[name][1] == "log_probs"
        np.testing.assert_allclose(
            report.predictions[name][0], log_proba, rtol=1e-10, atol=1e-12
        )
        scores[name] = (fit.transform(X_test), "logits")
    table = report.metrics
    n_bins = report.metadata["n_bins"]
    for metric in REPORT_METRICS:
        base = library_value(
            metric, y_test, X_test, input_type=input_type, n_bins=n_bins
        )
        for row, (s, kind) in scores.items():
            expected = library_value(metric, y_test, s, input_type=kind, n_bins=n_bins)
            got = table.loc[row, (metric, "value")]
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
            change = table.loc[row, (metric, "change")]
            if row == "uncalibrated" or np.isnan(expected):
                assert np.isnan(change)
            else:
                np.testing.assert_allclose(change, expected - base, atol=1e-12)
    return fits


def table_cells(report):
    """``(row, metric, statistic, value)`` of every cell of the table."""
    table = report.metrics
    for row in table.index:
        for metric in REPORT_METRICS:
            for stat in STATISTICS:
                yield row, metric, stat, table.loc[row, (metric, stat)]


# -- the numbers ----------------------------------------------------------------


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_values_equal_the_library_metrics_of_independent_fits(task, rng):
    val, test = make_split(task, rng)
    report = build_report(val, test, n_bootstrap=100, random_state=0)
    assert report.metrics.columns.names == ["metric", "statistic"]
    assert list(report.metrics.columns) == [
        (m, s) for m in REPORT_METRICS for s in STATISTICS
    ]
    assert_values_match_library(report, val, test, DEFAULTS[task])
    # Accuracy is 1 - classification error (checked above) and temperature
    # scaling keeps the argmax: its accuracy change is exactly 0.
    assert report.metrics.loc["temperature", ("accuracy", "change")] == 0.0
    if task == "multilabel":
        assert report.metrics[[(m, "value") for m in TOP_LABEL]].isna().all().all()
    else:
        assert report.metrics.notna()[[(m, "value") for m in TOP_LABEL]].all().all()


def test_values_from_probabilities_equal_the_library(rng):
    (Xv, yv), (Xt, yt) = make_split("multiclass", rng)
    val, test = (softmax(Xv, axis=1), yv), (softmax(Xt, axis=1), yt)
    report = build_report(
        val,
        test,
        methods={"temperature": TemperatureScaling(input_type="probs")},
        input_type="probs",
        n_bins=10,
        n_bootstrap=100,
        random_state=1,
    )
    assert report.metadata["input_type"] == "probs"
    assert_values_match_library(
        report, val, test, {"temperature": TemperatureScaling}, input_type="probs"
    )
    # The calibrated row through predict_proba, read as probabilities.
    proba = TemperatureScaling(input_type="probs").fit(*val).predict_proba(test[0])
    for metric in REPORT_METRICS:
        np.testing.assert_allclose(
            report.metrics.loc["temperature", (metric, "value")],
            library_value(metric, yt, proba, input_type="probs", n_bins=10),
            rtol=1e-9,
            atol=1e-12,
        )


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_proper_scores_agree_with_scikit_learn(task, rng):
    val, test = make_split(task, rng)
    report = build_report(val, test, n_bootstrap=100, random_state=0)
    X_test, y_test = test
    fits = independent_fits(DEFAULTS[task], val)
    rows = {"uncalibrated": X_test} | {
        name: fit.transform(X_test) for name, fit in fits.items()
    }
    for row, z in rows.items():
        if task == "multiclass":
            p = softmax(z, axis=1)
            labels = np.arange(z.shape[1])
            acc = accuracy_score(y_test, p.argmax(axis=1))
            nll = log_loss(y_test, p, labels=labels)
            brier = brier_score_loss(y_test, p, labels=labels)
        elif task == "binary":
            p = expit(z)
            acc = accuracy_score(y_test, p > 0.5)
            nll = log_loss(y_test, p)
            brier = brier_score_loss(y_test, p)
        else:
            p = expit(z)
            acc = 1.0 - hamming_loss(y_test, p > 0.5)
            nll = np.mean([log_loss(y_test[:, k], p[:, k]) for k in range(p.shape[1])])
            brier = np.mean(
                [brier_score_loss(y_test[:, k], p[:, k]) for k in range(p.shape[1])]
            )
        got = report.metrics.loc[row]
        np.testing.assert_allclose(got[("accuracy", "value")], acc, rtol=1e-12)
        np.testing.assert_allclose(got[("nll", "value")], nll, rtol=1e-9)
        np.testing.assert_allclose(got[("brier", "value")], brier, rtol=1e-9)


@pytest.mark.parametrize("streamed", [False, True], ids=["held", "streamed"])
@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_replicates_are_the_library_metrics_of_the_resampled_rows(
    task, streamed, rng, monkeypatch
):
    if streamed:
        # The paths of a vocabulary-sized input, on a small one: calibrated
        # log-probabilities in a temporary memory map, classwise sums read
        # again chunk by chunk for each block of replicates, replicates in
        # blocks of 2 and sums in sub-blocks of one replicate.
        monkeypatch.setattr("calibrate.report._build.COLUMN_BLOCK_BYTES", 0)
        monkeypatch.setattr("calibrate.report._bootstrap._DENSE_BYTES", 0)
        monkeypatch.setattr("calibrate.report._bootstrap._BLOCK_ELEMENTS", 400)
        monkeypatch.setattr("calibrate.report._bootstrap._CHUNK_ELEMENTS", 64)
    val, test = make_split(task, rng, n=200)
    X_test, y_test = test
    n, n_bootstrap, seed = len(y_test), 60, int(rng.integers(2**31))
    report = build_report(val, test, n_bootstrap=n_bootstrap, random_state=seed)
    counts = np.concatenate(
        list(bootstrap_counts(n, n_bootstrap, np.random.default_rng(seed)))
    )
    assert counts.shape == (n_bootstrap, n)
    np.testing.assert_array_equal(counts.sum(axis=1), n)
    assert report.replicates.shape == (
        n_bootstrap,
        len(report.methods),
        len(REPORT_METRICS),
    )
    fits = independent_fits(DEFAULTS[task], val)
    scores = [(X_test, "logits")] + [
        (f.transform(X_test), "logits") for f in fits.values()
    ]
    for b in (0, 1, n_bootstrap - 1):
        rows = np.repeat(np.arange(n), counts[b].astype(int))
        for m, (s, kind) in enumerate(scores):
            for j, metric in enumerate(REPORT_METRICS):
                weighted = library_value(
                    metric, y_test, s, input_type=kind, sample_weight=counts[b]
                )
                resampled = library_value(
                    metric, y_test[rows], s[rows], input_type=kind
                )
                got = report.replicates[b, m, j]
                np.testing.assert_allclose(got, weighted, rtol=1e-9, atol=1e-12)
                np.testing.assert_allclose(got, resampled, rtol=1e-9, atol=1e-12)
                if task == "multilabel" and metric in TOP_LABEL:
                    assert np.isnan(got)


def test_two_column_brier_replicates_match_the_library(rng):
    # A two-class problem as two logit columns, and the same as one log-odds.
    two = make_miscalibrated(400, 2, temperature=2.0, random_state=rng)
    Xv, Xt, yv, yt = (
        two.logits[:200],
        two.logits[200:],
        two.labels[:200],
        two.labels[200:],
    )
    seed = int(rng.integers(2**31))
    wide = build_report(
        (Xv, yv), (Xt, yt), methods=["temperature"], n_bootstrap=50, random_state=seed
    )
    log_odds = build_report(
        (Xv[:, 1] - Xv[:, 0], yv),
        (Xt[:, 1] - Xt[:, 0], yt),
        methods=["temperature"],
        n_bootstrap=50,
        random_state=seed,
    )
    brier = REPORT_METRICS.index("brier")
    counts = next(bootstrap_counts(200, 50, np.random.default_rng(seed)))
    # The value itself is right either way ...
    np.testing.assert_allclose(
        wide.metrics.loc["uncalibrated", ("brier", "value")],
        log_odds.metrics.loc["uncalibrated", ("brier", "value")],
        rtol=1e-9,
    )
    # ... but a replicate must be the same library function, reweighted.
    np.testing.assert_allclose(
        wide.replicates[0, 0, brier],
        library_value("brier", yt, Xt, input_type="logits", sample_weight=counts[0]),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        wide.replicates[:, 0, brier], log_odds.replicates[:, 0, brier], rtol=1e-9
    )


INTERVAL_CASES = [
    ("binary", 2.0),
    ("multiclass", 2.0),
    ("multiclass", 1.0),  # calibrated: the binned errors' replicates sit high
    ("multilabel", 2.0),
]


@pytest.mark.parametrize(("task", "temperature"), INTERVAL_CASES)
def test_intervals_contain_their_estimates(task, temperature, rng):
    for _ in range(2):
        val, test = make_split(task, rng, temperature=temperature)
        report = build_report(
            val, test, n_bootstrap=200, random_state=int(rng.integers(2**31))
        )
        table = report.metrics
        for row, metric, stat, value in table_cells(report):
            undefined = task == "multilabel" and metric in TOP_LABEL
            if undefined or (row == "uncalibrated" and stat.startswith("change")):
                assert np.isnan(value), (row, metric, stat)
            else:
                assert np.isfinite(value), (row, metric, stat)
        for row in table.index:
            for metric in REPORT_METRICS:
                v, lo, hi = (table.loc[row, (metric, s)] for s in STATISTICS[:3])
                if np.isnan(v):
                    continue
                assert lo <= v <= hi, (row, metric, lo, v, hi)
                assert lo >= 0.0
                if metric != "nll":
                    assert hi <= (2.0 if metric == "brier" else 1.0)
                if row != "uncalibrated":
                    c, clo, chi = (table.loc[row, (metric, s)] for s in STATISTICS[3:])
                    assert clo <= c <= chi, (row, metric, clo, c, chi)


def test_binned_error_interval_is_centred_on_the_estimate(rng):
    # On calibrated scores the bootstrap replicates of the ECE sit above the
    # estimate (resampled rows make each bin look surer than it is); the
    # documented interval is their spread around their median, moved onto
    # the estimate, so it keeps the percentile interval's width.
    val, test = make_split("multiclass", rng, n=1000, temperature=1.0)
    report = build_report(
        val, test, methods=["temperature"], n_bootstrap=300, random_state=2
    )
    ece = REPORT_METRICS.index("ece")
    replicates = report.replicates[:, 0, ece]
    value, low, high = (
        report.metrics.loc["uncalibrated", ("ece", s)] for s in STATISTICS[:3]
    )
    q_lo, median, q_hi = np.quantile(replicates, [0.025, 0.5, 0.975])
    assert median > value  # the case where a percentile interval drifts
    assert low <= value <= high
    np.testing.assert_allclose(high - low, q_hi - q_lo, rtol=1e-9)
    np.testing.assert_allclose(value - low, median - q_lo, rtol=1e-9)


def test_intervals_shrink_like_one_over_root_n(rng):
    widths = {}
    for n in (400, 3600):
        val, test = make_split("multiclass", rng, n=n)
        report = build_report(
            val, test, methods=["temperature"], n_bootstrap=300, random_state=3
        )
        table = report.metrics.loc["uncalibrated"]
        widths[n] = np.array(
            [
                table[(m, "high")] - table[(m, "low")]
                for m in ("accuracy", "nll", "brier")
            ]
        )
    ratio = widths[400] / widths[3600]
    # Nine times the rows: intervals a third as wide, give or take the noise
    # of 300 resamples and of two different test sets.
    assert np.all((ratio > 2.2) & (ratio < 4.2)), ratio


PAIRED_CASES = ["nearly calibrated", "digits_logistic_regression"]


@pytest.mark.parametrize("case", PAIRED_CASES)
def test_paired_change_interval_is_narrower_than_unpaired(case, rng):
    if case == "nearly calibrated":
        val, test = make_split("multiclass", rng, n=500, temperature=1.2)
    else:
        data = load_example(case)
        val = (data.val_logits, data.val_labels)
        test = (data.test_logits, data.test_labels)
    report = build_report(
        val, test, methods=["temperature", "vector"], n_bootstrap=300, random_state=4
    )
    table = report.metrics
    for method in ("temperature", "vector"):
        for metric in ("accuracy", "nll", "brier"):
            unpaired = (
                table.loc[method, (metric, "high")] - table.loc[method, (metric, "low")]
            ) + (
                table.loc["uncalibrated", (metric, "high")]
                - table.loc["uncalibrated", (metric, "low")]
            )
            paired = (
                table.loc[method, (metric, "change_high")]
                - table.loc[method, (metric, "change_low")]
            )
            assert paired < unpaired, (method, metric, paired, unpaired)
    # Temperature scaling keeps every prediction: its accuracy never moves.
    assert table.loc["temperature", ("accuracy", "change_low")] == 0.0
    assert table.loc["temperature", ("accuracy", "change_high")] == 0.0


def test_intervals_cover_the_true_expected_scores(rng):
    # Temperature 1: the logits are calibrated and the expected NLL and Brier
    # score of the data-generating process are the mean entropy and the mean
    # 1 - sum(p^2) of the true probabilities, here from 200,000 rows (their
    # standard errors are about 1e-3 against intervals about 0.1 wide).
    big = make_miscalibrated(200_000, 4, temperature=1.0, random_state=rng)
    p = big.probabilities
    true_nll = float(np.mean(-np.sum(p * np.log(p), axis=1)))
    true_brier = float(np.mean(1.0 - np.sum(p * p, axis=1)))
    covered = {"nll": 0, "brier": 0}
    n_draws = 20
    for _ in range(n_draws):
        val, test = make_split("multiclass", rng, n=300, temperature=1.0)
        report = build_report(
            val,
            test,
            methods=["temperature"],
            n_bootstrap=200,
            random_state=int(rng.integers(2**31)),
        )
        row = report.metrics.loc["uncalibrated"]
        covered["nll"] += row[("nll", "low")] <= true_nll <= row[("nll", "high")]
        covered["brier"] += (
            row[("brier", "low")] <= true_brier <= row[("brier", "high")]
        )
    # At least 15 hits of 20 has probability 0.9997 at the nominal 95 %
    # coverage, and still 0.989 at 90 %.
    assert covered["nll"] >= 15, covered
    assert covered["brier"] >= 15, covered


# -- the verdict ------------------------------------------------------------------


def test_best_is_the_lowest_test_nll_and_significance_follows_its_interval(rng):
    val, test = make_split("multiclass", rng, n=400)
    report = build_report(val, test, n_bootstrap=200, random_state=5)
    nll = report.metrics[("nll", "value")]
    order = nll.sort_values(kind="stable").index
    best = report.best
    assert best["method"] == order[0] == nll.idxmin()
    assert best["runner_up"] == order[1]
    assert best["nll"] == nll[order[0]]
    assert best["runner_up_nll"] == nll[order[1]]
    np.testing.assert_allclose(best["difference"], nll[order[0]] - nll[order[1]])
    assert best["difference"] <= 0
    assert best["difference_low"] <= best["difference"] <= best["difference_high"]
    assert best["significant"] is (best["difference_high"] < 0)
    assert best["method"] in best["sentence"]
    assert best["runner_up"] in best["sentence"]
    assert f"{best['nll']:.4g}" in best["sentence"]
    assert ("lies below 0" in best["sentence"]) is best["significant"]


def test_uncalibrated_scores_can_win(rng):
    # Fitted on under-confident validation scores, a method sharpens, which
    # hurts over-confident test scores: the scores as given win.
    (Xv, yv), _ = make_split("multiclass", rng, n=400, temperature=0.5)
    _, (Xt, yt) = make_split("multiclass", rng, n=400, temperature=3.0)
    report = build_report(
        (Xv, yv), (Xt, yt), methods=["temperature"], n_bootstrap=200, random_state=6
    )
    nll = report.metrics[("nll", "value")]
    assert nll["uncalibrated"] < nll["temperature"]
    assert report.best["method"] == "uncalibrated"
    assert report.best["runner_up"] == "temperature"
    assert "uncalibrated" in report.best["sentence"]
    assert "temperature" in report.best["sentence"]
    assert report.best["significant"] is (report.best["difference_high"] < 0)


def test_identical_methods_cannot_be_told_apart(rng):
    val, test = make_split("multiclass", rng, n=300)
    report = build_report(
        val,
        test,
        methods={"twin_a": TemperatureScaling(), "twin_b": TemperatureScaling()},
        n_bootstrap=100,
        random_state=7,
    )
    best = report.best
    assert {best["method"], best["runner_up"]} == {"twin_a", "twin_b"}
    assert best["difference"] == 0.0
    assert best["difference_low"] <= 0.0 <= best["difference_high"]
    assert best["significant"] is False
    assert "twin_a" in best["sentence"] and "twin_b" in best["sentence"]
    assert "the same on every resample" in best["sentence"]
    pd.testing.assert_series_equal(
        report.metrics.loc["twin_a"], report.metrics.loc["twin_b"], check_names=False
    )


# -- metadata, parameters, diagnostics, warnings, bins -----------------------------


def test_metadata_records_settings_sizes_and_versions(rng):
    val, test = make_split("multiclass", rng, n=300)
    report = build_report(
        val,
        (test[0][:250], test[1][:250]),
        methods=["temperature"],
        n_bins=12,
        n_bootstrap=50,
        confidence_level=0.9,
        random_state=11,
        title="My model",
        description="what the data are",
    )
    m = report.metadata
    assert report.title == m["title"] == "My model"
    assert m["description"] == "what the data are"
    assert (m["task"], m["input_type"]) == ("multiclass", "logits")
    assert (m["n_val"], m["n_test"], m["n_columns"]) == (300, 250, 4)
    assert m["classes"] == [0, 1, 2, 3]
    assert (m["n_bins"], m["n_bootstrap"], m["confidence_level"]) == (12, 50, 0.9)
    assert m["seed"] == 11
    assert report.replicates.shape[0] == 50
    versions = m["versions"]
    for name in ("numpy", "scipy", "scikit-learn", "matplotlib", "pandas"):
        assert versions[name] == importlib.metadata.version(name)
    assert versions["calibrate"] == calibrate.__version__
    assert versions["python"] == platform.python_version()
    np.testing.assert_allclose(
        m["validation_nll_uncalibrated"],
        METRICS["nll"](val[1], val[0], input_type="logits"),
        rtol=1e-12,
    )
    assert build_report(val, test, methods=["temperature"], n_bootstrap=10).title == (
        "Calibration report"
    )


def test_a_drawn_seed_is_recorded_and_reproduces_the_report(rng):
    val, test = make_split("binary", rng, n=200)
    first = build_report(val, test, n_bootstrap=50, random_state=None)
    seed = first.metadata["seed"]
    assert isinstance(seed, int) and seed >= 0
    again = build_report(val, test, n_bootstrap=50, random_state=seed)
    np.testing.assert_array_equal(again.replicates, first.replicates)
    pd.testing.assert_frame_equal(again.metrics, first.metrics)
    assert again.best == first.best
    other = build_report(val, test, n_bootstrap=50, random_state=None)
    assert other.metadata["seed"] != seed
    assert not np.array_equal(other.replicates, first.replicates)


def test_input_hashes_are_those_of_the_named_files(tmp_path, rng):
    (Xv, yv), (Xt, yt) = make_split("multiclass", rng, n=200)
    np.save(tmp_path / "val_scores.npy", Xv)
    np.savez(tmp_path / "val.npz", labels=yv, other=yt)
    sources = {
        "val_scores": str(tmp_path / "val_scores.npy"),
        "val_labels": f"{tmp_path / 'val.npz'}:labels",
        "test_labels": str(tmp_path / "absent.npy"),  # no such file
    }
    # The unnamed test scores in Fortran order: an array is hashed as its
    # bytes in C order, whatever its layout in memory.
    report = build_report(
        (Xv, yv),
        (np.asfortranarray(Xt), yt),
        methods=["temperature"],
        n_bootstrap=10,
        sources=sources,
    )
    records = {r["role"]: r for r in report.metadata["inputs"]}
    assert list(records) == ["val_scores", "val_labels", "test_scores", "test_labels"]

    def file_hash(name):
        return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()

    def array_hash(array):
        return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()

    assert records["val_scores"]["sha256"] == file_hash("val_scores.npy")
    assert records["val_scores"]["sha256_of"] == "file"
    # An archive member: the whole archive, as sha256sum would check it.
    assert records["val_labels"]["sha256"] == file_hash("val.npz")
    assert records["val_labels"]["sha256_of"] == "file"
    assert records["test_scores"]["sha256"] == array_hash(Xt)
    assert records["test_scores"]["sha256_of"] == "array"
    assert records["test_scores"]["source"] is None
    assert records["test_labels"]["sha256"] == array_hash(yt)
    assert records["test_labels"]["sha256_of"] == "array"
    assert records["test_labels"]["source"] == sources["test_labels"]
    assert array_hash(Xt) != array_hash(np.asfortranarray(Xt).ravel(order="K"))
    for role, array in zip(records, (Xv, yv, Xt, yt), strict=True):
        assert records[role]["shape"] == list(array.shape)
        assert records[role]["dtype"] == str(array.dtype)


def test_object_string_labels_are_hashed(rng):
    (Xv, yv), (Xt, yt) = make_split("multiclass", rng, n=200)
    names = np.array(["ant", "bee", "cat", "dog"], dtype=object)
    report = build_report(
        (Xv, names[yv]), (Xt, names[yt]), methods=["temperature"], n_bootstrap=10
    )
    assert report.metadata["classes"] == list(names)
    for record in report.metadata["inputs"]:
        assert re.fullmatch("[0-9a-f]{64}", record["sha256"])


def test_classes_are_the_columns_of_integer_labelled_scores(rng):
    (Xv, yv), (Xt, yt) = make_split("multiclass", rng, n=200)
    yv, yt = np.where(yv == 3, 0, yv), np.where(yt == 3, 0, yt)
    report = build_report((Xv, yv), (Xt, yt), methods=["temperature"], n_bootstrap=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # class 3 is absent
        classes = TemperatureScaling().fit(Xv, yv).classes_
    assert report.metadata["classes"] == classes.tolist()


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_parameters_and_diagnostics_equal_an_independent_fit(task, rng):
    val, test = make_split(task, rng, n=300)
    report = build_report(val, test, n_bootstrap=10, random_state=0)
    fits = independent_fits(DEFAULTS[task], val)
    assert list(report.parameters) == list(report.diagnostics) == list(fits)
    for name, fit in fits.items():
        expected = fitted_parameters(fit)
        assert report.parameters[name].keys() == expected.keys()
        for key, value in expected.items():
            np.testing.assert_allclose(report.parameters[name][key], value, rtol=1e-12)
        d = report.diagnostics[name]
        assert d["class"] == type(fit).__name__
        assert d["n_iter"] == fit.n_iter_
        assert d["params"] == fit.get_params()
        np.testing.assert_allclose(
            d["validation_nll"],
            METRICS["nll"](val[1], fit.transform(val[0]), input_type="logits"),
            rtol=1e-12,
        )
        assert d["validation_nll"] <= report.metadata["validation_nll_uncalibrated"]
        assert d["warnings"] == []
    assert report.warnings == []


def test_fit_warnings_are_collected_into_the_report(rng):
    (Xv, yv), test = make_split("multiclass", rng, n=300)
    yv = np.where(yv == 3, 0, yv)  # class 3 never occurs in the validation labels
    with pytest.warns(CalibrationWarning) as expected:
        VectorScaling().fit(Xv, yv)
    messages = [str(w.message) for w in expected]
    assert any("never occur" in m for m in messages)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        report = build_report((Xv, yv), test, methods=["vector"], n_bootstrap=10)
    assert shown == []
    assert report.diagnostics["vector"]["warnings"] == messages
    assert [w for w in report.warnings if w["source"] == "vector"] == [
        {"source": "vector", "category": "CalibrationWarning", "message": m}
        for m in messages
    ]


def zeroed_probabilities(data, rows=3):
    """Softmax of the logits with the observed class of the first rows set to 0."""
    z, y = data
    p = softmax(z, axis=1)
    p[np.arange(rows), y[:rows]] = 0.0
    return p / p.sum(axis=1, keepdims=True), y


def test_probability_floor_warnings_are_collected(rng):
    val, test = make_split("multiclass", rng, n=200)
    val, test = zeroed_probabilities(val), zeroed_probabilities(test)
    with pytest.warns(CalibrationWarning, match="floored") as expected:
        METRICS["nll"](test[1], test[0], input_type="probs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        report = build_report(
            val,
            test,
            methods={"ts": TemperatureScaling(input_type="probs")},
            input_type="probs",
            n_bootstrap=10,
        )
    uncalibrated = [w for w in report.warnings if w["source"] == "uncalibrated"]
    assert [w["message"] for w in uncalibrated] == [str(expected[0].message)]
    assert all(w["category"] == "CalibrationWarning" for w in uncalibrated)
    fit = report.diagnostics["ts"]["warnings"]
    assert any("floored" in message for message in fit)
    assert {w["message"] for w in report.warnings if w["source"] == "ts"} == set(fit)


def test_no_warning_escapes_build_report(rng):
    val, test = make_split("multiclass", rng, n=200)
    val, test = zeroed_probabilities(val), zeroed_probabilities(test)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        build_report(
            val,
            test,
            methods={"ts": TemperatureScaling(input_type="probs")},
            input_type="probs",
            n_bootstrap=10,
        )
    assert [str(w.message) for w in shown] == []


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_bins_equal_the_library_calibration_bins(task, rng):
    val, test = make_split(task, rng, n=300)
    report = build_report(val, test, n_bins=10, n_bootstrap=10, random_state=0)
    X_test, y_test = test
    reduction = "classwise" if task == "multilabel" else "top_label"
    scores = {"uncalibrated": X_test} | {
        name: fit.transform(X_test)
        for name, fit in independent_fits(DEFAULTS[task], val).items()
    }
    assert list(report.bins) == list(scores)
    for row, z in scores.items():
        expected = calibration_bins(
            y_test, z, n_bins=10, reduction=reduction, input_type="logits"
        )
        got = report.bins[row]
        if reduction == "top_label":
            expected, got = (expected,), (got,)
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            for field in ("edges", "counts", "weights", "mean_score", "mean_target"):
                np.testing.assert_allclose(
                    getattr(g, field), getattr(e, field), rtol=1e-12, atol=1e-15
                )


def test_progress_is_told_each_stage(rng):
    val, test = make_split("binary", rng, n=100)
    said = []
    build_report(val, test, n_bootstrap=10, progress=said.append)
    assert said[:2] == ["fitting temperature", "fitting platt"]
    assert said[-1].startswith("bootstrap") and "10" in said[-1]


# -- refusals ---------------------------------------------------------------------


def _refusals():
    return [
        ({"val": "scores"}, TypeError, "val must be a pair"),
        ({"test": (1, 2, 3)}, TypeError, "test must be a pair.*length 3"),
        ({"methods": ["bogus"]}, ValueError, "unknown method 'bogus'"),
        ({"methods": ["temperature", "temperature"]}, ValueError, "given twice"),
        ({"methods": "temperature, temperature"}, ValueError, "given twice"),
        ({"methods": {"x": object()}}, TypeError, "method 'x' must be a calibrator"),
        (
            {"methods": {"x": TemperatureScaling(input_type="probs")}},
            ValueError,
            "method 'x' reads its scores as input_type='probs'",
        ),
        (
            {"methods": {"uncalibrated": TemperatureScaling()}},
            ValueError,
            "'uncalibrated' names the row",
        ),
        ({"methods": []}, ValueError, "methods is empty"),
        ({"n_bootstrap": 9}, ValueError, "n_bootstrap must be an integer >= 10"),
        ({"n_bootstrap": True}, ValueError, "n_bootstrap .* got True"),
        ({"n_bootstrap": 100.0}, ValueError, "n_bootstrap .* got 100.0"),
        ({"random_state": -1}, ValueError, "random_state must be >= 0"),
        ({"random_state": 1.5}, TypeError, "random_state must be None or"),
        ({"random_state": np.random.default_rng(0)}, TypeError, "random_state"),
        ({"confidence_level": 1.0}, ValueError, r"confidence_level .* \(0, 1\)"),
        ({"confidence_level": 95}, ValueError, "confidence_level .* got 95"),
        ({"n_bins": 0}, ValueError, "n_bins must be an integer >= 1"),
        ({"title": 3}, TypeError, "title must be a string"),
        ({"sources": {"scores": "x.npy"}}, ValueError, "unknown inputs"),
        ({"test": "nan"}, ValueError, "^test data: .*NaN"),
    ]


@pytest.mark.parametrize(("options", "error", "match"), _refusals())
def test_invalid_arguments_are_refused(options, error, match, rng):
    val, test = make_split("multiclass", rng, n=100)
    options = dict(options)
    if options.get("test") == "nan":
        scores = test[0].copy()
        scores[7, 2] = np.nan
        options["test"] = (scores, test[1])
    args = {"val": val, "test": test, "n_bootstrap": 10} | options
    with pytest.raises(error, match=match):
        build_report(args.pop("val"), args.pop("test"), **args)


def test_a_method_that_does_not_support_the_task_is_named(rng):
    val, test = make_split("binary", rng, n=100)
    with pytest.raises(ValueError, match=r"fitting vector \(VectorScaling\)"):
        build_report(val, test, methods=["temperature", "vector"], n_bootstrap=10)


# -- HTML --------------------------------------------------------------------------


class Page(HTMLParser):
    """Collect every tag with its attributes, the text, and the tables' cells."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.text = []
        self.tables = []
        self.figures = {}
        self._figure = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "figure":
            self._figure = attrs.get("id")
            self.figures[self._figure] = []
        elif tag in ("img", "source") and self._figure is not None:
            self.figures[self._figure].append((tag, attrs))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def decode_svg(uri):
    assert uri.startswith(SVG_URI), uri[:40]
    svg = base64.b64decode(uri[len(SVG_URI) :], validate=True).decode("utf-8")
    assert svg.lstrip().startswith(("<?xml", "<svg")), svg[:40]
    assert "<svg" in svg
    return svg


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A report whose every user string holds markup, rendered to HTML once.

    Module-scoped (the page takes seconds to draw), so with its own generator.
    """
    rng = np.random.default_rng(20261124)
    labels = np.array([f"{SCRIPT}{k}" for k in "abc"])
    (Xv, yv), (Xt, yt) = make_split("multiclass", rng, n=300)
    Xv, Xt = Xv[:, :3], Xt[:, :3]
    yv, yt = np.minimum(yv, 2), np.minimum(yt, 2)
    report = build_report(
        (Xv, labels[yv]),
        (Xt, labels[yt]),
        methods={SCRIPT: TemperatureScaling(), "matrix": MatrixScaling()},
        n_bootstrap=100,
        random_state=8,
        title=f"Title {SCRIPT}",
        description=f"About {SCRIPT}",
        sources={"test_scores": f"runs/{SCRIPT}.npy"},
    )
    figures = report.figures()
    names = list(figures)
    figures.clear()
    path = report.to_html(tmp_path_factory.mktemp("html") / "report.html")
    return report, path.read_text(encoding="utf-8"), names


def test_html_parses_and_references_nothing_outside(hostile):
    report, text, _ = hostile
    page = Page()
    page.feed(text)
    page.close()
    tags = [tag for tag, _ in page.tags]
    assert tags[:1] == ["html"] and "body" in tags and "table" in tags
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "data", "action"):
            if key in attrs:
                assert attrs[key].startswith(("data:", "#")), (
                    tag,
                    key,
                    attrs[key][:60],
                )
        assert not any(key.startswith("on") for key in attrs), (tag, attrs)
    assert "url(" not in text and "@import" not in text


def test_html_embeds_every_figure_twice(hostile):
    report, text, names = hostile
    page = Page()
    page.feed(text)
    assert set(names) == {"reliability", "metrics"}
    assert set(page.figures) == {f"figure-{name}" for name in names}
    for name in names:
        parts = page.figures[f"figure-{name}"]
        (img,) = [a for t, a in parts if t == "img"]
        (source,) = [a for t, a in parts if t == "source"]
        wide, narrow = decode_svg(img["src"]), decode_svg(source["srcset"])
        assert source["media"].startswith("(max-width")
        assert img["alt"]
        assert wide != narrow  # two layouts, not one image twice
        for svg in (wide, narrow):
            assert "<script" not in svg.lower()


def test_html_escapes_every_user_string(hostile):
    report, text, _ = hostile
    assert "<script" not in text.lower()
    assert ESCAPED_SCRIPT in text
    page = Page()
    page.feed(text)
    shown = "".join(page.text)
    # Escaped, not dropped: the parsed text holds every string as given.
    for string in (
        f"Title {SCRIPT}",
        f"About {SCRIPT}",
        f"runs/{SCRIPT}.npy",
        SCRIPT,
        f"{SCRIPT}a",
        f"{SCRIPT}c",
    ):
        assert string in shown, string
    assert report.metadata["classes"] == [f"{SCRIPT}{k}" for k in "abc"]


def _numbers(cell):
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", cell)]


def test_html_tables_show_the_table_numbers(hostile):
    report, text, _ = hostile
    page = Page()
    page.feed(text)
    metrics_table, change_table = page.tables[:2]
    table = report.metrics
    assert metrics_table[0] == ["metric", *report.methods]
    assert change_table[0] == ["metric", *report.methods[1:]]
    labels = {
        "Accuracy": "accuracy",
        "NLL": "nll",
        "Brier score": "brier",
        "ECE": "ece",
        "Classwise ECE": "ece_classwise",
        "MCE": "mce",
        "Debiased L2 error": "ece_l2_debiased",
        "TL-ECE": "ece_top_label_conditional",
        "Smooth ECE": "smooth_ece",
    }
    assert [row[0] for row in metrics_table[1:]] == list(labels)
    for rows, stats, methods in (
        (metrics_table, ("value", "low", "high"), report.methods),
        (change_table, ("change", "change_low", "change_high"), report.methods[1:]),
    ):
        for row in rows[1:]:
            metric = labels[row[0]]
            percent = metric != "nll" and metric != "brier"
            scale, precision = (100.0, 0.005) if percent else (1.0, 0.00005)
            for method, cell in zip(methods, row[1:], strict=True):
                shown = _numbers(cell)
                expected = [scale * table.loc[method, (metric, s)] for s in stats]
                assert len(shown) == 3, cell
                np.testing.assert_allclose(shown, expected, atol=precision * 1.0001)
                assert ("\xa0%" in cell or "\xa0pp" in cell) is percent


def test_html_is_written_atomically(tmp_path, monkeypatch, rng):
    val, test = make_split("binary", rng, n=100)
    report = build_report(val, test, n_bootstrap=10, random_state=0, title="Second")
    # The figures are not what this test is about; skip drawing them.
    monkeypatch.setattr(report, "figures", lambda n_cols=2: {})
    path = tmp_path / "report.html"
    path.write_text("old page")
    with pytest.raises(FileExistsError, match="report.html"):
        report.to_html(path)
    assert path.read_text() == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert report.to_html(path, overwrite=True) == path
    written = path.read_text(encoding="utf-8")
    assert written.startswith("<!DOCTYPE html>") and "<h1>Second</h1>" in written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


# -- JSON ------------------------------------------------------------------------


def _reject(constant):
    raise ValueError(f"non-standard JSON constant {constant}")


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_json_validates_and_round_trips_the_table(task, tmp_path, rng):
    val, test = make_split(task, rng, n=200)
    report = build_report(val, test, n_bootstrap=20, random_state=9)
    path = report.to_json(tmp_path / "report.json")
    text = path.read_text(encoding="utf-8")
    document = json.loads(text, parse_constant=_reject)  # strict JSON: no NaN
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(document)
    loaded = load_metrics(path)
    assert loaded.isna().any().any()  # the uncalibrated change, at least
    pd.testing.assert_frame_equal(loaded, report.metrics)
    pd.testing.assert_frame_equal(load_metrics(document), report.metrics)
    assert document["best"] == report.best
    assert document["metadata"]["seed"] == 9
    assert document["summary"]["best"] == report.best["sentence"]
    assert [row["method"] for row in document["metrics"]] == report.methods
    with pytest.raises(FileExistsError):
        report.to_json(path)


def test_json_schema_and_reader_refuse_other_documents(tmp_path, rng):
    val, test = make_split("binary", rng, n=100)
    document = build_report(val, test, n_bootstrap=10).to_dict()
    validator = jsonschema.Draft202012Validator(REPORT_SCHEMA)
    validator.validate(document)
    future = json.loads(json.dumps(document)) | {"schema_version": 3}
    with pytest.raises(ValueError, match="schema version 1 or 2"):
        load_metrics(future)
    path = tmp_path / "future.json"
    path.write_text(json.dumps(future))
    with pytest.raises(ValueError, match="future.json"):
        load_metrics(path)
    assert not validator.is_valid(future)
    broken = json.loads(json.dumps(document))
    broken["metrics"][1]["values"]["nll"]["value"] = "0.5"
    with pytest.raises(jsonschema.ValidationError, match="'0.5' is not of type"):
        validator.validate(broken)
    missing = json.loads(json.dumps(document))
    del missing["metrics"][0]["values"]["brier"]
    assert not validator.is_valid(missing)


# -- Markdown ----------------------------------------------------------------------


def split_row(line):
    """The cells of a Markdown table row: split on pipes no backslash escapes.

    As GitHub's parser does: ``\\|`` is a pipe inside a cell whatever precedes
    the backslash.
    """
    assert line.startswith("| ") and line.endswith(" |"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]


def decode_cell(cell):
    """A cell as a Markdown renderer shows it: pipes, escapes, entities."""
    cell = cell.replace("\\|", "|")
    cell = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", cell)
    return html.unescape(cell)


def table_blocks(markdown):
    """Every run of consecutive table lines."""
    blocks, block = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    return blocks + ([block] if block else [])


def test_format_markdown_table_escapes_pipes_and_line_breaks():
    header = ["name", "value"]
    rows = [
        ["a|b", "1"],
        ["back\\slash|", "two\nlines"],
        [SCRIPT, "x \\| y"],
        ["", "|"],
    ]
    text = format_markdown_table(header, rows)
    lines = text.splitlines()
    assert len(lines) == 2 + len(rows)
    assert "<script" not in text
    assert split_row(lines[1]) == [":--", "--:"]
    for line, row in zip(lines[2:], rows, strict=True):
        cells = split_row(line)
        assert len(cells) == len(header), line
        assert [decode_cell(c) for c in cells] == [
            " ".join(value.splitlines()) for value in row
        ]
    assert (
        format_markdown_table(header, [], align="rl").splitlines()[1] == "| --: | :-- |"
    )


def test_markdown_writes_the_page_and_its_figures(tmp_path, rng):
    val, test = make_split("binary", rng, n=200)
    name = f"a|b {SCRIPT}"
    report = build_report(
        val,
        test,
        methods={name: TemperatureScaling(), "platt": PlattScaling()},
        n_bootstrap=20,
        random_state=10,
        title=f"T {SCRIPT}",
    )
    paths = report.to_markdown(tmp_path / "out")
    assert paths[0] == tmp_path / "out" / "README.md"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["README.md", "reliability.png", "metrics.png"]
    )
    assert sorted(p.name for p in paths[1:]) == ["metrics.png", "reliability.png"]
    markdown = paths[0].read_text(encoding="utf-8")
    for png in paths[1:]:
        assert png.read_bytes().startswith(PNG_SIGNATURE)
        assert f"]({png.name})" in markdown
    assert "<script" not in markdown.lower()
    assert "&lt;script&gt;" in markdown
    blocks = table_blocks(markdown)
    assert len(blocks) >= 4
    for block in blocks:
        width = len(split_row(block[0]))
        assert all(len(split_row(line)) == width for line in block), block
    metrics_block = blocks[0]
    assert [decode_cell(c) for c in split_row(metrics_block[0])] == [
        "metric",
        "uncalibrated",
        name,
        "platt",
    ]
    nll_row = next(r for r in metrics_block if r.startswith("| NLL"))
    for method, cell in zip(report.methods, split_row(nll_row)[1:], strict=True):
        shown = _numbers(cell)
        expected = [report.metrics.loc[method, ("nll", s)] for s in STATISTICS[:3]]
        np.testing.assert_allclose(shown, expected, atol=0.00005 * 1.0001)


def test_markdown_refuses_existing_files_before_writing(tmp_path, rng):
    val, test = make_split("binary", rng, n=100)
    report = build_report(val, test, methods=["temperature"], n_bootstrap=10)
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.png").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="metrics.png"):
        report.to_markdown(out)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.png"]
    assert (out / "metrics.png").read_bytes() == b"mine"
    paths = report.to_markdown(out, overwrite=True)
    assert (out / "metrics.png").read_bytes().startswith(PNG_SIGNATURE)
    assert {p.name for p in paths} == {p.name for p in out.iterdir()}


def test_multilabel_markdown_keeps_method_names_out_of_paths(tmp_path, rng):
    val, test = make_split("multilabel", rng, n=150)
    report = build_report(
        val, test, methods={SCRIPT: TemperatureScaling()}, n_bootstrap=10
    )
    out = tmp_path / "out"
    try:
        paths = report.to_markdown(out)
    finally:
        written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert all(p.parent == out for p in paths)
    assert sorted(p.relative_to(out) for p in paths) == written
    markdown = paths[0].read_text(encoding="utf-8")
    assert "<script" not in markdown.lower()
    assert len(paths) == 1 + 3  # two reliability grids and the metric chart


# -- figures -------------------------------------------------------------------------

ECE_TITLE = re.compile(r"ECE \(15 bins\) = (\d+\.\d+) %$")
METRIC_TITLES = {
    "Accuracy (%)": "accuracy",
    "NLL": "nll",
    "Brier score": "brier",
    "ECE (%)": "ece",
    "Classwise ECE (%)": "ece_classwise",
    "MCE (%)": "mce",
    "Debiased L2 error (%)": "ece_l2_debiased",
    "TL-ECE (%)": "ece_top_label_conditional",
    "Smooth ECE (%)": "smooth_ece",
}


def check_metric_chart(fig, report):
    table = report.metrics
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    shown = []
    for ax in panels:
        head = ax.get_title().split(",")[0]
        metric = METRIC_TITLES[head]
        shown.append(metric)
        scale = 100.0 if "(%)" in head else 1.0
        widths = [p.get_width() for p in ax.patches]
        np.testing.assert_allclose(
            widths, scale * table[(metric, "value")].to_numpy(), rtol=1e-12
        )
        (interval,) = [c for c in ax.collections if len(c.get_segments())]
        segments = np.array(interval.get_segments())
        np.testing.assert_allclose(
            segments[:, :, 0],
            scale * table[[(metric, "low"), (metric, "high")]].to_numpy(),
            rtol=1e-12,
        )
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels == report.methods
    return shown


@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_figures_state_the_table_numbers(task, rng):
    val, test = make_split(task, rng, n=200)
    report = build_report(val, test, n_bootstrap=20, random_state=12)
    figures = report.figures()
    try:
        assert list(figures) == ["reliability", "metrics"]
        titles = [
            ax.get_title() for ax in figures["reliability"].axes if ax.get_title()
        ]
        assert [t.splitlines()[0] for t in titles] == report.methods
        for method, title in zip(report.methods, titles, strict=True):
            (ece,) = ECE_TITLE.findall(title.splitlines()[-1])
            value = 100 * report.metrics.loc[method, ("ece", "value")]
            assert abs(float(ece) - value) <= 0.005 + 1e-9, (method, title)
        shown = check_metric_chart(figures["metrics"], report)
        assert shown == list(REPORT_METRICS)
    finally:
        figures.clear()


def test_multilabel_figures_are_one_grid_per_method(rng):
    val, test = make_split("multilabel", rng, n=200)
    report = build_report(val, test, n_bootstrap=20, random_state=13)
    figures = report.figures()
    try:
        assert list(figures) == [f"reliability_{m}" for m in report.methods] + [
            "metrics"
        ]
        for method in report.methods:
            titles = [
                ax.get_title()
                for ax in figures[f"reliability_{method}"].axes
                if ax.get_title()
            ]
            per_label = [
                float(re.search(r"ECE (\d+\.\d+) %", t).group(1)) for t in titles
            ]
            assert len(per_label) == 3  # every label of three is drawn
            # The classwise ECE is the mean of the labels' errors.
            np.testing.assert_allclose(
                np.mean(per_label),
                100 * report.metrics.loc[method, ("ece_classwise", "value")],
                atol=0.005 + 1e-9,
            )
        shown = check_metric_chart(figures["metrics"], report)
        # the ECE of multilabel data is the classwise one, shown twice
        assert shown == ["accuracy", "nll", "brier", "ece", "ece_classwise"]
    finally:
        figures.clear()


def test_figures_stay_out_of_pyplot(rng):
    import matplotlib.pyplot as plt

    val, test = make_split("binary", rng, n=100)
    report = build_report(val, test, methods=["temperature"], n_bootstrap=10)
    before = plt.get_fignums()
    figures = report.figures(n_cols=1)
    try:
        assert plt.get_fignums() == before
        assert len(figures["metrics"].axes) == len(REPORT_METRICS)
    finally:
        figures.clear()


# -- real data ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits_mlp", "breast_cancer_svm"])
def test_bundled_examples_match_the_library(name):
    assert name in list_examples()
    data = load_example(name)
    val = (data.val_logits, data.val_labels)
    test = (data.test_logits, data.test_labels)
    report = build_report(
        val, test, n_bootstrap=200, random_state=14, description=data.DESCR
    )
    task = "binary" if data.test_logits.ndim == 1 else "multiclass"
    assert report.metadata["task"] == task
    assert_values_match_library(report, val, test, DEFAULTS[task])
    for row, metric, stat, value in table_cells(report):
        if stat == "value":
            lo, hi = (report.metrics.loc[row, (metric, s)] for s in ("low", "high"))
            assert lo <= value <= hi, (row, metric)
    # Every example is miscalibrated: some method lowers the test NLL.
    assert report.best["method"] != "uncalibrated"


# -- review findings: the verdict, classes, direction, escaping -------------


def _centred(values, estimate, level=0.95):
    """The documented interval, computed here from the replicates."""
    low, median, high = np.quantile(values, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return estimate - (median - low), estimate + (high - median)


@pytest.mark.parametrize(
    ("name", "significant"), [("digits_mlp", False), ("digits_naive_bayes", True)]
)
def test_verdict_interval_is_the_paired_centred_interval(name, significant):
    data = load_example(name)
    report = build_report(
        (data.val_logits, data.val_labels),
        (data.test_logits, data.test_labels),
        n_bootstrap=300,
        random_state=0,
    )
    best = report.best
    rows = report.methods
    column = REPORT_METRICS.index("nll")
    i, j = rows.index(best["method"]), rows.index(best["runner_up"])
    nll = report.metrics[("nll", "value")]
    assert best["method"] != "uncalibrated"
    difference = report.replicates[:, i, column] - report.replicates[:, j, column]
    low, high = _centred(difference, nll.iloc[i] - nll.iloc[j])
    assert (best["difference_low"], best["difference_high"]) == pytest.approx(
        (low, high), rel=1e-12
    )
    # Unpaired (each model on its own resamples) would be much wider.
    unpaired = report.replicates[:, i, column] - np.roll(
        report.replicates[:, j, column], 1
    )
    assert high - low < np.ptp(np.quantile(unpaired, [0.025, 0.975]))
    assert best["significant"] is significant
    assert bool(high < 0) is significant
    sentence = best["sentence"]
    assert sentence.startswith(f"Lowest test NLL: {best['method']} (")
    if significant:
        assert "lies below 0: the advantage is outside the resampling noise" in sentence
    else:
        assert (
            f"contains 0: this test set does not show that {best['method']} is "
            f"better than {best['runner_up']}." in sentence
        )


def test_uncalibrated_win_is_worded_as_such(rng):
    (Xv, yv), _ = make_split("multiclass", rng, n=400, temperature=0.5)
    _, (Xt, yt) = make_split("multiclass", rng, n=400, temperature=3.0)
    report = build_report(
        (Xv, yv), (Xt, yt), methods=["temperature"], n_bootstrap=100, random_state=6
    )
    assert report.best["sentence"].startswith(
        "Lowest test NLL: the uncalibrated scores ("
    )
    assert "no method lowers it, the closest is temperature" in report.best["sentence"]


def test_val_and_test_with_other_classes_are_refused(rng):
    val, test = make_split("multiclass", rng, n=200)
    names_val = np.array(["a", "b", "cat", "dog"])
    names_test = np.array(["b", "cat", "dog", "emu"])
    with pytest.raises(ValueError, match=r"test labels have the classes .*'emu'"):
        build_report(
            (val[0], names_val[val[1]]), (test[0], names_test[test[1]]), n_bootstrap=10
        )
    binary_val, binary_test = make_split("binary", rng, n=200)
    with pytest.raises(ValueError, match="both sets must label the score columns"):
        build_report(
            (binary_val[0], np.array(["no", "yes"])[binary_val[1]]),
            (binary_test[0], np.array(["neg", "pos"])[binary_test[1]]),
            n_bootstrap=10,
        )


@pytest.mark.parametrize(("temperature", "word"), [(2.5, "over"), (0.4, "under")])
def test_multilabel_direction_follows_the_true_temperature(temperature, word, rng):
    val, test = make_split("multilabel", rng, n=1500, temperature=temperature)
    report = build_report(val, test, n_bootstrap=10, random_state=0)
    assert report.direction().startswith(f"The uncalibrated model is {word}-confident")
    # Per label: confidence max(p, 1 - p) against thresholded accuracy.
    p = expit(test[0])
    confidence = np.maximum(p, 1 - p).mean()
    accuracy = ((p > 0.5) == (test[1] == 1)).mean()
    assert report.metadata["mean_confidence"] == pytest.approx(confidence)
    assert report.metadata["accuracy"] == pytest.approx(accuracy)


def _nll_change_cell(report, tmp_path, method):
    text = report.to_html(tmp_path / f"{method}-{id(report)}.html").read_text()
    row = text[text.index("<td>NLL</td>", text.index("Change from")) :]
    return row[: row.index("</tr>")]


def test_change_cells_are_green_when_better_and_red_when_worse(rng, tmp_path):
    # Fitted and tested on the same over-confident model: temperature scaling
    # helps.  Fitted on under-confident scores, it sharpens over-confident
    # test scores and hurts.
    val, test = make_split("multiclass", rng, n=600, temperature=3.0)
    (under, _), _ = (make_split("multiclass", rng, n=600, temperature=0.4), None)
    for fitted_on, verdict in ((val, "better"), (under, "worse")):
        report = build_report(
            fitted_on, test, methods=["temperature"], n_bootstrap=200, random_state=0
        )
        low, high, change = (
            report.metrics.loc["temperature", ("nll", s)]
            for s in ("change_low", "change_high", "change")
        )
        assert (high < 0) if verdict == "better" else (low > 0)
        cell = _nll_change_cell(report, tmp_path, verdict)
        assert f'class="{verdict}">{change:+.4f}' in cell


def test_attribute_quotes_are_escaped(rng, tmp_path):
    val, test = make_split("multilabel", rng, n=200)
    name = 'x" onload="alert(1)'
    report = build_report(
        val, test, methods={name: TemperatureScaling()}, n_bootstrap=10, random_state=0
    )
    page = Page()
    page.feed(report.to_html(tmp_path / "r.html").read_text())
    ids = [attrs.get("id") for tag, attrs in page.tags if tag == "figure"]
    assert f"figure-reliability_{name}" in ids
    assert not any("onload" in attrs for _, attrs in page.tags)


def test_figure_files_stay_unique_and_safe(rng, tmp_path):
    val, test = make_split("multilabel", rng, n=200)
    methods = {"a/b": TemperatureScaling(), "a-b": TemperatureScaling()}
    report = build_report(val, test, methods=methods, n_bootstrap=10, random_state=0)
    files = report.markdown_files()
    # README.md, the uncalibrated grid, one grid per method, the metrics chart.
    assert len(set(files)) == len(files) == 5
    assert all("/" not in f and f.endswith((".md", ".png")) for f in files)
    written = report.to_markdown(tmp_path / "md")
    assert [p.name for p in written] == files


def test_markdown_cells_cannot_fetch_or_link(rng, tmp_path):
    val, test = make_split("multiclass", rng, n=200)
    name = "![x](http://example.com/x.png) **b** `c` [d](e)"
    report = build_report(
        val, test, methods={name: TemperatureScaling()}, n_bootstrap=10, random_state=0
    )
    text = (report.to_markdown(tmp_path / "md")[0]).read_text()
    # No unescaped link or image syntax, emphasis or code span survives, but
    # for the report's own figures (local PNG files).
    own = re.compile(r"^!\[[^\n]*\]\([\w.-]+\.png\)$", re.MULTILINE)
    assert len(own.findall(text)) == 2
    text = own.sub("", text)
    assert not re.search(r"(?<!\\)\]\(", text)
    assert not re.search(r"(?<!\\)\*\*b(?<!\\)\*\*", text)
    assert not re.search(r"(?<!\\)`c(?<!\\)`", text)
    assert "!\\[x\\](http\\://example.com/x.png)" in text


def test_brier_interval_may_exceed_one(rng):
    # Confidently wrong three-class scores: Brier close to 2, its upper end
    # above 1 (the metric's range is [0, 2]).
    n = 300
    y = rng.integers(0, 3, size=n)
    wrong = (y + 1 + rng.integers(0, 2, size=n)) % 3
    logits = np.full((n, 3), -4.0)
    logits[np.arange(n), wrong] = 4.0
    logits[: n // 10] = 0.0
    report = build_report(
        (logits, y),
        (logits, y),
        methods=["temperature"],
        n_bootstrap=100,
        random_state=0,
    )
    brier = report.metrics.loc["uncalibrated", ("brier", "value")]
    high = report.metrics.loc["uncalibrated", ("brier", "high")]
    assert brier > 1.5 and high > brier > 1.0


def test_val_and_test_of_other_tasks_are_refused(rng):
    (Xv, yv), (Xt, yt) = make_split("multiclass", rng, n=200)
    indicator = np.eye(4, dtype=int)[yt]
    indicator[::5, 0] = 1  # several labels a row: multilabel
    with pytest.raises(
        ValueError, match="validation data are multiclass .* test data multilabel"
    ):
        build_report((Xv, yv), (Xt, indicator), n_bootstrap=10)
    with pytest.raises(
        ValueError, match="validation data are multilabel .* test data multiclass"
    ):
        build_report(
            (Xv, np.eye(4, dtype=int)[yv] | indicator[:1]), (Xt, yt), n_bootstrap=10
        )


def test_a_few_test_rows_are_never_significant(rng):
    (Xv, yv), (Xt, yt) = make_split("multiclass", rng, n=300, temperature=3.0)
    report = build_report(
        (Xv, yv),
        (Xt[:3], yt[:3]),
        methods=["temperature"],
        n_bootstrap=100,
        random_state=0,
    )
    assert report.best["significant"] is False
    assert "With 3 test rows the bootstrap cannot tell" in report.best["sentence"]
    assert any("only 3 test rows" in w["message"] for w in report.warnings)


def test_scoring_on_the_fitting_rows_is_warned(rng):
    val, _ = make_split("multiclass", rng, n=200)
    report = build_report(
        val, val, methods=["temperature"], n_bootstrap=10, random_state=0
    )
    assert any("same arrays" in w["message"] for w in report.warnings)
    other = build_report(*make_split("multiclass", rng, n=200), n_bootstrap=10)
    assert not any("same arrays" in w["message"] for w in other.warnings)


def test_matrix_scaling_leaves_the_defaults_when_it_cannot_be_fitted(rng):
    data = make_miscalibrated(400, 20, temperature=2.0, random_state=rng)
    val, test = (
        (data.logits[:200], data.labels[:200]),
        (data.logits[200:], data.labels[200:]),
    )
    report = build_report(val, test, n_bootstrap=10, random_state=0)
    assert report.methods == ["uncalibrated", "temperature", "vector"]
    assert any("420 parameters" in w["message"] for w in report.warnings)
    named = build_report(val, test, methods=["matrix"], n_bootstrap=10, random_state=0)
    assert named.methods == ["uncalibrated", "matrix"]


def test_markdown_cells_make_no_automatic_links():
    table = format_markdown_table(["a"], [["https://e.example/x www.e.example ~~s~~"]])
    cell = table.splitlines()[2]
    assert "https://" not in cell and "www.e" not in cell and "~~" not in cell
    assert cell == "| https\\://e.example/x www\\.e.example \\~\\~s\\~\\~ |"


# -- the class-conditional and smooth errors (issue 17) -------------------------


@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_new_errors_intervals_equal_a_loop_over_explicit_resamples(task, rng):
    # The TL-ECE (bins indexed by predicted class) and the smooth ECE (all
    # resamples smoothed at once, a bandwidth per resample) against the slow
    # way: each resample's rows drawn out and the metric function called on
    # them, with the same seed; the intervals then follow the documented
    # rule (the replicates' spread around their median, around the estimate,
    # cut at [0, 1]).
    val, test = make_split(task, rng, n=120)
    X_test, y_test = test
    n_bootstrap, seed, level = 40, int(rng.integers(2**31)), 0.9
    report = build_report(
        val, test, n_bootstrap=n_bootstrap, random_state=seed, confidence_level=level
    )
    counts = np.concatenate(
        list(bootstrap_counts(len(y_test), n_bootstrap, np.random.default_rng(seed)))
    )
    fits = independent_fits(DEFAULTS[task], val)
    scores = [X_test] + [f.transform(X_test) for f in fits.values()]
    for name in ("ece_top_label_conditional", "smooth_ece"):
        metric = METRICS[name]
        options = {"n_bins": 15} if "n_bins" in metric.options else {}
        loop = np.empty((n_bootstrap, len(scores)))
        for b in range(n_bootstrap):
            rows = np.repeat(np.arange(len(y_test)), counts[b].astype(int))
            for m, s in enumerate(scores):
                loop[b, m] = metric(
                    y_test[rows], s[rows], input_type="logits", **options
                )
        j = REPORT_METRICS.index(name)
        np.testing.assert_allclose(report.replicates[:, :, j], loop, atol=1e-9)
        estimate = np.array(
            [metric(y_test, s, input_type="logits", **options) for s in scores]
        )
        low, mid, high = np.quantile(loop, [0.05, 0.5, 0.95], axis=0)
        table = report.metrics
        np.testing.assert_allclose(
            table.loc[report.methods, (name, "value")], estimate, rtol=1e-9
        )
        np.testing.assert_allclose(
            table.loc[report.methods, (name, "low")],
            np.clip(estimate - (mid - low), 0.0, 1.0),
            atol=1e-9,
        )
        np.testing.assert_allclose(
            table.loc[report.methods, (name, "high")],
            np.clip(estimate + (high - mid), 0.0, 1.0),
            atol=1e-9,
        )
        paired = loop[:, 1:] - loop[:, :1]
        change = estimate[1:] - estimate[0]
        low, mid, high = np.quantile(paired, [0.05, 0.5, 0.95], axis=0)
        np.testing.assert_allclose(
            table.loc[report.methods[1:], (name, "change_low")],
            change - (mid - low),
            atol=1e-9,
        )


def test_multilabel_ece_is_the_hand_computed_classwise_error(rng):
    # Multilabel data has no top label: the report's ECE is the classwise
    # one, the mean over labels of each label's binned error, worked out
    # here with numpy from the bin rule (e_k, e_{k+1}], the first bin
    # holding 0.
    val, test = make_split("multilabel", rng, n=150)
    X_test, y_test = test
    report = build_report(val, test, n_bootstrap=30, random_state=0)
    P = expit(X_test)
    edges = np.arange(16) / 15
    errors = []
    for k in range(P.shape[1]):
        index = np.clip(np.searchsorted(edges, P[:, k], side="left") - 1, 0, 14)
        gap = 0.0
        for b in range(15):
            rows = index == b
            if rows.any():
                gap += rows.mean() * abs(y_test[rows, k].mean() - P[rows, k].mean())
        errors.append(gap)
    value = report.metrics.loc["uncalibrated", ("ece", "value")]
    assert value == pytest.approx(np.mean(errors), rel=1e-12)
    low, high = (
        report.metrics.loc["uncalibrated", ("ece", s)] for s in ("low", "high")
    )
    assert np.isfinite([low, high]).all() and low <= value <= high
