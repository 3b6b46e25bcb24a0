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

Three solvers:

- :func:`minimize_trust_newton`: a trust-region Newton-CG method (scipy's
  ``trust-ncg``) on ``(value, gradient)`` and an exact Hessian-vector product,
  for coupled parameters (vector and matrix scaling).  Every accepted step
  lowers the objective, so the fit never ends above its starting point.
- :func:`fit_per_class_exact_newton`: vector scaling's ``2K`` parameters by
  Newton's method with the exact Hessian (one float32 rank-``m`` update per
  chunk), its factorisation reused for L-BFGS steps beyond 256 classes.
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


_CONTROLLERS = []


def warn_not_converged(name, gnorm, n_iter, *, stacklevel):
    """Warn that a Newton fit stopped above its gradient tolerance."""
    warnings.warn(
        f"{name} did not converge: gradient norm {gnorm:.2e} after {n_iter} "
        "Newton iterations. Increase max_iter or check the scores.",
        ConvergenceWarning,
        stacklevel=stacklevel + 1,
    )


def _one_blas_thread():
    """``threadpool_limits(limits=1, user_api="blas")``, libraries found once.

    Finding the loaded BLAS libraries reads the process's memory map (8 ms a
    call, seen: a tenth of a vector-scaling fit at 10,000 x 100); the
    controller that holds them is made on first use and kept.
    """
    if not _CONTROLLERS:
        from threadpoolctl import ThreadpoolController

        _CONTROLLERS.append(ThreadpoolController())
    return _CONTROLLERS[0].limit(limits=1, user_api="blas")


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
    with _one_blas_thread():
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


# Platt's passes walk chunks of this many values: their five float64
# buffers (640 KiB) stay in cache and below a sixth of a 10,000 x 100
# float32 input.
_PLATT_CHUNK_ELEMENTS = 2**14
# Platt's full-data passes start from its fit on every ``stride``-th row,
# ``stride = n // max(_PLATT_SUBSAMPLE_MIN_ROWS, _PLATT_SUBSAMPLE_ELEMENTS // K)``
# when that is at least 4: with two parameters per column, a thousand rows
# give a start within Newton's quadratic convergence (from the
# temperature-scaling start, whose intercepts are 0 where the optimum's are
# near -log K, the damped steps took 10 passes at 10,000 x 100).
_PLATT_SUBSAMPLE_MIN_ROWS = 1024
_PLATT_SUBSAMPLE_ELEMENTS = 2**17


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
    chunks = iter_chunks(*Z.shape, chunk_elements=_PLATT_CHUNK_ELEMENTS)
    if isinstance(targets, OneVsRestTargets):
        labels = targets.labels
        wz, wzy = np.zeros(k), np.zeros(k)
        for rows in chunks:
            Zc, wc, yc = Z[rows], w[rows], labels[rows]
            wz += wc @ Zc
            zy = Zc[np.arange(len(yc)), yc].astype(np.float64)
            wzy += np.bincount(yc, wc * zy, minlength=k)
        spread = targets.hi - targets.lo
        yz = targets.lo * wz + spread * wzy
        y1 = targets.lo * w.sum() + spread * np.bincount(labels, w, minlength=k)
        return yz, y1
    for rows in chunks:
        Zc = Z[rows].astype(np.float64)
        Y = target_chunk(targets, rows, len(Zc))
        wc = w[rows]
        y1 += wc @ Y
        Y *= Zc
        yz += wc @ Y
    return yz, y1


