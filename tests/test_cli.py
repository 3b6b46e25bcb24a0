"""Tests for the calibrate.cli entry point: --version, --help, exit codes, logging."""

import doctest
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import calibrate
import calibrate.cli._common
import calibrate.cli._main
from calibrate import TemperatureScaling
from calibrate.cli import apply, evaluate, fit, main, plot
from calibrate.cli._common import Progress
from calibrate.metrics import METRICS


def test_version_prints_version_and_returns_zero(capsys):
    assert main(["--version"]) == 0
    out, err = capsys.readouterr()
    assert out == f"calibrate {calibrate.__version__}\n"
    assert err == ""


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_returns_zero(flag, capsys):
    assert main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: calibrate")
    for option in ("--version", "--verbose", "--quiet"):
        assert option in out


def test_no_arguments_prints_help_and_returns_zero(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("usage: calibrate")


@pytest.mark.parametrize(
    "argv", [["--no-such-option"], ["no-such-command"], ["--version=3"]]
)
def test_usage_error_returns_two(argv, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "usage: calibrate" in err
    assert "error:" in err


def test_main_reads_sys_argv(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["calibrate", "--version"])
    assert main() == 0
    assert capsys.readouterr().out.startswith("calibrate ")


@pytest.mark.parametrize(
    ("verbose", "quiet", "level"),
    [
        (0, 0, logging.WARNING),
        (1, 0, logging.INFO),
        (2, 0, logging.DEBUG),
        (3, 0, logging.DEBUG),
        (0, 1, logging.ERROR),
        (0, 2, logging.CRITICAL),
        (0, 9, logging.CRITICAL),
        (1, 1, logging.WARNING),
    ],
)
def test_log_level(verbose, quiet, level):
    assert calibrate.cli._main.log_level(verbose, quiet) == level


def test_verbose_logs_to_stderr_and_leaves_logging_as_found(capsys):
    logger = logging.getLogger("calibrate")
    handlers, level = list(logger.handlers), logger.level
    assert main(["-vv"]) == 0
    out, err = capsys.readouterr()
    assert "calibrate: DEBUG: arguments:" in err
    assert "DEBUG" not in out
    assert logger.handlers == handlers and logger.level == level


def test_default_verbosity_logs_nothing(capsys):
    assert main([]) == 0
    assert capsys.readouterr().err == ""


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "calibrate.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"calibrate {calibrate.__version__}"


@pytest.mark.parametrize(
    "module",
    [calibrate.cli._main, calibrate.cli._common, fit],
    ids=lambda m: m.__name__,
)
def test_docstring_examples(module):
    # cli/ is outside calibrate/ in the repository, so pytest's doctest
    # collection does not see it; run the examples on the installed module.
    result = doctest.testmod(
        module,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "apply", "evaluate", "plot"):
        assert f"    {command} " in out
    for module in (fit, apply, evaluate, plot):
        name = module.__name__.rpartition(".")[2]
        assert main([name, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: calibrate {name}")


@pytest.mark.parametrize("container", ["npy", "npz"])
def test_fit_apply_evaluate_round_trip(container, write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    args, arrays = files[container], files["arrays"]
    model, probs = str(tmp_path / "model.json"), str(tmp_path / "probs.npy")
    assert main(["fit", args["val_scores"], args["val_labels"], "-o", model]) == 0
    assert main(["apply", model, args["test_scores"], "-o", probs]) == 0
    assert main(["evaluate", probs, args["test_labels"], "--input-type", "probs"]) == 0
    out = capsys.readouterr().out

    calibrator = TemperatureScaling().fit(arrays["val_scores"], arrays["val_labels"])
    proba = calibrator.predict_proba(arrays["test_scores"])
    assert np.array_equal(np.load(probs), proba)
    printed = {
        line.split()[0]: float(line.split()[1])
        for line in out.splitlines()
        if line.split() and line.split()[0] in METRICS
    }
    assert set(printed) == {n for n, m in METRICS.items() if "multiclass" in m.tasks}
    for name, value in printed.items():
        expected = METRICS[name](arrays["test_labels"], proba)
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-12)


def test_the_command_in_a_subprocess(write_scores, tmp_path):
    # The installed console script, with stdout and stderr pipes (not a
    # terminal): results on stdout, nothing on stderr, no progress.
    args = write_scores("multiclass")["npy"]
    script = os.path.join(os.path.dirname(sys.executable), "calibrate")
    command = (
        [script] if os.path.exists(script) else [sys.executable, "-m", "calibrate.cli"]
    )

    def run(*argv):
        return subprocess.run(
            [*command, *argv],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
        )

    fitted = run("fit", args["val_scores"], args["val_labels"], "-o", "model.json")
    assert fitted.returncode == 0, fitted.stderr
    assert fitted.stderr == "" and "temperature_" in fitted.stdout
    result = run(
        "evaluate",
        args["test_scores"],
        args["test_labels"],
        "--model",
        "model.json",
        "--json",
    )
    assert result.returncode == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert doc["metrics"]["nll"]["after"] < doc["metrics"]["nll"]["before"]
    again = run("fit", args["val_scores"], args["val_labels"], "-o", "model.json")
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == (
        "calibrate fit: error: model.json already exists; pass --force to overwrite "
        "it (it is replaced only once the new file is complete).\n"
    )
    usage = run("fit")
    assert usage.returncode == 2 and "usage: calibrate fit" in usage.stderr


def test_global_options_before_or_after_the_command(write_scores, tmp_path, capsys):
    args = write_scores("multiclass")["npy"]
    model = str(tmp_path / "model.json")
    base = [args["val_scores"], args["val_labels"], "-o", model]
    assert main(["fit", *base]) == 0
    assert main(["--force", "fit", *base]) == 0
    assert main(["fit", *base, "--force"]) == 0
    capsys.readouterr()
    assert main(["-v", "fit", *base, "--force"]) == 0
    assert "calibrate: DEBUG" not in capsys.readouterr().err
    assert main(["fit", *base, "--force", "-vv"]) == 0
    assert "calibrate: DEBUG: arguments:" in capsys.readouterr().err


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_a_long_step_on_a_terminal_and_erases_it():
    stream = FakeTerminal()
    threads = threading.active_count()
    progress = Progress(stream, delay=0.0, interval=0.01)
    with progress.step("fitting TemperatureScaling"):
        deadline = time.monotonic() + 10
        while "fitting" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    text = stream.getvalue()
    assert text.startswith("\rcalibrate: fitting TemperatureScaling ... 0 s")
    # The line is blanked at the end, so stderr is left clean.
    assert text.endswith("\r") and text.rstrip("\r").endswith(" ")
    assert threading.active_count() == threads  # the updater has stopped


def test_progress_is_silent_for_short_steps_and_off_a_terminal():
    tty = FakeTerminal()
    with Progress(tty, delay=5.0).step("quick"):
        pass
    assert tty.getvalue() == ""
    pipe = io.StringIO()
    with Progress(pipe, delay=0.0, interval=0.01).step("long"):
        time.sleep(0.05)
    assert pipe.getvalue() == ""
    forced_off = FakeTerminal()
    with Progress(forced_off, enabled=False, delay=0.0).step("long"):
        time.sleep(0.05)
    assert forced_off.getvalue() == ""


def test_progress_step_reraises_and_stops():
    stream = FakeTerminal()
    threads = threading.active_count()
    with pytest.raises(ValueError, match="boom"):
        with Progress(stream, delay=0.0, interval=0.01).step("failing"):
            time.sleep(0.05)
            raise ValueError("boom")
    assert threading.active_count() == threads
    assert stream.getvalue().endswith("\r")


def test_main_shows_progress_only_on_a_terminal(write_scores, tmp_path, monkeypatch):
    args = write_scores("multiclass")["npy"]
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    real_init = Progress.__init__

    def instant(self, stream=None, *, enabled=None, delay=1.0, interval=0.5):
        real_init(self, stream, enabled=enabled, delay=0.0, interval=0.001)

    monkeypatch.setattr(Progress, "__init__", instant)
    original = TemperatureScaling.fit

    def slow_fit(self, X, y, sample_weight=None):
        time.sleep(0.2)
        return original(self, X, y, sample_weight)

    monkeypatch.setattr(TemperatureScaling, "fit", slow_fit)
    model = str(tmp_path / "m.json")
    assert main(["fit", args["val_scores"], args["val_labels"], "-o", model]) == 0
    assert "calibrate: fitting TemperatureScaling ..." in terminal.getvalue()
    quiet = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert (
        main(
            [
                "fit",
                args["val_scores"],
                args["val_labels"],
                "-o",
                model,
                "--force",
                "-q",
            ]
        )
        == 0
    )
    assert quiet.getvalue() == ""


class ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_stops_quietly(write_scores, tmp_path, monkeypatch, capsys):
    args = write_scores("multiclass")["npy"]
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    status = main(["evaluate", args["test_scores"], args["test_labels"]])
    assert status == 141
    assert capsys.readouterr().err == ""
