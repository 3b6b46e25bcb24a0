"""Speed of vector, matrix and one-vs-rest Platt scaling against peers.

Run by hand from the repository root (a report, not a test: it always exits 0)::

    python benchmarks/bench_affine.py            # 10k x 10, 10k x 100, 1M x 10
    python benchmarks/bench_affine.py --large    # also 50,000 x 1,000 (minutes)
    python benchmarks/bench_affine.py --repeat 3
    python benchmarks/bench_affine.py --sizes 10000x100 1000000x10
    python benchmarks/bench_affine.py --only vector platt --sizes 50000x1000

On float32 logits of a synthetic over-confident model (``_common.make_logits``,
true T = 2) it times, interleaved round by round and reporting the best of
``--repeat``:

* one log-sum-exp pass over the array (the unit of the one-pass limit);
* ours: ``VectorScaling``, ``MatrixScaling`` (default ODIR) and
  ``PlattScaling`` on multiclass logits (one-vs-rest);
* peers, when installed: probmetrics' vector and matrix scaling (needs torch;
  skipped with a line otherwise; its matrix scaling is unregularised, so it
  is compared with ours at ``reg_lambda=0, reg_mu=0``, skipped when there
  are more parameters than rows) and, as a same-objective peer for our
  default ODIR fit, probmetrics' solver (torchmin's L-BFGS with its default
  tolerances) on that objective from the same temperature-scaling start
  ("torchmin-ODIR matrix"; its ODIR objective is printed beside ours); and
  scikit-learn's one-vs-rest sigmoid,
  ``CalibratedClassifierCV(FrozenEstimator(clf), method="sigmoid")`` with
  ``clf.decision_function`` returning its input (Platt's smoothed targets:
  compared with ``PlattScaling(target_smoothing=True)``, the same objective);
* a plain reference of our own: vector scaling by ``scipy.optimize.minimize``
  (L-BFGS-B, analytic gradient, whole float64 arrays, from ``w = 1, b = 0``).

It prints each time, its ratio to one pass and to ours, and each fit's
validation objective (mean NLL; for Platt the summed one-vs-rest binary
cross-entropy with the targets used), so a faster fit that stops higher shows,
and each fit's peak extra memory (``tracemalloc``, one more untimed call) as a
multiple of the input's size.  Each timed fit is printed as it finishes.
"""

import argparse
import time
import warnings

import numpy as np
from _common import lse_pass, machine_info, make_logits, peak_extra_memory
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from calibrate import MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling


def softmax_nll(P, y):
    return float(-np.mean(np.log(np.maximum(P[np.arange(len(y)), y], 1e-300))))


def scipy_vector_reference(X, y):
    """Vector scaling the plain way: L-BFGS-B on whole float64 arrays."""
    Z = X.astype(np.float64)
    n, k = Z.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    def fun(theta):
        S = Z * theta[:k] + theta[k:]
        L = log_softmax(S, axis=1)
        G = (np.exp(L) - onehot) / n
        return -np.sum(L * onehot) / n, np.concatenate([(G * Z).sum(0), G.sum(0)])

    x0 = np.concatenate([np.ones(k), np.zeros(k)])
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000})
    theta = res.x
    return softmax(Z * theta[:k] + theta[k:], axis=1)


def sklearn_sigmoid(X, y):
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Scores(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.arange(X.shape[1])
            return self

        def decision_function(self, X):
            return X

        def predict(self, X):
            return np.argmax(X, axis=1)

    clf = Scores().fit(X, y)
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method="sigmoid").fit(X, y)
    return cal


def ovr_objective(X, y, coef, intercept, smoothing):
    """Summed mean binary cross-entropy of the one-vs-rest sigmoids."""
    n, k = X.shape
    S = X.astype(np.float64) * coef + intercept
    Y = np.zeros((n, k))
    Y[np.arange(n), y] = 1.0
    if smoothing:
        n_pos = Y.sum(0)
        hi, lo = (n_pos + 1) / (n_pos + 2), 1 / (n - n_pos + 2)
        Y = lo + (hi - lo) * Y
    return float(np.mean(np.sum(np.logaddexp(0, S) - Y * S, axis=1)))


# MatrixScaling's default ("auto") ODIR strengths, per off-diagonal weight and
# per intercept.
ODIR_PER_ENTRY = 0.01


def odir_objective(X, y, W, b):
    """Mean NLL plus the default ODIR penalty, in float64."""
    nll = softmax_nll(softmax(X.astype(np.float64) @ W.T + b, axis=1), y)
    off = W - np.diag(np.diag(W))
    return nll + ODIR_PER_ENTRY * float(np.sum(off**2) + np.sum(b**2))


