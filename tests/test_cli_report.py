"""Tests for ``calibrate report``: the files hold the library's report."""

import hashlib
import io
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import pytest

from calibrate.cli import main
from calibrate.cli._common import Progress
from calibrate.datasets import list_examples, load_example
from calibrate.metrics import METRICS
from calibrate.report import REPORT_SCHEMA, build_report, load_metrics

pytest.importorskip("matplotlib")


def report_argv(args, out, *extra):
    return [
        "report",
        "--val",
        args["val_scores"],
        args["val_labels"],
        "--test",
        args["test_scores"],
        args["test_labels"],
        "-o",
        str(out),
        "--n-bootstrap",
        "50",
        *extra,
    ]


def listing(path):
    return sorted(
        (
            p,
            os.path.getsize(os.path.join(path, p)),
            os.path.getmtime(os.path.join(path, p)),
        )
        for p in os.listdir(path)
    )


@pytest.mark.parametrize("container", ["npy", "npz"])
def test_report_files_hold_the_library_report(
    container, write_scores, tmp_path, capsys
):
    files = write_scores("multiclass", n=1200)
    args, arrays = files[container], files["arrays"]
    out = tmp_path / "reports" / "resnet"
    argv = report_argv(args, out, "--methods", "temperature,vector", "--seed", "7")
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert sorted(os.listdir(out)) == [
        "README.md",
        "metrics.png",
        "reliability.png",
        "report.html",
        "report.json",
    ]
    expected = build_report(
        (arrays["val_scores"], arrays["val_labels"]),
        (arrays["test_scores"], arrays["test_labels"]),
        methods=["temperature", "vector"],
        n_bootstrap=50,
        random_state=7,
    )
    table = load_metrics(out / "report.json")
    pd.testing.assert_frame_equal(
        table, expected.metrics, check_exact=False, rtol=1e-12
    )
    # The uncalibrated NLL is the library's, from the arrays themselves.
    nll = METRICS["nll"](
        arrays["test_labels"], arrays["test_scores"], input_type="logits"
    )
    assert table.loc["uncalibrated", ("nll", "value")] == pytest.approx(nll, rel=1e-12)
    # What it prints: the verdict, a summary and every file written.
    assert expected.best["sentence"] in stdout
    assert expected.direction() in stdout
    for name in os.listdir(out):
        assert f"wrote {out / name}" in stdout
    document = json.loads((out / "report.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(document, REPORT_SCHEMA)
    assert document["metadata"]["seed"] == 7
    # The inputs are recorded as named, with the SHA-256 of their files.
    inputs = {r["role"]: r for r in document["metadata"]["inputs"]}
    for role, spec in args.items():
        assert inputs[role]["source"] == spec
        path = spec.rsplit(":", 1)[0] if container == "npz" else spec
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        assert inputs[role]["sha256"] == digest
        assert inputs[role]["sha256_of"] == "file"


def test_default_seed_makes_the_same_numbers_twice(write_scores, tmp_path):
    args = write_scores("binary", n=600)["npy"]
    for name in ("a", "b"):
        assert main(report_argv(args, tmp_path / name, "--format", "json")) == 0
    a, b = (load_metrics(tmp_path / n / "report.json") for n in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)
    # Binary data get temperature and Platt scaling by default.
    assert list(a.index) == ["uncalibrated", "temperature", "platt"]
    # A different seed gives different intervals (the seed reaches the bootstrap).
    assert (
        main(report_argv(args, tmp_path / "c", "--format", "json", "--seed", "1")) == 0
    )
    c = load_metrics(tmp_path / "c" / "report.json")
    assert not np.allclose(a.xs("low", level=1, axis=1), c.xs("low", level=1, axis=1))
    pd.testing.assert_series_equal(a[("nll", "value")], c[("nll", "value")])


def test_format_writes_only_what_is_asked(write_scores, tmp_path):
    args = write_scores("multiclass", n=600)["npy"]
    out = tmp_path / "r"
    assert main(report_argv(args, out, "--format", "json,html")) == 0
    assert sorted(os.listdir(out)) == ["report.html", "report.json"]


def test_options_reach_the_report(write_scores, tmp_path):
    args = write_scores("multiclass", n=600)["npy"]
    out = tmp_path / "r"
    argv = report_argv(
        args,
        out,
        "--format",
        "json",
        "--n-bins",
        "10",
        "--confidence-level",
        "0.8",
        "--title",
        "ResNet <b>",
        "--methods",
        "matrix",
    )
    assert main(argv) == 0
    document = json.loads((out / "report.json").read_text())
    meta = document["metadata"]
    assert (meta["n_bins"], meta["confidence_level"], meta["n_bootstrap"]) == (
        10,
        0.8,
        50,
    )
    assert document["title"] == "ResNet <b>"
    assert [row["method"] for row in document["metrics"]] == ["uncalibrated", "matrix"]
    arrays = write_scores("multiclass", n=600)["arrays"]
    ece = METRICS["ece"](
        arrays["test_labels"], arrays["test_scores"], input_type="logits", n_bins=10
    )
    assert document["metrics"][0]["values"]["ece"]["value"] == pytest.approx(ece)


def test_probabilities_with_input_type(write_scores, tmp_path):
    from scipy.special import softmax

    files = write_scores("multiclass", n=600)
    arrays = files["arrays"]
    for key in ("val_scores", "test_scores"):
        np.save(tmp_path / f"{key}_p.npy", softmax(arrays[key], axis=1))
    args = dict(files["npy"])
    args["val_scores"] = str(tmp_path / "val_scores_p.npy")
    args["test_scores"] = str(tmp_path / "test_scores_p.npy")
    out = tmp_path / "r"
    assert (
        main(report_argv(args, out, "--format", "json", "--input-type", "probs")) == 0
    )
    table = load_metrics(out / "report.json")
    nll = METRICS["nll"](arrays["test_labels"], softmax(arrays["test_scores"], axis=1))
    assert table.loc["uncalibrated", ("nll", "value")] == pytest.approx(nll, rel=1e-10)


def test_example_report_is_the_library_report_of_the_bundled_data(tmp_path, capsys):
    out = tmp_path / "mlp"
    argv = ["report", "--example", "digits_mlp", "-o", str(out), "--n-bootstrap", "50"]
    assert main(argv) == 0
    data = load_example("digits_mlp")
    expected = build_report(
        (data.val_logits, data.val_labels),
        (data.test_logits, data.test_labels),
        n_bootstrap=50,
        random_state=0,
    )
    table = load_metrics(out / "report.json")
    pd.testing.assert_frame_equal(
        table, expected.metrics, check_exact=False, rtol=1e-12
    )
    document = json.loads((out / "report.json").read_text())
    assert document["title"] == "Calibration report: digits_mlp"
    assert document["metadata"]["description"] == data.DESCR
    html = (out / "report.html").read_text()
    assert "digits_mlp" in html and "MLPClassifier" in html


def test_every_example_at_once(tmp_path, capsys):
    argv = [
        "report",
        "--example",
        "all",
        "-o",
        str(tmp_path),
        "--n-bootstrap",
        "10",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    assert sorted(os.listdir(tmp_path)) == list_examples()
    for name in list_examples():
        document = json.loads((tmp_path / name / "report.json").read_text())
        assert document["title"] == f"Calibration report: {name}"
    # The second run refuses, before writing anything, to replace them.
    before = listing(tmp_path / list_examples()[-1])
    assert main(argv) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert listing(tmp_path / list_examples()[-1]) == before


def test_list_examples(capsys):
    assert main(["report", "--list-examples"]) == 0
    out = capsys.readouterr().out
    for name in list_examples():
        line = next(x for x in out.splitlines() if x.startswith(name + " "))
        assert ("over-confident" in line) != ("under-confident" in line)


def test_existing_files_need_force(write_scores, tmp_path, capsys):
    args = write_scores("multiclass", n=600)["npy"]
    out = tmp_path / "r"
    assert main(report_argv(args, out, "--format", "json")) == 0
    capsys.readouterr()
    before = listing(out)
    assert main(report_argv(args, out, "--format", "json", "--seed", "3")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{out / 'report.json'} already exists; pass --force" in err
    assert listing(out) == before
    assert (
        main(report_argv(args, out, "--format", "json", "--seed", "3", "--force")) == 0
    )
    assert json.loads((out / "report.json").read_text())["metadata"]["seed"] == 3
    assert sorted(os.listdir(out)) == ["report.json"]  # no temporary file left


def test_method_that_does_not_fit_the_task_names_it(write_scores, tmp_path, capsys):
    args = write_scores("binary", n=600)["npy"]
    assert main(report_argv(args, tmp_path / "r", "--methods", "vector")) == 1
    err = capsys.readouterr().err
    assert "fitting vector (VectorScaling)" in err and err.count("\n") == 1


def test_unknown_example_names_the_close_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # An unknown name is a usage error (exit 2), as an unknown method is.
    assert main(["report", "--example", "digits_mpl", "-o", "x"]) == 2
    err = capsys.readouterr().err
    assert "did you mean digits_mlp?" in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "-o", "x"], "missing --val and --test"),
        (["report", "--val", "a.npy", "b.npy", "-o", "x"], "missing --test"),
        (["report", "--example", "digits_mlp"], "missing -o DIRECTORY"),
        (
            ["report", "--example", "digits_mlp", "--val", "a", "b", "-o", "x"],
            "give --example or --val and --test, not both",
        ),
        (
            ["report", "--example", "digits_mlp", "--n-bootstrap", "5", "-o", "x"],
            "at least 10",
        ),
    ],
)
def test_usage_errors_exit_2(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: calibrate report")
    assert "calibrate report: error: " in err and message in err
    assert os.listdir(tmp_path) == []


def test_output_that_is_a_file(write_scores, tmp_path, capsys):
    args = write_scores("multiclass", n=600)["npy"]
    out = tmp_path / "file"
    out.write_text("keep")
    assert main(report_argv(args, out)) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert out.read_text() == "keep"


def test_nan_in_the_test_scores_names_the_files(write_scores, tmp_path, capsys):
    files = write_scores("multiclass", n=600)
    scores = files["arrays"]["test_scores"].copy()
    scores[3, 2] = np.nan
    np.save(files["npy"]["test_scores"], scores)
    out = tmp_path / "r"
    assert main(report_argv(files["npy"], out)) == 1
    err = capsys.readouterr().err
    assert files["npy"]["test_scores"] in err and "NaN" in err
    assert not out.exists()


def test_shapes_that_disagree(write_scores, tmp_path, capsys):
    files = write_scores("multiclass", n=600)
    np.save(files["npy"]["test_scores"], files["arrays"]["test_scores"][:, :5])
    labels = np.minimum(files["arrays"]["test_labels"], 4)
    np.save(files["npy"]["test_labels"], labels)
    assert main(report_argv(files["npy"], tmp_path / "r")) == 1
    assert "the two sets need the same score columns" in capsys.readouterr().err


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_bootstrap_progress_on_a_terminal(write_scores, tmp_path, monkeypatch):
    args = write_scores("multiclass", n=600)["npy"]
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    real_init = Progress.__init__

    def instant(self, stream=None, *, enabled=None, delay=1.0, interval=0.5):
        real_init(self, stream, enabled=enabled, delay=0.0, interval=0.001)

    monkeypatch.setattr(Progress, "__init__", instant)
    import calibrate.report._build as build

    original = build.replicate_metrics

    def slow(*a, **k):
        time.sleep(0.2)
        return original(*a, **k)

    monkeypatch.setattr(build, "replicate_metrics", slow)
    assert main(report_argv(args, tmp_path / "r", "--format", "json")) == 0
    shown = terminal.getvalue()
    assert "calibrate: bootstrap (50 resamples of 300 rows) ..." in shown
    assert shown.endswith("\r")  # erased when done


def test_cifar100_report_reproduces_the_published_numbers(shared_data, tmp_path):
    """Mukhoti et al. (2020): CIFAR-100 ResNet-110 (Brier loss), see ../shared/data."""
    data = shared_data("mukhoti_c100_resnet110_brier")
    for key, value in data.items():
        np.save(tmp_path / f"{key}.npy", value)
    out = tmp_path / "c100"
    argv = [
        "report",
        "--val",
        str(tmp_path / "val_logits.npy"),
        str(tmp_path / "val_labels.npy"),
        "--test",
        str(tmp_path / "test_logits.npy"),
        str(tmp_path / "test_labels.npy"),
        "--methods",
        "temperature",
        "--n-bootstrap",
        "100",
        "--format",
        "json",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    document = json.loads((out / "report.json").read_text())
    rows = {row["method"]: row["values"] for row in document["metrics"]}
    before, after = rows["uncalibrated"], rows["temperature"]
    # Published: test error 25.10 %, ECE 7.88 % before; measured in the data's
    # README: NLL 1.1072 and Brier 0.3725 before, T = 1.0804 giving NLL 1.0990
    # and ECE 4.69 % after.
    assert round(100 * (1 - before["accuracy"]["value"]), 2) == 25.10
    assert round(100 * before["ece"]["value"], 2) == 7.88
    assert round(before["nll"]["value"], 4) == 1.1072
    assert round(before["brier"]["value"], 4) == 0.3725
    assert round(document["parameters"]["temperature"]["temperature_"], 4) == 1.0804
    assert round(after["nll"]["value"], 4) == 1.0990
    assert round(100 * after["ece"]["value"], 2) == 4.69
    # Temperature scaling lowers the ECE beyond the paired interval's noise.
    assert after["ece"]["change_high"] < 0


def test_multilabel_figures_are_checked_before_anything_is_written(
    write_scores, tmp_path, capsys
):
    args = write_scores("multilabel", n=600)["npy"]
    out = tmp_path / "r"
    out.mkdir()
    (out / "figure1-reliability_uncalibrated.png").write_bytes(b"keep")
    assert main(report_argv(args, out, "--n-bootstrap", "10")) == 1
    err = capsys.readouterr().err
    assert f"{out / 'figure1-reliability_uncalibrated.png'} already exists" in err
    assert os.listdir(out) == ["figure1-reliability_uncalibrated.png"]
    assert main(report_argv(args, out, "--n-bootstrap", "10", "--force")) == 0
    assert (out / "figure1-reliability_uncalibrated.png").read_bytes() != b"keep"
    assert {"report.html", "README.md", "report.json", "metrics.png"} <= set(
        os.listdir(out)
    )


def test_val_and_test_labelled_differently_are_refused(tmp_path, capsys, rng):
    scores = rng.normal(size=(200, 3))
    np.save(tmp_path / "s.npy", scores)
    np.save(tmp_path / "val.npy", np.array(["a", "b", "c"])[rng.integers(0, 3, 200)])
    np.save(tmp_path / "test.npy", np.array(["b", "c", "d"])[rng.integers(0, 3, 200)])
    s = str(tmp_path / "s.npy")
    argv = ["report", "--val", s, str(tmp_path / "val.npy"), "--test", s]
    argv += [str(tmp_path / "test.npy"), "-o", str(tmp_path / "r")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "the test labels have the classes ['b', 'c', 'd']" in err
    assert not (tmp_path / "r").exists()


def test_unknown_method_is_a_usage_error(tmp_path, capsys):
    argv = ["report", "--example", "digits_mlp", "--methods", "temperature,bogus"]
    assert main([*argv, "-o", str(tmp_path / "r")]) == 2
    assert "got 'temperature,bogus'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_output_below_a_file_is_refused_before_the_work(tmp_path, capsys):
    (tmp_path / "file").write_text("keep")
    start = time.perf_counter()
    out = tmp_path / "file" / "r"
    assert main(["report", "--example", "digits_mlp", "-o", str(out)]) == 1
    assert time.perf_counter() - start < 2.0  # refused before fitting anything
    assert f"{tmp_path / 'file'} is a file" in capsys.readouterr().err


def test_no_room_for_the_temporary_scores_is_one_line(tmp_path, monkeypatch, capsys):
    # Beyond COLUMN_BLOCK_BYTES the calibrated scores go to a temporary file
    # whose space is reserved first; a full disk is then one line and exit 1,
    # not a SIGBUS while the map is written.
    import errno

    monkeypatch.setattr("calibrate.report._build.COLUMN_BLOCK_BYTES", 0)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    out = tmp_path / "r"
    argv = ["report", "--example", "digits_mlp", "--methods", "temperature"]
    assert main([*argv, "--n-bootstrap", "20", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no room for the calibrated test scores" in err[0]
    assert "set TMPDIR" in err[0] and "Traceback" not in err[0]
    assert not out.exists()
