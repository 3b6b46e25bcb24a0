"""Temperature scaling (Guo et al. 2017): one positive scalar for all classes."""

import numbers
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from calibrate._special import iter_chunks
from calibrate.calibrators._base import BaseCalibrator, subsample, target_chunk
from calibrate.exceptions import CalibrationWarning

__all__ = ["TemperatureScaling", "fit_temperature"]

# T is kept within [1e-3, 1e3] times the spread of the logits (the median
# within-row range; of the largest |z| for sigmoids): beyond these, z / T spreads
# over more than 1e3 (a hard argmax) or less than 1e-3 (uniform), reached only
# with separable or uninformative validation data, where the optimum is at
# infinity and a warning is due.
_T_BOUNDS = (1e-3, 1e3)
# The warm start runs on at most this many score values (rows x columns), a
# small fraction of a large input, so that the full-data passes start close
# enough to the optimum for Newton's quadratic convergence to finish in 2-3.
_WARM_START_ELEMENTS = 2**20
# Halley's iteration converges cubically: once two successive steps give the
# constant C = |step| / |previous step|**3, the error left after a step is
# about C * |step|**3.  A step is taken without a further pass when that
# predicted error (in log T) is below this, far below anything a user of T sees.
_XTOL = 1e-10
# Threads are used only when each gets at least this many chunks (8 MiB each):
# below that, starting threads costs more than it saves.
_CHUNKS_PER_THREAD = 4
# The float32 warm start stops at this predicted error: far below its
# subsample's own statistical error, far above float32 noise in the derivatives.
_COARSE_XTOL = 1e-6
# |d NLL / d log T| below this is converged (the mean NLL is O(1)).
_GTOL = 1e-12
# A second derivative in log T below this at a vanishing gradient means the
# NLL is flat there (real optima have curvature of order 0.01 to 1).
_FLAT_CURVATURE = 1e-9


