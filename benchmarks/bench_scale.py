"""Vocabulary-scale logits in bounded memory, and dask arrays on a cluster.

Run by hand from the repository root (a report, not a test: it always exits
0)::

    python benchmarks/bench_scale.py cli            # (a) 20,000 x 32,000 float16
    python benchmarks/bench_scale.py cli --data-dir DIR   # reuse DIR's files
    python benchmarks/bench_scale.py dask           # (b) 10**6 x 1,000 float16
    python benchmarks/bench_scale.py dask --rows 200000   # a smaller (b)
    python benchmarks/bench_scale.py kernels        # classwise ECE, Brier

``kernels``: the classwise ECE and the Brier score of 50,000 x 1,000
float32 logits and probabilities, in units of one log-sum-exp pass over the
input and with their peak extra memory (``tracemalloc``) as a fraction of
the input's size.

(a) writes validation and test logits of 20,000 x 32,000 float16 (1.28 GB a
split; labels drawn from ``softmax(z / 1.5)``, so the true temperature is
1.5) with ``np.lib.format.open_memmap``, chunk by chunk, then runs
``calibrate fit``, ``evaluate`` (every default metric), ``evaluate
--model``, ``apply``, ``plot`` and ``report --methods temperature`` in
subprocesses.  For each it prints the wall time, the peak resident set
(``ru_maxrss`` of that child, from ``os.wait4``; it counts the pages of the
memory-mapped input it has touched) and the peak *anonymous* resident set
(``RssAnon`` of ``/proc/PID/status``, polled every 20 ms): the memory
beyond the mapped file pages, which the issue bounds at 2 GB.

(b) builds a dask array of 10**6 x 1,000 float16 logits (10**9 scores),
generated lazily block by block (never held whole), and on a
``distributed.LocalCluster`` with 1 and then 2 worker processes (one thread
each, 2 GB memory limit) evaluates the metrics that combine over blocks and
fits temperature scaling.  It prints the wall times, the speed-up from 1 to
2 workers and each worker's peak resident set (``ru_maxrss``, read on the
worker after the run).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

TRUE_TEMPERATURE = 1.5


def write_split(x_path, y_path, n, k, seed):
    """Float16 logits ``1.5 * u`` and labels drawn from ``softmax(u)``, by chunks."""
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float16, shape=(n, k))
    y = np.empty(n, dtype=np.int64)
    step = max(1, 2**22 // k)
    for start in range(0, n, step):
        m = min(step, n - start)
        u = rng.standard_normal((m, k), dtype=np.float32) * 1.5
        boost = np.log(k) + rng.uniform(0, 3, size=m).astype(np.float32)
        u[np.arange(m), rng.integers(k, size=m)] += boost
        gumbel = rng.gumbel(size=u.shape).astype(np.float32)
        y[start : start + m] = np.argmax(u + gumbel, axis=1)
        X[start : start + m] = (TRUE_TEMPERATURE * u).astype(np.float16)
    X.flush()
    del X
    np.save(y_path, y)


def run_measured(argv):
    """Run ``argv``: (status, wall s, peak RSS, peak anonymous RSS, output)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak_anon = [0]
    output = []

    def poll():
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            kb = int(line.split()[1])
                            peak_anon[0] = max(peak_anon[0], kb * 1024)
            except OSError:
                pass
            time.sleep(0.02)

    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()))
    watcher = threading.Thread(target=poll)
    reader.start()
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    reader.join()
    wall = time.perf_counter() - start
    return proc.returncode, wall, usage.ru_maxrss * 1024, peak_anon[0], output[0]


