"""Tests for the evaluation engine and the metric registry's facts.

The chunked engine is checked against the metric functions on the whole
array (every registry entry, every task, both binnings, with and without
weights, from memory-mapped files), the means against scikit-learn, and a
whole-array metric added to the registry against its own function on the
whole input: through ``calibrate evaluate --chunk-rows`` and the report.
"""

import json
import warnings

import jsonschema
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

from calibrate import CalibrationWarning, TemperatureScaling
from calibrate.cli import main
from calibrate.datasets import (
    make_miscalibrated,
    make_miscalibrated_binary,
    make_miscalibrated_multilabel,
)
from calibrate.metrics import (
    METRICS,
    Metric,
    evaluate,
    evaluate_calibrator,
    register_metric,
)
from calibrate.metrics._predictions import Predictions
from calibrate.report import REPORT_SCHEMA, build_report
from calibrate.report._bootstrap import bootstrap_counts, replicate_metrics

CASES = [(name, task) for name, m in METRICS.items() for task in sorted(m.tasks)]


def _data(task, n=1000, seed=0):
    if task == "binary":
        d = make_miscalibrated_binary(n, temperature=2.0, random_state=seed)
    elif task == "multiclass":
        d = make_miscalibrated(n, 6, temperature=2.0, random_state=seed)
    else:
        d = make_miscalibrated_multilabel(n, 4, temperature=2.0, random_state=seed)
    return d.labels, d.logits


def _whole(name, y, X, **kwargs):
    metric = METRICS[name]
    options = {k: kwargs.pop(k) for k in ("n_bins", "strategy") if k in kwargs}
    options = {k: v for k, v in options.items() if k in metric.options}
    return metric(y, X, **kwargs, **options)


# -- chunked equals whole, for every registry entry ---------------------------