def _derivatives(Z, y, w, beta, task, *, coarse=False, scale=1.0):
    """First three derivatives of the weighted mean NLL with respect to beta.

    ``beta = 1 / T``.  For softmax they are the mean over rows of
    ``E[z] - z_y``, ``Var[z]`` and the third central moment of ``z`` under
    ``p = softmax(beta z)``; for sigmoids the sums over columns of
    ``(s - y) z``, ``s (1 - s) z^2`` and ``s (1 - s) (1 - 2 s) z^3``.
    Multiclass rows are shifted by their maximum (softmax is shift
    invariant) so that the central moments are formed from small numbers for
    confident rows.  Chunks reuse two buffers, so memory stays at two chunks.

    With ``coarse=True`` a multiclass chunk is exponentiated in float32
    (about twice as fast; sums still accumulate in float64): good to about
    1e-6 relative, enough for a first step from a warm start, never used to
    declare convergence.

    The logits are divided by ``scale`` (a power of two, so exactly) as each
    chunk is read: the derivatives are then those in ``beta * scale``, and
    logits of 1e307, whose cubes overflow, are fitted like any others.
    """
    if type(Z).__module__.startswith("dask"):
        from calibrate._dask import temperature_derivatives

        return temperature_derivatives(Z, y, w, beta, task, coarse, scale)
    n, k = Z.shape
    chunks = list(iter_chunks(n, k))
    # numpy releases the GIL in its loops, so on a large input the chunks are
    # shared among threads (contiguous groups, partial sums added in a fixed
    # order); each thread has its own two buffers.
    n_workers = min(_n_threads(), len(chunks) // _CHUNKS_PER_THREAD)
    if n_workers <= 1:
        return _derivative_sums(Z, y, w, beta, task, coarse, chunks, scale)
    groups = [list(g) for g in np.array_split(np.arange(len(chunks)), n_workers)]
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        parts = list(
            pool.map(
                lambda g: _derivative_sums(
                    Z, y, w, beta, task, coarse, [chunks[i] for i in g], scale
                ),
                groups,
            )
        )
    return tuple(float(sum(p[i] for p in parts)) for i in range(3))


def _n_threads():
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _derivative_sums(Z, y, w, beta, task, coarse, chunks, scale=1.0):
    """Return the sums of :func:`_derivatives` over ``chunks`` (one thread's share)."""
    k = Z.shape[1]
    dtype = np.float32 if coarse and task == "multiclass" else np.float64
    rows_max = max((c.stop - c.start for c in chunks), default=0)
    zbuf = np.empty((rows_max, k), dtype=dtype)
    ebuf = np.empty((rows_max, k), dtype=dtype)
    d1 = d2 = d3 = 0.0
    for rows in chunks:
        m = rows.stop - rows.start
        Zc, E, wc = zbuf[:m], ebuf[:m], w[rows]
        np.copyto(Zc, Z[rows])
        if scale != 1.0:
            Zc *= dtype(1.0 / scale)
        if task == "multiclass":
            np.subtract(Zc, Zc.max(axis=1, keepdims=True), out=Zc)
            np.multiply(Zc, dtype(beta), out=E)
            np.exp(E, out=E)
            s0 = E.sum(axis=1, dtype=np.float64)
            E *= Zc
            m1 = E.sum(axis=1, dtype=np.float64) / s0
            E *= Zc
            m2 = E.sum(axis=1, dtype=np.float64) / s0
            m3 = np.einsum("ij,ij->i", E, Zc, dtype=np.float64) / s0
            z_true = Zc[np.arange(m), y[rows]].astype(np.float64)
            d1 += wc @ (m1 - z_true)
            d2 += wc @ np.maximum(m2 - m1 * m1, 0.0)
            d3 += wc @ (m3 - 3 * m1 * m2 + 2 * m1**3)
        else:
            Yc = target_chunk(y, rows, m)
            # sigmoid via tanh: exact to float64 rounding for any |z|.
            np.multiply(Zc, 0.5 * beta, out=E)
            np.tanh(E, out=E)
            E *= 0.5
            E += 0.5
            d1 += wc @ np.einsum("ij,ij->i", E - Yc, Zc)
            curvature = E * (1.0 - E)
            d2 += wc @ np.einsum("ij,ij,ij->i", curvature, Zc, Zc)
            curvature *= 1.0 - 2.0 * E
            d3 += wc @ np.einsum("ij,ij,ij,ij->i", curvature, Zc, Zc, Zc)
    return d1, d2, d3


def _separable(Z, y, w, task):
    """Return True when every weighted row is classified correctly with a margin.

    Then the NLL decreases to 0 as ``T -> 0`` and the optimum is the lower
    bound; its derivatives underflow long before, so this is checked directly.
    """
    if type(Z).__module__.startswith("dask"):
        import dask

        from calibrate._dask import rows_of

        bounds = np.cumsum((0, *Z.chunks[0]))
        checks = [
            dask.delayed(_separable)(
                block,
                rows_of(y, slice(bounds[i], bounds[i + 1])),
                w[bounds[i] : bounds[i + 1]],
                task,
            )
            for i, block in enumerate(Z.to_delayed()[:, 0])
        ]
        return all(dask.compute(*checks))
    for rows in iter_chunks(*Z.shape):
        Zc, keep = Z[rows], w[rows] > 0
        if task == "multiclass":
            top = Zc.max(axis=1)
            unique_top = (Zc == top[:, None]).sum(axis=1) == 1
            correct = Zc[np.arange(len(Zc)), y[rows]] == top
            ok = unique_top & correct
        else:
            Yc = target_chunk(y, rows, len(Zc))
            ok = (((Yc == 1) & (Zc > 0)) | ((Yc == 0) & (Zc < 0))).all(axis=1)
        if not ok[keep].all():
            return False
    return True


def _spread(Z, task):
    """Median over rows of the within-row range (of the largest |z| for sigmoids).

    The median, so that a few extreme rows do not move the bounds.
    """
    per_row = []
    for rows in iter_chunks(*Z.shape):
        Zc = Z[rows]
        if task == "multiclass":
            # Halves first: the range of logits near +-1.7e308 overflows.
            half = 0.5 * Zc.max(axis=1) - 0.5 * Zc.min(axis=1)
            per_row.append(np.minimum(half, np.finfo(np.float64).max / 2) * 2)
        else:
            # max |z| from the two reductions: no temporary of the chunk's size.
            per_row.append(np.maximum(Zc.max(axis=1), -Zc.min(axis=1)))
    return float(np.median(np.concatenate(per_row)))


# Below this spread the lower bound on T is so small that 1 / T (the scale of
# vector, matrix and Platt scaling's starting point) overflows float64.
_MIN_SPREAD = 1e-290


# Logits whose spread is above this are read divided by a power of two (their
# third powers, in the derivatives of the NLL, overflow float64 near 1e102).
_MAX_UNSCALED_SPREAD = 2.0**64


def logit_scale(spread):
    """Return the power of two that logits of this spread are divided by (or 1).

    Below :data:`_MAX_UNSCALED_SPREAD` the logits are read as they are, so
    ordinary fits are unchanged bit for bit; above it, by the power of two
    nearest the spread, so that the scaled logits have a spread near 1.
    """
    if not spread > _MAX_UNSCALED_SPREAD or not np.isfinite(spread):
        return 1.0
    return float(2.0 ** np.round(np.log2(spread)))


def check_affine_scale(estimator, Z, task):
    """Refuse logits too large for the float64 curvature of the affine fits.

    Vector, matrix and Platt scaling form products of logits (their Hessians);
    beyond a spread of :data:`_MAX_UNSCALED_SPREAD` those overflow on the way
    to 1e308, and the fit would end in NaN.  Temperature scaling rescales
    such logits itself; the others get this one clear error.  The spread is
    read from the same strided subsample as the temperature warm start.
    """
    stride = int(np.ceil(Z.shape[0] * Z.shape[1] / _WARM_START_ELEMENTS))
    # (The subsample of a dask array, at most 2**20 values, is computed here.)
    spread = _spread(np.asarray(Z[::stride]), task)
    if spread > _MAX_UNSCALED_SPREAD:
        raise ValueError(
            f"{type(estimator).__name__}: the logits are too large to fit in "
            f"float64: their spread (median within-row range, or largest |z| for "
            f"binary scores) is {spread:.3g}, above 2**64 = "
            f"{_MAX_UNSCALED_SPREAD:.3g}. Divide the scores by a constant first "
            "(the fitted coefficients scale by it), or use temperature scaling, "
            "which rescales them itself."
        )


def temperature_bounds(Z, task):
    """Bounds on ``log T``: :data:`_T_BOUNDS` times the spread of the logits.

    Raises ``ValueError`` when the spread is positive but below
    :data:`_MIN_SPREAD` (subnormal logits, for example): no float64
    temperature can bring such scores to a usable range, and fitting anyway
    gave a model far worse than the identity.
    """
    spread = _spread(Z, task)
    if 0 < spread < _MIN_SPREAD:
        raise ValueError(
            f"the logits are too close together to calibrate: their spread (median "
            f"within-row range, or largest |z| for binary scores) is {spread:.3g}, "
            f"below {_MIN_SPREAD:g}, so 1 / T would overflow float64; multiply the "
            "scores by a constant (say 1e300) before fitting."
        )
    log_spread = np.log(spread) if spread > 0 else 0.0
    return np.log(_T_BOUNDS[0]) + log_spread, np.log(_T_BOUNDS[1]) + log_spread


def fit_temperature(
    Z,
    y,
    w,
    task,
    *,
    t0=0.0,
    coarse_first=False,
    coarse_all=False,
    max_iter=100,
    bounds=None,
    scale=1.0,
):
    """Minimise the weighted mean NLL over ``t = log T``; safeguarded Halley.

    The NLL is convex in ``beta = 1 / T``, so its derivative has one sign
    change in ``t``: every evaluation shrinks a bracket around the root.  A
    Halley step (exact first, second and third derivatives, cubic
    convergence) is taken when it stays inside the bracket, a Newton step when
    Halley's denominator is not positive, and bisection otherwise.

    Parameters
    ----------
    Z : ndarray of shape (n, K)
        Logits (float32 or float64; read in float64 chunks).
    y : ndarray or targets object
        Encoded targets (see :func:`calibrate._validation.check_labels`).
    w : ndarray of shape (n,)
        Weights summing to 1.
    task : {"binary", "multiclass", "multilabel"}
        Softmax (multiclass) or sigmoid per column (binary, multilabel).
    t0 : float, default=0.0
        Starting value of ``log T``.
    coarse_first : bool, default=False
        Compute the first pass in float32 (only a step from ``t0``; the bracket
        and the convergence test use float64 passes only).
    coarse_all : bool, default=False
        Compute every pass in float32 and stop at a predicted error of 1e-6
        in ``log T`` (for a warm start, whose answer is only a start).
    max_iter : int, default=100
        Passes over ``Z`` allowed.
    bounds : tuple of float or None, default=None
        ``(t_min, t_max)``; None computes :func:`temperature_bounds` of ``Z``.
    scale : float, default=1.0
        A power of two the logits are divided by as they are read (see
        :func:`logit_scale`); ``t``, ``t0`` and ``bounds`` are then those of
        ``Z / scale``, whose temperature is ``T / scale``.

    Returns
    -------
    t : float
        ``log T`` at the optimum (or on a bound).
    n_iter : int
        Passes over ``Z`` used.
    status : {"converged", "lower", "upper", "flat", "max_iter"}
        How the iteration ended.
    """
    t_min, t_max = temperature_bounds(Z, task) if bounds is None else bounds
    lo, hi = t_min, t_max
    lo_seen = hi_seen = False
    t = float(np.clip(t0, lo, hi))
    previous_step = None
    xtol = _COARSE_XTOL if coarse_all else _XTOL
    for n_iter in range(1, max_iter + 1):
        coarse = coarse_all or (coarse_first and n_iter == 1)
        beta = np.exp(-t)
        d1, d2, d3 = _derivatives(Z, y, w, beta, task, coarse=coarse, scale=scale)
        # Chain rule from beta = exp(-t) to t.
        g = -beta * d1
        h = beta * beta * d2 + beta * d1
        h3 = -(beta**3) * d3 - 3 * beta * beta * d2 - beta * d1
        step = _halley_step(g, h, h3)
        if coarse and not coarse_all:
            if np.isfinite(step) and lo < t + step < hi:
                t, previous_step = t + step, step
            continue
        if abs(g) <= _GTOL or (d1 == 0.0 and d2 == 0.0):
            # A vanishing gradient with (almost) no curvature is either
            # separable data, whose derivatives underflow on the way to T -> 0,
            # or logits that do not depend on T at all.
            if h <= _FLAT_CURVATURE:
                if _separable(Z, y, w, task):
                    return t_min, n_iter, "lower"
                if d1 == 0.0 and d2 == 0.0:
                    return 0.0, n_iter, "flat"
            return t, n_iter, "converged"
        if g < 0:  # optimum at larger t
            if t >= t_max:
                return t, n_iter, "upper"
            lo, lo_seen = t, True
        else:
            if t <= t_min:
                return t, n_iter, "lower"
            hi, hi_seen = t, True
        t_new = t + step
        if lo < t_new < hi:
            if previous_step is None or abs(step) >= abs(previous_step):
                predicted_error = abs(step)  # not in the cubic regime yet
            else:
                predicted_error = abs(step) ** 4 / abs(previous_step) ** 3
            if predicted_error <= xtol:
                return t_new, n_iter, "converged"
            previous_step = step
        else:
            previous_step = None  # bisection: no error estimate
            if t_new >= hi and not hi_seen:
                t_new = hi  # try the bound itself before bisecting towards it
            elif t_new <= lo and not lo_seen:
                t_new = lo
            else:
                t_new = 0.5 * (lo + hi)
        if hi - lo <= 1e-14:
            return t_new, n_iter, "converged"
        t = t_new
    return t, max_iter, "max_iter"


def _halley_step(g, h, h3):
    """Halley's step for the root of ``g`` (with ``g' = h``, ``g'' = h3``).

    Falls back to Newton's step when Halley's denominator is not positive,
    and to an infinite step towards the root's side when the curvature is not
    positive either (the caller then bisects).
    """
    if h <= 0:
        return np.copysign(np.inf, -g)
    denominator = 2 * h * h - g * h3
    if denominator <= 0:
        return -g / h
    return -2 * g * h / denominator


def warm_started_temperature(Z, y, w, task, *, max_iter=100):
    """Fit ``log T`` on a strided subsample, then finish on all rows.

    Returns ``(t, n_iter, status)`` as :func:`fit_temperature` does for the
    full-data stage (``n_iter`` counts full passes only).
    """
    n, k = Z.shape
    t0 = 0.0
    stride = int(np.ceil(n * k / _WARM_START_ELEMENTS))
    # The spread is read from the subsample on large inputs: the bounds only
    # need its order of magnitude, not another full pass.  (The subsample of
    # a dask array, at most 2**20 values, is computed here.)
    sub = Z[::stride]
    if type(Z).__module__.startswith("dask"):
        sub = np.asarray(sub)
    bounds = temperature_bounds(sub, task)
    # Logits so large that their cubes overflow are read divided by a power
    # of two; T scales with them, so the fit is the same problem.
    scale = logit_scale(np.exp(bounds[1] - np.log(_T_BOUNDS[1])))
    shift = np.log(scale)
    bounds = (bounds[0] - shift, bounds[1] - shift)
    if stride > 1:
        # A strided subsample is deterministic and needs no random state; it is
        # only a starting point, the answer is the full-data optimum.
        w_sub = w[::stride]
        if w_sub.sum() > 0:
            t0, _, status = fit_temperature(
                sub,
                subsample(y, stride),
                w_sub / w_sub.sum(),
                task,
                coarse_all=True,
                max_iter=max_iter,
                bounds=bounds,
                scale=scale,
            )
            if status not in ("converged",):
                t0 = 0.0
    t, n_iter, status = fit_temperature(
        Z,
        y,
        w,
        task,
        t0=t0,
        coarse_first=stride > 1,
        max_iter=max_iter,
        bounds=bounds,
        scale=scale,
    )
    return t + shift, n_iter, status


#: Vector and Platt scaling start from a temperature fitted on a strided
#: subsample of at most this many score values: only their starting point
#: (their Newton passes reach the full-data optimum from anywhere), so the
#: start costs no full pass and its buffers stay a fraction of the input.
_AFFINE_START_ELEMENTS = 2**15


def affine_start_temperature(Z, y, w, task, *, absent):
    """``log T`` to start vector or Platt scaling from: ``(t, n_iter, status)``.

    :func:`warm_started_temperature` on a strided subsample of about
    ``_AFFINE_START_ELEMENTS`` values; on all rows when the input is that
    small, when a column is ``absent`` (it keeps the start, which must then
    be the full-data temperature-scaling map), or when the subsample's fit
    ends on a bound or a flat NLL (whose warning must describe all rows).
    """
    n, k = Z.shape
    stride = int(np.ceil(n * k / _AFFINE_START_ELEMENTS))
    if stride > 1 and not np.any(absent):
        w_sub = w[::stride]
        total = w_sub.sum()
        if total > 0:
            sub = Z[::stride]
            if type(Z).__module__.startswith("dask"):
                sub = np.asarray(sub)
            result = warm_started_temperature(
                sub, subsample(y, stride), w_sub / total, task
            )
            if result[2] == "converged":
                return result
    return warm_started_temperature(Z, y, w, task)


def warn_temperature_status(estimator, status, temperature, *, start=False):
    """Emit the warning that a temperature fit's ``status`` calls for.

    With ``start=True`` the temperature is the starting point of a richer map
    (vector, matrix, Platt scaling), whose own parameters then inherit the
    problem.
    """
    name = type(estimator).__name__
    role = "the temperature-scaling start" if start else "the fit"
    if status == "flat":
        warnings.warn(
            f"{name}: the NLL does not depend on the temperature (every row's "
            f"logits are constant), so T = 1 is kept and {role} is the identity.",
            CalibrationWarning,
            stacklevel=4,
        )
    elif status in ("lower", "upper"):
        warnings.warn(
            f"{name}: the optimal temperature lies beyond the {status} bound; "
            f"{role} uses T = {temperature:.3g}, the bound. This happens when the "
            "validation data are perfectly separated by the logits (T -> 0) or the "
            "logits carry no information about y (T -> inf); the fitted "
            "parameters are then limited by the bound, not by the data.",
            CalibrationWarning,
            stacklevel=4,
        )


class TemperatureScaling(BaseCalibrator):
    """Temperature scaling: divide every logit by one fitted temperature ``T``.

    The calibrated probabilities are ``softmax(z / T)`` for multiclass scores,
    ``sigmoid(z / T)`` for binary scores and for each column of multilabel
    scores (one ``T`` shared by all labels).  ``T`` minimises the (weighted)
    negative log-likelihood on the validation data.  ``T > 1`` softens an
    over-confident model, ``T < 1`` sharpens an under-confident one; accuracy
    is unchanged because the argmax is.

    The optimum is exact: the NLL is convex in ``1 / T``, and a safeguarded
    Halley iteration on ``log T`` with analytic first, second and third
    derivatives (Newton when Halley's denominator is not positive, bisection
    whenever a step would leave the bracket around the root) runs on a
    strided subsample first, then finishes on all rows: on large inputs one
    float32 pass for a first step, then float64 passes (usually one) until
    the predicted error in ``log T`` is below 1e-10.  Rows are read in
    chunks (shared among the CPUs the process may use, in threads, on large
    inputs), so float32 input is never copied whole to float64, and the answer
    comes from float64 arithmetic: float32 and float64 copies of the same
    logits give the same ``T``.

    Parameters
    ----------
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.  Probabilities are
        turned into logits as ``log(max(p, tiny))`` (float64 ``tiny``), with a
        :class:`~calibrate.exceptions.CalibrationWarning` when that floor is hit.
    max_iter : int, default=100
        Passes over the data allowed for the Newton iteration.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature ``T`` (the map is ``z / T``), within 1e-3 to
        1e3 times the spread of the logits (the median within-row range, or
        the median largest ``|z|`` for sigmoids), so logits of any scale are
        handled; a :class:`~calibrate.exceptions.CalibrationWarning` says when
        it sits on a bound (for example perfectly separated validation data),
        and when the NLL does not depend on ``T`` at all (every row's logits
        constant), in which case ``T = 1``.
    classes_ : ndarray of shape (n_classes,)
        Class labels; column ``j`` of ``X`` is class ``classes_[j]``.
    task_ : {"binary", "multiclass", "multilabel"}
        The task read from the shapes of ``X`` and ``y``.
    n_features_in_ : int
        Number of score columns seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` had string column names.
    n_iter_ : int
        Full passes over the validation data used by the iteration (the
        warm start on the subsample is not counted).

    See Also
    --------
    VectorScaling : A temperature and a bias per class.
    MatrixScaling : A full affine map of the logits.

    References
    ----------
    C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, "On Calibration of Modern
    Neural Networks", ICML 2017.

    Examples
    --------
    >>> from calibrate import TemperatureScaling
    >>> from calibrate.datasets import make_miscalibrated
    >>> data = make_miscalibrated(20_000, 5, temperature=2.0, random_state=0)
    >>> cal = TemperatureScaling().fit(data.logits, data.labels)
    >>> round(cal.temperature_, 1)
    2.0
    >>> cal.predict_proba(data.logits[:2]).sum(axis=1)
    array([1., 1.])
    """

    _report_default_tasks = ("binary", "multiclass", "multilabel")
    _help = "one positive temperature dividing every logit; keeps the ranking"
    _fitted_parameters = ("temperature_",)
    _scalar_parameters = (("max_iter", numbers.Integral, 1),)
    _fits_dask = True

    def __init__(self, *, input_type="logits", max_iter=100):
        self.input_type = input_type
        self.max_iter = max_iter

    def _fit(self, Z, y, w):
        # No warning for classes absent from y (a vocabulary's rare tokens):
        # the one temperature is informed by every row, whatever its label,
        # and an absent class's column is scaled like the others.
        t, self.n_iter_, status = warm_started_temperature(
            Z, y, w, self.task_, max_iter=self.max_iter
        )
        self.temperature_ = float(np.exp(t))
        name = type(self).__name__
        warn_temperature_status(self, status, self.temperature_)
        if status == "max_iter":
            warnings.warn(
                f"{name} did not converge in max_iter={self.max_iter} passes; "
                f"T = {self.temperature_:.6g}.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _parameter_shapes(self):
        return {"temperature_": ()}

    def _calibrated_logits(self, Zc):
        return Zc / self.temperature_
