"""Tests for ``calibrate apply``: output equal to the library's, atomic writes."""

import json
import os

import numpy as np
import pytest

import calibrate.cli.apply
from calibrate import (
    CalibrationWarning,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
)
from calibrate.cli import main
from calibrate.io import save_calibrator


def fitted(cls, arrays, path, **params):
    calibrator = cls(**params).fit(arrays["val_scores"], arrays["val_labels"])
    save_calibrator(calibrator, path)
    return calibrator


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("multiclass", TemperatureScaling),
        ("multiclass", VectorScaling),
        ("binary", PlattScaling),
        ("multilabel", PlattScaling),
    ],
)
@pytest.mark.parametrize(
    ("output", "method"),
    [
        (None, "predict_proba"),
        ("probs", "predict_proba"),
        ("log_probs", "predict_log_proba"),
        ("logits", "transform"),
    ],
)
@pytest.mark.parametrize("container", ["npy", "npz"])
def test_apply_writes_what_the_library_predicts(
    kind, cls, output, method, container, write_scores, tmp_path, capsys
):
    files = write_scores(kind)
    arrays = files["arrays"]
    model = tmp_path / "model.json"
    calibrator = fitted(cls, arrays, model)
    out = tmp_path / "calibrated.npy"
    argv = ["apply", str(model), files[container]["test_scores"], "-o", str(out)]
    if output is not None:
        argv += ["--kind", output]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    written = np.load(out, allow_pickle=False)
    expected = getattr(calibrator, method)(arrays["test_scores"])
    assert written.dtype == np.float64
    assert written.shape == expected.shape
    assert np.array_equal(written, expected)
    assert f"wrote {out}" in stdout


def test_apply_streams_many_chunks(rng, tmp_path, monkeypatch):
    # 2,000 rows in chunks of 128: the output is assembled from 16 pieces.
    monkeypatch.setattr(
        calibrate.cli.apply,
        "iter_chunks",
        lambda n, k: (slice(i, min(i + 128, n)) for i in range(0, n, 128)),
    )
    logits = (3 * rng.normal(size=(2000, 4))).astype(np.float32)
    labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    calibrator = TemperatureScaling().fit(logits, labels)
    save_calibrator(calibrator, tmp_path / "m.json")
    np.save(tmp_path / "s.npy", logits)
    out = tmp_path / "p.npy"
    assert (
        main(
            ["apply", str(tmp_path / "m.json"), str(tmp_path / "s.npy"), "-o", str(out)]
        )
        == 0
    )
    # float32 scores give float32 probabilities (apply --dtype's default):
    # the float64 result rounded once.
    written = np.load(out)
    assert written.dtype == np.float32
    assert np.array_equal(written, calibrator.predict_proba(logits).astype(np.float32))


def test_failure_while_writing_leaves_no_file(
    write_scores, tmp_path, monkeypatch, capsys
):
    files = write_scores("multiclass")
    model = tmp_path / "model.json"
    fitted(TemperatureScaling, files["arrays"], model)
    calls = []
    real = TemperatureScaling.predict_proba

    def fail_on_second_chunk(self, X):
        calls.append(len(X))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, X)

    monkeypatch.setattr(TemperatureScaling, "predict_proba", fail_on_second_chunk)
    monkeypatch.setattr(
        calibrate.cli.apply,
        "iter_chunks",
        lambda n, k: (slice(i, min(i + 500, n)) for i in range(0, n, 500)),
    )
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / "out.npy"
    status = main(["apply", str(model), files["npy"]["test_scores"], "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 1 and "No space left on device" in err
    assert err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == before
    assert len(calls) == 2


def test_interrupt_leaves_no_file(write_scores, tmp_path, monkeypatch, capsys):
    files = write_scores("multiclass")
    model = tmp_path / "model.json"
    fitted(TemperatureScaling, files["arrays"], model)

    def interrupt(self, X):
        raise KeyboardInterrupt

    monkeypatch.setattr(TemperatureScaling, "predict_proba", interrupt)
    before = sorted(os.listdir(tmp_path))
    status = main(
        [
            "apply",
            str(model),
            files["npy"]["test_scores"],
            "-o",
            str(tmp_path / "out.npy"),
        ]
    )
    assert status == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before


def tamper(doc, case):
    if case == "negative temperature":
        doc["fitted"]["temperature_"] = -1.0
    elif case == "unknown class":
        doc["class"] = "os.system"
    elif case == "missing field":
        del doc["fitted"]["classes_"]
    elif case == "newer format":
        doc["format_version"] = 99
    elif case == "subnormal temperature":
        doc["fitted"]["temperature_"] = 1e-310
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated JSON", "not a valid JSON document"),
        ("negative temperature", "temperature_ must be > 0"),
        ("unknown class", "unknown calibrator class 'os.system'"),
        ("missing field", "missing 'classes_'"),
        ("newer format", "format_version 99 is newer"),
        ("subnormal temperature", "calibrated logits of row 0 are not finite"),
        ("an array instead of a model", "not UTF-8 text"),
        ("missing model", "absent.json"),
        ("scores with other columns", "has 3 score column(s), but"),
        ("scores as probabilities", "declared input_type='probs'"),
        ("NaN in the scores", "contains NaN"),
        ("output not .npy", "must end in .npy"),
        ("existing output", "already exists; pass --force"),
    ],
)
def test_bad_input_exits_1_with_one_line_and_no_output(
    case, message, write_scores, tmp_path, capsys
):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    model = tmp_path / "model.json"
    fitted(TemperatureScaling, arrays, model)
    scores = files["npy"]["test_scores"]
    out = tmp_path / "out.npy"
    model_arg = str(model)
    if case == "truncated JSON":
        model.write_text(model.read_text()[:100])
    elif case in (
        "negative temperature",
        "unknown class",
        "missing field",
        "newer format",
        "subnormal temperature",
    ):
        model.write_text(tamper(json.loads(model.read_text()), case))
    elif case == "an array instead of a model":
        model_arg = scores
    elif case == "missing model":
        model_arg = str(tmp_path / "absent.json")
    elif case == "scores with other columns":
        scores = str(tmp_path / "three.npy")
        np.save(scores, np.zeros((5, 3)))
    elif case == "scores as probabilities":
        # A model of probabilities given logits: read as what it was fitted on.
        doc = json.loads(model.read_text())
        doc["params"]["input_type"] = "probs"
        model.write_text(json.dumps(doc))
    elif case == "NaN in the scores":
        bad = arrays["test_scores"].copy()
        bad[3, 1] = np.nan
        scores = str(tmp_path / "nan.npy")
        np.save(scores, bad)
    elif case == "output not .npy":
        out = tmp_path / "out.csv"
    elif case == "existing output":
        out.write_bytes(b"keep")
    before = sorted(os.listdir(tmp_path))
    status = main(["apply", model_arg, scores, "-o", str(out)])
    stdout, err = capsys.readouterr()
    assert status == 1
    assert stdout == ""
    assert err.count("\n") == 1 and err.startswith("calibrate apply: error: ")
    assert message in err
    assert sorted(os.listdir(tmp_path)) == before
    if case == "existing output":
        assert out.read_bytes() == b"keep"


