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