@pytest.mark.parametrize(("name", "task"), CASES)
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_equals_whole_for_every_metric(name, task, strategy, weighted, rng):
    y, X = _data(task)
    w = rng.integers(0, 4, size=len(y)).astype(float) if weighted else None
    whole = _whole(
        name, y, X, input_type="logits", sample_weight=w, n_bins=10, strategy=strategy
    )
    for rows in (1, 97, 10**6):  # one row per chunk, uneven chunks, one chunk
        got = evaluate(
            y,
            X,
            metrics=[name],
            input_type="logits",
            sample_weight=w,
            n_bins=10,
            strategy=strategy,
            chunk_rows=rows,
        )
        assert list(got) == [name]
        assert got[name] == pytest.approx(whole, rel=1e-12, abs=1e-15), rows


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_memory_mapped_float32_probabilities(task, tmp_path):
    y, z = _data(task, n=3000)
    if task == "multiclass":
        P = np.exp(z - z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
    else:
        P = 1 / (1 + np.exp(-z))
    np.save(tmp_path / "p.npy", P.astype(np.float32))
    mapped = np.load(tmp_path / "p.npy", mmap_mode="r")
    got = evaluate(y, mapped, chunk_rows=256, strategy="quantile")
    names = [n for n, m in METRICS.items() if task in m.tasks]
    assert list(got) == names
    for name in names:
        whole = _whole(name, y, np.asarray(mapped), strategy="quantile")
        assert got[name] == pytest.approx(whole, rel=1e-12, abs=1e-15), name


def test_means_equal_scikit_learn(rng):
    # An independent reference for the per-row means, chunked.
    y, z = _data("multiclass", n=2000)
    P = np.exp(z - z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    w = rng.uniform(0.5, 2.0, size=len(y))
    got = evaluate(
        y,
        P,
        metrics="nll,accuracy,classification_error",
        sample_weight=w,
        chunk_rows=333,
    )
    assert got["nll"] == pytest.approx(log_loss(y, P, sample_weight=w), rel=1e-12)
    acc = accuracy_score(y, P.argmax(axis=1), sample_weight=w)
    assert got["accuracy"] == pytest.approx(acc, rel=1e-12)
    assert got["classification_error"] == pytest.approx(1 - acc, rel=1e-12)
    yb, zb = _data("binary", n=2000)
    pb = 1 / (1 + np.exp(-zb))
    got = evaluate(yb, pb, metrics=["brier"], chunk_rows=100)
    assert got["brier"] == pytest.approx(brier_score_loss(yb, pb), rel=1e-12)


def test_string_labels_sorted_by_class_read_alike_in_every_chunk(rng):
    z = np.sort(rng.normal(size=1000))
    labels = np.where(np.arange(1000) < 600, "neg", "pos")
    got = evaluate(labels, z, input_type="logits", chunk_rows=128)
    for name, value in got.items():
        assert value == pytest.approx(
            METRICS[name](labels, z, input_type="logits"), rel=1e-12
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": ["ece", "nope"]}, "unknown metric 'nope'"),
        ({"metrics": "ece_positive"}, "ece_positive is defined for binary data only"),
        ({"metrics": []}, "names no metric"),
        ({"chunk_rows": 0}, "chunk_rows must be None or an integer >= 1; got 0"),
        ({"chunk_rows": 2.5}, "got 2.5"),
        ({"n_bins": 0}, "n_bins"),
        ({"strategy": "equal"}, "strategy"),
        ({"sample_weight": [1.0, 2.0]}, "sample_weight"),
    ],
)
def test_bad_arguments(kwargs, message):
    y, X = _data("multiclass", n=50)
    with pytest.raises(ValueError, match=message):
        evaluate(y, X, input_type="logits", **kwargs)


def test_debiased_error_refuses_fractional_weights_chunked():
    y, X = _data("multiclass", n=50)
    w = np.ones(50)
    w[7] = 0.5
    with pytest.raises(ValueError, match="whole numbers; got 0.5 at row 7"):
        evaluate(
            y,
            X,
            metrics="ece_l2_debiased",
            input_type="logits",
            sample_weight=w,
            chunk_rows=10,
        )


def test_lengths_must_match():
    y, X = _data("multiclass", n=50)
    with pytest.raises(ValueError, match="different numbers of rows"):
        evaluate(y[:40], X, input_type="logits")


# -- evaluate_calibrator: log-probabilities, zero probabilities ---------------


class _Table:
    """A fitted probability-space map with a zero entry: P[row's class column]."""

    task_ = "multiclass"
    classes_ = np.arange(3)

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.proba[np.asarray(X, dtype=int)[:, 0]])


