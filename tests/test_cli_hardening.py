"""The command's own behaviour under misuse (issue 19): usage, startup, pipes, files.

Each test here failed on the code before it: a typo shown with the top-level
usage, usage errors that exited 1, ``apply --output`` for a kind, a 3 s
start, a warning about "the same arrays" for two members of one archive, a
model with a class 3.5, ``.npz`` members that reached ``MemoryError``, and a
closed stdout that ended in status 120 and a message.
"""

import io
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from calibrate import TemperatureScaling
from calibrate.cli import main
from calibrate.io import load_array, save_calibrator


@pytest.fixture
def files(rng, tmp_path):
    """A temperature model, its 4-class logits and labels, as files."""
    logits = 3 * rng.normal(size=(600, 4))
    labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    save_calibrator(TemperatureScaling().fit(logits, labels), tmp_path / "m.json")
    np.save(tmp_path / "s.npy", logits)
    np.save(tmp_path / "y.npy", labels)
    return {
        "model": str(tmp_path / "m.json"),
        "scores": str(tmp_path / "s.npy"),
        "labels": str(tmp_path / "y.npy"),
        "logits": logits,
        "y": labels,
    }


def run(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        **kwargs,
    )


# ------------------------------------------------------------------ usage
def command_argv(command, f, tmp_path):
    return {
        "fit": ["fit", f["scores"], f["labels"], "-o", str(tmp_path / "f.json")],
        "apply": ["apply", f["model"], f["scores"], "-o", str(tmp_path / "p.npy")],
        "evaluate": ["evaluate", f["scores"], f["labels"]],
        "plot": ["plot", f["scores"], f["labels"], "-o", str(tmp_path / "d.png")],
        "report": [
            "report",
            *("--val", f["scores"], f["labels"]),
            *("--test", f["scores"], f["labels"]),
            *("-o", str(tmp_path / "r")),
        ],
    }[command]


