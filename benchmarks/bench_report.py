"""Speed of the report's bootstrap: all resamples at once against a loop.

Run by hand from the repository root (a report, not a test: it always exits 0)::

    python benchmarks/bench_report.py           # 600 x 10 and 10,000 x 100
    python benchmarks/bench_report.py --quick   # 600 x 10 only

For four models (the logits, and the logits divided by 1.5, 2 and 3: what a
report on three methods compares) and 1000 resamples of the test rows it times

* ours: ``replicate_metrics``, every metric of the report for every model and
  resample from one sparse product of the resampling counts with the per-row
  quantities;
* the one-pass limit: the report's metrics computed once per model by the library
  functions (what a report without intervals costs), and how many of those our
  1000 resamples are worth;
* the loop a peer library leaves you to write: for each resample, the rows
  drawn with replacement and each metric of ``calibrate.metrics`` called on
  them.  It is timed on 20 resamples and scaled to 1000 (the loop's cost is
  linear in them), and its values on those 20 are compared with ours, drawn
  from the same counts.
"""

import argparse
import time

import numpy as np
from _common import machine_info, make_logits

from calibrate.metrics import METRICS
from calibrate.report._bootstrap import (
    REPORT_METRICS,
    bootstrap_counts,
    replicate_metrics,
)

N_BOOTSTRAP = 1000
LOOP_SAMPLE = 20


def library_metrics(y, X, weights=None):
    out = []
    for name in REPORT_METRICS:
        metric = METRICS[name]
        options = {"n_bins": 15} if "n_bins" in metric.options else {}
        out.append(metric(y, X, input_type="logits", sample_weight=weights, **options))
    return np.array(out)


def run(n, k):
    X, y = make_logits(n, k, seed=1)
    X = X.astype(np.float64)
    models = [X, X / 1.5, X / 2.0, X / 3.0]

    start = time.perf_counter()
    ours = replicate_metrics(
        y,
        [(m, "logits") for m in models],
        n_bins=15,
        n_bootstrap=N_BOOTSTRAP,
        rng=np.random.default_rng(0),
    )
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    for m in models:
        library_metrics(y, m)
    t_once = time.perf_counter() - start

    counts = next(bootstrap_counts(n, N_BOOTSTRAP, np.random.default_rng(0)))
    start = time.perf_counter()
    loop = np.empty((LOOP_SAMPLE, len(models), len(REPORT_METRICS)))
    for b in range(LOOP_SAMPLE):
        rows = np.repeat(np.arange(n), counts[b].astype(np.int64))
        for j, m in enumerate(models):
            loop[b, j] = library_metrics(y[rows], m[rows])
    t_loop = (time.perf_counter() - start) * N_BOOTSTRAP / LOOP_SAMPLE
    difference = np.nanmax(np.abs(loop - ours[:LOOP_SAMPLE]))

    print(f"\n{n} x {k} float64 logits, {len(models)} models, {N_BOOTSTRAP} resamples")
    print(f"  ours (all resamples at once)  {t_ours:8.3f} s")
    print(
        f"  one evaluation, no intervals  {t_once:8.3f} s   "
        f"(ours = {t_ours / t_once:.1f} evaluations)"
    )
    print(
        f"  loop over resamples           {t_loop:8.3f} s   "
        f"(scaled from {LOOP_SAMPLE}; ours is {t_loop / t_ours:.0f}x faster)"
    )
    print(
        f"  largest difference on the {LOOP_SAMPLE} shared resamples: {difference:.1e}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small size only")
    args = parser.parse_args()
    print(machine_info())
    sizes = [(600, 10)] if args.quick else [(600, 10), (10_000, 100)]
    for n, k in sizes:
        run(n, k)


if __name__ == "__main__":
    main()
