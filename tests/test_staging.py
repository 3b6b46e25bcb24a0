"""Tests for ``calibrate._staging``: a report directory appears whole or not at all.

A failure while writing any one of the report's files (a full disk is
simulated by a writer that raises ``OSError(ENOSPC)`` on its k-th file), an
error while moving the files in, or SIGTERM/SIGHUP, must leave the
destination as it was and no temporary directory behind.
"""

import contextlib
import errno
import itertools
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import calibrate.io
from calibrate._staging import staged_directory
from calibrate.cli import main

pytest.importorskip("matplotlib")

#: The files of a multiclass report, in the order they are written.
REPORT_FILES = [
    "report.html",
    "README.md",
    "reliability.png",
    "metrics.png",
    "report.json",
]


def tree(folder):
    """Every file under ``folder`` with its bytes (hidden entries included)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            found[rel] = None if os.path.isdir(path) else open(path, "rb").read()
    return found


def failing_writer(k):
    """``atomic_write`` that runs out of disk space on the k-th file it writes."""
    real = calibrate.io.atomic_write
    count = itertools.count(1)

    @contextlib.contextmanager
    def writer(path, mode="w", *, overwrite=False):
        with real(path, mode, overwrite=overwrite) as handle:
            if next(count) == k:
                handle.write(b"half" if "b" in mode else "half")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            yield handle

    return writer


def _blank_figures(report, n_cols=2):
    from matplotlib.figure import Figure

    from calibrate.report._render import figure_names

    return {name: Figure(figsize=(1, 1)) for name in figure_names(report)}


@pytest.fixture(autouse=True)
def blank_figures(monkeypatch):
    """Draw the report's figures blank: these tests are about files, not pictures.

    (A report's figures take seconds to draw; blank ones keep the names,
    the formats and the number of files.)
    """
    monkeypatch.setattr("calibrate.report._render.draw_figures", _blank_figures)


@pytest.fixture
def report_argv(write_scores):
    args = write_scores("multiclass", n=400)["npy"]

    def argv(out, *extra):
        return [
            "report",
            "--val",
            args["val_scores"],
            args["val_labels"],
            "--test",
            args["test_scores"],
            args["test_labels"],
            "--methods",
            "temperature",
            "--n-bootstrap",
            "10",
            "-q",
            "-o",
            str(out),
            *extra,
        ]

    return argv


def break_writers(monkeypatch, writer):
    # Every report file goes through atomic_write, imported by name here.
    monkeypatch.setattr("calibrate.report._report.atomic_write", writer)
    monkeypatch.setattr("calibrate.report._render.atomic_write", writer)


@pytest.mark.parametrize("k", range(1, len(REPORT_FILES) + 1))
def test_full_disk_on_any_file_leaves_no_new_report(
    k, report_argv, tmp_path, monkeypatch, capsys
):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "reports" / "new"  # its parent does not exist either
    break_writers(monkeypatch, failing_writer(k))
    assert main(report_argv(out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "No space left on device" in err
    # The file is named where it would have been, not in the temporary folder.
    assert str(out / REPORT_FILES[k - 1]) in err and ".tmp" not in err
    assert tree(work) == {}


@pytest.mark.parametrize("k", range(1, len(REPORT_FILES) + 1))
def test_full_disk_with_force_keeps_the_old_report_whole(
    k, report_argv, tmp_path, monkeypatch
):
    out = tmp_path / "report"
    assert main(report_argv(out, "--seed", "1")) == 0
    assert sorted(os.listdir(out)) == sorted(REPORT_FILES)
    before = tree(tmp_path)
    with monkeypatch.context() as patch:
        break_writers(patch, failing_writer(k))
        assert main(report_argv(out, "--seed", "2", "--force")) == 1
    assert tree(tmp_path) == before
    # Without the failure the same command replaces the report, and leaves
    # nothing beside it either.
    assert main(report_argv(out, "--seed", "2", "--force")) == 0
    after = tree(tmp_path)
    assert sorted(after) == sorted(before)
    assert after["report/report.json"] != before["report/report.json"]


def test_failure_while_moving_in_restores_the_old_report(
    report_argv, tmp_path, monkeypatch
):
    out = tmp_path / "report"
    assert main(report_argv(out, "--seed", "1")) == 0
    before = tree(tmp_path)
    real = os.rename

    def rename(src, dst):
        # The old report has been renamed aside; moving the new one in fails.
        if str(src).endswith(".tmp"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), dst)
        return real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    assert main(report_argv(out, "--seed", "2", "--force")) == 1
    monkeypatch.undo()
    assert tree(tmp_path) == before


def test_a_folder_with_other_files_keeps_them(report_argv, tmp_path):
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(report_argv(out, "--seed", "1")) == 0
    assert sorted(os.listdir(out)) == sorted(REPORT_FILES + ["notes.txt"])
    first = tree(tmp_path)
    assert main(report_argv(out, "--seed", "2")) == 1  # exists, no --force
    assert tree(tmp_path) == first
    assert main(report_argv(out, "--seed", "2", "--force")) == 0
    after = tree(tmp_path)
    assert sorted(after) == sorted(first)
    assert after["project/notes.txt"] == b"mine"
    assert after["project/report.json"] != first["project/report.json"]


def test_staged_directory_names_a_clash_created_meanwhile(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileExistsError, match="a.txt"):
        with staged_directory(out) as stage:
            (stage / "a.txt").write_text("new")
            out.mkdir()
            (out / "a.txt").write_text("theirs")
            (out / "b.txt").write_text("theirs")
    assert tree(tmp_path) == {
        "out": None,
        "out/a.txt": b"theirs",
        "out/b.txt": b"theirs",
    }


def test_staged_directory_refuses_a_file_as_destination(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        with staged_directory(tmp_path / "file"):
            pass
    assert tree(tmp_path) == {"file": b"x"}


_SLOW_REPORT = """
import contextlib, itertools, sys, time
import calibrate.io
import calibrate.report._render as render
import calibrate.report._report as report
from calibrate.cli import main
from matplotlib.figure import Figure