@pytest.mark.parametrize("command", ["fit", "apply", "evaluate", "plot", "report"])
def test_a_typo_in_an_option_shows_the_commands_usage(command, files, tmp_path, capsys):
    argv = command_argv(command, files, tmp_path)
    assert main([*argv, "--n-binz", "10"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    # The command's usage (its own options), not the top-level one.
    assert err.startswith(f"usage: calibrate {command} ")
    assert f"calibrate {command}: error: unrecognized arguments: --n-binz 10" in err
    assert sorted(os.listdir(tmp_path)) == ["m.json", "s.npy", "y.npy"]


@pytest.mark.parametrize(
    ("command", "extra", "message"),
    [
        ("fit", ["--method", "temprature"], "unknown method 'temprature'"),
        ("fit", ["--param", "max_iterations=5"], "has no parameter 'max_iterations'"),
        ("evaluate", ["--metrics", "ece,nlll"], "unknown metric 'nlll'"),
        ("evaluate", ["--metrics", ","], "no metric named"),
        ("plot", ["--reduction", "top-label"], "invalid choice: 'top-label'"),
        ("plot", ["--strategy", "equal"], "invalid choice: 'equal'"),
        ("apply", ["--kind", "probabilities"], "invalid choice: 'probabilities'"),
        ("report", ["--methods", "temprature"], "got 'temprature'"),
        ("report", ["--format", "pdf"], "got 'pdf'"),
    ],
)
def test_unknown_names_are_usage_errors_in_every_command(
    command, extra, message, files, tmp_path, capsys
):
    argv = command_argv(command, files, tmp_path)
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert f"calibrate {command}: error:" in err
    assert sorted(os.listdir(tmp_path)) == ["m.json", "s.npy", "y.npy"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--example", "digits", "-o", "r"], "unknown example 'digits'"),
        (
            ["report", "--example", "digits_mlp", "--input-type", "probs", "-o", "r"],
            "example digits_mlp holds logits; drop --input-type",
        ),
    ],
)
def test_report_usage_errors_exit_2(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert os.listdir(tmp_path) == []


def test_plot_model_with_classwise_is_a_usage_error(files, tmp_path, capsys):
    argv = command_argv("plot", files, tmp_path)
    assert main([*argv, "--model", files["model"], "--reduction", "classwise"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "classwise grids are not drawn" in err
    assert not (tmp_path / "d.png").exists()


# ------------------------------------------------------------- apply --kind
def test_apply_kind_names_what_is_written(files, tmp_path, capsys):
    out = tmp_path / "lp.npy"
    argv = ["apply", files["model"], files["scores"], "-o", str(out)]
    assert main([*argv, "--kind", "log_probs"]) == 0
    out_text, err = capsys.readouterr()
    expected = TemperatureScaling().fit(files["logits"], files["y"])
    np.testing.assert_array_equal(
        np.load(out), expected.predict_log_proba(files["logits"])
    )
    assert "log_probs of shape (600, 4)" in out_text and err == ""


def test_apply_output_still_works_with_one_deprecation_line(files, tmp_path, capsys):
    out = tmp_path / "lg.npy"
    argv = ["apply", files["model"], files["scores"], "-o", str(out)]
    assert main([*argv, "--output", "logits"]) == 0
    _, err = capsys.readouterr()
    expected = TemperatureScaling().fit(files["logits"], files["y"])
    np.testing.assert_array_equal(np.load(out), expected.transform(files["logits"]))
    assert err.count("\n") == 1
    assert "DeprecationWarning: apply --output logits is deprecated" in err
    assert "use --kind logits" in err


def test_apply_help_offers_kind(capsys):
    assert main(["apply", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--kind {probs,log_probs,logits}" in out
    assert re.search(r"--output .*\n\s+deprecated spelling of --kind", out)


# ---------------------------------------------------------------- startup
HEAVY = ("sklearn", "scipy", "pandas", "matplotlib")


# Runs ``python -m calibrate ARGV`` and reports, on stderr's last line, the
# exit status and every module imported by then.
_RUN_AND_LIST = """
import json, runpy, sys
sys.argv = ["calibrate", *json.loads(sys.argv[1])]
status = 0
try:
    runpy.run_module("calibrate", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code
print(json.dumps({"status": status, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_modules(*argv, cwd=None):
    """Exit status and the modules imported by ``python -m calibrate ARGV``."""
    done = run("-c", _RUN_AND_LIST, json.dumps(argv), cwd=cwd)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stderr.splitlines()[-1])
    return result["status"], set(result["modules"])


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []])
def test_help_and_version_import_no_heavy_library(argv):
    status, names = imported_modules(*argv)
    assert status == 0 and "calibrate.cli._main" in names
    heavy = sorted(n for n in names if n.split(".")[0] in (*HEAVY, "numpy"))
    assert heavy == []


def test_a_command_imports_its_own_module_only(files, tmp_path):
    out = str(tmp_path / "p.npy")
    status, names = imported_modules(
        "apply", files["model"], files["scores"], "-o", out
    )
    assert status == 0 and os.path.exists(out)
    # A calibrator is a scikit-learn estimator: apply cannot do without it.
    assert "calibrate.cli.apply" in names and "sklearn" in names
    others = {f"calibrate.cli.{c}" for c in ("fit", "evaluate", "plot", "report")}
    assert not names & others
    # No drawing and no report for apply.
    assert not {n for n in names if n.split(".")[0] == "matplotlib"}
    assert "calibrate.plotting" not in names and "calibrate.report" not in names


def test_lazy_package_attributes_behave_as_imported_ones(files, tmp_path):
    pickled = tmp_path / "m.pkl"
    with open(pickled, "wb") as f:
        pickle.dump(TemperatureScaling().fit(files["logits"], files["y"]), f)
    code = f"""
import pickle, sys
import numpy as np
import calibrate
assert "sklearn" not in sys.modules
names = dir(calibrate)
assert {{"TemperatureScaling", "CALIBRATORS", "CalibratedClassifier"}} <= set(names)
assert set(calibrate.__all__) <= set(names)
from calibrate import CALIBRATORS, TemperatureScaling
assert CALIBRATORS["temperature"] is TemperatureScaling is calibrate.TemperatureScaling
try:
    calibrate.NoSuchThing
except AttributeError as exc:
    assert "NoSuchThing" in str(exc)
else:
    raise SystemExit("no AttributeError")
from calibrate.io import load_calibrator
X = np.load({files["scores"]!r})
a = load_calibrator({files["model"]!r}).predict_proba(X)
with open({str(pickled)!r}, "rb") as f:
    b = pickle.load(f).predict_proba(X)
assert np.array_equal(a, b)
print("ok")
"""
    done = run("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# ------------------------------------------------ same arrays of one .npz
def test_report_compares_the_arrays_not_the_file(files, tmp_path, capsys):
    # The README's CIFAR-100 form: four members of one archive.
    y, z = files["y"], files["logits"]
    archive = tmp_path / "run.npz"
    np.savez(archive, val_x=z[:300], val_y=y[:300], test_x=z[300:], test_y=y[300:])
    a = str(archive)

    def report(val, test, out):
        argv = ["report", "--val", *val, "--test", *test, "-o", str(tmp_path / out)]
        argv += ["--methods", "temperature", "--n-bootstrap", "10", "--format", "json"]
        assert main(argv) == 0
        err = capsys.readouterr().err
        document = json.loads((tmp_path / out / "report.json").read_text())
        return err + " ".join(w["message"] for w in document["warnings"])

    val, test = [f"{a}:val_x", f"{a}:val_y"], [f"{a}:test_x", f"{a}:test_y"]
    different = report(val, test, "d")
    assert "same arrays" not in different
    same = report(val, val, "s")
    assert "same arrays" in same


# ----------------------------------------------------------- model classes
def test_a_model_with_a_class_3_5_is_refused_by_name(files, tmp_path, capsys):
    document = json.loads(open(files["model"]).read())
    document["fitted"]["classes_"] = {
        "dtype": "float64",
        "shape": [4],
        "data": [0.0, 1.0, 2.0, 3.5],
    }
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    for argv in (
        ["apply", str(bad), files["scores"], "-o", str(tmp_path / "p.npy")],
        ["evaluate", files["scores"], files["labels"], "--model", str(bad)],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(bad) in err and "3.5" in err
    assert not (tmp_path / "p.npy").exists()


def test_fit_refuses_a_fractional_class(files):
    y = np.array([0.5, 1.5, 2.5, 3.5])[files["y"]]
    with pytest.raises(ValueError, match="classes holds 0.5, which is not a class"):
        TemperatureScaling().fit(files["logits"], y, classes=[0.5, 1.5, 2.5, 3.5])
    # Whole-number floats are classes, as they are without classes=.
    fitted = TemperatureScaling().fit(files["logits"], y - 0.5, classes=[0.0, 1, 2, 3])
    assert fitted.predict(files["logits"]).dtype.kind == "f"


# ------------------------------------------------- .npy and .npz headers
def npy_header(shape, descr="<f8"):
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


HUGE = (10**6, 10**6)  # 8 TB of float64


@pytest.mark.parametrize("mmap", [True, False])
def test_a_tiny_npy_declaring_a_huge_shape_is_refused(tmp_path, mmap):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header(HUGE) + bytes(64))
    with pytest.raises(ValueError, match=r"declares shape \(1000000, 1000000\)"):
        load_array(path, mmap=mmap)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_tiny_npz_member_declaring_a_huge_shape_names_the_member(
    tmp_path, compression, capsys
):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("logits.npy", npy_header(HUGE) + bytes(64))
        archive.writestr("labels.npy", npy_header((3,), "<i8") + bytes(24))
    with pytest.raises(ValueError, match=r"huge\.npz:logits: .*declares shape"):
        load_array(f"{path}:logits")
    assert load_array(f"{path}:labels").tolist() == [0, 0, 0]
    assert main(["evaluate", f"{path}:logits", f"{path}:labels"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "huge.npz:logits" in err


def zeros_member(path, n_bytes):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w") as f:
            f.write(npy_header((n_bytes // 8,)))
            f.write(bytes(n_bytes))


def test_an_npz_member_that_inflates_too_far_is_refused(tmp_path, monkeypatch):
    import calibrate.io

    path = tmp_path / "bomb.npz"
    zeros_member(path, 2**22)  # 4 MiB of zeros: about 4 KiB compressed
    assert load_array(f"{path}:x").shape == (2**19,)  # small: read whatever the ratio
    # The same member, where the limit applies from 1 MiB instead of 256 MiB.
    monkeypatch.setattr(calibrate.io, "NPZ_RATIO_FREE_BYTES", 2**20)
    with pytest.raises(ValueError, match=r"bomb\.npz:x would inflate from .* times"):
        load_array(f"{path}:x")


def test_a_zip_directory_claiming_gigabytes_is_refused_before_reading(tmp_path):
    # The directory says the member inflates to 4 GB (the actual data are 1
    # KiB): numpy would allocate the 4 GB from the header before reading.
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", npy_header((2**29 - 16,)) + bytes(1024))
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (2**32 - 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"liar\.npz:x would inflate"):
        load_array(f"{path}:x")


def test_a_real_compressed_archive_still_loads(rng, tmp_path):
    z = rng.normal(size=(2000, 10)).astype(np.float32)
    y = rng.integers(0, 10, size=2000)
    np.savez_compressed(tmp_path / "run.npz", logits=z, labels=y)
    np.testing.assert_array_equal(load_array(f"{tmp_path}/run.npz:logits"), z)
    np.testing.assert_array_equal(load_array(f"{tmp_path}/run.npz:labels"), y)


# ------------------------------------------------------------------ pipes
@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_reader_that_has_gone_gives_141_silently(files, unbuffered, json_flag):
    # The read end is closed before the command writes a byte, as with
    # `calibrate evaluate ... | true`: every write fails with EPIPE.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "calibrate", "evaluate", files["scores"]]
            + [files["labels"], *json_flag],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141
    assert done.stderr == ""


def test_head_reads_a_short_output_whole(files):
    # What the README says of `| head -1`: a table that fits in the pipe's
    # buffer is written whole before head closes the pipe, so the command
    # succeeds (status 0); stderr stays empty either way.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    script = (
        f"{sys.executable} -m calibrate evaluate {files['scores']} {files['labels']}"
        " | head -1; echo status=${PIPESTATUS[0]}"
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    first, status = done.stdout.splitlines()
    assert first.startswith("data: ") and status == "status=0"
    assert done.stderr == ""
