"""Speed and memory of the top-label ECE and the NLL of float32 logits.

Run by hand from the repository root (it is a report, not a test: it always
exits 0)::

    python benchmarks/bench_metrics.py              # all three sizes, ~35 seconds
    python benchmarks/bench_metrics.py --quick      # the two small sizes only
    python benchmarks/bench_metrics.py --repeat 5   # best of 5 instead of 3

At (10,000 x 10), (10,000 x 100) and (50,000 x 1,000) float32 logits it times,
in one run,

* one log-sum-exp pass over the array,
  ``m = X.max(1); np.log(np.exp(X - m[:, None]).sum(1)) + m``, the unit that
  the metrics are measured in (the same pass as ``bench_temperature.py``);
* ``expected_calibration_error(y, X, n_bins=15, input_type="logits")`` (15-bin
  top-label ECE) and ``negative_log_likelihood(y, X, input_type="logits")``;
* their peers on the same array:

  - ECE: a plain numpy reference written below, ``numpy_ece``: the softmax in
    float64, then the top-label confidence binned into 15 uniform bins
    ``(k/15, (k+1)/15]`` (right-closed, the package's convention) with
    ``np.searchsorted`` and summed with ``np.bincount``;
  - NLL: scikit-learn's obvious route,
    ``log_loss(y, scipy.special.softmax(X, axis=1), labels=range(K))``, on the
    float32 logits as given ("f32"), and the same with the softmax of
    ``X.astype(np.float64)`` ("f64").  ``log_loss`` clips probabilities at the
    machine epsilon of their dtype; in float32 that is 1.2e-7, so every label
    the model gives less than that counts as ``-log(1.2e-7) = 15.9`` nats and
    the f32 value comes out lower than the exact one.  The f64 route clips at
    2.2e-16, which these logits do not reach, and agrees with ours to rounding;
  - if they are importable (nothing is installed for them), torchmetrics'
    ``multiclass_calibration_error`` and netcal's ``ECE(bins=15)``; otherwise
    a note says they were skipped.

For each pair it prints the times, our time in log-sum-exp passes, the
speed-up peer / ours, both values and their absolute difference, and the peak
memory of one call beyond its (already allocated) input, from ``tracemalloc``
(numpy reports its buffers to it), in MB and, for ours, as a fraction of the
input array's size.

Targets at 50,000 x 1,000 (the metrics issue), checked at the end as PASS/FAIL:

* the ECE takes at most 1.5 log-sum-exp passes;
* the NLL takes at most 1.5 log-sum-exp passes;

and, at every size run, both agree with their float64 references (numpy ECE,
``log_loss`` of the float64 softmax) within 1e-6.  Our metrics compute the
exponentials in float32 and sum them in float64 (about 1e-7 relative per row),
so a confidence within ~1e-7 of a bin edge may land in the neighbouring bin:
that moves the ECE by about 1 / n, which would show as a FAIL of the ECE
agreement without being a bug.

Times are the best of ``--repeat`` runs (``time.perf_counter``), the
log-sum-exp pass at least five.  The pass, our two metrics and the peers are
timed alternately (pass, ECE, NLL, peers, pass, ...), so that other load on the
machine skews their ratios less; the machine line reports the load average.
The memory is measured in separate, untimed calls, since tracing slows numpy
down.  All of it runs on one core: neither our metrics nor the peers use
threads.

The logits are synthetic but shaped like a real model's, as in
``bench_temperature.py``: true logits ``u = s_i * N(0, 1)`` with a per-row
scale ``s_i`` and a boost on one class, labels drawn from ``softmax(u)``, and
model logits ``2 * u`` (an over-confident model, so the ECE is large).
"""

import argparse
import importlib.util
import sys

import numpy as np
import scipy
import scipy.special
from _common import (
    TRUE_TEMPERATURE,
    best_times,
    lse_pass,
    machine_info,
    make_logits,
    peak_extra_memory,
)
from sklearn.metrics import log_loss

from calibrate.metrics import expected_calibration_error, negative_log_likelihood

SIZES = [(10_000, 10), (10_000, 100), (50_000, 1_000)]
QUICK_SIZES = SIZES[:2]
TARGET_SIZE = SIZES[-1]

# Targets at TARGET_SIZE, from the metrics issue.
MAX_ECE_PASSES = 1.5
MAX_NLL_PASSES = 1.5
# Agreement with the float64 references, at every size.
MAX_DIFFERENCE = 1e-6

N_BINS = 15


def ours_ece(X, y):
    return expected_calibration_error(y, X, n_bins=N_BINS, input_type="logits")


def ours_nll(X, y):
    return negative_log_likelihood(y, X, input_type="logits")