def test_zero_probability_of_another_class_is_scored_finite():
    cal = _Table([[0.5, 0.5, 0.0], [0.0, 0.8, 0.2], [0.25, 0.25, 0.5]])
    X = np.array([[0], [1], [2], [1]])
    y = np.array([0, 1, 2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = evaluate_calibrator(cal, X, y, metrics="nll,brier", chunk_rows=3)
    expected = -np.mean(np.log([0.5, 0.8, 0.5, 0.2]))
    assert got["nll"] == pytest.approx(expected, rel=1e-14)
    brier = np.mean([0.25 + 0.25, 0.04 + 0.04, 0.0625 * 2 + 0.25, 0.64 + 0.64])
    assert got["brier"] == pytest.approx(brier, rel=1e-14)


def test_zero_probability_of_the_true_class_gives_infinite_nll():
    cal = _Table([[0.5, 0.5, 0.0], [0.0, 0.8, 0.2], [0.25, 0.25, 0.5]])
    X = np.array([[0], [1], [2]])
    y = np.array([2, 1, 2])  # row 0: the true class has probability 0
    with pytest.warns(
        CalibrationWarning, match="1 observed outcomes have probability 0"
    ):
        got = evaluate_calibrator(cal, X, y, metrics=["nll", "accuracy"])
    assert got["nll"] == np.inf
    assert got["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_evaluate_calibrator_equals_the_metrics_of_its_logits(task):
    y, X = _data(task, n=1500)
    cal = TemperatureScaling().fit(X, y)
    got = evaluate_calibrator(cal, X, y, chunk_rows=200, n_bins=12)
    logits = cal.transform(X)
    assert set(got) == {n for n, m in METRICS.items() if task in m.tasks}
    for name, value in got.items():
        expected = _whole(name, y, logits, input_type="logits", n_bins=12)
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), name


# -- the registry ---------------------------------------------------------------


def test_every_entry_states_its_facts():
    for name, m in METRICS.items():
        assert m.name == name and m.label and m.description
        assert m.combine in ("mean", "binned", "whole")
        assert m.direction in ("lower", "higher")
        assert m.range[0] < m.range[1]
        assert m.options <= {"n_bins", "strategy"}
        assert (m.terms is not None) == (m.combine == "mean")
        assert bool(m.binned) == (m.combine == "binned")
        assert m.needs == m.options  # the old name still reads
    assert METRICS["accuracy"].direction == "higher"
    assert METRICS["ece"].percent and not METRICS["nll"].percent


def test_register_metric_refuses_a_duplicate_unless_replace(monkeypatch):
    monkeypatch.setitem(METRICS, "nll", METRICS["nll"])  # restored afterwards
    twin = Metric("nll", METRICS["brier"].function, combine="whole")
    with pytest.raises(ValueError, match="'nll' is already registered; pass replace"):
        register_metric(twin)
    assert register_metric(twin, replace=True) is twin and METRICS["nll"] is twin
    with pytest.raises(TypeError, match="must be a Metric"):
        register_metric("nll")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"combine": "median"}, "combine must be one of"),
        ({"direction": "up"}, "direction must be one of"),
        ({"options": {"reduction"}}, "options must be among"),
        ({"tasks": {"regression"}}, "tasks must be a non-empty subset"),
        ({"range": (1.0, 0.0)}, "low < high"),
        ({"combine": "mean"}, "needs terms"),
        ({"combine": "binned"}, "needs binned="),
        (
            {"combine": "mean", "terms": len, "resampled": len},
            "only for combine='whole'",
        ),
        ({"resampled": 3}, "resampled must be None or a callable"),
    ],
)
def test_malformed_entries_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Metric("x", len, **kwargs)


# -- a whole-array metric added to the registry ---------------------------------


def confidence_auroc(y_true, y_prob, *, sample_weight=None, input_type="probs"):
    """AUROC of the top-label confidence separating right from wrong predictions.

    A rank statistic: not a mean of per-row terms, so an average over chunks
    differs from it.
    """
    pred = Predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    confidence, correct = pred.top_label()
    return float(roc_auc_score(correct, confidence, sample_weight=pred.weights))


AUROC = Metric(
    "confidence_auroc",
    confidence_auroc,
    tasks={"binary", "multiclass"},
    description="AUROC of the confidence for right against wrong predictions",
    label="Confidence AUROC",
    range=(0.0, 1.0),
    direction="higher",
    combine="whole",
    report=True,
)


@pytest.fixture
def with_auroc(monkeypatch):
    """The registry with AUROC added, restored after the test."""
    monkeypatch.setitem(METRICS, AUROC.name, AUROC)
    return AUROC


def test_cli_chunked_evaluate_computes_a_whole_metric_on_the_whole_file(
    with_auroc, tmp_path, capsys
):
    y, X = _data("multiclass", n=1200, seed=3)
    np.save(tmp_path / "s.npy", X)
    np.save(tmp_path / "y.npy", y)
    argv = ["evaluate", str(tmp_path / "s.npy"), str(tmp_path / "y.npy"), "--json"]
    assert main([*argv, "--chunk-rows", "50"]) == 0
    doc = json.loads(capsys.readouterr().out)
    value = doc["metrics"]["confidence_auroc"]["value"]
    whole = confidence_auroc(y, X, input_type="logits")
    assert value == whole
    chunk_mean = np.mean(
        [
            confidence_auroc(y[i : i + 50], X[i : i + 50], input_type="logits")
            for i in range(0, 1200, 50)
        ]
    )
    assert abs(chunk_mean - whole) > 1e-3  # a chunk average would be wrong
    # The help lists it, read from the registry.
    assert main(["evaluate", "--help"]) == 0
    assert "confidence_auroc" in capsys.readouterr().out