real, count = calibrate.io.atomic_write, itertools.count(1)

@contextlib.contextmanager
def writer(path, mode="w", *, overwrite=False):
    with real(path, mode, overwrite=overwrite) as handle:
        if next(count) == 3:
            print("writing", path, flush=True)
            time.sleep(60)
        yield handle

report.atomic_write = render.atomic_write = writer
render.draw_figures = lambda report, n_cols=2: {
    name: Figure(figsize=(1, 1)) for name in render.figure_names(report)
}
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_signal_while_writing_leaves_the_old_report(
    name, report_argv, tmp_path
):
    signum = getattr(signal, name, None)
    if signum is None:
        pytest.skip(f"{name} does not exist on this system")
    out = tmp_path / "report"
    assert main(report_argv(out, "--seed", "1")) == 0
    before = tree(tmp_path)
    script = tmp_path.parent / f"slow_report_{name}.py"
    script.write_text(textwrap.dedent(_SLOW_REPORT))
    child = subprocess.Popen(
        [sys.executable, str(script), *report_argv(out, "--seed", "2", "--force")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("writing") and ".tmp" in line, line
        # The staged files exist now, beside the old report.
        assert any(p.endswith(".tmp") for p in tree(tmp_path))
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 128 + signum
    assert f"stopped by {name}" in err
    assert tree(tmp_path) == before


def test_output_in_the_current_folder_whose_parent_is_read_only(
    report_argv, tmp_path, monkeypatch
):
    """``-o .`` stages inside the folder and moves the files in one by one."""
    if os.geteuid() == 0:
        # root writes into read-only folders: refuse the rename instead.
        real = os.rename

        def rename(src, dst):
            if os.path.dirname(os.path.abspath(dst)) == str(tmp_path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), dst)
            return real(src, dst)

        monkeypatch.setattr(os, "rename", rename)
    here = tmp_path / "here"
    here.mkdir()
    (here / "notes.txt").write_text("mine")
    monkeypatch.chdir(here)
    beside = sorted(os.listdir(tmp_path))
    tmp_path.chmod(0o555)
    try:
        assert main(report_argv(".", "--seed", "1")) == 0
        assert main(report_argv(".", "--seed", "2", "--force")) == 0
    finally:
        tmp_path.chmod(0o755)
    assert sorted(os.listdir(here)) == sorted(REPORT_FILES + ["notes.txt"])
    assert sorted(os.listdir(tmp_path)) == beside