def numpy_ece(X, y, n_bins=N_BINS):
    """15-bin top-label ECE from the float64 softmax, bins ``(e_k, e_k+1]``."""
    P = X.astype(np.float64)
    P -= P.max(axis=1, keepdims=True)
    np.exp(P, out=P)
    P /= P.sum(axis=1, keepdims=True)
    top = P.argmax(axis=1)
    confidence = P[np.arange(P.shape[0]), top]
    correct = (top == y).astype(np.float64)
    edges = np.arange(n_bins + 1) / n_bins
    # Interior edges strictly below the confidence: bin k is (e_k, e_k+1], and
    # a confidence of exactly 0 would go to bin 0.
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    confidence_sums = np.bincount(index, weights=confidence, minlength=n_bins)
    correct_sums = np.bincount(index, weights=correct, minlength=n_bins)
    # sum_b (n_b / n) |acc_b - conf_b| = sum_b |correct_b - confidence_b| / n
    return float(np.abs(correct_sums - confidence_sums).sum() / P.shape[0])


def sklearn_nll_f32(X, y):
    return float(
        log_loss(y, scipy.special.softmax(X, axis=1), labels=np.arange(X.shape[1]))
    )


def sklearn_nll_f64(X, y):
    P = scipy.special.softmax(X.astype(np.float64), axis=1)
    return float(log_loss(y, P, labels=np.arange(X.shape[1])))


def optional_peers():
    """ECE peers from torchmetrics and netcal, if importable; and the notes."""
    peers, notes = [], []
    if importlib.util.find_spec("torchmetrics") is not None:
        import torch
        from torchmetrics.functional.classification import (
            multiclass_calibration_error,
        )

        def torchmetrics_ece(X, y):
            # Logits are accepted: torchmetrics applies the softmax itself.
            return float(
                multiclass_calibration_error(
                    torch.from_numpy(X),
                    torch.from_numpy(y),
                    num_classes=X.shape[1],
                    n_bins=N_BINS,
                    norm="l1",
                )
            )

        peers.append(("ECE", "torchmetrics", torchmetrics_ece))
    else:
        notes.append("torchmetrics not installed: skipped")
    if importlib.util.find_spec("netcal") is not None:
        from netcal.metrics import ECE

        def netcal_ece(X, y):
            P = scipy.special.softmax(X.astype(np.float64), axis=1)
            return float(ECE(bins=N_BINS).measure(P, y))

        peers.append(("ECE", "netcal", netcal_ece))
    else:
        notes.append("netcal not installed: skipped")
    return peers, notes


def timed_or_failed(func):
    """Wrap an optional peer so that an error in it cannot stop the report."""

    def call():
        try:
            return func()
        except Exception as error:  # an optional library's API may change
            return error

    return call


def run_size(n, k, repeat, extra_peers):
    X, y = make_logits(n, k)
    peers = [
        ("ECE", "numpy f64 reference", numpy_ece),
        ("NLL", "log_loss(softmax f32)", sklearn_nll_f32),
        ("NLL", "log_loss(softmax f64)", sklearn_nll_f64),
    ]
    peers += extra_peers
    funcs = [lambda: lse_pass(X), lambda: ours_ece(X, y), lambda: ours_nll(X, y)]
    funcs += [timed_or_failed(lambda f=f: f(X, y)) for _, _, f in peers]
    # The pass is short and noisy, so it gets at least five runs.
    repeats = [max(repeat, 5)] + [repeat] * (len(funcs) - 1)
    times, values = best_times(funcs, repeats)
    t_lse, t_ece, t_nll = times[:3]
    ours = {
        "ECE": (t_ece, values[1], peak_extra_memory(lambda: ours_ece(X, y))),
        "NLL": (t_nll, values[2], peak_extra_memory(lambda: ours_nll(X, y))),
    }
    rows = []
    for (metric, name, func), t_peer, value in zip(
        peers, times[3:], values[3:], strict=True
    ):
        t_ours, ours_value, memory = ours[metric]
        failed = isinstance(value, Exception)
        rows.append(
            {
                "metric": metric,
                "peer": name,
                "ours": t_ours,
                "passes": t_ours / t_lse,
                "value": ours_value,
                "mem_mb": memory / 2**20,
                "mem_frac": memory / X.nbytes,
                "peer_s": np.nan if failed else t_peer,
                "speedup": np.nan if failed else t_peer / t_ours,
                "peer_value": np.nan if failed else value,
                "diff": np.nan if failed else abs(ours_value - value),
                "peer_mb": (
                    np.nan
                    if failed
                    else peak_extra_memory(timed_or_failed(lambda f=func: f(X, y)))
                    / 2**20
                ),
                "error": f"{type(value).__name__}: {value}" if failed else None,
            }
        )
    return {
        "size": (n, k),
        "lse": t_lse,
        "input_mb": X.nbytes / 2**20,
        "accuracy": float(np.mean(np.argmax(X, axis=1) == y)),
        "rows": rows,
    }


