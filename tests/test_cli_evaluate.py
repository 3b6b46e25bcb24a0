"""Tests for ``calibrate evaluate``: the table and JSON equal the library's metrics."""

import json
import os
import tracemalloc

import numpy as np
import pytest

from calibrate import CalibrationWarning, PlattScaling, TemperatureScaling
from calibrate.cli import main
from calibrate.cli._common import read_inputs
from calibrate.io import save_calibrator
from calibrate.metrics import METRICS, evaluate


def table_rows(out):
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] in METRICS:
            rows[fields[0]] = fields[1:]
    return rows


def expected_value(name, arrays, scores=None, input_type="logits", **options):
    metric = METRICS[name]
    options = {k: v for k, v in options.items() if k in metric.needs}
    scores = arrays["test_scores"] if scores is None else scores
    return metric(arrays["test_labels"], scores, input_type=input_type, **options)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_json_carries_every_metric_that_applies(kind, write_scores, capsys):
    files = write_scores(kind)
    args, arrays = files["npy"], files["arrays"]
    assert main(["evaluate", args["test_scores"], args["test_labels"], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    applicable = {n for n, m in METRICS.items() if kind in m.tasks}
    assert set(doc["metrics"]) == applicable
    assert set(doc["not_applicable"]) == set(METRICS) - applicable
    assert set(doc["metrics"]) | set(doc["not_applicable"]) == set(METRICS)
    if kind == "binary":
        assert doc["not_applicable"] == {}  # every registered metric is carried
    for name, entry in doc["metrics"].items():
        # The command sums bins block by block (the engine), the function
        # over the whole array: equal to the engine's guarantee, 1e-12.
        assert entry["value"] == pytest.approx(
            expected_value(name, arrays, n_bins=15, strategy="uniform"),
            rel=1e-12,
            abs=1e-15,
        )
        assert entry["description"] == METRICS[name].description
    assert doc["task"] == kind and doc["model"] is None
    assert doc["n_samples"] == len(arrays["test_labels"])


def test_table_with_a_model_has_before_and_after(write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    args, arrays = files["npz"], files["arrays"]
    calibrator = TemperatureScaling().fit(arrays["val_scores"], arrays["val_labels"])
    save_calibrator(calibrator, tmp_path / "model.json")
    argv = [
        "evaluate",
        args["test_scores"],
        args["test_labels"],
        "--model",
        str(tmp_path / "model.json"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert "before" in out and "after" in out
    proba = calibrator.predict_proba(arrays["test_scores"])
    applicable = [n for n, m in METRICS.items() if "multiclass" in m.tasks]
    assert list(rows) == applicable
    for name in applicable:
        before = expected_value(name, arrays)
        after = expected_value(name, arrays, scores=proba, input_type="probs")
        assert float(rows[name][0]) == pytest.approx(before, rel=1e-5, abs=1e-12)
        assert float(rows[name][1]) == pytest.approx(after, rel=1e-5, abs=1e-12)
    assert "ece_positive (defined for binary data only)" in out
    assert float(rows["nll"][1]) < float(rows["nll"][0])


def test_json_with_a_model_on_binary_probabilities(write_scores, tmp_path, capsys):
    files = write_scores("binary")
    arrays = files["arrays"]
    to_proba = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    val, test = to_proba(arrays["val_scores"]), to_proba(arrays["test_scores"])
    np.save(tmp_path / "test_p.npy", test)
    calibrator = PlattScaling(input_type="probs").fit(val, arrays["val_labels"])
    save_calibrator(calibrator, tmp_path / "platt.json")
    argv = [
        "evaluate",
        str(tmp_path / "test_p.npy"),
        files["npy"]["test_labels"],
        "--model",
        str(tmp_path / "platt.json"),
        "--json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_type"] == "probs"
    calibrated = calibrator.predict_proba(test)[:, 1]
    for name, entry in doc["metrics"].items():
        assert entry["before"] == expected_value(
            name, arrays, test, "probs", n_bins=15, strategy="uniform"
        )
        assert entry["after"] == pytest.approx(
            expected_value(
                name, arrays, calibrated, "probs", n_bins=15, strategy="uniform"
            ),
            rel=1e-9,
            abs=1e-12,
        )


def test_binning_options_and_metric_selection(write_scores, capsys):
    files = write_scores("multiclass")
    args, arrays = files["npy"], files["arrays"]
    argv = [
        "evaluate",
        args["test_scores"],
        args["test_labels"],
        "--json",
        "--n-bins",
        "10",
        "--strategy",
        "quantile",
        "--metrics",
        "ece,nll",
        "--metrics",
        "mce,ece",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["metrics"]) == ["ece", "nll", "mce"]
    assert doc["n_bins"] == 10 and doc["strategy"] == "quantile"
    for name in ("ece", "mce"):
        value = expected_value(name, arrays, n_bins=10, strategy="quantile")
        assert doc["metrics"][name]["value"] == value
        assert value != expected_value(name, arrays, n_bins=15, strategy="uniform")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "ece,acc"], "unknown metric 'acc'"),
        (["--metrics", "ece_positive"], "ece_positive is defined for binary data"),
        (["--metrics", ","], "no metric named"),
        (["--model", "absent.json"], "absent.json"),
    ],
)
def test_bad_options_exit_1(
    extra, message, write_scores, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    args = write_scores("multiclass")["npy"]
    status = main(["evaluate", args["test_scores"], args["test_labels"], *extra])
    out, err = capsys.readouterr()
    # An unknown metric name, or none, is a usage error (exit 2), as in every
    # command; a metric these data do not have is a runtime error.
    usage = "unknown metric" in message or "no metric" in message
    assert status == (2 if usage else 1) and out == ""
    assert err.count("\n") == 1 and message in err


def test_model_and_data_must_agree(write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    save_calibrator(
        TemperatureScaling().fit(arrays["val_scores"], arrays["val_labels"]),
        tmp_path / "model.json",
    )
    args = files["npy"]
    argv = [
        "evaluate",
        args["test_scores"],
        args["test_labels"],
        "--model",
        str(tmp_path / "model.json"),
    ]
    assert main([*argv, "--input-type", "probs"]) == 1
    assert "--input-type probs disagrees with" in capsys.readouterr().err
    other = write_scores("multilabel", seed=1)["npy"]
    argv[1:3] = [other["test_scores"], other["test_labels"]]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "is multilabel data with 5 score column(s)" in err
    assert "fitted on multiclass data with 10" in err


def test_bad_inputs_name_the_file(write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    proba = np.full((10, 3), 0.3)
    np.save(tmp_path / "p.npy", proba)
    np.save(tmp_path / "y.npy", np.zeros(10, dtype=int))
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "p.npy"),
                str(tmp_path / "y.npy"),
                "--input-type",
                "probs",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 'p.npy'}: rows of multiclass probabilities must sum to 1" in err
    )
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    np.save(tmp_path / "y0.npy", np.zeros(0, dtype=int))
    assert (
        main(["evaluate", str(tmp_path / "empty.npy"), str(tmp_path / "y0.npy")]) == 1
    )
    assert "empty.npy is empty" in capsys.readouterr().err
    np.save(tmp_path / "strings.npy", np.array([["a", "b"]]))
    assert (
        main(["evaluate", str(tmp_path / "strings.npy"), files["npy"]["test_labels"]])
        == 1
    )
    assert "strings.npy must hold real numbers" in capsys.readouterr().err
    del arrays


def test_memory_mapped_file_is_read_in_chunks(rng, tmp_path, capsys):
    # 200,000 x 100 float32 logits: an 80 MB file.  The chunked metrics read it
    # through the memory map; what they allocate stays a fraction of it.
    n, k = 200_000, 100
    logits = 3 * rng.standard_normal((n, k), dtype=np.float32)
    labels = rng.integers(0, k, size=n)
    np.save(tmp_path / "big.npy", logits)
    np.save(tmp_path / "big_y.npy", labels)
    chunked = ["ece", "nll", "brier", "classification_error"]
    expected = {
        name: METRICS[name](labels, logits, input_type="logits") for name in chunked
    }
    del logits
    argv = [
        "evaluate",
        str(tmp_path / "big.npy"),
        str(tmp_path / "big_y.npy"),
        "--json",
        "--metrics",
        ",".join(chunked),
    ]
    tracemalloc.start()
    try:
        status = main(argv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 0
    doc = json.loads(capsys.readouterr().out)
    for name in chunked:
        assert doc["metrics"][name]["value"] == pytest.approx(expected[name], rel=1e-12)
    file_size = os.path.getsize(tmp_path / "big.npy")
    assert peak < 0.25 * file_size, (peak, file_size)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("input_type", ["logits", "probs"])
def test_chunked_metrics_equal_the_whole_array(
    kind, input_type, write_scores, tmp_path
):
    files = write_scores(kind)
    arrays = files["arrays"]
    scores = arrays["test_scores"]
    if input_type == "probs":
        if kind == "multiclass":
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        else:
            scores = 1 / (1 + np.exp(-scores))
    np.save(tmp_path / "s.npy", scores)
    inputs = read_inputs(
        str(tmp_path / "s.npy"), files["npy"]["test_labels"], input_type=input_type
    )
    names = sorted(n for n, m in METRICS.items() if kind in m.tasks)
    for strategy in ("uniform", "quantile"):
        # 2,000 rows in chunks of 97: 21 chunks, the last one short.
        chunked = evaluate(
            inputs.encoded,
            inputs.scores,
            metrics=names,
            input_type=input_type,
            n_bins=10,
            strategy=strategy,
            chunk_rows=97,
        )
        assert list(chunked) == names
        for name in names:
            metric = METRICS[name]
            options = {"n_bins": 10, "strategy": strategy} if metric.needs else {}
            whole = metric(
                arrays["test_labels"], scores, input_type=input_type, **options
            )
            assert chunked[name] == pytest.approx(whole, rel=1e-12, abs=1e-15), name


def test_chunks_holding_one_class_of_string_labels(rng, tmp_path):
    # Sorted by label, the first chunks hold only "neg": the labels must be
    # encoded over the whole file, not chunk by chunk.
    z = np.sort(rng.normal(size=1000))
    labels = np.where(np.arange(1000) < 600, "neg", "pos")
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", labels)
    inputs = read_inputs(
        str(tmp_path / "z.npy"), str(tmp_path / "y.npy"), input_type="logits"
    )
    names = ["nll", "ece", "ece_positive", "brier"]
    chunked = evaluate(
        inputs.encoded,
        inputs.scores,
        metrics=names,
        input_type="logits",
        n_bins=15,
        strategy="uniform",
        chunk_rows=128,
    )
    for name in names:
        assert chunked[name] == pytest.approx(
            METRICS[name](labels, z, input_type="logits"), rel=1e-12
        ), name


def test_chunked_warnings_are_reported_once(rng, tmp_path, capsys):
    # Probabilities of exactly 0 for observed outcomes, in every chunk: one
    # warning line that says it came from many chunks.
    proba = np.full((1000, 2), 0.5)
    labels = rng.integers(0, 2, size=1000)
    proba[::10] = np.where(labels[::10, None] == 0, [0.0, 1.0], [1.0, 0.0])
    proba[1:100:3] = proba[0]  # the first chunk has more: the texts differ
    labels[1:100:3] = labels[0]
    np.save(tmp_path / "p.npy", proba)
    np.save(tmp_path / "y.npy", labels)
    inputs = read_inputs(
        str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), input_type="probs"
    )
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = evaluate(
            inputs.encoded,
            inputs.scores,
            metrics=["nll"],
            input_type="probs",
            n_bins=15,
            strategy="uniform",
            chunk_rows=100,
        )
    (warning,) = caught
    assert warning.category is CalibrationWarning
    assert "reported for 10 chunks of rows" in str(warning.message)
    assert str(warning.message).startswith("40 observed outcomes")
    with pytest.warns(CalibrationWarning, match="130 observed outcomes"):
        whole = METRICS["nll"](labels, proba)
    assert values["nll"] == pytest.approx(whole, rel=1e-12)


def test_memory_mapped_file_with_few_classes(rng, tmp_path, monkeypatch, capsys):
    # 2,000,000 x 10 float32: an 80 MB file whose per-row arrays alone (8 MB
    # each) would add up to more than the file if computed on the whole.
    n, k = 2_000_000, 10
    np.save(tmp_path / "s.npy", 3 * rng.standard_normal((n, k), dtype=np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, k, size=n))
    argv = [
        "evaluate",
        str(tmp_path / "s.npy"),
        str(tmp_path / "y.npy"),
        "--json",
        "--metrics",
        "ece,nll,brier,mce,ece_l2_debiased",
    ]
    tracemalloc.start()
    try:
        assert main(argv) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["metrics"]) == {"ece", "nll", "brier", "mce", "ece_l2_debiased"}
    size = os.path.getsize(tmp_path / "s.npy")
    assert peak < 0.5 * size, (peak, size)


