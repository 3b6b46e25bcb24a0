"""Tests for ``calibrate fit``: the fitted model, what it prints, and bad input.

The references are the library's own estimators and metrics called directly
on the same arrays (the command must be a thin layer over them) and, on the
real CIFAR-100 logits, the numbers of ``../shared/data/README.md``.
"""

import json
import os

import numpy as np
import pytest

from calibrate import MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling
from calibrate.cli import main
from calibrate.cli.fit import parse_param
from calibrate.io import load_calibrator
from calibrate.metrics import expected_calibration_error, negative_log_likelihood


def rows_of(out, names):
    """``{name: [numbers...]}`` for the table rows of ``out`` starting with a name."""
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] in names:
            rows[fields[0]] = [float(f) for f in fields[1:3]]
    return rows


@pytest.mark.parametrize("container", ["npy", "npz"])
def test_fit_saves_the_library_fit_and_prints_its_numbers(
    container, write_scores, tmp_path, capsys
):
    files = write_scores("multiclass")
    args, arrays = files[container], files["arrays"]
    model = tmp_path / "model.json"
    status = main(["fit", args["val_scores"], args["val_labels"], "-o", str(model)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert err == ""

    X, y = arrays["val_scores"], arrays["val_labels"]
    reference = TemperatureScaling().fit(X, y)
    saved = load_calibrator(model)
    assert saved.temperature_ == reference.temperature_
    assert f"temperature_  {reference.temperature_:.6g}" in out
    assert reference.temperature_ == pytest.approx(2.0, rel=0.1)

    rows = rows_of(out, {"nll", "ece"})
    proba = reference.predict_proba(X)
    expected = {
        "nll": [
            negative_log_likelihood(y, X, input_type="logits"),
            negative_log_likelihood(y, proba),
        ],
        "ece": [
            expected_calibration_error(y, X, input_type="logits"),
            expected_calibration_error(y, proba),
        ],
    }
    for name, (before, after) in expected.items():
        assert rows[name] == pytest.approx([before, after], rel=1e-5)
    assert rows["nll"][1] < rows["nll"][0]
    assert f"saved {model}" in out


def test_fit_json_carries_full_precision(write_scores, tmp_path, capsys):
    files = write_scores("multiclass", dtype=np.float32)
    args, arrays = files["npy"], files["arrays"]
    model = tmp_path / "model.json"
    assert (
        main(
            ["fit", args["val_scores"], args["val_labels"], "--json", "-o", str(model)]
        )
        == 0
    )
    out = capsys.readouterr().out
    doc = json.loads(out)  # stdout holds the JSON document only
    X, y = arrays["val_scores"], arrays["val_labels"]
    reference = TemperatureScaling().fit(X, y)
    assert doc["parameters"] == {"temperature_": reference.temperature_}
    assert doc["class"] == "TemperatureScaling" and doc["method"] == "temperature"
    assert doc["task"] == "multiclass" and doc["n_classes"] == 10
    assert doc["n_samples"] == len(y) and doc["n_iter"] == reference.n_iter_
    nll = doc["validation"]["nll"]
    assert nll["before"] == negative_log_likelihood(y, X, input_type="logits")
    assert nll["after"] == pytest.approx(
        negative_log_likelihood(y, reference.predict_proba(X)), rel=1e-12
    )
    assert doc["warnings"] == []


@pytest.mark.parametrize(
    ("method", "cls", "params", "kind"),
    [
        ("vector", VectorScaling, {}, "multiclass"),
        ("matrix", MatrixScaling, {"reg_lambda": 0.01, "reg_mu": 0.01}, "multiclass"),
        ("platt", PlattScaling, {}, "binary"),
        ("platt", PlattScaling, {"target_smoothing": True}, "multilabel"),
        ("temperature", TemperatureScaling, {"max_iter": 50}, "binary"),
    ],
)
def test_every_method_and_param_reaches_the_estimator(
    method, cls, params, kind, write_scores, tmp_path, capsys
):
    files = write_scores(kind)
    args, arrays = files["npy"], files["arrays"]
    model = tmp_path / "model.json"
    argv = ["fit", args["val_scores"], args["val_labels"], "--method", method]
    for name, value in params.items():
        argv += ["--param", f"{name}={value}"]
    assert main([*argv, "-o", str(model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)

    reference = cls(**params).fit(arrays["val_scores"], arrays["val_labels"])
    saved = load_calibrator(model)
    assert type(saved) is cls
    assert saved.get_params() == reference.get_params()
    test = arrays["test_scores"]
    assert np.array_equal(saved.predict_proba(test), reference.predict_proba(test))
    ece = "ece_classwise" if kind == "multilabel" else "ece"
    assert set(doc["validation"]) == {"nll", ece}


def test_fit_on_probabilities(write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    logits = arrays["val_scores"]
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    np.save(tmp_path / "proba.npy", proba)
    model = tmp_path / "model.json"
    argv = ["fit", str(tmp_path / "proba.npy"), files["npy"]["val_labels"]]
    assert main([*argv, "--input-type", "probs", "-o", str(model)]) == 0
    reference = TemperatureScaling(input_type="probs").fit(proba, arrays["val_labels"])
    saved = load_calibrator(model)
    assert saved.input_type == "probs"
    assert saved.temperature_ == reference.temperature_
    assert "probs" in capsys.readouterr().out


def test_force_overwrites_and_keeps_nothing_else(write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    args = files["npy"]
    model = tmp_path / "model.json"
    model.write_text("previous\n")
    argv = ["fit", args["val_scores"], args["val_labels"], "-o", str(model)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "already exists; pass --force" in err
    assert model.read_text() == "previous\n"
    assert main([*argv, "--force"]) == 0
    assert load_calibrator(model).temperature_ > 1
    # The global position of --force works as well.
    assert main(["--force", *argv]) == 0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing file", "absent.npy: no such file"),
        ("pickled object array", "objects.npy holds an array of Python objects"),
        ("pickle file", "pickle.npy is a Python pickle"),
        ("NaN in the scores", "nan.npy contains NaN (1 entry; first at row 5"),
        ("different lengths", "have different numbers of rows"),
        ("labels outside the classes", "contains label 10, but"),
        ("npz without the key", "outputs.npz is an .npz archive holding 4 arrays"),
        ("npz with a wrong key", "outputs.npz has no array 'logits'"),
        ("unknown method", "unknown method 'splines'; the methods are"),
        ("unknown parameter", "--param reg: MatrixScaling has no parameter 'reg'"),
        ("malformed parameter", "--param 'reg_lambda': expected NAME=VALUE"),
        ("input_type as a parameter", "--param input_type: use --input-type"),
        ("invalid parameter value", "max_iter == 0, must be >= 1"),
        ("output directory missing", "the directory"),
        ("existing output", "model.json already exists; pass --force"),
        ("scores of three dimensions", "cube.npy must hold a 1-D (binary) or 2-D"),
        ("output not .json", "the model must end in .json"),
        ("non-integer labels", "holds non-integer numbers (first at row 0: 0.5)"),
    ],
)
def test_bad_input_exits_1_with_one_line_and_no_output(
    case, message, write_scores, tmp_path, capsys
):
    files = write_scores("multiclass")
    args, arrays = files["npy"], files["arrays"]
    scores, labels = args["val_scores"], args["val_labels"]
    out_path = tmp_path / "model.json"
    extra = []
    if case == "missing file":
        scores = str(tmp_path / "absent.npy")
    elif case == "pickled object array":
        scores = str(tmp_path / "objects.npy")
        np.save(scores, np.array([[1.0, "a"]], dtype=object), allow_pickle=True)
    elif case == "pickle file":
        scores = str(tmp_path / "pickle.npy")
        import pickle

        with open(scores, "wb") as f:
            pickle.dump(arrays["val_scores"], f)
    elif case == "NaN in the scores":
        bad = arrays["val_scores"].copy()
        bad[5, 3] = np.nan
        scores = str(tmp_path / "nan.npy")
        np.save(scores, bad)
    elif case == "different lengths":
        labels = str(tmp_path / "short.npy")
        np.save(labels, arrays["val_labels"][:-1])
    elif case == "labels outside the classes":
        bad = arrays["val_labels"].copy()
        bad[0] = 10
        labels = str(tmp_path / "bad_labels.npy")
        np.save(labels, bad)
    elif case == "npz without the key":
        scores = files["npz"]["val_scores"].rpartition(":")[0]
    elif case == "npz with a wrong key":
        scores = files["npz"]["val_scores"].rpartition(":")[0] + ":logits"
    elif case == "unknown method":
        extra = ["--method", "splines"]
    elif case == "unknown parameter":
        extra = ["--method", "matrix", "--param", "reg=1"]
    elif case == "malformed parameter":
        extra = ["--param", "reg_lambda"]
    elif case == "input_type as a parameter":
        extra = ["--param", "input_type=probs"]
    elif case == "invalid parameter value":
        extra = ["--param", "max_iter=0"]
    elif case == "output directory missing":
        out_path = tmp_path / "absent" / "model.json"
    elif case == "existing output":
        out_path.write_text("keep me\n")
    elif case == "output not .json":
        out_path = tmp_path / "model.npy"
    elif case == "non-integer labels":
        labels = str(tmp_path / "float_labels.npy")
        np.save(labels, np.r_[0.5, arrays["val_labels"][1:]])
    elif case == "scores of three dimensions":
        scores = str(tmp_path / "cube.npy")
        np.save(scores, np.zeros((4, 3, 2)))
    before = sorted(os.listdir(tmp_path))

    status = main(["fit", scores, labels, *extra, "-o", str(out_path)])
    out, err = capsys.readouterr()
    usage = case in (
        "unknown method",
        "unknown parameter",
        "malformed parameter",
        "input_type as a parameter",
    )
    assert status == (2 if usage else 1)  # an unknown name is a usage error
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("calibrate fit: error: ")
    assert message in err
    assert "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
    if case == "existing output":
        assert out_path.read_text() == "keep me\n"


def test_verbose_adds_the_traceback(write_scores, tmp_path, capsys):
    args = write_scores("multiclass")["npy"]
    out_path = tmp_path / "model.json"
    status = main(["fit", args["val_scores"], "missing.npy", "-o", str(out_path), "-v"])
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("calibrate fit: error: ")


def test_usage_errors_exit_2(capsys):
    assert main(["fit", "only-scores.npy"]) == 2
    assert "required" in capsys.readouterr().err
    assert main(["fit", "a.npy", "b.npy", "-o", "m.json", "--input-type", "x"]) == 2
    assert main(["fit", "a.npy", "b.npy", "-o", "m.json", "--n-bins", "0"]) == 2


def test_fit_warnings_go_to_stderr_and_into_json(rng, tmp_path, capsys):
    # Class 2 never occurs: vector scaling warns that its parameters stay put.
    logits = 3 * rng.normal(size=(300, 3))
    labels = (logits[:, :2] / 2 + rng.gumbel(size=(300, 2))).argmax(axis=1)
    np.save(tmp_path / "s.npy", logits)
    np.save(tmp_path / "y.npy", labels)
    argv = [
        "fit",
        str(tmp_path / "s.npy"),
        str(tmp_path / "y.npy"),
        "--method",
        "vector",
    ]
    assert main([*argv, "-o", str(tmp_path / "a.json")]) == 0
    out, err = capsys.readouterr()
    assert "calibrate: WARNING: CalibrationWarning: VectorScaling: classes [2]" in err
    assert err.count("\n") == 1
    assert main([*argv, "--json", "-o", str(tmp_path / "b.json")]) == 0
    out, err = capsys.readouterr()
    (warning,) = json.loads(out)["warnings"]
    assert warning.startswith("CalibrationWarning: VectorScaling: classes [2]")
    assert main([*argv, "-q", "-o", str(tmp_path / "c.json")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1", ("a", 1)),
        ("a=-2.5e-3", ("a", -0.0025)),
        ("a=FALSE", ("a", False)),
        ("a=None", ("a", None)),
        ("a = lbfgs", ("a", "lbfgs")),
        ("a=x=y", ("a", "x=y")),
    ],
)
def test_parse_param(text, expected):
    assert parse_param(text) == expected


def test_cifar100_resnet110_reproduces_the_published_temperature(
    shared_data, tmp_path, capsys
):
    # ../shared/data/README.md: NLL-optimal T on val 1.0804, test ECE 7.88 %
    # before and 4.69 % after.
    data = shared_data("mukhoti_c100_resnet110_brier")
    path = tmp_path / "c100.npz"
    np.savez(path, **data)
    model = tmp_path / "model.json"
    assert (
        main(
            [
                "fit",
                f"{path}:val_logits",
                f"{path}:val_labels",
                "--json",
                "-o",
                str(model),
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert round(doc["parameters"]["temperature_"], 4) == 1.0804
    assert (
        main(
            [
                "evaluate",
                f"{path}:test_logits",
                f"{path}:test_labels",
                "--model",
                str(model),
                "--json",
            ]
        )
        == 0
    )
    ece = json.loads(capsys.readouterr().out)["metrics"]["ece"]
    assert round(100 * ece["before"], 2) == 7.88
    assert round(100 * ece["after"], 2) == 4.69


def test_n_bins_reaches_the_printed_ece(write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    args, arrays = files["npy"], files["arrays"]
    argv = [
        "fit",
        args["val_scores"],
        args["val_labels"],
        "--json",
        "--n-bins",
        "7",
        "-o",
        str(tmp_path / "m.json"),
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    X, y = arrays["val_scores"], arrays["val_labels"]
    assert doc["n_bins"] == 7
    before = expected_calibration_error(y, X, input_type="logits", n_bins=7)
    assert doc["validation"]["ece"]["before"] == before
    assert before != expected_calibration_error(y, X, input_type="logits")


def test_a_warning_names_the_scores_file_and_appears_once(rng, tmp_path, capsys):
    # Probabilities of exactly 0 and 1 are floored when fitting and again when
    # the calibrated validation scores are computed: one line, naming the file.
    proba = rng.dirichlet(np.ones(3), size=500)
    proba[:5] = [0.0, 0.0, 1.0]
    np.save(tmp_path / "p.npy", proba)
    np.save(tmp_path / "y.npy", rng.integers(0, 3, size=500))
    argv = [
        "fit",
        str(tmp_path / "p.npy"),
        str(tmp_path / "y.npy"),
        "--input-type",
        "probs",
        "-o",
        str(tmp_path / "m.json"),
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    floored = [line for line in lines if "exactly 0 or 1" in line]
    assert len(floored) == 1, err
    assert floored[0].startswith(
        f"calibrate: WARNING: CalibrationWarning: {tmp_path}/p.npy: 10 probabilities"
    )
