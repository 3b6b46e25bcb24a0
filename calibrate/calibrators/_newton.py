"""Second-order solvers for the affine family: fits that reproduce on any machine.

Vector, matrix and Platt scaling minimise smooth convex objectives.  A
first-order method stopped by a relative-decrease test (``ftol``) halts at a
point that depends on rounding along its whole path, so the same data fitted
on two BLAS kernels (or two CPUs) gave metrics that differed by 1e-4.  The
solvers here stop on the *gradient*: the fit ends only when the Euclidean norm
of the gradient of the mean NLL is at most ``tol``, and Newton's method
converges quadratically, so its last step usually takes the gradient orders of
magnitude below ``tol``.  Two runs then agree to about ``tol / lambda_min``
in the parameters (``lambda_min`` the smallest curvature of the objective at
the optimum), whatever the path.

The softmax is unchanged when the same constant is added to every class's
logit, so vector and unregularised matrix scaling have a flat direction in the
intercepts; the callers fix it (one intercept held at zero during the fit,
intercepts centred after it), which makes the optimum unique.

Two solvers:

- :func:`minimize_trust_newton`: a trust-region Newton-CG method (scipy's
  ``trust-ncg``) on ``(value, gradient)`` and an exact Hessian-vector product,
  for coupled parameters (vector and matrix scaling).  Every accepted step
  lowers the objective, so the fit never ends above its starting point.
- :func:`fit_columns_newton`: independent two-parameter logistic problems
  ``sigmoid(a_k z_k + b_k)``, one per column (Platt scaling), solved together
  by a vectorised damped Newton method with exact 2 x 2 Hessians and a
  backtracking line search per column.

Every pass over the rows is a sum over them (the loss, the gradient, the
Hessian or a Hessian-vector product).  On a ``dask.array`` chunked along
rows the same kernels run on each block as a dask task and their results are
added (:func:`calibrate._dask.block_sums`): the solvers see the same numbers
up to the rounding of the sums and stop on the same test, so a dask fit meets
the gradient-norm tolerance of the numpy fit.  (The probabilities of the
Hessian-vector products are not cached between the products then: a task
keeps nothing.)
"""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from calibrate._dask import is_dask
from calibrate._special import iter_chunks, logsumexp_rows, softmax
from calibrate.calibrators._base import OneVsRestTargets, subsample
from calibrate.calibrators._temperature import _CHUNKS_PER_THREAD, _n_threads

__all__ = [
    "fit_columns_newton",
    "minimize_trust_newton",
    "per_column_affine_hessp",
    "softmax_hvp",
]


def softmax_hvp(P, dS, w):
    """Hessian of the weighted softmax NLL in the logits, applied to ``dS``.

    Parameters
    ----------
    P : ndarray of shape (m, K)
        ``softmax(S)`` at the current logits (0 for masked columns).
    dS : ndarray of shape (m, K), float64
        Direction in logit space (overwritten).
    w : ndarray of shape (m,)
        Row weights.

    Returns
    -------
    ndarray of shape (m, K)
        ``w_i (p_i * dS_i - p_i (p_i . dS_i))``.

    Examples
    --------
    >>> P = np.full((1, 2), 0.5); dS = np.array([[1.0, -1.0]])
    >>> softmax_hvp(P, dS, np.ones(1))
    array([[ 0.5, -0.5]])
    """
    dS *= P
    dS -= P * dS.sum(axis=1, keepdims=True)
    dS *= w[:, None]
    return dS


class _CurvatureCache:
    """Probabilities at the last point the Hessian was applied at, per chunk.

    Newton-CG applies the Hessian many times at one point; recomputing the
    softmax each time would double the cost of every product.  The
    probabilities are kept in float32 (the Hessian-vector product only steers
    the steps: the gradient, which decides when the fit stops, is always
    exact float64), and only while they fit in ``max_entries`` values.
    """

    max_entries = 2**25  # 128 MB of float32

    def __init__(self, n_entries):
        self.enabled = n_entries <= self.max_entries
        self.theta, self.chunks = None, []

    def get(self, theta, index, compute):
        if not self.enabled:
            return compute()
        if self.theta is None or not np.array_equal(theta, self.theta):
            self.theta, self.chunks = theta.copy(), []
        if index == len(self.chunks):
            self.chunks.append(compute().astype(np.float32))
        return self.chunks[index]