def bench_cli(args):
    n, k = args.n, args.k
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        data = Path(args.data_dir) if args.data_dir else Path(tmp)
        files = {s: (data / f"{s}_x.npy", data / f"{s}_y.npy") for s in ("val", "test")}
        for seed, (x, y) in enumerate(files.values()):
            if not x.exists():
                print(f"writing {x} ({n} x {k} float16, {n * k * 2 / 1e9:.2f} GB)")
                write_split(x, y, n, k, seed)
        (vx, vy), (tx, ty) = files["val"], files["test"]
        out = Path(tmp)
        cli = [sys.executable, "-m", "calibrate.cli"]
        model = out / "model.json"
        commands = {
            "fit": ["fit", vx, vy, "-o", model],
            # The other fits issue 18 names (their models are not used).
            "fit vector": ["fit", vx, vy, "--method", "vector", "-o", out / "v.json"],
            "fit platt": ["fit", vx, vy, "--method", "platt", "-o", out / "p.json"],
            "evaluate": ["evaluate", tx, ty, "--json"],
            "evaluate --model": ["evaluate", tx, ty, "--model", model, "--json"],
            "apply": ["apply", model, tx, "-o", out / "calibrated.npy"],
            "plot": ["plot", tx, ty, "--model", model, "-o", out / "diagram.png"],
            "report": [
                "report",
                "--val",
                vx,
                vy,
                "--test",
                tx,
                ty,
                "--methods",
                "temperature",
                "-o",
                out / "report",
            ],
        }
        if args.commands:
            chosen = [c.strip() for c in args.commands.split(",")]
            unknown = sorted(set(chosen) - set(commands))
            if unknown:
                raise SystemExit(
                    f"unknown commands {unknown}; choose from {list(commands)}"
                )
            if any(c in chosen for c in ("evaluate --model", "apply", "plot")):
                chosen = ["fit", *[c for c in chosen if c != "fit"]]
            commands = {c: commands[c] for c in commands if c in chosen}
        print(f"\n{n} x {k} float16 logits, {n * k * 2 / 1e9:.2f} GB a split\n")
        print(
            f"{'command':<18} {'status':>6} {'wall s':>8} {'peak RSS':>9} "
            f"{'peak anon':>10}"
        )
        for name, argv in commands.items():
            status, wall, rss, anon, text = run_measured(
                [*cli, *(str(a) for a in argv)]
            )
            print(
                f"{name:<18} {status:>6} {wall:>8.1f} {rss / 1e9:>8.2f}G "
                f"{anon / 1e9:>9.2f}G"
            )
            if status != 0:
                print("   ", text.strip().splitlines()[-1] if text.strip() else "")
            if name.startswith("fit "):
                iters = [ln for ln in text.splitlines() if "n_iter_" in ln]
                print("   ", iters[0] if iters else "")
            if name == "fit":
                temps = [ln for ln in text.splitlines() if "temperature_" in ln]
                print("   ", temps[0] if temps else "", f"(true {TRUE_TEMPERATURE})")
            (out / "calibrated.npy").unlink(missing_ok=True)
        print(
            "\npeak RSS counts the touched pages of the memory-mapped input; "
            "peak anon is the memory beyond them (the bound: 2 GB)."
        )


def _draw_logits(rng, m, k):
    u = rng.standard_normal((m, k), dtype=np.float32) * 1.5
    u[np.arange(m), rng.integers(k, size=m)] += np.log(k)
    return u


def _draw(start, stop, k):
    """Block ``[start, stop)``: logits ``1.5 * u`` and labels from ``softmax(u)``."""
    rng = np.random.default_rng(start)
    m = stop - start
    u = _draw_logits(rng, m, k)
    labels = np.argmax(u + rng.gumbel(size=u.shape).astype(np.float32), axis=1)
    return (TRUE_TEMPERATURE * u).astype(np.float16), labels


def _draw_scores(start, stop, k):
    """The logits of :func:`_draw` alone (the same stream, without the labels'
    Gumbel noise, which costs three times the logits)."""
    u = _draw_logits(np.random.default_rng(start), stop - start, k)
    return (TRUE_TEMPERATURE * u).astype(np.float16)


def lazy_logits(n, k, rows_per_block):
    """A dask array of float16 logits generated block by block, and its labels.

    Each block is drawn from its own seed when a task needs it, never stored;
    the labels (O(n)) are computed once, on the workers.
    """
    import dask.array as da

    def rows(block_info):
        (start, stop), *_ = block_info[None]["array-location"]
        return start, stop

    chunks = tuple(_sizes(n, rows_per_block))
    X = da.map_blocks(
        lambda block_info=None: _draw_scores(*rows(block_info), k),
        dtype=np.float16,
        chunks=(chunks, (k,)),
        meta=np.empty((0, 0), dtype=np.float16),
    )
    y = da.map_blocks(
        lambda block_info=None: _draw(*rows(block_info), k)[1],
        dtype=np.int64,
        chunks=(chunks,),
        meta=np.empty((0,), dtype=np.int64),
    ).compute()
    return X, y


def _import_calibrate():
    import calibrate.calibrators  # noqa: F401
    import calibrate.metrics  # noqa: F401


def _sizes(n, step):
    return [min(step, n - s) for s in range(0, n, step)]


#: Every default multiclass metric but the classwise KS error, which sorts
#: each class column over all rows: on a lazily generated dask array that is
#: one computation of the array per block of columns (about 2**22 / n).
DASK_METRICS = [
    "accuracy",
    "nll",
    "brier",
    "ece",
    "ece_classwise",
    "mce",
    "ece_l2_debiased",
    "ece_top_label_conditional",
    "mce_top_label_conditional",
    "smooth_ece",
    "ks",
    "classification_error",
]