def test_column_of_labels_is_read_once_without_warnings(write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    np.save(tmp_path / "col.npy", arrays["test_labels"][:, None])
    assert (
        main(
            [
                "evaluate",
                files["npy"]["test_scores"],
                str(tmp_path / "col.npy"),
                "--json",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert err == "" and doc["warnings"] == []
    assert doc["metrics"]["nll"]["value"] == expected_value("nll", arrays)


def test_model_of_other_classes_is_refused(rng, tmp_path, capsys):
    z = rng.normal(size=400)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "bc.npy", np.where(z + rng.logistic(size=400) > 0, "c", "b"))
    np.save(tmp_path / "np.npy", np.where(z > 0, "pos", "neg"))
    save_calibrator(
        PlattScaling().fit(z, np.load(tmp_path / "bc.npy")), tmp_path / "m.json"
    )
    argv = [
        "evaluate",
        str(tmp_path / "z.npy"),
        str(tmp_path / "np.npy"),
        "--model",
        str(tmp_path / "m.json"),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "has the classes ['neg', 'pos'], but" in err
    assert "was fitted on ['b', 'c']" in err


def test_chunks_of_a_many_class_file_raise_no_warning(rng, tmp_path, capsys):
    # 1,000 classes in chunks of 50 rows: every chunk has mostly distinct labels.
    logits = rng.normal(size=(400, 1000))
    labels = rng.integers(0, 1000, size=400)
    np.save(tmp_path / "s.npy", logits)
    np.save(tmp_path / "y.npy", labels)
    inputs = read_inputs(
        str(tmp_path / "s.npy"), str(tmp_path / "y.npy"), input_type="logits"
    )
    import warnings

    names = [n for n, m in METRICS.items() if "multiclass" in m.tasks]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = evaluate(
            inputs.encoded,
            inputs.scores,
            metrics=names,
            input_type="logits",
            n_bins=15,
            strategy="uniform",
            chunk_rows=50,
        )
    assert [str(w.message) for w in caught] == []
    assert values["nll"] == pytest.approx(
        METRICS["nll"](labels, logits, input_type="logits"), rel=1e-12
    )


def test_model_of_another_task_with_the_same_columns(write_scores, tmp_path, capsys):
    # A 5-class model and 5-label multilabel data: same columns, same classes
    # 0..4, different tasks.
    from calibrate.datasets import make_miscalibrated

    data = make_miscalibrated(500, 5, random_state=0)
    save_calibrator(
        TemperatureScaling().fit(data.logits, data.labels), tmp_path / "m.json"
    )
    other = write_scores("multilabel")["npy"]
    argv = [
        "evaluate",
        other["test_scores"],
        other["test_labels"],
        "--model",
        str(tmp_path / "m.json"),
    ]
    assert main(argv) == 1
    assert "is multilabel data with 5 score column(s), but" in capsys.readouterr().err


def test_evaluate_reads_string_labels_alike_in_every_chunk(
    rng, tmp_path, monkeypatch, capsys
):
    # Through the command, with chunks of 128 rows: the first chunks hold
    # only "neg".
    z = np.sort(rng.normal(size=1000))
    labels = np.where(np.arange(1000) < 600, "neg", "pos")
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", labels)
    argv = ["evaluate", str(tmp_path / "z.npy"), str(tmp_path / "y.npy"), "--json"]
    assert main([*argv, "--chunk-rows", "128"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for name, entry in doc["metrics"].items():
        expected = METRICS[name](labels, z, input_type="logits")
        assert entry["value"] == pytest.approx(expected, rel=1e-12), name


def test_multilabel_ece_is_a_number_the_classwise_error(write_scores, capsys):
    # No top label in multilabel data: the ECE is the classwise one there,
    # the mean over labels of each label's ECE (each label's own function).
    from calibrate.metrics import expected_calibration_error

    files = write_scores("multilabel", n=600)
    args, arrays = files["npy"], files["arrays"]
    assert main(["evaluate", args["test_scores"], args["test_labels"], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    Y, z = arrays["test_labels"], arrays["test_scores"]
    per_label = [
        expected_calibration_error(
            Y[:, k], z[:, k], input_type="logits", reduction="positive"
        )
        for k in range(Y.shape[1])
    ]
    assert doc["metrics"]["ece"]["value"] == pytest.approx(np.mean(per_label))
    assert "ece" not in doc["not_applicable"]
    assert main(["evaluate", args["test_scores"], args["test_labels"]]) == 0
    table = capsys.readouterr().out
    (line,) = [row for row in table.splitlines() if row.split()[:1] == ["ece"]]
    assert float(line.split()[1]) == pytest.approx(np.mean(per_label), abs=1e-4)