def test_report_computes_a_whole_metric_on_the_whole_test_set(with_auroc, tmp_path):
    (yv, Xv), (yt, Xt) = (
        _data("multiclass", n=800, seed=4),
        _data("multiclass", n=800, seed=5),
    )
    report = build_report(
        (Xv, yv), (Xt, yt), methods=["temperature"], n_bootstrap=50, random_state=0
    )
    table = report.metrics
    row = table.loc["uncalibrated", "confidence_auroc"]
    assert row["value"] == pytest.approx(confidence_auroc(yt, Xt, input_type="logits"))
    fitted = TemperatureScaling().fit(Xv, yv)
    after = confidence_auroc(yt, fitted.transform(Xt), input_type="logits")
    assert table.loc["temperature", ("confidence_auroc", "value")] == pytest.approx(
        after, rel=1e-9
    )
    for method in table.index:
        low, value, high = (
            table.loc[method, ("confidence_auroc", s)] for s in ("low", "value", "high")
        )
        assert np.isfinite(low) and low < value < high <= 1.0
    # The replicates are the metric on the resampled rows.
    counts = next(bootstrap_counts(len(yt), 50, np.random.default_rng(0)))
    rows = np.repeat(np.arange(len(yt)), counts[3].astype(int))
    column = list(table.columns.get_level_values("metric").unique()).index(
        "confidence_auroc"
    )
    assert report.replicates[3, 0, column] == pytest.approx(
        confidence_auroc(yt[rows], Xt[rows], input_type="logits"), rel=1e-12
    )
    # Shown with its label and interval, and carried by the JSON.
    report.to_markdown(tmp_path / "md")
    text = (tmp_path / "md" / "README.md").read_text()
    assert "Confidence AUROC" in text
    document = report.to_dict()
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(document)
    values = document["metrics"][0]["values"]["confidence_auroc"]
    assert values["low"] < values["value"] < values["high"]
    assert document["metric_descriptions"]["confidence_auroc"] == AUROC.description


def test_bootstrap_replicates_equal_the_weighted_metrics(rng):
    # Replicate b of every report metric equals the library metric with the
    # resample counts as weights (the binned ones through one formula).
    for task in ("binary", "multiclass", "multilabel"):
        y, X = _data(task, n=400, seed=6)
        names = [n for n, m in METRICS.items() if task in m.tasks]
        reps = replicate_metrics(
            y,
            [(X, "logits")],
            n_bins=10,
            n_bootstrap=5,
            rng=np.random.default_rng(1),
            metrics=names,
        )
        counts = next(bootstrap_counts(len(y), 5, np.random.default_rng(1)))
        for b in range(5):
            for j, name in enumerate(names):
                expected = _whole(
                    name,
                    y,
                    X,
                    input_type="logits",
                    sample_weight=counts[b],
                    n_bins=10,
                )
                assert reps[b, 0, j] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_classwise_equal_mass_bins_of_different_counts(rng):
    # Label 0 has tied scores, so fewer equal-mass bins than label 1: the
    # classwise error is still the mean of the per-label errors, each worked
    # out here from the bins of that label alone.
    from calibrate.binning import bin_stats

    p0 = np.where(rng.uniform(size=400) < 0.7, 0.5, rng.uniform(size=400))
    P = np.column_stack((p0, rng.uniform(size=400)))
    Y = (rng.uniform(size=P.shape) < P).astype(int)
    errors, widths = [], set()
    for k in range(2):
        stats = bin_stats(P[:, k], Y[:, k], n_bins=8, strategy="quantile")
        widths.add(stats.n_bins)
        filled = stats.nonempty
        gap = np.abs(stats.mean_target - stats.mean_score)[filled]
        errors.append(float(np.sum(stats.fraction[filled] * gap)))
    assert len(widths) == 2  # the case this test is about
    options = {"metrics": "ece_classwise", "strategy": "quantile", "n_bins": 8}
    got = evaluate(Y, P, **options)
    assert got["ece_classwise"] == pytest.approx(np.mean(errors), rel=1e-12)
    assert got == evaluate(Y, P, chunk_rows=7, **options)
