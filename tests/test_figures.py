"""Tests for ``calibrate._figures``: the same command writes the same bytes.

Matplotlib salts an SVG's clip-path and hatch ids with a random UUID and
stamps SVG and PDF files with the time they were written; the plot command
and the report must not, and must leave the caller's ``rcParams`` alone.
"""

import io
import os
import subprocess
import sys

import pytest

from calibrate.cli import main

matplotlib = pytest.importorskip("matplotlib")


def _rc_snapshot():
    return {key: repr(value) for key, value in matplotlib.rcParams.items()}


def hatched_figure():
    """A figure with the two things whose SVG ids are salted: a clip path, a hatch."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.bar([0, 1], [1, 2], hatch="//", label="bars")
    ax.legend()
    return fig


def test_matplotlib_alone_writes_different_bytes():
    """The baseline the fix is about: two plain saves of one figure differ."""
    fig = hatched_figure()
    first, second = io.BytesIO(), io.BytesIO()
    fig.savefig(first, format="svg")
    fig.savefig(second, format="svg")
    assert first.getvalue() != second.getvalue()


@pytest.mark.parametrize("fmt", ["svg", "pdf", "png"])
def test_save_figure_writes_the_same_bytes_and_no_date(fmt):
    from calibrate._figures import save_figure

    before = _rc_snapshot()
    fig = hatched_figure()
    first, second = io.BytesIO(), io.BytesIO()
    save_figure(fig, first, fmt=fmt, dpi=50)
    save_figure(fig, second, fmt=fmt, dpi=50)
    assert first.getvalue() == second.getvalue()
    data = first.getvalue()
    # The stamps matplotlib writes by default (dc:date in SVG, CreationDate
    # in PDF, the Software text chunk in PNG) are absent.
    assert b"<dc:date>" not in data
    assert b"CreationDate" not in data
    assert b"Software" not in data
    if fmt == "svg":
        assert b"clip-path" in data and b"<pattern" in data
    assert _rc_snapshot() == before
    assert matplotlib.rcParams["svg.hashsalt"] is None


def test_save_figure_refuses_an_unknown_format():
    from calibrate._figures import save_figure

    with pytest.raises(ValueError, match="'jpg'"):
        save_figure(hatched_figure(), io.BytesIO(), fmt="jpg", dpi=50)


def _command(argv, hashseed):
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    done = subprocess.run(
        [sys.executable, "-m", "calibrate", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def _files(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_plot_writes_the_same_bytes_in_process_and_in_another_process(
    write_scores, tmp_path
):
    args = write_scores("multiclass", n=600)["npy"]
    data = [args["test_scores"], args["test_labels"]]
    before = _rc_snapshot()
    for fmt in ("svg", "pdf", "png"):
        paths = [tmp_path / f"d{i}.{fmt}" for i in range(3)]
        # Uncalibrated and, with --model, side by side: both kinds of figure.
        assert main(["plot", *data, "-o", str(paths[0]), "-q"]) == 0
        assert main(["plot", *data, "-o", str(paths[1]), "-q"]) == 0
        _command(["plot", *data, "-o", str(paths[2]), "-q"], hashseed=12345)
        first = paths[0].read_bytes()
        assert first == paths[1].read_bytes() == paths[2].read_bytes(), fmt
    model = tmp_path / "model.json"
    assert main(["fit", args["val_scores"], args["val_labels"], "-o", str(model)]) == 0
    sides = [tmp_path / f"s{i}.svg" for i in range(2)]
    for i, path in enumerate(sides):
        _command(
            ["plot", *data, "--model", str(model), "-o", str(path), "-q"], hashseed=i
        )
    assert sides[0].read_bytes() == sides[1].read_bytes()
    assert _rc_snapshot() == before


def test_report_writes_the_same_bytes_in_process_and_in_another_process(
    write_scores, tmp_path
):
    args = write_scores("multiclass", n=600)["npy"]
    argv = [
        "report",
        "--val",
        args["val_scores"],
        args["val_labels"],
        "--test",
        args["test_scores"],
        args["test_labels"],
        "--methods",
        "temperature,vector",
        "--n-bootstrap",
        "20",
        "-q",
    ]
    before = _rc_snapshot()
    assert main([*argv, "-o", str(tmp_path / "r0")]) == 0
    assert _rc_snapshot() == before
    _command([*argv, "-o", str(tmp_path / "r1")], hashseed=1)
    _command([*argv, "-o", str(tmp_path / "r2")], hashseed=2)
    files = [_files(tmp_path / f"r{i}") for i in range(3)]
    assert set(files[0]) == {
        "report.html",
        "README.md",
        "report.json",
        "reliability.png",
        "metrics.png",
    }
    for name, data in files[0].items():
        assert data == files[1][name] == files[2][name], name
    # The embedded SVG images are the bytes that vary by default.
    assert b"data:image/svg+xml;base64," in files[0]["report.html"]