def _column_sums(Z, w, a, b, chunks, cols=None):
    """Return the target-free sums of :func:`_column_terms` over ``chunks``.

    Rows ``(sum w softplus(S), sum w s z, sum w s, sum w c, sum w c z,
    sum w c z^2)`` per column, with ``S = a z + b``, ``s = sigmoid(S)`` and
    ``c = s (1 - s)``.  One exponential and one ``log1p`` per score: with
    ``e = exp(-|S|)``, ``softplus(S) = max(S, 0) + log1p(e)``, ``s`` is
    ``1 / (1 + e)`` or ``e / (1 + e)`` by the sign of ``S`` and
    ``c = e / (1 + e)**2``, all exact to rounding.  Chunks are small enough
    for their five float64 buffers to stay in cache; the row sums are
    matrix-vector products.  With ``cols``, only those columns of ``Z``
    (``a`` and ``b`` then theirs).
    """
    k = Z.shape[1] if cols is None else len(cols)
    out = np.zeros((6, k))
    rows_max = max((c.stop - c.start for c in chunks), default=0)
    Zb, Sb, Eb, Tb, Vb = (np.empty((rows_max, k)) for _ in range(5))
    for rows in chunks:
        m = rows.stop - rows.start
        Zc, S, E, T, V, wc = Zb[:m], Sb[:m], Eb[:m], Tb[:m], Vb[:m], w[rows]
        np.copyto(Zc, Z[rows] if cols is None else Z[rows][:, cols])
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


def _block_column_sums(Z, w, a, b, cols):
    """:func:`_column_sums` of one block of rows (a dask task)."""
    k = Z.shape[1] if cols is None else len(cols)
    chunks = list(iter_chunks(len(Z), k, chunk_elements=_PLATT_CHUNK_ELEMENTS))
    return _column_sums(Z, w, a, b, chunks, cols)