def test_extreme_logits_give_normalised_probabilities(rng, tmp_path, capsys):
    logits = 3 * rng.normal(size=(300, 4))
    labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    fitted(
        TemperatureScaling,
        {"val_scores": logits, "val_labels": labels},
        tmp_path / "m.json",
    )
    huge = np.array([[1e308, 1e308, -1e308, 0.0], [0.0, 1.0, 2.0, 3.0]])
    np.save(tmp_path / "huge.npy", huge)
    out = tmp_path / "p.npy"
    assert (
        main(
            [
                "apply",
                str(tmp_path / "m.json"),
                str(tmp_path / "huge.npy"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    probs = np.load(out)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs[0], [0.5, 0.5, 0.0, 0.0])


def chunks_of(size):
    return lambda n, k: (slice(i, min(i + size, n)) for i in range(0, n, size))


def test_a_failing_chunk_names_its_rows(rng, tmp_path, monkeypatch, capsys):
    logits = 3 * rng.normal(size=(300, 4))
    labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    fitted(
        VectorScaling, {"val_scores": logits, "val_labels": labels}, tmp_path / "m.json"
    )
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["fitted"]["coef_"]["data"] = [1e308] * 4  # overflows on large scores
    (tmp_path / "m.json").write_text(json.dumps(doc))
    scores = np.zeros((2000, 4))
    scores[1234] = [5.0, 0.0, 0.0, 0.0]
    np.save(tmp_path / "s.npy", scores)
    monkeypatch.setattr(calibrate.cli.apply, "iter_chunks", chunks_of(500))
    argv = [
        "apply",
        str(tmp_path / "m.json"),
        str(tmp_path / "s.npy"),
        "-o",
        str(tmp_path / "out.npy"),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "on rows 1000 to 1499 of" in err
    assert "the calibrated logits of row 234 are not finite" in err
    assert not (tmp_path / "out.npy").exists()


def test_saturated_probabilities_are_reported_once_for_the_file(
    rng, tmp_path, monkeypatch, capsys
):
    proba = rng.dirichlet(np.ones(3), size=2000)
    proba[::100] = [1.0, 0.0, 0.0]  # exact 0 and 1 in every chunk
    labels = (proba.cumsum(axis=1) < rng.uniform(size=(2000, 1))).sum(axis=1)
    with pytest.warns(CalibrationWarning, match="40 probabilities are exactly"):
        calibrator = TemperatureScaling(input_type="probs").fit(proba, labels)
    save_calibrator(calibrator, tmp_path / "m.json")
    np.save(tmp_path / "p.npy", proba)
    monkeypatch.setattr(calibrate.cli.apply, "iter_chunks", chunks_of(500))
    argv = [
        "apply",
        str(tmp_path / "m.json"),
        str(tmp_path / "p.npy"),
        "-o",
        str(tmp_path / "out.npy"),
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"calibrate: WARNING: CalibrationWarning: {tmp_path}/p.npy:")
    assert "reported for 4 chunks of rows" in err
