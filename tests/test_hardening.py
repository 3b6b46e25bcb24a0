"""Hostile inputs and races (issues 19 and 20): one clear line, nothing lost.

Each test here failed on the code before the hardening branch: it pins one
finding of the attack list.
"""

import os
import signal

import numpy as np
import pytest

import calibrate.cli.apply
from calibrate import TemperatureScaling
from calibrate.cli import main
from calibrate.io import save_calibrator


@pytest.fixture
def model_and_scores(rng, tmp_path):
    logits = 3 * rng.normal(size=(600, 4))
    labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    save_calibrator(TemperatureScaling().fit(logits, labels), tmp_path / "m.json")
    np.save(tmp_path / "s.npy", logits)
    np.save(tmp_path / "y.npy", labels)
    return tmp_path / "m.json", tmp_path / "s.npy", tmp_path / "y.npy"


def small_chunks(monkeypatch):
    monkeypatch.setattr(
        calibrate.cli.apply,
        "iter_chunks",
        lambda n, k: (slice(i, min(i + 100, n)) for i in range(0, n, 100)),
    )


# -------------------------------------------------------------- apply output
def test_apply_onto_an_existing_output_exits_1(model_and_scores, tmp_path, capsys):
    model, scores, _ = model_and_scores
    out = tmp_path / "p.npy"
    out.write_bytes(b"theirs")
    assert main(["apply", str(model), str(scores), "-o", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"theirs"


def test_a_concurrent_apply_is_not_replaced(
    model_and_scores, tmp_path, monkeypatch, capsys
):
    # Another run creates the destination while this one is writing: this one
    # must fail with "already exists" and leave the other's file as it is.
    model, scores, _ = model_and_scores
    out = tmp_path / "p.npy"
    small_chunks(monkeypatch)
    real = calibrate.cli.apply._apply

    def racing(method, X, rows, args):
        if rows.start == 300:
            out.write_bytes(b"the other run")
        return real(method, X, rows, args)

    monkeypatch.setattr(calibrate.cli.apply, "_apply", racing)
    assert main(["apply", str(model), str(scores), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"the other run"
    assert sorted(os.listdir(tmp_path)) == ["m.json", "p.npy", "s.npy", "y.npy"]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_during_apply_removes_the_temporary_file(
    model_and_scores, tmp_path, monkeypatch, capsys, signame
):
    model, scores, _ = model_and_scores
    small_chunks(monkeypatch)
    real = calibrate.cli.apply._apply
    signum = getattr(signal, signame)

    def killed(method, X, rows, args):
        if rows.start == 300:
            os.kill(os.getpid(), signum)
        return real(method, X, rows, args)

    monkeypatch.setattr(calibrate.cli.apply, "_apply", killed)
    before = signal.getsignal(signum)
    out = tmp_path / "p.npy"
    status = main(["apply", str(model), str(scores), "-o", str(out)])
    assert status == 128 + signum
    assert signame in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["m.json", "s.npy", "y.npy"]
    assert signal.getsignal(signum) == before


# ------------------------------------------------------- files that never end
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_a_model_that_is_not_text_is_one_line(model_and_scores, capsys):
    model, scores, _ = model_and_scores
    # Arguments swapped: the .npy file is read as the model.
    assert main(["apply", str(scores), str(model), "-o", "never.npy"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(scores) in err


@pytest.mark.parametrize("where", ["scores", "labels", "model"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_are_refused_before_reading(
    model_and_scores, fifo, tmp_path, capsys, where, special
):
    # A FIFO nobody writes to would block the read forever; /dev/zero never
    # ends.  Both must be refused at once, by name.
    model, scores, labels = model_and_scores
    bad = str(fifo) if special == "fifo" else special
    argv = {
        "scores": ["evaluate", bad, str(labels)],
        "labels": ["evaluate", str(scores), bad],
        "model": ["apply", bad, str(scores), "-o", str(tmp_path / "o.npy")],
    }[where]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert bad in err and "not a regular file" in err


def test_scores_from_a_pipe_say_they_must_be_a_regular_file(model_and_scores, capsys):
    _, scores, labels = model_and_scores
    read, write = os.pipe()
    try:
        os.write(write, scores.read_bytes()[:4096])
        assert main(["evaluate", f"/dev/fd/{read}", str(labels)]) == 1
    finally:
        os.close(read)
        os.close(write)
    err = capsys.readouterr().err
    assert "regular file" in err and "magic string" not in err


# ---------------------------------------------------------- hostile strings
def test_file_names_cannot_forge_lines_or_drive_the_terminal(
    model_and_scores, tmp_path, capsys
):
    model, scores, _ = model_and_scores
    forged = tmp_path / "a\nwrote evil.npy"
    forged.write_bytes(scores.read_bytes())
    out = tmp_path / "o\x1b[2J\u202e.npy"
    assert main(["apply", str(model), str(forged), "-o", str(out)]) == 0
    assert out.exists()
    stdout = capsys.readouterr().out
    assert stdout.count("\n") == 1 and "\x1b" not in stdout and "\u202e" not in stdout
    assert "a\\nwrote evil.npy" in stdout and "\\x1b[2J\\u202e" in stdout
    # and in an error message
    assert main(["evaluate", str(tmp_path / "x\n\u202egnp.npy"), str(forged)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x\\n\\u202egnp.npy" in err


def svg_text(fig):
    import io

    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["cost $5 vs $10", "$\\foo{$", "$\\alpha$"])
def test_plot_names_are_drawn_literally(rng, name):
    import html

    from matplotlib.figure import Figure

    from calibrate.plotting import ReliabilityDisplay

    y = rng.integers(0, 3, size=300)
    p = rng.dirichlet(np.ones(3), size=300)
    fig = Figure()
    ReliabilityDisplay.from_predictions(y, p, name=name).plot(ax=fig.subplots())
    assert html.escape(name, quote=False) in svg_text(fig)
    labels = np.array(sorted(["a$x$", "b", name]))
    display = ReliabilityDisplay.from_predictions(
        labels[y], p, reduction="classwise"
    ).plot()
    text = svg_text(display.figure_)
    assert "a$x$" in text and html.escape(name, quote=False) in text


def test_report_strings_show_controls_and_dollars(rng, tmp_path):
    from calibrate.report import build_report

    z = 3 * rng.normal(size=(400, 3))
    y = (z / 2 + rng.gumbel(size=z.shape)).argmax(axis=1)
    title = "x/\u202egnp.exe costs $\\alpha$"
    report = build_report(
        (z[:200], y[:200]),
        (z[200:], y[200:]),
        methods=["temperature"],
        n_bootstrap=200,
        title=title,
        sources={"val_scores": "v\u202e.npy"},
    )
    report.to_html(tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "\u202e" not in page and "x/\\u202egnp.exe" in page
    report.to_markdown(tmp_path / "md")
    md = (tmp_path / "md" / "README.md").read_text()
    assert "\u202e" not in md and "\\$\\\\alpha\\$" in md


# ------------------------------------------------------------ bounded sizes
def test_bin_stats_refuses_a_billion_bins():
    from calibrate.binning import bin_stats

    with pytest.raises(ValueError, match="n_bins must be at most"):
        bin_stats([0.2, 0.8], [0, 1], n_bins=10**9)


@pytest.mark.parametrize("command", ["evaluate", "fit", "plot", "report"])
def test_n_bins_option_is_bounded(model_and_scores, tmp_path, capsys, command):
    _, scores, labels = model_and_scores
    argv = {
        "evaluate": ["evaluate", str(scores), str(labels)],
        "fit": ["fit", str(scores), str(labels), "-o", str(tmp_path / "f.json")],
        "plot": ["plot", str(scores), str(labels), "-o", str(tmp_path / "d.png")],
        "report": [
            "report",
            "--val",
            str(scores),
            str(labels),
            "--test",
            str(scores),
            str(labels),
            "-o",
            str(tmp_path / "r"),
        ],
    }[command]
    assert main([*argv, "--n-bins", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert "--n-bins" in err and "at most" in err


# ------------------------------------------------------------------ output
def test_nll_of_perfect_predictions_prints_0(tmp_path, capsys):
    y = np.array([0, 1, 2, 1])
    np.save(tmp_path / "p.npy", np.eye(3)[y])
    np.save(tmp_path / "y.npy", y)
    argv = ["evaluate", str(tmp_path / "p.npy"), str(tmp_path / "y.npy")]
    assert main([*argv, "--input-type", "probs", "--metrics", "nll"]) == 0
    out = capsys.readouterr().out
    assert "-0" not in out
    row = next(line for line in out.splitlines() if line.startswith("nll"))
    assert row.split()[1] == "0"


def test_python_dash_m_calibrate_runs_the_command():
    import subprocess
    import sys

    import calibrate

    done = subprocess.run(
        [sys.executable, "-m", "calibrate", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"calibrate {calibrate.__version__}"