def _column_terms(Z, w, a, b, linear, cols=None):
    """Per-column loss, gradient and 2 x 2 Hessian of ``sigmoid(a z + b)``, one pass.

    ``linear`` is :func:`_linear_target_terms`.  With ``cols`` (indices),
    only those columns are summed (``a`` and ``b`` are theirs): the columns
    are independent, so a pass for the few still moving costs their share.
    On a large input the row chunks are shared among threads (numpy
    releases the GIL; contiguous groups, partial sums added in a fixed
    order).
    """
    n, k = Z.shape
    if cols is not None:
        k = len(cols)
        linear = tuple(v[cols] for v in linear)
    chunks = list(iter_chunks(n, k, chunk_elements=_PLATT_CHUNK_ELEMENTS))
    n_workers = min(_n_threads(), len(chunks) // (4 * _CHUNKS_PER_THREAD))
    if is_dask(Z):
        from calibrate._dask import block_sums

        sums = block_sums(_block_column_sums, Z, (w,), a, b, cols)
    elif n_workers <= 1:
        sums = _column_sums(Z, w, a, b, chunks, cols)
    else:
        groups = np.array_split(np.arange(len(chunks)), n_workers)
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            parts = list(
                pool.map(
                    lambda g: _column_sums(Z, w, a, b, [chunks[i] for i in g], cols),
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
    with _one_blas_thread():
        linear = _linear_target_terms(Z, targets, w, target_chunk=target_chunk)
        stride = n // max(_PLATT_SUBSAMPLE_MIN_ROWS, _PLATT_SUBSAMPLE_ELEMENTS // k)
        w_sub = w[::stride] if stride >= 4 else None
        if w_sub is None or not w_sub.sum() > 0:
            loss, g, h = _column_terms(Z, w, a, b, linear)
            return _column_newton_loop(
                Z, w, a, b, loss, g, h, linear, free, tol, max_iter, name
            )[:3]
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
        a1, b1 = np.where(free, a1, a), np.where(free, b1, b)
        loss, g, h = _column_terms(Z, w, a1, b1, linear)
        a1, b1, n_iter, loss, gnorm = _column_newton_loop(
            Z, w, a1, b1, loss, g, h, linear, free, tol, max_iter, name
        )
        # Every step from the subsample's optimum lowers a column's loss on
        # all rows; a column that stopped short must still end no worse than
        # its temperature-scaling start (a converged one is at the optimum).
        short = free & (gnorm > tol)
        if short.any():
            back = short & (_column_terms(Z, w, a, b, linear)[0] < loss)
            a1, b1 = np.where(back, a, a1), np.where(back, b, b1)
        return a1, b1, n_iter


def _column_newton_loop(Z, w, a, b, loss, g, h, linear, free, tol, max_iter, name):
    """Run the iteration of :func:`fit_columns_newton` from ``(a, b)``.

    Returns ``(a, b, n_iter, loss, gnorm)``, the last two per column.
    """
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
            # Only the columns still moving are summed.
            cols = np.flatnonzero(pending)
            ta, tb = a[cols] + step[cols] * da[cols], b[cols] + step[cols] * db[cols]
            t_loss, t_g, t_h = _column_terms(
                Z, w, ta, tb, linear, None if len(cols) == len(a) else cols
            )
            # NaN counts as worse.
            ok = ~(checked[cols] & ~(t_loss <= loss[cols]))
            take = cols[ok]
            a[take], b[take], loss[take] = ta[ok], tb[ok], t_loss[ok]
            g[:, take], h[:, take] = t_g[:, ok], t_h[:, ok]
            pending[take] = False
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
    return a, b, n_iter, loss, gnorm


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


#: Vector scaling forms its exact Hessian (a rank-``m`` update of a
#: ``2K x 2K`` matrix per chunk of ``m`` rows) up to this many classes;
#: beyond, Newton-CG's Hessian-vector products.
EXACT_HESSIAN_MAX_CLASSES = 2048
# Up to this many classes the Hessian is formed in the same pass as the
# loss and gradient at every trial point (its products cost less than the
# element-wise work there); beyond, only at the points Newton steps from,
# in a pass of its own (a rejected or final trial then costs no products).
_HESSIAN_WITH_TRIAL_MAX_CLASSES = 256
# Vector scaling's full-data passes start from its fit on a strided
# subsample of about max(_VECTOR_SUBSAMPLE_ELEMENTS, 64 K**2) values (32 rows
# per parameter), when that is at most a quarter of the input.  With fewer
# rows the subsample's optimum is over-fitted: at 10,000 x 100, the fit on
# every fourth row was worse on all rows than the temperature-scaling start.
_VECTOR_SUBSAMPLE_ELEMENTS = 2**18


def _class_label_sums(Z, y, w):
    """``sum_{i: y_i = j} w_i z_ij`` and ``sum_{i: y_i = j} w_i`` per class ``j``.

    The label enters the softmax NLL of ``S = a * Z + b`` only through
    ``-S_{i y_i}``, linear in ``(a, b)``: these sums, formed once per fit,
    give its value and gradient at every point.
    """
    if is_dask(Z):
        from calibrate._dask import block_sums

        return block_sums(_class_label_sums, Z, (y, w))
    k = Z.shape[1]
    wz = np.zeros(k)
    for rows in iter_chunks(*Z.shape, chunk_elements=_CACHE_CHUNK_ELEMENTS):
        yc = y[rows]
        # A block of rows first: Z may be a view that reads only blocks.
        zy = Z[rows][np.arange(len(yc)), yc].astype(np.float64)
        wz += np.bincount(yc, weights=w[rows] * zy, minlength=k)
    return wz, np.bincount(y, weights=w, minlength=k)


def _per_class_chunks(n, k):
    """Row chunks of the vector-scaling pass.

    About 2**14 values (their three buffers stay in cache), but at least 256
    rows, so that each rank-``m`` update of the ``2K x 2K`` Hessian is an
    efficient matrix product.
    """
    return list(iter_chunks(n, k, chunk_elements=max(2**14, 256 * k)))


def _per_class_sums(Z, w, a, b, absent, hessian, chunks):
    """Label-free sums of the softmax NLL of ``S = a * Z + b`` over ``chunks``.

    Returns ``(sum w lse(S), w @ P, w @ (Z P), w @ (Z^2 P), G)`` with
    ``P = softmax(S)`` (products entry by entry) and, when ``hessian``, the
    upper triangle of ``G = U^T U``, ``U = sqrt(w) [Z P, P]`` (float32: the
    Hessian only steers the steps; the gradient that stops the fit is exact
    float64), else ``G = 0``.  One exponential per score; the chunks reuse
    three buffers and are held transposed (classes by rows), so the
    reductions over a row's classes run along contiguous memory (3.5 times
    faster at 10 classes than along short rows).
    """
    k = Z.shape[1]
    rows_max = max((c.stop - c.start for c in chunks), default=0)
    Sb, Qb = np.empty(k * rows_max), np.empty(k * rows_max)
    lse, wp, wzp, wzzp = 0.0, np.zeros(k), np.zeros(k), np.zeros(k)
    G = 0.0
    if hessian:
        from scipy.linalg.blas import ssyrk

        Ub = np.empty(2 * k * rows_max, dtype=np.float32)
        G = np.zeros((2 * k, 2 * k), dtype=np.float32, order="F")
    mask = absent.any()
    a, b = a[:, None], b[:, None]
    for rows in chunks:
        m = rows.stop - rows.start
        S, Q = Sb[: k * m].reshape(k, m), Qb[: k * m].reshape(k, m)
        wc, Zt = w[rows], Z[rows].T
        np.multiply(Zt, a, out=S)
        S += b
        if mask:
            S[absent] = -np.inf
        top = S.max(axis=0)
        S -= top
        np.exp(S, out=S)
        total = S.sum(axis=0)
        lse += float(wc @ (np.log(total) + top))
        S *= 1.0 / total  # P
        wp += S @ wc
        np.multiply(Zt, S, out=Q)  # Z P
        wzp += Q @ wc
        if hessian:
            U = Ub[: 2 * k * m].reshape(2 * k, m)
            root = np.sqrt(wc)
            np.multiply(Q, root, out=U[:k])
            np.multiply(S, root, out=U[k:])
            Q *= Zt  # Z^2 P
            wzzp += Q @ wc
            # G += U^T U (upper triangle), accumulated in place.
            G = ssyrk(1.0, U.T, beta=1.0, c=G, trans=1, overwrite_c=1)
    return lse, wp, wzp, wzzp, G


def _block_per_class_sums(Z, w, a, b, absent, hessian):
    """:func:`_per_class_sums` of one block of rows (a dask task)."""
    return _per_class_sums(Z, w, a, b, absent, hessian, _per_class_chunks(*Z.shape))


def _per_class_terms(Z, w, a, b, absent, labels, hessian=True):
    """Loss, gradient and exact Hessian of the softmax NLL of ``a * Z + b``, one pass.

    ``labels`` is :func:`_class_label_sums`.  Returns the loss, the gradient
    ``[g_a, g_b]`` and the ``2K x 2K`` Hessian (None unless ``hessian``),
    ``D - U^T W U`` with ``U`` the rows ``[z_i p_i, p_i]`` and ``D`` the
    2 x 2 blocks ``[[sum w z^2 p, sum w z p], [sum w z p, sum w p]]`` of
    each class.  On a large input the row chunks are shared among threads
    (numpy and BLAS release the GIL; contiguous groups, partial sums added
    in a fixed order).
    """
    n, k = Z.shape
    if is_dask(Z):
        from calibrate._dask import block_sums

        sums = block_sums(_block_per_class_sums, Z, (w,), a, b, absent, hessian)
    else:
        chunks = _per_class_chunks(n, k)
        n_workers = min(_n_threads(), len(chunks) // (4 * _CHUNKS_PER_THREAD))
        if n * k < 2**21:
            n_workers = 1  # thread start-up costs more than it saves
        if n_workers <= 1:
            sums = _per_class_sums(Z, w, a, b, absent, hessian, chunks)
        else:
            groups = np.array_split(np.arange(len(chunks)), n_workers)
            with ThreadPoolExecutor(max_workers=n_workers) as pool:
                parts = list(
                    pool.map(
                        lambda g: _per_class_sums(
                            Z, w, a, b, absent, hessian, [chunks[i] for i in g]
                        ),
                        groups,
                    )
                )
            # Added into the first thread's sums in place: at 1,000 classes
            # each thread's G is 16 MB.
            sums = list(parts[0])
            for part in parts[1:]:
                for index, value in enumerate(part):
                    sums[index] += value
            del parts, part
    lse, wp, wzp, wzzp, G = sums
    del sums
    wz, w1 = labels
    loss = lse - float(a @ wz) - float(b @ w1)
    g = np.concatenate([wzp - wz, wp - w1])
    if not hessian:
        return loss, g, None
    H = G.astype(np.float64)  # upper triangle; the lower is 0
    del G
    _symmetrise_upper(H)
    H *= -1.0
    diagonal = np.arange(k)
    H[diagonal, diagonal] += wzzp
    H[diagonal, k + diagonal] += wzp
    H[k + diagonal, diagonal] += wzp
    H[k + diagonal, k + diagonal] += wp
    return loss, g, H


def _symmetrise_upper(H):
    """Copy the upper triangle of the square ``H`` to its lower, in place.

    Block by block, so no temporary of the size of ``H`` (32 MB at 1,000
    classes) is made.
    """
    n, step = len(H), 256
    for i in range(0, n, step):
        j = min(i + step, n)
        H[j:, i:j] = H[i:j, j:].T
        block = H[i:j, i:j]
        lower = np.tril_indices(j - i, -1)
        block[lower] = block.T[lower]


def fit_per_class_exact_newton(
    Z, y, w, x0, *, fixed, absent, shared_scale, mu, tol, max_iter, name
):
    """Newton's method with the exact Hessian for ``softmax(a * Z + b)``.

    For up to :data:`EXACT_HESSIAN_MAX_CLASSES` classes the ``2K x 2K``
    Hessian costs one rank-``m`` float32 update per chunk of ``m`` rows, and
    exact Newton steps (Cholesky solve over the free parameters,
    backtracking until the loss does not rise) converge in a handful of
    passes where Newton-CG needs hundreds of Hessian-vector products.  A
    large input starts from the same fit on a strided subsample, so the
    full-data passes start within Newton's quadratic convergence.  Stops
    when the gradient norm over the free parameters is at most
    ``tol / 1000``, or at most ``tol`` and no longer halving.

    ``theta = [a, b]`` (``a`` a single shared scale when ``shared_scale``);
    ``mu`` adds ``mu * |b|^2``.  Returns ``theta`` and the iterations.
    """
    n, k = Z.shape
    n_scale = 1 if shared_scale else k
    free = ~np.asarray(fixed, dtype=bool)
    theta = np.array(x0, dtype=np.float64)
    if not free.any():
        return theta, 0
    labels = _class_label_sums(Z, y, w)

    def terms(theta, hessian=True):
        a = np.broadcast_to(theta[:n_scale], k)
        b = theta[n_scale:]
        loss, g, H = _per_class_terms(Z, w, a, b, absent, labels, hessian)
        if shared_scale:
            g = np.concatenate([[g[:k].sum()], g[k:]])
            if H is not None:
                reduced = np.empty((1 + k, 1 + k))
                reduced[0, 0] = H[:k, :k].sum()
                reduced[0, 1:] = reduced[1:, 0] = H[:k, k:].sum(axis=0)
                reduced[1:, 1:] = H[k:, k:]
                H = reduced
        loss += mu * (b @ b)
        g[n_scale:] += 2 * mu * b
        if H is not None and mu:
            diagonal = np.arange(n_scale, n_scale + k)
            H[diagonal, diagonal] += 2 * mu
        return loss, g, H

    with_trial = k <= _HESSIAN_WITH_TRIAL_MAX_CLASSES
    # One BLAS thread: with another process on the cores, OpenBLAS's threads
    # made the K x K products 5-10 times slower (seen: 8.3 s against 1.2 s
    # at 10,000 x 100), and a fixed thread count fixes their summation order.
    with _one_blas_thread():
        stride = int(np.ceil(n * k / max(_VECTOR_SUBSAMPLE_ELEMENTS, 64 * k * k)))
        w_sub = w[::stride]
        if stride < 4 or not w_sub.sum() > 0:
            return _exact_newton_loop(
                terms,
                theta,
                terms(theta, hessian=with_trial),
                free,
                tol,
                max_iter,
                name,
                with_trial=with_trial,
            )[:2]
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
        fitted, n_iter, loss, converged = _exact_newton_loop(
            terms,
            warm,
            terms(warm, hessian=with_trial),
            free,
            tol,
            max_iter,
            name,
            with_trial=with_trial,
        )
        # Every step from the subsample's optimum lowers the loss on all rows;
        # a fit that stopped short must still end no worse than its
        # temperature-scaling start (a converged fit is the optimum, below it).
        if not converged and terms(theta, hessian=False)[0] < loss:
            fitted = theta
        return fitted, n_iter


def _factorise(H, free):
    """Return ``solve(g) = -H^-1 g`` over the free parameters (Cholesky, in place).

    The Hessian is formed in float32 as ``D - U^T W U``; where rows are
    nearly certain (a probability within float32's precision of 1) the two
    terms cancel and the rounding can leave it indefinite, even with a
    negative trace.  The Cholesky factorisation then fails, and is retried
    with a ridge 1000 times larger each time (from ``1e-9`` of the mean
    diagonal, up to the mean diagonal), and finally with twice the largest
    absolute row sum, which makes any finite symmetric matrix positive
    definite (Gershgorin): the solve is always that of a positive definite
    matrix, so ``-H^-1 g`` is a descent direction of moderate length (a
    least-squares solve of the indefinite matrix was not, and its steps were
    taken).
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    Hf = H[np.ix_(free, free)]
    diagonal = np.arange(len(Hf))
    mean_diagonal = np.trace(Hf) / len(Hf)
    row_sum = float(np.abs(Hf).sum(axis=1).max())
    ridges = [2.0 * row_sum] if np.isfinite(row_sum) and row_sum > 0 else []
    if mean_diagonal > 0:
        # A tiny ridge keeps the factorisation defined where the curvature
        # of a (nearly) separable direction vanishes.
        ridges = [r * mean_diagonal for r in (1e-12, 1e-9, 1e-6, 1e-3, 1.0)] + ridges
    for i, ridge in enumerate(ridges):
        trial = Hf if i == len(ridges) - 1 else Hf.copy()
        trial[diagonal, diagonal] += ridge
        try:
            factor = cho_factor(trial, overwrite_a=True, check_finite=False)
        except LinAlgError:
            continue
        return lambda g, factor=factor: -cho_solve(factor, g, check_finite=False)
    # A zero or non-finite Hessian: a plain gradient step (the line search
    # scales it).
    return lambda g: -g


# A step from a kept factorisation (a chord step) is repeated while it cuts
# the gradient norm at least this much; else the Hessian is formed anew.
_CHORD_RATIO = 0.25
# Chord steps are L-BFGS steps whose initial inverse Hessian is the kept
# factorisation, corrected by the last this many (step, gradient change)
# pairs since it was formed: at 50,000 x 1,000 plain chord steps cut the
# gradient only fivefold per pass.
_CHORD_PAIRS = 8


def _quasi_newton_step(solve, pairs, g):
    """``-H^-1 g`` by the L-BFGS two-loop recursion from ``solve`` and ``pairs``."""
    q = g.copy()
    alphas = []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (y @ s)
        alphas.append(alpha)
        q -= alpha * y
    r = -solve(q)  # H0^-1 q
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        r += s * (alpha - (y @ r) / (y @ s))
    return -r


def _exact_newton_loop(terms, theta, start, free, tol, max_iter, name, *, with_trial):
    """Run the iteration of :func:`fit_per_class_exact_newton`.

    ``start`` is ``terms(theta)``: the loss, gradient and Hessian, the
    Hessian None when it is to be formed only where a step is taken (beyond
    ``_HESSIAN_WITH_TRIAL_MAX_CLASSES``, where it costs several gradient
    passes).  A trial point's pass forms no Hessian either when the
    quadratic convergence seen so far predicts that the point ends the fit.
    Without a Hessian at the current point the last factorisation is
    reused (a chord step: a gradient pass instead of a Hessian pass, with
    L-BFGS corrections from the steps since) while each such step cuts the
    gradient norm by ``_CHORD_RATIO``.  The stopping
    test is on the exact gradient either way.  Returns ``(theta, n_iter,
    loss, converged)``.
    """
    loss, g, H = start
    del start  # H is dropped once it is factorised
    theta0, loss0 = theta, loss
    gnorm, n_iter, converged = np.inf, 0, False
    solve, pairs, previous, fresh = None, [], np.inf, True
    eps = np.finfo(float).eps
    target = 1e-3 * tol
    while True:
        two_back, previous = previous, gnorm
        gnorm = float(np.linalg.norm(g[free]))
        # Within tol and no longer halving after a Newton step: the precision
        # the loss is computed to (after a chord step: form the Hessian).
        if gnorm <= target or (gnorm <= tol and gnorm > 0.5 * previous and fresh):
            converged = True
            break
        if n_iter >= max_iter:
            break
        n_iter += 1
        # Chord steps continue while the gradient norm fell by _CHORD_RATIO in
        # the last step or the last two (L-BFGS steps are not monotone).
        keep = gnorm <= _CHORD_RATIO * previous or (
            two_back < np.inf and gnorm <= _CHORD_RATIO * two_back
        )
        if H is None and not (solve is not None and keep):
            solve = None  # the old factorisation's memory is free for H
            loss, g, H = terms(theta, hessian=True)
        fresh = H is not None
        if fresh:
            solve, H, pairs = _factorise(H, free), None, []
        step = _quasi_newton_step(solve, pairs, g[free])
        # Quadratic convergence: gnorm_next ~ c * gnorm**2, c read from the
        # last step; a tenfold margin before trusting it.
        rate = gnorm / previous**2 if previous < np.inf else np.inf
        hessian = with_trial and not gnorm * gnorm * rate < 0.1 * target
        decrease = -0.5 * float(g[free] @ step)
        # Below the rounding of the loss a decrease cannot be seen: a step
        # is then taken (once, unhalved) if it lowers the gradient norm and
        # the loss does not rise beyond that rounding.  Otherwise only a
        # step that does not raise the loss is taken.  Never a step along
        # which the loss rises to first order (``decrease <= 0``: a float32
        # Hessian that rounding made useless), the old rule's hole: its
        # steps were all accepted, and on separable data the loss climbed
        # from 1e-7 to 7e9 in 1000 iterations.
        noise = 64 * eps * abs(loss)
        check = decrease > noise
        t, accepted = 1.0, False
        for _ in range(60 if check else 1 if decrease > 0 else 0):
            trial = theta.copy()
            trial[free] += t * step
            t_loss, t_g, t_H = terms(trial, hessian=hessian)
            if t_loss <= loss or (
                not check
                and t_loss <= loss + noise
                and np.linalg.norm(t_g[free]) < gnorm
            ):
                change = t_g[free] - g[free]
                curvature = float(change @ (t * step))
                if curvature > 0:
                    pairs = [*pairs[-(_CHORD_PAIRS - 1) :], (t * step, change)]
                theta, loss, g, H, accepted = trial, t_loss, t_g, t_H, True
                break
            t /= 2
        if not accepted:
            if not fresh:
                # A stale factorisation: retry from here with the Hessian.
                loss, g, H = terms(theta, hessian=True)
                gnorm = previous
                continue
            break  # no decrease at the precision of the loss
    if gnorm > 1e3 * tol or (n_iter >= max_iter and gnorm > tol):
        warn_not_converged(name, gnorm, n_iter, stacklevel=3)
    if loss > loss0 + 64 * eps * abs(loss0):
        # Steps below the loss's rounding may each raise it by that rounding;
        # the fit never ends above its start by more than that rounding.
        return theta0, n_iter, loss0, converged
    return theta, n_iter, loss, converged
