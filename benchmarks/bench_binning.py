"""Speed and memory of isotonic regression and histogram binning.

Run by hand from the repository root (a report, not a test: it always exits 0)::

    python benchmarks/bench_binning.py              # the sizes of the issue
    python benchmarks/bench_binning.py --quick      # a tenth of the rows
    python benchmarks/bench_binning.py --repeat 3

Two measurements, each printed with its target:

* ``IsotonicCalibration`` fit + predict on 1,000,000 x 10 multiclass
  probabilities against scikit-learn's one-vs-rest isotonic route on the same
  scores, ``CalibratedClassifierCV(FrozenEstimator(clf), method="isotonic")``
  with ``clf.predict_proba`` returning its input; both timed interleaved
  (best of ``--repeat``), and the largest difference of their calibrated
  probabilities printed (target: at least 2x faster, equal output).
* ``HistogramBinning`` fit on 1,000,000 x 1,000 float32 logits (4 GB) with
  the default top-label reduction, ``reduction="confidence"`` and
  ``reduction="classwise"``, in log-sum-exp passes over the array once the
  sorts are taken out: the time of one ``np.sort`` of every binned quantity
  (the predicted class's confidences, the top-class confidence, or each
  class column) is measured on the same values and subtracted; and the peak
  memory traced during the fit against the input (targets: at most 3 passes
  plus one sort per binned quantity, memory at most 0.25x the input).  The
  fit itself finds its equal-mass edges by one ``np.partition`` at their
  ranks, cheaper than the sort it is allowed; the time of those partitions
  on the same values is printed as well, with the passes beyond them (the
  fit's work besides the selection).  The classwise fit bins a thousand
  columns of a million values and takes minutes.
"""

import argparse
import time
import warnings

import numpy as np
from _common import lse_pass, machine_info, make_logits, peak_extra_memory
from scipy.special import softmax

from calibrate import HistogramBinning, IsotonicCalibration
from calibrate.calibrators._histogram import _softmax_terms, _top_confidence_all

MAX_HISTOGRAM_PASSES = 3
MAX_HISTOGRAM_MEMORY = 0.25
MIN_ISOTONIC_SPEEDUP = 2


def sklearn_isotonic(P, y):
    """scikit-learn's one-vs-rest isotonic route, fitted and applied to ``P``."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Scores(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.arange(X.shape[1])
            return self

        def predict_proba(self, X):
            return X

        def predict(self, X):
            return np.argmax(X, axis=1)

    clf = Scores().fit(P, y)
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method="isotonic").fit(P, y)
    return cal.predict_proba(P)


def ours_isotonic(P, y):
    return IsotonicCalibration(input_type="probs").fit(P, y).predict_proba(P)


def best_of(funcs, repeat):
    best, out = [np.inf] * len(funcs), [None] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            start = time.perf_counter()
            out[i] = func()
            best[i] = min(best[i], time.perf_counter() - start)
    return best, out


def verdict(ok):
    return "PASS" if ok else "FAIL"


def bench_isotonic(n, k, repeat):
    X, y = make_logits(n, k)
    P = softmax(X.astype(np.float64), axis=1)
    (t_ours, t_sk), (ours, theirs) = best_of(
        [lambda: ours_isotonic(P, y), lambda: sklearn_isotonic(P, y)], repeat
    )
    diff = float(np.max(np.abs(ours - theirs)))
    ratio = t_sk / t_ours
    print(f"\nisotonic, {n:,} x {k} float64 probabilities, fit + predict")
    print(f"  ours     {t_ours:8.3f} s")
    print(f"  sklearn  {t_sk:8.3f} s   (one-vs-rest isotonic, FrozenEstimator)")
    print(
        f"  speed-up {ratio:.2f}x  max |difference| {diff:.1e}  "
        f"[{verdict(ratio >= MIN_ISOTONIC_SPEEDUP and diff <= 1e-12)}: "
        f">= {MIN_ISOTONIC_SPEEDUP}x, equal to 1e-12]"
    )


def sort_time(quantities, n_bins=15):
    """Summed times of one ``np.sort`` of each quantity and of the selection.

    The sort is the target's allowance; the selection -- one ``np.partition``
    at the ranks of the equal-mass edges, which is what the fit does instead
    of a sort -- is timed on the same values, so the passes beyond it are
    printed too.
    """
    total, selection = 0.0, 0.0
    for q in quantities():
        start = time.perf_counter()
        np.sort(q)
        total += time.perf_counter() - start
        n = len(q)
        if n >= n_bins:
            k = np.arange(1, n_bins)
            ranks = np.minimum(k * (n // n_bins) + np.minimum(k, n % n_bins), n) - 1
            start = time.perf_counter()
            np.partition(q, ranks)
            selection += time.perf_counter() - start
    return total, selection


def bench_histogram(n, k, repeat):
    X, y = make_logits(n, k)
    input_bytes = X.nbytes
    t_pass = min(_timed(lambda: lse_pass(X)) for _ in range(max(repeat, 3)))
    print(
        f"\nhistogram binning, {n:,} x {k:,} float32 logits "
        f"({input_bytes / 2**20:,.0f} MiB), one log-sum-exp pass {t_pass:.3f} s"
    )

    def top_label_quantities():
        top, conf = _top_confidence_all(X)
        order = np.argsort(top, kind="stable")
        bounds = np.searchsorted(top[order], np.arange(k + 1))
        for c in range(k):
            yield conf[order[bounds[c] : bounds[c + 1]]]

    def confidence_quantities():
        yield _top_confidence_all(X)[1]

    def classwise_quantities():
        row_max, row_sum = _softmax_terms(X)
        for j in range(k):
            yield np.exp(X[:, j] - row_max) / row_sum

    for reduction, quantities in (
        ("top_label", top_label_quantities),
        ("confidence", confidence_quantities),
        ("classwise", classwise_quantities),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = HistogramBinning(reduction=reduction)
            runs = 1 if reduction == "classwise" else repeat
            t_fit = min(_timed(lambda cal=cal: cal.fit(X, y)) for _ in range(runs))
            t_sort, t_select = sort_time(quantities)
            peak = peak_extra_memory(lambda cal=cal: cal.fit(X, y))
        passes = (t_fit - t_sort) / t_pass
        memory = peak / input_bytes
        print(
            f"  {reduction:10s} fit {t_fit:8.2f} s, sorts {t_sort:7.2f} s: "
            f"{passes:5.2f} passes beyond the sorts "
            f"[{verdict(passes <= MAX_HISTOGRAM_PASSES)}: <= {MAX_HISTOGRAM_PASSES}]; "
            f"peak {peak / 2**20:,.0f} MiB = {memory:.3f}x input "
            f"[{verdict(memory <= MAX_HISTOGRAM_MEMORY)}: <= {MAX_HISTOGRAM_MEMORY}x]"
        )
        print(
            f"  {'':10s} (the fit selects its edges by partition: selections "
            f"{t_select:.2f} s, {(t_fit - t_select) / t_pass:.2f} passes beyond them)"
        )


def _timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", choices=("isotonic", "histogram"), help="run one of the two"
    )
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    print(machine_info())
    if args.only in (None, "isotonic"):
        bench_isotonic(rows, 10, args.repeat)
    if args.only in (None, "histogram"):
        bench_histogram(rows, 1_000, args.repeat)


if __name__ == "__main__":
    main()
