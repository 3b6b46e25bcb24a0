"""Speed and memory of ``calibrate evaluate`` and ``calibrate apply`` on a .npy file.

Run by hand from the repository root (a report, not a test: it always exits
0)::

    python benchmarks/bench_cli.py             # 200,000 x 1,000 float32 (800 MB)
    python benchmarks/bench_cli.py --quick     # 50,000 x 1,000 (200 MB)
    python benchmarks/bench_cli.py --repeat 3  # best of 3 instead of 2
    python benchmarks/bench_cli.py --startup   # the start-up times only

It first times how long the command takes to start, each in a fresh process
(best of 7, interleaved): ``calibrate --help``, ``calibrate --version`` and
``calibrate apply`` of a temperature model to 1,000 x 10 logits, against
``python -c pass`` (the interpreter's own start), printing each absolute time
and the ratio to ``python -c pass``.  The target is ``calibrate --help``
under 0.5 s: it imports neither numpy nor scikit-learn (pinned, without
timing, by ``tests/test_cli_hardening.py``).  ``apply`` needs scikit-learn,
which imports scipy and pandas, whatever the command does.

Then it writes float32 logits and labels to a temporary directory and, in one
run, times (the runs interleaved, best of ``--repeat``):

* one log-sum-exp pass over the memory-mapped file, the unit of the report
  (the least any metric of logits must do: read every score once);
* ``calibrate evaluate SCORES LABELS --metrics ece,nll,brier --json``, called
  in-process through ``main``;
* the peer, what users write today: ``np.load`` the whole file, then
  ``scipy.special.softmax`` in float64, ``sklearn.metrics.log_loss``,
  ``brier_score_loss`` of the one-hot labels (its multiclass form), and a
  15-bin top-label ECE with ``np.searchsorted`` and ``np.bincount``;
* ``calibrate apply`` of a temperature-scaling model to the same file, against
  the peer ``np.save(out, model.predict_proba(np.load(scores)))``.

For each it prints the time, the time in log-sum-exp passes, the speed-up
peer / ours, and the peak memory allocated during one call (``tracemalloc``)
as a fraction of the file's size: the point of the memory map is that ours
stays a small fraction, where the peer needs several times the file.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import best_times, lse_pass, machine_info, make_logits, peak_extra_memory
from scipy.special import softmax
from sklearn.metrics import brier_score_loss, log_loss

from calibrate import TemperatureScaling
from calibrate.cli import main
from calibrate.io import load_calibrator, save_calibrator


def peer_evaluate(scores, labels):
    X = np.load(scores).astype(np.float64)
    y = np.load(labels)
    P = softmax(X, axis=1)
    k = P.shape[1]
    nll = log_loss(y, P, labels=np.arange(k))
    brier = brier_score_loss(y, P, labels=np.arange(k))
    conf = P.max(axis=1)
    correct = P.argmax(axis=1) == y
    edges = np.arange(1, 15) / 15
    bins = np.searchsorted(edges, conf, side="left")
    gap = np.bincount(bins, conf - correct, minlength=15)
    ece = np.abs(gap).sum() / len(y)
    return {"ece": ece, "nll": nll, "brier": brier}


def ours_evaluate(scores, labels):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            ["evaluate", scores, labels, "--metrics", "ece,nll,brier", "--json"]
        )
    assert status == 0
    doc = json.loads(out.getvalue())
    return {k: v["value"] for k, v in doc["metrics"].items()}


def command_line():
    """How to start ``calibrate``: the console script beside this Python, or -m."""
    script = os.path.join(os.path.dirname(sys.executable), "calibrate")
    if os.path.exists(script):
        return [script]
    found = shutil.which("calibrate")
    return [found] if found else [sys.executable, "-m", "calibrate"]


def startup_times(repeat=7):
    """Print the best wall time of each command's start, and its ratio to Python's."""
    with tempfile.TemporaryDirectory() as tmp:
        X, y = make_logits(1_000, 10)
        scores, model = os.path.join(tmp, "s.npy"), os.path.join(tmp, "m.json")
        np.save(scores, X)
        save_calibrator(TemperatureScaling().fit(X, y), model)
        out = os.path.join(tmp, "p.npy")
        calibrate_cmd = command_line()
        runs = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "calibrate --help": [*calibrate_cmd, "--help"],
            "calibrate --version": [*calibrate_cmd, "--version"],
            "calibrate apply (temperature, 1,000 x 10)": [
                *calibrate_cmd,
                *("apply", model, scores, "-o", out, "--force"),
            ],
        }
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(repeat):
            for name, argv in runs.items():
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                best[name] = min(best[name], time.perf_counter() - start)
    print(f"start-up, best of {repeat} fresh processes ({' '.join(calibrate_cmd)}):")
    unit = best["python -c pass"]
    for name, t in best.items():
        print(f"  {name:44s} {t:6.3f} s  {t / unit:5.1f} x python -c pass")
    verdict = "met" if best["calibrate --help"] < 0.5 else "NOT met"
    print(f"  target calibrate --help < 0.5 s: {verdict}\n")


def main_bench():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--startup", action="store_true", help="time the start-up only")
    args = parser.parse_args()
    print(machine_info())
    startup_times()
    if args.startup:
        return 0
    n, k = (50_000, 1_000) if args.quick else (200_000, 1_000)
    with tempfile.TemporaryDirectory() as tmp:
        scores, labels = os.path.join(tmp, "s.npy"), os.path.join(tmp, "y.npy")
        X, y = make_logits(n, k)
        np.save(scores, X)
        np.save(labels, y)
        model = os.path.join(tmp, "model.json")
        save_calibrator(TemperatureScaling().fit(X[:20_000], y[:20_000]), model)
        size = os.path.getsize(scores)
        del X
        print(f"{n:,} x {k:,} float32 logits: {size / 1e6:.0f} MB file\n")

        mapped = np.load(scores, mmap_mode="r")
        out_ours, out_peer = os.path.join(tmp, "a.npy"), os.path.join(tmp, "b.npy")

        def apply_ours():
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(["apply", model, scores, "-o", out_ours, "--force"]) == 0

        def apply_peer():
            np.save(out_peer, load_calibrator(model).predict_proba(np.load(scores)))

        funcs = [
            lambda: lse_pass(mapped),
            lambda: ours_evaluate(scores, labels),
            lambda: peer_evaluate(scores, labels),
            apply_ours,
            apply_peer,
        ]
        times, results = best_times(funcs, [args.repeat] * len(funcs))
        unit = times[0]
        names = [
            "one log-sum-exp pass (memory-mapped)",
            "calibrate evaluate --metrics ece,nll,brier",
            "peer: np.load + softmax + log_loss/brier/ECE",
            "calibrate apply (temperature)",
            "peer: np.save(predict_proba(np.load(...)))",
        ]
        memory = [None] + [peak_extra_memory(f) for f in funcs[1:]]
        for name, t, mem in zip(names, times, memory, strict=True):
            line = f"{name:46s} {t:7.2f} s  {t / unit:5.1f} passes"
            if mem is not None:
                line += f"  peak {mem / 1e6:7.0f} MB = {mem / size:5.2f} x file"
            print(line)
        ours, peer = results[1], results[2]
        print(
            f"\nevaluate speed-up peer / ours: {times[2] / times[1]:.1f}x; "
            f"apply speed-up: {times[4] / times[3]:.1f}x"
        )
        for key in ours:
            print(
                f"{key:6s} ours {ours[key]:.10f}  peer {peer[key]:.10f}  "
                f"|diff| {abs(ours[key] - peer[key]):.1e}"
            )
        same = np.allclose(np.load(out_ours, mmap_mode="r"), np.load(out_peer))
        print(f"apply outputs agree: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