def bench_dask(args):
    from distributed import Client, LocalCluster

    from calibrate import TemperatureScaling
    from calibrate.metrics import evaluate

    n, k = args.rows, args.classes
    times = {}
    began = time.perf_counter()
    print(f"load average at start: {_load()}")
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                memory_limit="2GB",
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            # Import the library on the workers first: a worker's first task
            # would otherwise pay for importing scipy and scikit-learn.
            client.run(_import_calibrate)
            start = time.perf_counter()
            X, y = lazy_logits(n, k, args.block_rows)
            t_labels = time.perf_counter() - start
            start = time.perf_counter()
            values = evaluate(y, X, input_type="logits", metrics=DASK_METRICS)
            t_eval = time.perf_counter() - start
            start = time.perf_counter()
            ts = TemperatureScaling().fit(X, y)
            t_fit = time.perf_counter() - start
            peaks = client.run(
                lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            )
            times[workers] = (t_eval, t_fit)
            print(
                f"\n{workers} worker(s): {n} x {k} float16 = {n * k:.2e} scores "
                f"in blocks of {args.block_rows} rows"
            )
            print(f"  labels (one pass, O(n))  {t_labels:8.1f} s")
            print(f"  evaluate ({len(values)} metrics)  {t_eval:8.1f} s")
            print(
                f"  temperature fit          {t_fit:8.1f} s  T = "
                f"{ts.temperature_:.4f}, {ts.n_iter_} passes"
            )
            for address, peak in peaks.items():
                print(f"  worker {address}: peak RSS {peak / 1e9:.2f} GB")
            print(f"  load average: {_load()}")
    e1, f1 = times[1]
    e2, f2 = times[2]
    print(f"\nspeed-up 1 -> 2 workers: evaluate {e1 / e2:.2f}x, fit {f1 / f2:.2f}x")
    print(f"total {time.perf_counter() - began:.0f} s; load average at end: {_load()}")


def _load():
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def bench_kernels(args):
    """Classwise ECE and Brier score at 50,000 x 1,000 float32: passes and memory."""
    from _common import best_times, lse_pass, make_logits, peak_extra_memory
    from scipy.special import softmax

    from calibrate.metrics import brier_score, expected_calibration_error

    X, y = make_logits(args.n, args.k)
    P = softmax(X.astype(np.float64), axis=1).astype(np.float32)
    P /= P.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    runs = {
        "classwise ECE, logits": lambda: expected_calibration_error(
            y, X, reduction="classwise", input_type="logits"
        ),
        "classwise ECE, probs": lambda: expected_calibration_error(
            y, P, reduction="classwise"
        ),
        "Brier, logits": lambda: brier_score(y, X, input_type="logits"),
        "Brier, probs": lambda: brier_score(y, P),
    }
    (lse, *times), _ = best_times(
        [lambda: lse_pass(X), *runs.values()], [args.repeat] * (len(runs) + 1)
    )
    size = X.nbytes
    print(
        f"\n{args.n} x {args.k} float32 ({size / 1e6:.0f} MB); one log-sum-exp "
        f"pass {lse * 1e3:.0f} ms\n"
    )
    print(f"{'call':<24} {'ms':>7} {'passes':>7} {'extra memory':>13}")
    for (name, func), t in zip(runs.items(), times, strict=True):
        extra = peak_extra_memory(func)
        print(
            f"{name:<24} {t * 1e3:>7.0f} {t / lse:>7.2f} {extra / 1e6:>9.1f} MB "
            f"({extra / size:.3f}x)"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    cli = sub.add_parser("cli")
    cli.add_argument("--n", type=int, default=20_000)
    cli.add_argument("--k", type=int, default=32_000)
    cli.add_argument("--data-dir", default=None)
    cli.add_argument(
        "--commands",
        default=None,
        help="comma-separated subset (fit, evaluate, evaluate --model, apply, plot, "
        "report); the commands that need a model also run fit",
    )
    dk = sub.add_parser("dask")
    dk.add_argument("--rows", type=int, default=1_000_000)
    dk.add_argument("--classes", type=int, default=1_000)
    dk.add_argument("--block-rows", type=int, default=20_000)
    kernels = sub.add_parser("kernels")
    kernels.add_argument("--n", type=int, default=50_000)
    kernels.add_argument("--k", type=int, default=1_000)
    kernels.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    {"cli": bench_cli, "dask": bench_dask, "kernels": bench_kernels}[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
