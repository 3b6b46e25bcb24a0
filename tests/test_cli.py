"""Tests for the calibrate.cli entry point: --version, --help, exit codes, logging."""

import doctest
import logging
import subprocess
import sys

import pytest

import calibrate
import calibrate.cli._main
from calibrate.cli import main


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


def test_docstring_examples():
    # cli/ is outside calibrate/ in the repository, so pytest's doctest
    # collection does not see it; run the examples on the installed module.
    result = doctest.testmod(
        calibrate.cli._main,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0