def minimize_trust_newton(fun, hessp, x0, *, fixed, tol, max_iter, name):
    """Minimise a smooth convex ``fun`` by trust-region Newton-CG.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (value, gradient)``.
    hessp : callable
        ``hessp(theta, v) -> H(theta) @ v``, the exact Hessian-vector product.
    x0 : ndarray
        Starting point; parameters where ``fixed`` is True stay there exactly.
    fixed : ndarray of bool
        Parameters held constant (no row informs them, or a gauge is fixed).
    tol : float
        Stop when the Euclidean norm of the gradient over the free parameters
        is at most ``tol``.
    max_iter : int
        Newton iteration budget; running out raises ``ConvergenceWarning``.
    name : str
        Estimator name for the warning.

    Returns
    -------
    theta : ndarray
        The minimiser, with the fixed entries of ``x0``.
    n_iter : int
        Newton iterations used.
    """
    free = ~np.asarray(fixed, dtype=bool)
    if not free.any():
        return x0.copy(), 0
    base = np.array(x0, dtype=np.float64)

    def embed(x, fill):
        theta = fill.copy()
        theta[free] = x
        return theta

    zeros = np.zeros_like(base)

    def reduced(x):
        value, grad = fun(embed(x, base))
        return value, grad[free]

    def reduced_hessp(x, v):
        return hessp(embed(x, base), embed(v, zeros))[free]

    # One BLAS thread: the many small products of CG run slower when
    # OpenBLAS wakes its pool for each (the limit is undone on exit).
    with threadpool_limits(limits=1, user_api="blas"):
        res = minimize(
            reduced,
            base[free],
            jac=True,
            hessp=reduced_hessp,
            method="trust-ncg",
            options={"gtol": tol, "maxiter": max_iter},
        )
        if res.nit < max_iter:
            # Polish: a few more Newton steps aimed 1000 times below ``tol``
            # cost little (convergence is quadratic here) and take two runs
            # that met ``tol`` at different points to the same optimum.
            polish = minimize(
                reduced,
                res.x,
                jac=True,
                hessp=reduced_hessp,
                method="trust-ncg",
                options={"gtol": 1e-3 * tol, "maxiter": 5},
            )
            if polish.fun <= res.fun:
                polish.nit += res.nit
                res = polish
    gnorm = float(np.linalg.norm(res.jac))
    # A trust region that cannot shrink further with the gradient within
    # 1000 * tol of zero has reached the precision the objective can be
    # computed to: not a failure.
    if gnorm > tol and (res.nit >= max_iter or gnorm > 1e3 * tol):
        warnings.warn(
            f"{name} did not converge: {res.message} (gradient norm {gnorm:.2e} "
            f"after {res.nit} iterations). Increase max_iter or check the scores.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return embed(res.x, base), int(res.nit)


# Element-wise kernels walk the rows in chunks of about this many float64
# values (512 KiB): their few buffers then stay in the CPU's cache, where a
# chunk of 2**20 values made each pass memory-bound (seen: 160 ms per 10**6
# scores for Platt's pass against 20 ms).
_CACHE_CHUNK_ELEMENTS = 2**16
# Fits on more score values than this start from the same fit on a strided
# subsample of about _SUBSAMPLE_ELEMENTS values (a deterministic starting
# point: the answer is the full-data optimum, which Newton's quadratic
# convergence then reaches in two or three full passes).
_SUBSAMPLE_MIN_ELEMENTS = 2**22
_SUBSAMPLE_ELEMENTS = 2**20


def _linear_target_terms(Z, targets, w, *, target_chunk):
    """``sum_i w_i y_ik z_ik`` and ``sum_i w_i y_ik`` per column, one pass.

    The target enters the sigmoid likelihood only through ``-y S`` with
    ``S = a z + b``, which is linear in ``(a, b)``: these two sums, formed
    once per fit, give its value and gradient at every ``(a, b)``, so the
    Newton passes never build the targets.  One-vs-rest targets (``hi`` at
    the label, ``lo`` elsewhere) are summed with ``bincount`` over the labels.
    """
    if is_dask(Z):
        from calibrate._dask import block_sums

        return block_sums(
            _linear_target_terms, Z, (targets, w), target_chunk=target_chunk
        )
    k = Z.shape[1]
    yz, y1 = np.zeros(k), np.zeros(k)
    if isinstance(targets, OneVsRestTargets):
        labels = targets.labels
        wz = np.zeros(k)
        zy = np.empty(len(labels))
        for rows in iter_chunks(*Z.shape):
            Zc = Z[rows].astype(np.float64)
            wz += w[rows] @ Zc
            zy[rows] = Zc[np.arange(len(Zc)), labels[rows]]
        spread = targets.hi - targets.lo
        yz = targets.lo * wz + spread * np.bincount(labels, w * zy, minlength=k)
        y1 = targets.lo * w.sum() + spread * np.bincount(labels, w, minlength=k)
        return yz, y1
    for rows in iter_chunks(*Z.shape):
        Zc = Z[rows].astype(np.float64)
        Y = target_chunk(targets, rows, len(Zc))
        wc = w[rows]
        y1 += wc @ Y
        Y *= Zc
        yz += wc @ Y
    return yz, y1


def _column_sums(Z, w, a, b, chunks):
    """Return the target-free sums of :func:`_column_terms` over ``chunks``.

    Rows ``(sum w softplus(S), sum w s z, sum w s, sum w c, sum w c z,
    sum w c z^2)`` per column, with ``S = a z + b``, ``s = sigmoid(S)`` and
    ``c = s (1 - s)``.  One exponential and one ``log1p`` per score: with
    ``e = exp(-|S|)``, ``softplus(S) = max(S, 0) + log1p(e)``, ``s`` is
    ``1 / (1 + e)`` or ``e / (1 + e)`` by the sign of ``S`` and
    ``c = e / (1 + e)**2``, all exact to rounding.  Chunks are small enough
    for their five float64 buffers to stay in cache; the row sums are
    matrix-vector products.
    """
    k = Z.shape[1]
    out = np.zeros((6, k))
    rows_max = max((c.stop - c.start for c in chunks), default=0)
    Zb, Sb, Eb, Tb, Vb = (np.empty((rows_max, k)) for _ in range(5))
    for rows in chunks:
        m = rows.stop - rows.start
        Zc, S, E, T, V, wc = Zb[:m], Sb[:m], Eb[:m], Tb[:m], Vb[:m], w[rows]
        np.copyto(Zc, Z[rows])
        np.multiply(Zc, a, out=S)
        S += b
        np.abs(S, out=E)
        np.negative(E, out=E)
        np.exp(E, out=E)
        np.log1p(E, out=T)
        np.maximum(S, 0.0, out=V)
        V += T
        out[0] += wc @ V
        np.add(E, 1.0, out=T)
        np.reciprocal(T, out=T)  # 1 / (1 + e)
        np.multiply(E, T, out=V)
        np.copyto(V, T, where=S >= 0)  # s
        out[2] += wc @ V
        V *= Zc
        out[1] += wc @ V
        np.multiply(E, T, out=V)
        V *= T  # c
        out[3] += wc @ V
        V *= Zc
        out[4] += wc @ V
        V *= Zc
        out[5] += wc @ V
    return out


def _block_column_sums(Z, w, a, b):
    """:func:`_column_sums` of one block of rows (a dask task)."""
    chunks = list(iter_chunks(*Z.shape, chunk_elements=_CACHE_CHUNK_ELEMENTS))
    return _column_sums(Z, w, a, b, chunks)


def _column_terms(Z, w, a, b, linear):
    """Per-column loss, gradient and 2 x 2 Hessian of ``sigmoid(a z + b)``, one pass.

    ``linear`` is :func:`_linear_target_terms`.  On a large input the row
    chunks are shared among threads (numpy releases the GIL; contiguous
    groups, partial sums added in a fixed order).
    """
    n, k = Z.shape
    chunks = list(iter_chunks(n, k, chunk_elements=_CACHE_CHUNK_ELEMENTS))
    n_workers = min(_n_threads(), len(chunks) // _CHUNKS_PER_THREAD)
    if is_dask(Z):
        from calibrate._dask import block_sums

        sums = block_sums(_block_column_sums, Z, (w,), a, b)
    elif n_workers <= 1:
        sums = _column_sums(Z, w, a, b, chunks)
    else:
        groups = np.array_split(np.arange(len(chunks)), n_workers)
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            parts = list(
                pool.map(
                    lambda g: _column_sums(Z, w, a, b, [chunks[i] for i in g]),
                    groups,
                )
            )
        sums = parts[0]
        for part in parts[1:]:
            sums = sums + part
    yz, y1 = linear
    loss = sums[0] - a * yz - b * y1
    g = np.stack([sums[1] - yz, sums[2] - y1])
    h = sums[[5, 4, 3]]  # H_aa, H_ab, H_bb
    return loss, g, h


def fit_columns_newton(
    Z, targets, w, a0, b0, *, fixed, tol, max_iter, name, target_chunk
):
    """Fit ``sigmoid(a_k z_k + b_k)`` to each column ``k`` by damped Newton steps.

    The columns are independent two-parameter logistic regressions.  Each
    iteration solves the K exact 2 x 2 Newton systems in closed form and makes
    one pass over the data at the trial point for every column's loss,
    gradient and Hessian together; a column whose loss would rise backtracks
    (another pass, rare), so no column ends above its starting loss, and the
    accepted trial's derivatives start the next iteration.  A column stops
    moving once its gradient norm is at most ``tol / 1000`` (or at most
    ``tol`` and no longer halving: the precision its loss is computed to);
    the fit ends when every column has.

    Parameters
    ----------
    Z : ndarray of shape (n, K)
        Scores (any float dtype; read in float64 chunks).
    targets : ndarray or targets object
        Read through ``target_chunk(targets, rows, m)`` as ``(m, K)`` targets.
    w : ndarray of shape (n,)
        Weights summing to 1.
    a0, b0 : ndarray of shape (K,)
        Starting slopes and intercepts.
    fixed : ndarray of bool of shape (K,)
        Columns that keep their starting values.
    tol : float
        Gradient-norm tolerance per column.
    max_iter : int
        Newton iteration budget.
    name : str
        Estimator name for the warning.
    target_chunk : callable
        Reader of target blocks.

    Returns
    -------
    a, b : ndarray of shape (K,)
    n_iter : int
    """
    a, b = np.array(a0, dtype=np.float64), np.array(b0, dtype=np.float64)
    free = ~np.asarray(fixed, dtype=bool)
    n, k = Z.shape
    # One BLAS thread: the row sums are many small matrix-vector products
    # (threads, if any, are over row blocks), and a fixed thread count fixes
    # their summation order.
    with threadpool_limits(limits=1, user_api="blas"):
        linear = _linear_target_terms(Z, targets, w, target_chunk=target_chunk)
        loss, g, h = _column_terms(Z, w, a, b, linear)
        if n * k > _SUBSAMPLE_MIN_ELEMENTS:
            stride = int(np.ceil(n * k / _SUBSAMPLE_ELEMENTS))
            w_sub = w[::stride]
            if w_sub.sum() > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a1, b1, _ = fit_columns_newton(
                        Z[::stride],
                        subsample(targets, stride),
                        w_sub / w_sub.sum(),
                        a,
                        b,
                        fixed=fixed,
                        tol=1e-4,  # aims at 1e-7: far below its sampling error
                        max_iter=max_iter,
                        name=name,
                        target_chunk=target_chunk,
                    )
                # Each column keeps the better of the two starts on all rows,
                # so no column ends above the temperature-scaling start.
                t_loss, t_g, t_h = _column_terms(Z, w, a1, b1, linear)
                ok = free & (t_loss <= loss)
                a, b = np.where(ok, a1, a), np.where(ok, b1, b)
                loss = np.where(ok, t_loss, loss)
                g, h = np.where(ok, t_g, g), np.where(ok, t_h, h)
        return _column_newton_loop(
            Z, w, a, b, loss, g, h, linear, free, tol, max_iter, name
        )


def _column_newton_loop(Z, w, a, b, loss, g, h, linear, free, tol, max_iter, name):
    """Run the iteration of :func:`fit_columns_newton` from ``(a, b)``."""
    active = free.copy()
    n_iter = 0
    gnorm = np.where(free, np.inf, 0.0)
    while active.any():
        previous, gnorm = gnorm, np.where(free, np.hypot(g[0], g[1]), 0.0)
        # Aim 1000 times below ``tol`` (a Newton step or two more) so that
        # two runs meeting ``tol`` at different points end at one optimum;
        # a column within ``tol`` whose gradient stops halving has reached
        # the precision its loss is computed to.
        done = gnorm <= 1e-3 * tol
        stalled = (gnorm <= tol) & (gnorm > 0.5 * previous) & (n_iter > 0)
        active &= ~(done | stalled)
        if not active.any() or n_iter >= max_iter:
            break
        n_iter += 1
        # Levenberg damping keeps each 2 x 2 system positive definite when a
        # column is (nearly) separable and its curvature vanishes.
        ridge = 1e-12 * (h[0] + h[2]) + 1e-300
        haa, hab, hbb = h[0] + ridge, h[1], h[2] + ridge
        det = haa * hbb - hab * hab
        da = np.where(active, -(hbb * g[0] - hab * g[1]) / det, 0.0)
        db = np.where(active, -(haa * g[1] - hab * g[0]) / det, 0.0)
        step = np.ones(len(a))
        # Where the predicted decrease (half the Newton decrement) is below
        # the rounding error of the loss, the quadratic model is exact to
        # the precision available: take the full step without a line search
        # (comparing losses there compares rounding noise).
        decrease = -0.5 * (g[0] * da + g[1] * db)
        checked = active & (decrease > 64 * np.finfo(float).eps * np.abs(loss))
        pending = active.copy()
        for _ in range(60):  # halvings: 2**-60 is below any useful step
            ta, tb = a + step * da, b + step * db
            t_loss, t_g, t_h = _column_terms(Z, w, ta, tb, linear)
            ok = pending & ~(checked & ~(t_loss <= loss))  # NaN counts as worse
            a, b = np.where(ok, ta, a), np.where(ok, tb, b)
            loss = np.where(ok, t_loss, loss)
            g, h = np.where(ok, t_g, g), np.where(ok, t_h, h)
            pending &= ~ok
            if not pending.any():
                break
            step = np.where(pending, step / 2, step)
        active &= ~pending  # no decrease found: at the precision of the loss
    if (gnorm > 1e3 * tol).any() or (n_iter >= max_iter and (gnorm > tol).any()):
        worst = int(np.argmax(gnorm))
        warnings.warn(
            f"{name} did not converge: column {worst} has gradient norm "
            f"{gnorm[worst]:.2e} after {n_iter} Newton iterations. Increase "
            "max_iter or check the scores.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return a, b, n_iter


def per_column_affine_hessp(Z, w, *, absent):
    """Hessian-vector product of the objective of ``S = a * Z + b``.

    The companion of :func:`calibrate.calibrators._base.per_column_affine_objective`
    for the softmax likelihood: ``hessp(theta, v)`` with
    ``theta = [a, b]`` and ``v = [v_a, v_b]``, one pass over the rows in
    float64 chunks (none while the probabilities at ``theta`` are cached).
    ``absent`` columns are masked out of the softmax.
    """
    if is_dask(Z):
        from calibrate._dask import block_sums

        def dask_hessp(theta, v):
            return block_sums(_block_affine_hessp, Z, (w,), theta, v, absent)

        return dask_hessp
    k = Z.shape[1]
    cache = _CurvatureCache(Z.shape[0] * k)

    def hessp(theta, v):
        scale, bias = theta[:k], theta[k:]
        va, vb = v[:k], v[k:]
        out = np.zeros(2 * k)
        chunks = iter_chunks(*Z.shape, chunk_elements=_CACHE_CHUNK_ELEMENTS)
        for index, rows in enumerate(chunks):
            Zc = Z[rows].astype(np.float64)

            def probabilities(Zc=Zc):
                S = Zc * scale + bias
                if absent.any():
                    S[:, absent] = -np.inf
                return softmax(S)

            P = cache.get(theta, index, probabilities)
            HdS = softmax_hvp(P, Zc * va + vb, w[rows])
            out[:k] += np.einsum("ij,ij->j", HdS, Zc)
            out[k:] += HdS.sum(axis=0)
        return out

    return hessp


def _block_affine_hessp(Z, w, theta, v, absent):
    """One block's share of :func:`per_column_affine_hessp` (a dask task)."""
    return per_column_affine_hessp(Z, w, absent=absent)(theta, v)


def gauge_column(absent):
    """Index of the class whose intercept is held at 0 to fix the softmax's constant.

    Adding one constant to every logit leaves the softmax unchanged, so the
    intercepts of a softmax fit are determined only up to that constant; the
    last class that occurs is held fixed during the fit and the intercepts are
    centred afterwards (see :func:`centre`).
    """
    present = np.flatnonzero(~absent)
    return int(present[-1]) if len(present) else None


def centre(values, absent, axis=0):
    """Subtract the mean over the classes that occur (along ``axis``), in place.

    The softmax over the present classes is unchanged; the absent classes,
    which keep their starting map, are not touched.
    """
    present = ~absent
    if present.any():
        index = [slice(None)] * values.ndim
        index[axis] = present
        index = tuple(index)
        values[index] -= values[index].mean(axis=axis, keepdims=True)
    return values


def _softmax_nll(Z, y, w, forward, shift, present):
    """Weighted NLL of ``softmax(forward(Z))`` with ``present`` logits shifted."""
    if is_dask(Z):
        from calibrate._dask import block_sums

        return block_sums(_softmax_nll, Z, (y, w), forward, shift, present)
    total = 0.0
    for rows in iter_chunks(*Z.shape):
        S = forward(Z[rows].astype(np.float64))
        S[:, present] += shift
        lse = logsumexp_rows(S)
        total += float(w[rows] @ (lse - S[np.arange(len(S)), y[rows]]))
    return total


def absent_class_shift(Z, y, w, *, fitted, start, absent):
    """Shift of the fitted classes' logits that keeps the fit no worse than its start.

    A class that never occurs keeps its starting (temperature-scaling) map and
    is masked out of the fit, so the fit fixes the fitted classes' logits
    only up to a common constant (their intercepts are centred).  Relative to
    the absent classes that constant matters: on a small validation set the
    fitted classes' logits can shrink until an absent class takes most of the
    probability, and the model's validation NLL ends far above temperature
    scaling's (seen: 26.8 against 1.18).  The validation NLL of the whole
    model only falls as the constant grows (its derivative is minus the
    absent classes' mean probability), so this returns the smallest
    ``c >= 0`` at which it is no higher than at the start: ``0`` when the
    centred fit already is, else found by doubling and bisection.

    Parameters
    ----------
    Z : ndarray of shape (n, K)
        Scores.
    y, w : ndarray of shape (n,)
        Labels and weights summing to 1.
    fitted, start : callable
        ``f(Zc) -> S``: the fitted and the starting maps on a float64 chunk.
    absent : ndarray of bool of shape (K,)
        Classes with no positively weighted label.

    Returns
    -------
    float
        The constant to add to the intercepts of the classes that occur.
    """
    present = ~absent
    if not absent.any() or not present.any():
        return 0.0
    target = _softmax_nll(Z, y, w, start, 0.0, present)

    def worse(c):
        return _softmax_nll(Z, y, w, fitted, c, present) > target

    if not worse(0.0):
        return 0.0
    hi = 1.0
    while worse(hi):
        hi *= 2.0
        if hi > 1e300:  # cannot happen: the limit is the masked optimum
            return hi
    lo = hi / 2.0 if hi > 1.0 else 0.0
    while hi - lo > 1e-12 * hi:
        mid = 0.5 * (lo + hi)
        if worse(mid):
            lo = mid
        else:
            hi = mid
    return hi


#: Vector scaling forms its exact Hessian (three K x K products per pass)
#: up to this many classes; beyond, Newton-CG's Hessian-vector products.
EXACT_HESSIAN_MAX_CLASSES = 256


def _per_class_terms(Z, y, w, a, b, absent):
    """Loss, gradient and exact Hessian of the softmax NLL of ``a * Z + b``, one pass.

    Returns the loss, the gradient ``[g_a, g_b]`` and the blocks
    ``(H_aa, H_ab, H_bb)`` of the ``2K x 2K`` Hessian, from
    ``H_aa = diag(sum w z^2 p) - (Z p)^T W (Z p)``,
    ``H_ab = diag(sum w z p) - (Z p)^T W P`` and
    ``H_bb = diag(sum w p) - P^T W P``.
    """
    if is_dask(Z):
        from calibrate._dask import block_sums

        return block_sums(_per_class_terms, Z, (y, w), a, b, absent)
    k = Z.shape[1]
    loss = 0.0
    g = np.zeros(2 * k)
    Haa, Hab, Hbb = np.zeros((k, k)), np.zeros((k, k)), np.zeros((k, k))
    for rows in iter_chunks(*Z.shape, chunk_elements=_CACHE_CHUNK_ELEMENTS):
        Zc = Z[rows].astype(np.float64)
        wc = w[rows]
        yc = y[rows]
        S = Zc * a
        S += b
        if absent.any():
            S[:, absent] = -np.inf
        # One exponential per score for both the softmax and the log-sum-exp.
        top = S.max(axis=1, keepdims=True)
        P = S - top
        np.exp(P, out=P)
        total = P.sum(axis=1, keepdims=True)
        P /= total
        r = np.arange(len(yc))
        lse = np.log(total[:, 0]) + top[:, 0]
        loss += float(wc @ np.where(wc > 0, lse - S[r, yc], 0.0))
        R = P.copy()
        R[r, yc] -= 1.0
        R *= wc[:, None]
        g[:k] += np.einsum("ij,ij->j", R, Zc)
        g[k:] += R.sum(axis=0)
        ZP = Zc * P
        wZP = ZP * wc[:, None]
        wP = P * wc[:, None]
        Haa += np.diag(np.einsum("ij,ij->j", wZP, Zc)) - ZP.T @ wZP
        Hab += np.diag(wZP.sum(axis=0)) - ZP.T @ wP
        Hbb += np.diag(wP.sum(axis=0)) - P.T @ wP
    return loss, g, (Haa, Hab, Hbb)


def fit_per_class_exact_newton(
    Z, y, w, x0, *, fixed, absent, shared_scale, mu, tol, max_iter, name
):
    """Newton's method with the exact Hessian for ``softmax(a * Z + b)``.

    For up to :data:`EXACT_HESSIAN_MAX_CLASSES` classes the ``2K x 2K``
    Hessian costs three matrix products per pass, and exact Newton steps
    (Cholesky solve over the free parameters, backtracking until the loss
    does not rise) converge in a handful of passes where Newton-CG needs
    hundreds of Hessian-vector products.  Each iteration makes one pass at the
    trial point (loss, gradient and Hessian together), reused when accepted.
    Stops when the gradient norm over the free parameters is at most
    ``tol / 1000``, or at most ``tol`` and no longer halving.

    ``theta = [a, b]`` (``a`` a single shared scale when ``shared_scale``);
    ``mu`` adds ``mu * |b|^2``.  Returns ``theta`` and the iterations.
    """
    k = Z.shape[1]
    n_scale = 1 if shared_scale else k
    free = ~np.asarray(fixed, dtype=bool)

    def terms(theta):
        a = np.broadcast_to(theta[:n_scale], k)
        b = theta[n_scale:]
        loss, g, (Haa, Hab, Hbb) = _per_class_terms(Z, y, w, a, b, absent)
        if shared_scale:
            g = np.concatenate([[g[:k].sum()], g[k:]])
            H = np.block(
                [
                    [np.array([[Haa.sum()]]), Hab.sum(axis=0)[None, :]],
                    [Hab.sum(axis=0)[:, None], Hbb],
                ]
            )
        else:
            H = np.block([[Haa, Hab], [Hab.T, Hbb]])
        loss += mu * (b @ b)
        g[n_scale:] += 2 * mu * b
        H[n_scale:, n_scale:] += 2 * mu * np.eye(k)
        return loss, g, H

    theta = np.array(x0, dtype=np.float64)
    if not free.any():
        return theta, 0
    # One BLAS thread: with another process on the cores, OpenBLAS's threads
    # made the K x K products 5-10 times slower (seen: 8.3 s against 1.2 s
    # at 10,000 x 100), and a fixed thread count fixes their summation order.
    with threadpool_limits(limits=1, user_api="blas"):
        start = terms(theta)
        n, k = Z.shape
        w_sub = w[:: max(1, int(np.ceil(n * k / _SUBSAMPLE_ELEMENTS)))]
        if n * k > _SUBSAMPLE_MIN_ELEMENTS and w_sub.sum() > 0:
            stride = int(np.ceil(n * k / _SUBSAMPLE_ELEMENTS))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                warm, _ = fit_per_class_exact_newton(
                    Z[::stride],
                    y[::stride],
                    w_sub / w_sub.sum(),
                    theta,
                    fixed=fixed,
                    absent=absent,
                    shared_scale=shared_scale,
                    mu=mu,
                    tol=1e-4,  # aims at 1e-7: far below its sampling error
                    max_iter=max_iter,
                    name=name,
                )
            # The subsample's optimum starts the full fit only if it is no
            # worse than the temperature-scaling start on all rows.
            warm_terms = terms(warm)
            if warm_terms[0] <= start[0]:
                theta, start = warm, warm_terms
        return _exact_newton_loop(terms, theta, start, free, tol, max_iter, name)


def _exact_newton_loop(terms, theta, start, free, tol, max_iter, name):
    """Run the iteration of :func:`fit_per_class_exact_newton`."""
    loss, g, H = start
    gnorm, n_iter = np.inf, 0
    eps = np.finfo(float).eps
    while True:
        previous, gnorm = gnorm, float(np.linalg.norm(g[free]))
        if gnorm <= 1e-3 * tol or (gnorm <= tol and gnorm > 0.5 * previous):
            break
        if n_iter >= max_iter:
            break
        n_iter += 1
        Hf = H[np.ix_(free, free)]
        ridge = 1e-12 * max(np.trace(Hf) / len(Hf), 1e-300)
        try:
            c = np.linalg.cholesky(Hf + ridge * np.eye(len(Hf)))
            step = -np.linalg.solve(c.T, np.linalg.solve(c, g[free]))
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(Hf, g[free], rcond=None)[0]
        decrease = -0.5 * float(g[free] @ step)
        check = decrease > 64 * eps * abs(loss)
        t, accepted = 1.0, False
        for _ in range(60):
            trial = theta.copy()
            trial[free] += t * step
            t_loss, t_g, t_H = terms(trial)
            if not check or t_loss <= loss:
                theta, loss, g, H, accepted = trial, t_loss, t_g, t_H, True
                break
            t /= 2
        if not accepted:
            break  # no decrease at the precision of the loss
    if gnorm > 1e3 * tol or (n_iter >= max_iter and gnorm > tol):
        warnings.warn(
            f"{name} did not converge: gradient norm {gnorm:.2e} after {n_iter} "
            "Newton iterations. Increase max_iter or check the scores.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return theta, n_iter