def probmetrics_fitters():
    """probmetrics' vector and matrix scaling on the logits, or {} (no torch).

    They are fitted through ``fit_torch`` on the float32 logits as a torch
    tensor (probmetrics' own entry point for logits), with torch held to one
    thread like the rest of the run; their objective is computed from their
    fitted parameters in float64 like ours.
    """
    try:
        import torch
        from probmetrics.calibrators.logistic import (
            MatrixScalingCalibrator,
            VectorScalingCalibrator,
        )
        from probmetrics.distributions import CategoricalLogits
    except ImportError:
        print("probmetrics: not installed (it needs torch), skipped")
        return {}
    torch.set_num_threads(1)

    def fit(cls, X, y):
        cal = cls()
        cal.fit_torch(CategoricalLogits(torch.as_tensor(X)), torch.as_tensor(y))
        return cal

    def vector_proba(cal, X):
        temp = cal.temp_.double().numpy()
        bias = cal.bias_.double().numpy()
        return softmax(X.astype(np.float64) / temp + bias, axis=1)

    def matrix_proba(cal, X):
        W = cal.itemp_.double().numpy()
        bias = cal.bias_.double().numpy()
        return softmax(X.astype(np.float64) @ W + bias, axis=1)

    def odir_fit(X, y):
        # probmetrics' solver (torchmin L-BFGS with its defaults, as
        # MatrixScalingCalibrator calls it) on our default ODIR objective,
        # the same start as ours: a same-objective peer for "ours matrix".
        import torchmin

        k = X.shape[1]
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        lam, mu = ODIR_PER_ENTRY, ODIR_PER_ENTRY
        off = 1.0 - torch.eye(k, dtype=Xt.dtype)
        t0 = TemperatureScaling().fit(X, y).temperature_

        def loss(theta):
            W, b = theta[: k * k].view(k, k), theta[k * k :]
            nll = torch.nn.functional.cross_entropy(Xt @ W.T + b, yt)
            return nll + lam * ((W * off) ** 2).sum() + mu * (b**2).sum()

        x0 = torch.cat([(torch.eye(k) / t0).reshape(-1), torch.zeros(k)]).to(Xt.dtype)
        res = torchmin.minimize(loss, x0, method="l-bfgs")
        theta = res.x.double().numpy()
        return theta[: k * k].reshape(k, k), theta[k * k :]

    def odir_proba(fitted, X):
        W, b = fitted
        return softmax(X.astype(np.float64) @ W.T + b, axis=1)

    return {
        "torchmin-ODIR matrix": (odir_fit, odir_proba),
        "probmetrics vector": (
            lambda X, y: fit(VectorScalingCalibrator, X, y),
            vector_proba,
        ),
        "probmetrics matrix": (
            lambda X, y: fit(MatrixScalingCalibrator, X, y),
            matrix_proba,
        ),
    }


FAMILIES = ("vector", "matrix", "platt")


