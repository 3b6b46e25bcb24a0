"""Tests for ``calibrate evaluate``: the table and JSON equal the library's metrics."""

import json
import os
import tracemalloc

import numpy as np
import pytest

from calibrate import PlattScaling, TemperatureScaling
from calibrate.cli import main
from calibrate.io import save_calibrator
from calibrate.metrics import METRICS


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
        assert entry["value"] == expected_value(
            name, arrays, n_bins=15, strategy="uniform"
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
        (["--metrics", "ece,accuracy"], "unknown metric 'accuracy'"),
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
    assert status == 1 and out == ""
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