HEADER = (
    f"{'n x K':>14} {'input MB':>8} {'acc':>4} {'pass s':>7} {'metric':>6} "
    f"{'ours s':>7} {'passes':>6} {'ours MB':>7} {'/input':>6} "
    f"{'peer':<21} {'peer s':>7} {'peer/ours':>9} {'peer MB':>8} "
    f"{'ours value':>10} {'peer value':>10} {'|diff|':>7}"
)


def format_rows(r):
    n, k = r["size"]
    lines = []
    for i, row in enumerate(r["rows"]):
        if i == 0:
            head = (
                f"{f'{n:,} x {k:,}':>14} {r['input_mb']:8.1f} {r['accuracy']:4.2f} "
                f"{r['lse']:7.4f}"
            )
        else:
            head = " " * 36
        lines.append(
            f"{head} {row['metric']:>6} {row['ours']:7.4f} {row['passes']:6.2f} "
            f"{row['mem_mb']:7.2f} {row['mem_frac']:6.3f} {row['peer']:<21} "
            f"{row['peer_s']:7.3f} {row['speedup']:9.1f} {row['peer_mb']:8.1f} "
            f"{row['value']:10.6f} {row['peer_value']:10.6f} {row['diff']:7.1e}"
        )
        if row["error"] is not None:
            lines.append(f"{'':36} {row['peer']} failed: {row['error']}")
    return "\n".join(lines)


def find_row(r, metric, peer):
    return next(x for x in r["rows"] if x["metric"] == metric and x["peer"] == peer)


def verdicts(results):
    largest = results[-1]
    ece = find_row(largest, "ECE", "numpy f64 reference")
    nll = find_row(largest, "NLL", "log_loss(softmax f64)")
    checks = [
        (
            f"ECE <= {MAX_ECE_PASSES:g} log-sum-exp passes",
            ece["passes"] <= MAX_ECE_PASSES,
            f"{ece['passes']:.2f} passes ({ece['ours']:.4f} s / "
            f"{largest['lse']:.4f} s); {ece['speedup']:.1f}x faster than the "
            f"numpy f64 reference",
        ),
        (
            f"NLL <= {MAX_NLL_PASSES:g} log-sum-exp passes",
            nll["passes"] <= MAX_NLL_PASSES,
            f"{nll['passes']:.2f} passes ({nll['ours']:.4f} s / "
            f"{largest['lse']:.4f} s); {nll['speedup']:.1f}x faster than "
            f"log_loss(softmax f64), "
            f"{find_row(largest, 'NLL', 'log_loss(softmax f32)')['speedup']:.1f}x "
            f"than log_loss(softmax f32)",
        ),
    ]
    for metric, peer in (
        ("ECE", "numpy f64 reference"),
        ("NLL", "log_loss(softmax f64)"),
    ):
        diffs = [find_row(r, metric, peer)["diff"] for r in results]
        worst = max(diffs)
        checks.append(
            (
                f"{metric} agrees with {peer} within {MAX_DIFFERENCE:g} (every size)",
                worst <= MAX_DIFFERENCE,
                f"largest |diff| {worst:.1e}",
            )
        )
    return [(name, "PASS" if ok else "FAIL", detail) for name, ok, detail in checks]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark the top-label ECE and the NLL of float32 logits "
        "against one log-sum-exp pass, a numpy reference ECE and scikit-learn's "
        "log_loss."
    )
    parser.add_argument(
        "--quick", action="store_true", help="run the two small sizes only"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="best of N runs for each timing (default: 3; the log-sum-exp pass "
        "runs at least 5 times)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1; got {args.repeat}.")

    extra_peers, notes = optional_peers()
    print(machine_info())
    print(
        f"float32 logits, labels from softmax(logits / {TRUE_TEMPERATURE:g}); "
        f"{N_BINS}-bin top-label ECE; times are the best of {args.repeat}"
    )
    for note in notes:
        print(f"note: {note}")
    print(HEADER)
    results = []
    for n, k in QUICK_SIZES if args.quick else SIZES:
        results.append(run_size(n, k, args.repeat, extra_peers))
        print(format_rows(results[-1]), flush=True)

    largest = results[-1]
    n, k = largest["size"]
    print()
    note = (
        ""
        if largest["size"] == TARGET_SIZE
        else (
            f" (quick run: the targets are set for {TARGET_SIZE[0]:,} x "
            f"{TARGET_SIZE[1]:,})"
        )
    )
    print(f"Targets at {n:,} x {k:,}{note}:")
    for name, verdict, detail in verdicts(results):
        print(f"  {verdict}  {name}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