def run(n, k, repeat, peers, only=FAMILIES, memory=True):
    X, y = make_logits(n, k)
    fits = {"one lse pass": lambda: lse_pass(X)}
    if "vector" in only:
        fits["ours vector"] = lambda: VectorScaling().fit(X, y)
    if "matrix" in only:
        fits["ours matrix"] = lambda: MatrixScaling().fit(X, y)
        if k * (k + 1) < n:
            fits["ours matrix (unreg.)"] = lambda: MatrixScaling(
                reg_lambda=0, reg_mu=0
            ).fit(X, y)
        else:
            print(
                f"ours matrix (unreg.): skipped at {n:,} x {k:,}, more parameters "
                "than rows (the unregularised optimum is at infinity)"
            )
    if "platt" in only:
        fits["ours platt (smoothed)"] = lambda: PlattScaling(target_smoothing=True).fit(
            X, y
        )
        fits["sklearn sigmoid"] = lambda: sklearn_sigmoid(X, y)
    for name, (fit, _) in peers.items():
        if name.split()[-1] in only:
            fits[name] = lambda fit=fit: fit(X, y)
    if "vector" in only and n * k <= 2_000_000:
        fits["scipy vector ref"] = lambda: scipy_vector_reference(X, y)
    best = dict.fromkeys(fits, np.inf)
    result = {}
    print(f"\n{n:,} x {k:,} float32 ({X.nbytes / 2**20:.1f} MiB)", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for round_ in range(repeat):
            for name, fit in fits.items():
                start = time.perf_counter()
                result[name] = fit()
                elapsed = time.perf_counter() - start
                best[name] = min(best[name], elapsed)
                print(f"  round {round_ + 1}: {name} {elapsed:.3f} s", flush=True)
        # Peak extra memory of one more call, traced apart from the timed ones
        # (tracing slows allocation down); torch allocates outside Python's
        # allocators, so probmetrics' memory is not seen.
        extra = {}
        if memory:
            for name, fit in fits.items():
                if name != "one lse pass" and not name.startswith("probmetrics"):
                    extra[name] = peak_extra_memory(fit) / X.nbytes
    one = best["one lse pass"]
    objective = {}
    for name in ("ours vector", "ours matrix", "ours matrix (unreg.)"):
        if name in result:
            objective[name] = softmax_nll(result[name].predict_proba(X), y)
    for name, (_, proba) in peers.items():
        if name in result:
            objective[name] = softmax_nll(proba(result[name], X), y)
    if "scipy vector ref" in result:
        objective["scipy vector ref"] = softmax_nll(result["scipy vector ref"], y)
    if "platt" in only:
        platt = result["ours platt (smoothed)"]
        objective["ours platt (smoothed)"] = ovr_objective(
            X, y, platt.coef_, platt.intercept_, True
        )
        sk = result["sklearn sigmoid"]
        a = -np.array([c.a_ for c in sk.calibrated_classifiers_[0].calibrators])
        b = -np.array([c.b_ for c in sk.calibrated_classifiers_[0].calibrators])
        objective["sklearn sigmoid"] = ovr_objective(X, y, a, b, True)
    print(f"{n:,} x {k:,} float32 (one pass {one * 1e3:.1f} ms, best of {repeat})")
    print(
        f"{'fit':24s} {'time s':>8s} {'passes':>8s} {'objective':>12s} "
        f"{'extra mem/input':>16s}"
    )
    for name in fits:
        if name == "one lse pass":
            continue
        obj = objective.get(name, float("nan"))
        mem = f"{extra[name]:16.2f}" if name in extra else f"{'n/a':>16s}"
        print(f"{name:24s} {best[name]:8.3f} {best[name] / one:8.1f} {obj:12.8f} {mem}")
    for ours, peer in (
        ("ours vector", "probmetrics vector"),
        ("ours matrix (unreg.)", "probmetrics matrix"),
        ("ours platt (smoothed)", "sklearn sigmoid"),
    ):
        if peer in best and ours in best:
            print(
                f"ratio: {peer} / {ours} = {best[peer] / best[ours]:.2f}x "
                f"(objective {objective[ours] - objective[peer]:+.2e} vs peer)"
            )
    if "ours matrix" in best and "probmetrics matrix" in best:
        print(
            f"ratio: probmetrics matrix / ours matrix (ODIR) = "
            f"{best['probmetrics matrix'] / best['ours matrix']:.2f}x"
        )
    if "ours matrix" in result and "torchmin-ODIR matrix" in result:
        ours = result["ours matrix"]
        mine = odir_objective(X, y, ours.coef_, ours.intercept_)
        peer = odir_objective(X, y, *result["torchmin-ODIR matrix"])
        print(
            f"ratio: torchmin-ODIR matrix / ours matrix (ODIR) = "
            f"{best['torchmin-ODIR matrix'] / best['ours matrix']:.2f}x "
            f"(ODIR objective {mine:.10f} vs {peer:.10f}, {mine - peer:+.2e})"
        )
    if "scipy vector ref" in best:
        print(
            f"ratio: scipy vector ref / ours vector = "
            f"{best['scipy vector ref'] / best['ours vector']:.2f}x"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--sizes",
        nargs="+",
        metavar="NxK",
        help="run only these sizes, e.g. 10000x100 1000000x10",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=FAMILIES,
        default=FAMILIES,
        help="run only these fits (and their peers), e.g. --only vector platt",
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the traced call that measures peak extra memory",
    )
    args = parser.parse_args()
    print(machine_info())
    peers = probmetrics_fitters()
    sizes = [(10_000, 10), (10_000, 100), (1_000_000, 10)]
    if args.large:
        sizes.append((50_000, 1_000))
    if args.sizes:
        sizes = [tuple(int(v) for v in size.lower().split("x")) for size in args.sizes]
    for n, k in sizes:
        run(n, k, args.repeat, peers, args.only, not args.no_memory)


if __name__ == "__main__":
    main()
