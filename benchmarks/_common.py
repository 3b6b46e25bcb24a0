"""What the benchmarks share: the synthetic logits, the timing and the report.

Imported by the ``bench_*.py`` scripts next to it, which are run from the
repository root as ``python benchmarks/bench_*.py`` (their folder is then first
on ``sys.path``).
"""

import os
import platform
import time
import tracemalloc

import numpy as np
import scipy
import sklearn

import calibrate

# The temperature the synthetic model is off by: its logits are 2 * u.
TRUE_TEMPERATURE = 2.0


def make_logits(n_samples, n_classes, seed=0):
    """Float32 model logits ``2 * u`` and labels drawn from ``softmax(u)``."""
    rng = np.random.default_rng(seed)
    X = np.empty((n_samples, n_classes), dtype=np.float32)
    y = np.empty(n_samples, dtype=np.int64)
    # Chunks keep the float64 temporaries small at 50,000 x 1,000.
    step = max(1, 2**20 // n_classes)
    for start in range(0, n_samples, step):
        m = min(step, n_samples - start)
        scale = rng.uniform(0.5, 2.0, size=(m, 1))
        u = scale * rng.standard_normal((m, n_classes))
        # The boost grows with log K so that the true class stays likely (the
        # model's top-1 accuracy is 60-70 %) however many classes compete.
        boost = np.log(n_classes) + rng.uniform(0.0, 3.0, size=m)
        u[np.arange(m), rng.integers(n_classes, size=m)] += boost
        # Gumbel-max trick: argmax(u + Gumbel noise) is a draw from softmax(u).
        y[start : start + m] = np.argmax(u + rng.gumbel(size=u.shape), axis=1)
        X[start : start + m] = TRUE_TEMPERATURE * u
    return X, y


def lse_pass(X):
    m = X.max(1)
    return np.log(np.exp(X - m[:, None]).sum(1)) + m


def best_times(funcs, repeats):
    """Best wall time of each function and its last result.

    The runs are interleaved (a, b, a, b, ...) so that a change in the load of
    the machine hits every function alike and their ratios stay meaningful.
    """
    best = [np.inf] * len(funcs)
    results = [None] * len(funcs)
    for i in range(max(repeats)):
        for j, (func, repeat) in enumerate(zip(funcs, repeats, strict=True)):
            if i < repeat:
                start = time.perf_counter()
                results[j] = func()
                best[j] = min(best[j], time.perf_counter() - start)
    return best, results


def peak_extra_memory(func):
    """Peak bytes allocated during one call, beyond what existed before it."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        func()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - baseline


def machine_info():
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    # Other work on the machine skews every timing: say how busy it was.
    try:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"calibrate {calibrate.__version__}; "
        f"{os.cpu_count()} CPUs ({usable} usable), {platform.machine()}, "
        f"{platform.system()} {platform.release()}; {load}"
    )
