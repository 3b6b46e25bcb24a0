"""Preconditioned Newton-CG for the softmax of an affine map of all the scores.

Matrix scaling (and full Dirichlet calibration) minimise the weighted mean
NLL of ``softmax(Z W^T + b)`` plus a quadratic penalty, over ``K (K + 1)``
coupled parameters.  Writing ``theta_k = [W_k, b_k]`` for output class ``k``
and ``z~ = [z, 1]``, the Hessian of the NLL is::

    H = sum_i w_i (diag(p_i) - p_i p_i^T)  (x)  z~_i z~_i^T

Unpreconditioned Newton-CG needed thousands of Hessian-vector products for
unregularised matrix scaling at 10,000 x 100 (the ``z~ z~^T`` factor alone
has a condition number in the hundreds).  Here CG is preconditioned by the
block-diagonal part of ``H`` (one ``(K + 1) x (K + 1)`` block per output
class, ``B_k = sum_i w_i p_ik (1 - p_ik) z~_i z~_i^T`` plus the penalty's
diagonal), which drops the cross-class terms ``-p_ik p_il``, so the Newton
systems take tens of products instead.  Forming the blocks costs tens of
Hessian-vector products, so they are rebuilt only when the last Newton
system needed more products than about ``K / 4``.  Up to
:data:`DENSE_HESSIAN_MAX_CLASSES` classes the full Hessian on a subsample
of rows replaces the blocks; when the off-diagonal weights are penalised
(ODIR), the blocks' diagonal (one product's cost) does as well as the
blocks; beyond :data:`EXACT_BLOCKS_MAX_CLASSES` classes without a penalty
the blocks are approximated by ``c_k G`` with ``G = sum_i w_i z~_i z~_i^T``
and ``c_k = sum_i w_i p_ik (1 - p_ik)`` (one eigendecomposition of ``G``).

The solver is a line-search Newton-CG: each accepted step lowers the
objective, so the fit never ends above its start; it stops on the gradient
norm (computed in float64), so it reproduces across BLAS kernels.  From 128
classes, where the matrix products dominate a pass, the objective and
gradient of the first iterations are computed in float32 (half the cost),
until the gradient norm falls to 1e-3; the last iterations, the line
searches that decide them and the stop are float64.  The CG forcing term is
``sqrt(gnorm)``, loosened when the stop is near so that a system is solved
no more accurately than the stop needs.  The
softmax's free directions (a common constant added to every class's logit,
as a function of ``z``) are projected out of the CG iterates instead of being
held fixed, which keeps the per-class blocks intact; the callers centre the
result.  The Hessian-vector products and the blocks only steer the steps, so
they run in float32 on the float32 probabilities of the last gradient pass;
the row chunks are shared among threads (numpy releases the GIL; one BLAS
thread each, partial sums added in a fixed order).
"""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.linalg.blas import ssyrk

from calibrate._special import iter_chunks
from calibrate.calibrators._newton import _one_blas_thread, warn_not_converged
from calibrate.calibrators._temperature import _n_threads

__all__ = [
    "DENSE_HESSIAN_MAX_CLASSES",
    "EXACT_BLOCKS_MAX_CLASSES",
    "fit_softmax_affine",
]

#: Up to this many classes (``K (K + 1) <= 420`` parameters) CG is
#: preconditioned by the full Hessian on a subsample of rows.
DENSE_HESSIAN_MAX_CLASSES = 20
# Rows the dense Hessian is formed from: ``K^2 (K + 1)^2`` multiply-adds
# each, a fraction of one pass at any ``n``; the sampling error (a few
# percent) only costs CG a product or two.
_DENSE_HESSIAN_ROWS = 2**13
#: Up to this many classes the per-class curvature blocks are formed exactly
#: (``n K^3 / 2`` multiply-adds); beyond, the Kronecker approximation.
EXACT_BLOCKS_MAX_CLASSES = 256
# Rows per chunk hold about this many scores: their float64 buffers stay in
# cache at small K, and at large K a chunk still has enough rows for the
# matrix products to run at full speed.
_CHUNK_ELEMENTS = 2**16
_MIN_CHUNK_ROWS = 256
_MAX_WIDE_CHUNK_ROWS = 1024
# Probabilities are kept (float32) for the Hessian-vector products while they
# take at most this many values (256 MB); above, each product recomputes them.
_CACHE_MAX_ENTRIES = 2**26
# Fits on more values than this start from the same fit on a strided
# subsample of about _SUBSAMPLE_ELEMENTS values: the answer is the full-data
# optimum, which the Newton steps then reach in a few full passes.
_SUBSAMPLE_MIN_ELEMENTS = 2**22
_SUBSAMPLE_ELEMENTS = 2**21
# The objective and gradient are computed in float32 until the gradient norm
# falls to this (a step's decrease is then still ~1e-4 of the loss, far above
# float32's rounding), then in float64: the stop and the last steps are exact.
_COARSE_GRADIENT_NORM = 1e-3
# ... when the matrix products dominate a pass (below, a float32 pass costs
# about what a float64 one does, and the switch costs one more pass).
_COARSE_MIN_CLASSES = 128
# ... provided the objective can fall by this many times the subsample's
# sampling noise (see _subsample_pays).
_SUBSAMPLE_GAIN_RATIO = 10.0


class _SoftmaxAffine:
    """Objective, gradient, Hessian products and curvature blocks, by row chunks.

    ``Z`` is read only as ``Z[rows]`` (an ndarray or a view computing its
    rows, such as Dirichlet calibration's log-softmax of logits).
    ``penalty`` is the ``(K, K + 1)`` array of per-entry strengths: the
    objective adds ``sum(penalty * [W | b]**2)``.
    """

    def __init__(self, Z, y, w, *, absent, penalty):
        self.Z, self.y, self.w = Z, y, w
        self.n, self.k = Z.shape
        self.absent, self.penalty = absent, penalty
        # At least min(K, 1024) rows: a chunk's K x (K + 1) partial sums then
        # cost little beside its matrix products (12 % of a product at
        # 50,000 x 1,000 with 256 rows).
        rows = max(
            _MIN_CHUNK_ROWS,
            _CHUNK_ELEMENTS // max(1, self.k),
            min(self.k, _MAX_WIDE_CHUNK_ROWS),
        )
        self.chunks = list(iter_chunks(self.n, self.k, chunk_elements=rows * self.k))
        self.n_workers = max(1, min(_n_threads(), len(self.chunks) // 4))
        self.cache = [None] * len(self.chunks)
        self.cache_enabled = self.n * self.k <= _CACHE_MAX_ENTRIES
        self.cache_theta = None
        self.n_hessp = 0
        self.pool = None
        # value_grad in float32 (see there); the Newton loop clears it.
        self.coarse = False
        # The Kronecker preconditioner's c_k = sum_i w_i p_ik (1 - p_ik).
        self.class_curvature_wanted = False

    # -- row sums ---------------------------------------------------------

    def _sum(self, func):
        """Sum ``func(index, rows)`` over the chunks (threads over row groups)."""
        if self.n_workers <= 1:
            parts = [self._sum_group(func, range(len(self.chunks)))]
        else:
            groups = np.array_split(np.arange(len(self.chunks)), self.n_workers)
            if self.pool is None:
                # One pool for the whole fit: starting threads for each of
                # the hundred-odd passes cost a third of a 10,000 x 100 fit.
                self.pool = ThreadPoolExecutor(max_workers=self.n_workers)
            parts = list(self.pool.map(lambda g: self._sum_group(func, g), groups))
        total = parts[0]
        for part in parts[1:]:
            for a, b in zip(total, part, strict=True):
                a += b
        return total

    def close(self):
        """Stop the worker threads, if any."""
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None

    def _sum_group(self, func, indices):
        total = None
        for index in indices:
            part = func(index, self.chunks[index])
            if total is None:
                total = part  # fresh arrays of the first chunk: summed in place
            else:
                for a, b in zip(total, part, strict=True):
                    a += b
        return total

    def _rows(self, rows, dtype):
        return np.asarray(self.Z[rows], dtype=dtype)

    def _probabilities(self, Zc, W, b):
        S = Zc @ W.T
        S += b
        if self.absent.any():
            S[:, self.absent] = -np.inf
        return S

    def _fresh_probabilities(self, Zc):
        W, b = self.theta[:, :-1], self.theta[:, -1]
        S = self._probabilities(np.asarray(Zc, dtype=np.float64), W, b)
        S -= S.max(axis=1, keepdims=True)
        np.exp(S, out=S)
        S /= S.sum(axis=1, keepdims=True)
        return S.astype(np.float32)

    # -- objective ----------------------------------------------------------

    def value_grad(self, theta):
        """Objective and gradient at ``theta`` (a ``(K, K + 1)`` array).

        Computed in float64, or in float32 (summed in float64) while
        :attr:`coarse` is set: half the cost of a float64 pass, with errors
        of about 1e-7 of the loss, which only the last Newton iterations
        would notice.  Keeps the float32 probabilities for the products at
        ``theta``.
        """
        dtype = np.float32 if self.coarse else np.float64
        W, b = theta[:, :-1].astype(dtype), theta[:, -1].astype(dtype)
        keep = self.cache_enabled
        curvature = self.class_curvature_wanted

        def chunk(index, rows):
            Zc = self._rows(rows, dtype)
            S = self._probabilities(Zc, W, b)
            yc, wc = self.y[rows], self.w[rows]
            r = np.arange(len(yc))
            # One exponential per score for both the loss and the softmax.
            top = S.max(axis=1, keepdims=True)
            S -= top
            s_y = S[r, yc]
            np.exp(S, out=S)
            total = S.sum(axis=1, keepdims=True)
            S /= total
            lse = np.log(total[:, 0])
            # Rows of weight 0 may be labelled with a masked (absent) class.
            loss = float(wc @ np.where(wc > 0, lse - s_y, 0.0))
            if keep:
                self.cache[index] = S.astype(np.float32)
            c = wc @ (S * (1.0 - S)) if curvature else np.zeros(0)
            S[r, yc] -= 1.0
            S *= wc[:, None]
            gW = (S.T @ Zc).astype(np.float64, copy=False)
            return [np.array([loss]), gW, S.sum(axis=0, dtype=np.float64), c]

        loss, gW, gb, c = self._sum(chunk)
        self.cache_theta = theta.copy() if keep else None
        self.theta, self.class_curvature = theta.copy(), c
        value = float(loss[0]) + float(np.sum(self.penalty * theta**2))
        grad = np.concatenate([gW, gb[:, None]], axis=1) + 2.0 * self.penalty * theta
        return value, grad

    def refine(self, theta):
        """Leave the float32 phase: :meth:`value_grad` at ``theta`` in float64."""
        self.coarse = False
        return self.value_grad(theta)

    def _chunk_probabilities(self, index, rows, Zc):
        if self.cache_theta is not None:
            return self.cache[index]
        return self._fresh_probabilities(Zc)

    def hessp(self, V):
        """Hessian at the last :meth:`value_grad` point times ``V`` (float32)."""
        self.n_hessp += 1
        V32 = V[:, :-1].astype(np.float32)
        vb = V[:, -1].astype(np.float32)

        def chunk(index, rows):
            Zc = self._rows(rows, np.float32)
            P = self._chunk_probabilities(index, rows, Zc)
            dS = Zc @ V32.T
            dS += vb
            dS *= P
            dS -= P * dS.sum(axis=1, keepdims=True)
            dS *= self.w[rows].astype(np.float32)[:, None]
            return [(dS.T @ Zc).astype(np.float64), dS.sum(axis=0, dtype=np.float64)]

        hW, hb = self._sum(chunk)
        return np.concatenate([hW, hb[:, None]], axis=1) + 2.0 * self.penalty * V

    def blocks(self):
        """Blocks ``B_k = sum_i w_i p_ik (1 - p_ik) z~_i z~_i^T``, ``(K, K+1, K+1)``.

        One float32 rank-m update (``ssyrk``, half the work of a product) per
        class and chunk on ``sqrt(w p (1 - p)) z~``, summed in float64.
        """
        k = self.k

        def chunk(index, rows):
            Zc = self._rows(rows, np.float32)
            P = self._chunk_probabilities(index, rows, Zc)
            C = P * (1.0 - P)
            C *= self.w[rows].astype(np.float32)[:, None]
            np.sqrt(C, out=C)
            Zt = np.ones((len(Zc), k + 1), dtype=np.float32, order="F")
            Zt[:, :k] = Zc
            A = np.empty_like(Zt)
            B = np.empty((k, k + 1, k + 1))
            for j in range(k):
                np.multiply(Zt, C[:, j : j + 1], out=A)
                B[j] = ssyrk(1.0, A, trans=1, lower=0)  # upper triangle
            return [B]

        (B,) = self._sum(chunk)
        upper = np.triu_indices(k + 1, 1)
        B[:, upper[1], upper[0]] = B[:, upper[0], upper[1]]
        return B

    def dense_hessian(self, max_rows):
        """Return the NLL's Hessian in ``vec([W | b])`` from about ``max_rows`` rows.

        Every ``s``-th row of each chunk, its weight times ``s``: a
        subsampled Hessian, for preconditioning only.
        """
        k = self.k
        d = k * (k + 1)
        stride = max(1, int(np.ceil(self.n / max_rows)))

        def chunk(index, rows):
            Zc = self._rows(rows, np.float32)
            P = self._chunk_probabilities(index, rows, Zc)[::stride]
            Zt = np.ones((len(P), k + 1))
            Zt[:, :k] = Zc[::stride]
            wc = self.w[rows][::stride] * stride
            Q = (P.astype(np.float64)[:, :, None] * Zt[:, None, :]).reshape(-1, d)
            wQ = Q * wc[:, None]
            H = -(wQ.T @ Q)
            D = (wQ.T @ Zt).reshape(k, k + 1, k + 1)  # sum w p_k z~ z~^T
            for j in range(k):
                H[j * (k + 1) : (j + 1) * (k + 1), j * (k + 1) : (j + 1) * (k + 1)] += (
                    D[j]
                )
            return [H]

        (H,) = self._sum(chunk)
        return H

    def diagonal(self):
        """Diagonal of the blocks, ``sum_i w_i p_ik (1 - p_ik) z~_ij^2`` (K x K+1)."""
        k = self.k

        def chunk(index, rows):
            Zc = self._rows(rows, np.float32)
            P = self._chunk_probabilities(index, rows, Zc)
            C = P * (1.0 - P)
            C *= self.w[rows].astype(np.float32)[:, None]
            D = np.empty((k, k + 1))
            D[:, :k] = C.T @ (Zc * Zc)
            D[:, k] = C.sum(axis=0, dtype=np.float64)
            return [D]

        (D,) = self._sum(chunk)
        return D

    def gram(self):
        """``G = sum_i w_i z~_i z~_i^T`` (float64 sums of float32 products)."""
        k = self.k

        def chunk(index, rows):
            Zc = self._rows(rows, np.float32)
            Zw = Zc * self.w[rows].astype(np.float32)[:, None]
            G = np.zeros((k + 1, k + 1))
            G[:k, :k] = Zw.T @ Zc
            G[:k, k] = Zw.sum(axis=0, dtype=np.float64)
            G[k, k] = self.w[rows].sum()
            return [G]

        (G,) = self._sum(chunk)
        G[k, :k] = G[:k, k]
        return G


def _block_preconditioner(B, penalty, free_rows):
    """Return ``R -> (B_k + diag(2 penalty_k))^-1 r_k`` per class (0 if fixed)."""
    B = B + 2.0 * penalty[:, :, None] * np.eye(B.shape[1])
    # A tiny ridge keeps a block invertible when a score column is constant
    # or a class has (numerically) no probability anywhere.
    scale = np.maximum(np.trace(B, axis1=1, axis2=2) / B.shape[1], 1e-300)
    B += (1e-10 * scale)[:, None, None] * np.eye(B.shape[1])
    inv = np.linalg.inv(B)
    inv[~free_rows] = 0.0

    def apply(R):
        return np.einsum("kij,kj->ki", inv, R)

    return apply


def _dense_preconditioner(H, penalty, free_rows, gauge_W, gauge_b):
    """Return ``R -> (H + diag(2 penalty))^-1 R`` for a dense Hessian ``H``.

    The softmax's free directions (when unpenalised) get the mean curvature,
    so the matrix is well conditioned; the CG iterates are projected off them
    anyway.
    """
    k = penalty.shape[0]
    H = H + np.diag(2.0 * penalty.ravel())
    fixed = np.repeat(~free_rows, k + 1)
    H[fixed, :] = 0.0
    H[:, fixed] = 0.0
    level = max(float(np.trace(H)) / max(1, int((~fixed).sum())), 1e-300)
    H[fixed, fixed] = level
    columns = np.zeros(k + 1, dtype=bool)
    columns[:k], columns[k] = gauge_W, gauge_b
    if columns.any():
        ones = free_rows / max(1, free_rows.sum())
        H += level * np.kron(np.outer(ones, ones) * free_rows.sum(), np.diag(columns))
    # The subsampled Hessian is positive semi-definite only up to rounding
    # (and singular when the rows are fewer than the parameters): its
    # eigenvalues are floored at 1e-10 of the mean curvature.
    lh, U = np.linalg.eigh(H)
    inv = (U / np.maximum(lh, 1e-10 * level)) @ U.T
    inv[fixed, :] = 0.0

    def apply(R):
        return (inv @ R.ravel()).reshape(R.shape)

    return apply


def _diagonal_curvature(obj):
    """Return the objective's Hessian diagonal at the last gradient point, floored."""
    D = obj.diagonal() + 2.0 * obj.penalty
    return np.maximum(D, 1e-10 * max(float(D.max()), 1e-300))


def _kronecker_preconditioner(eig, c, penalty, free_rows):
    """Return ``R -> (c_k G + 2 mean(penalty_k))^-1 r_k`` per class (G's eigenbasis)."""
    lg, U = eig
    ridge = 2.0 * penalty.mean(axis=1)
    D = c[:, None] * lg[None, :] + ridge[:, None]
    D = np.maximum(D, 1e-10 * max(float(D.max()), 1e-300))
    D[~free_rows] = np.inf

    def apply(R):
        return ((R @ U) / D) @ U.T

    return apply


def _pcg(hessp, precondition, project, g, eta, max_products):
    """Solve ``H d = -g`` by preconditioned CG to relative residual ``eta``.

    Returns the step and the number of products.  Stops early at a direction
    of non-positive curvature (returning the last iterate, or the
    preconditioned steepest descent direction if there is none).
    """
    d = np.zeros_like(g)
    r = -g
    s = project(precondition(r))
    p = s
    rs = float(np.sum(r * s))
    target = eta * float(np.linalg.norm(g))
    used = 0
    while used < max_products:
        Hp = project(hessp(p))
        used += 1
        curvature = float(np.sum(p * Hp))
        if not curvature > 0:
            if used == 1:
                d = p
            break
        alpha = rs / curvature
        d += alpha * p
        r -= alpha * Hp
        if np.linalg.norm(r) <= target:
            break
        s = project(precondition(r))
        rs_new = float(np.sum(r * s))
        if not rs_new > 0:
            break
        p = s + (rs_new / rs) * p
        rs = rs_new
    return d, used


def _newton(
    obj,
    theta,
    project,
    *,
    tol,
    max_iter,
    name,
    free_rows,
    mode,
    eig,
    gauges,
    start=None,
):
    """Line-search Newton-CG on ``obj`` from ``theta``; return ``(theta, n_iter)``.

    ``start`` is ``obj.value_grad(theta)`` when it was the last call.
    """
    loss, grad = obj.value_grad(theta) if start is None else start
    k = obj.k
    # Rebuild the preconditioner when the last Newton system took more
    # products than a rebuild costs: about K / 4 for the exact blocks; the
    # dense Hessian, on a capped subsample, costs a product or less.
    rebuild_after = 3 if mode == "dense" else max(3, (k + 1) // 4)
    precondition, last_products = None, np.inf
    gnorm, n_iter, polish = np.inf, 0, 0
    eps, eps32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps
    while True:
        g = project(grad)
        previous, gnorm = gnorm, float(np.linalg.norm(g))
        if obj.coarse and gnorm <= max(_COARSE_GRADIENT_NORM, tol):
            # From here the float32 loss is too coarse for the line search
            # and the gradient for the stop: float64 from this point on.
            loss, grad = obj.refine(theta)
            g = project(grad)
            gnorm = float(np.linalg.norm(g))
        # Stop 1000 times below ``tol`` (cheap: convergence is quadratic, and
        # two runs that met ``tol`` at different points then agree), or at
        # ``tol`` once the gradient stops halving (the precision the
        # objective can be computed to).
        if gnorm <= 1e-3 * tol or (
            gnorm <= tol and (gnorm > 0.5 * previous or polish >= 5)
        ):
            break
        if n_iter >= max_iter:
            break
        polish += gnorm <= tol
        n_iter += 1
        stale = precondition is None or last_products > rebuild_after
        if mode == "dense":
            if stale:
                precondition = _dense_preconditioner(
                    obj.dense_hessian(_DENSE_HESSIAN_ROWS),
                    obj.penalty,
                    free_rows,
                    *gauges,
                )
        elif mode == "diagonal":
            D = _diagonal_curvature(obj)
            D[~free_rows] = np.inf

            def precondition(R, D=D):
                return R / D

        elif mode == "blocks":
            if stale:
                precondition = _block_preconditioner(
                    obj.blocks(), obj.penalty, free_rows
                )
        else:
            precondition = _kronecker_preconditioner(
                eig, obj.class_curvature, obj.penalty, free_rows
            )
        # Forcing term: sqrt(gnorm) for superlinear convergence, but no
        # tighter than the stop needs (the next gradient is about the CG
        # residual once the quadratic model is exact): a system that only
        # has to halve the gradient to reach 1e-3 tol takes a product or
        # two instead of the 25 that sqrt(gnorm) asks for at 50,000 x 1,000.
        eta = min(0.5, max(np.sqrt(gnorm), 0.5e-3 * tol / gnorm))
        step, last_products = _pcg(
            obj.hessp, precondition, project, g, eta, max_products=max(50, 10 * k)
        )
        slope = float(np.sum(g * step))
        if not slope < 0:
            step, slope = -project(precondition(g)), -float(np.sum(g * precondition(g)))
        # Below the rounding error of the loss the quadratic model is exact to
        # the precision available: take the full step without a line search.
        check = -0.5 * slope > 64 * (eps32 if obj.coarse else eps) * abs(loss)
        if obj.coarse and not check:
            loss, grad = obj.refine(theta)  # the decrease is below float32's rounding
            continue
        t, accepted = 1.0, False
        for _ in range(60):  # halvings: 2**-60 is below any useful step
            trial = theta + t * step
            t_loss, t_grad = obj.value_grad(trial)
            if not check or t_loss <= loss + 1e-4 * t * slope:
                theta, loss, grad, accepted = trial, t_loss, t_grad, True
                break
            t /= 2
        if not accepted:
            if obj.coarse:  # perhaps float32's rounding: retry in float64
                loss, grad = obj.refine(theta)
                continue
            obj.value_grad(theta)  # the products' point again
            break
    if gnorm > 1e3 * tol or (n_iter >= max_iter and gnorm > tol):
        warn_not_converged(name, gnorm, n_iter, stacklevel=4)
    return theta, n_iter


def _subsample_pays(obj, g, w_sub, free_rows):
    """Whether a fit on the rows ``w_sub`` would start the full fit usefully.

    A subsample's optimum is off the full data's by its sampling noise,
    which costs about ``(free parameters) / (2 n_sub)`` nats of full-data
    objective (``n_sub`` the effective row count); it is worth fitting only
    when the objective can fall by far more than that.  The fall is
    estimated by the diagonally preconditioned Newton decrement
    ``g^T D^-1 g / 2`` at the start (one product's cost).  At 1,000,000 x
    10 (true temperature start, fall 4e-5, noise 3e-4) and 50,000 x 1,000
    (noise ~240, 2,084 rows for a million parameters) the subsample was
    rejected after costing a sixth of the fit; it is now not fitted.
    """
    D = _diagonal_curvature(obj)
    fall = 0.5 * float(np.sum(g[free_rows] ** 2 / D[free_rows]))
    n_sub = float(w_sub.sum()) ** 2 / float(np.sum(w_sub**2))
    noise = int(free_rows.sum()) * (obj.k + 1) / (2.0 * n_sub)
    return fall > _SUBSAMPLE_GAIN_RATIO * noise


def fit_softmax_affine(
    Z,
    y,
    w,
    theta0,
    *,
    absent,
    penalty,
    gauge_W,
    gauge_b,
    tol,
    max_iter,
    name,
    held_diagonal=None,
):
    """Minimise the NLL of ``softmax(Z W^T + b)`` plus ``sum(penalty * [W | b]**2)``.

    Parameters
    ----------
    Z : ndarray of shape (n, K) or row-indexable view
        Scores.
    y, w : ndarray of shape (n,)
        Labels and weights summing to 1.
    theta0 : ndarray of shape (K, K + 1)
        Start ``[W | b]``; the rows of ``absent`` classes stay there.
    absent : ndarray of bool of shape (K,)
        Classes masked out of the softmax.
    penalty : ndarray of shape (K, K + 1)
        Per-entry penalty strengths.
    gauge_W, gauge_b : bool
        Whether adding a common vector to the present rows of ``W`` (resp. a
        constant to their intercepts) leaves the objective unchanged (no
        penalty on it): those directions are projected out.
    tol : float
        Gradient-norm tolerance.
    max_iter : int
        Newton iteration budget.
    name : str
        Estimator name for the warning.
    held_diagonal : ndarray of bool of shape (K,) or None
        Classes whose diagonal weight ``W_kk`` stays at ``theta0``.

    Returns
    -------
    theta : ndarray of shape (K, K + 1)
    n_iter : int
    """
    n, k = Z.shape
    free_rows = ~absent
    theta = np.array(theta0, dtype=np.float64)
    if not free_rows.any():
        return theta, 0

    held = np.flatnonzero(
        np.zeros(k, dtype=bool) if held_diagonal is None else held_diagonal
    )

    def project(V):
        V = np.where(free_rows[:, None], V, 0.0)
        V[held, held] = 0.0
        if gauge_W:
            V[free_rows, :-1] -= V[free_rows, :-1].mean(axis=0)
        if gauge_b:
            V[free_rows, -1] -= V[free_rows, -1].mean()
        return V

    if k <= DENSE_HESSIAN_MAX_CLASSES:
        mode = "dense"
    elif penalty[:, :k].max() > 0:
        # The off-diagonal penalty adds 2 lam to every curvature but the K
        # diagonal weights', so the Hessian's diagonal is nearly as good a
        # preconditioner as the blocks (47 against 47 products at 10,000 x
        # 100, default ODIR) at the cost of one product.
        mode = "diagonal"
    elif k <= EXACT_BLOCKS_MAX_CLASSES:
        mode = "blocks"
    else:
        mode = "kronecker"
    exact_blocks = mode != "kronecker"
    # One BLAS thread: threads, if any, are over row blocks, and a fixed
    # thread count fixes the summation order.
    with _one_blas_thread():
        objects = []
        try:
            obj = _SoftmaxAffine(Z, y, w, absent=absent, penalty=penalty)
            obj.coarse = k >= _COARSE_MIN_CLASSES
            objects.append(obj)
            obj.class_curvature_wanted = mode == "kronecker"
            eig = None if exact_blocks else np.linalg.eigh(obj.gram())
            start = obj.value_grad(theta)
            stride = int(np.ceil(n * k / _SUBSAMPLE_ELEMENTS))
            if (
                n * k > _SUBSAMPLE_MIN_ELEMENTS
                and w[::stride].sum() > 0
                and _subsample_pays(obj, project(start[1]), w[::stride], free_rows)
            ):
                w_sub = w[::stride]
                sub = _SoftmaxAffine(
                    Z[::stride],
                    y[::stride],
                    w_sub / w_sub.sum(),
                    absent=absent,
                    penalty=penalty,
                )
                sub.coarse = obj.coarse
                objects.append(sub)
                sub.class_curvature_wanted = mode == "kronecker"
                sub_eig = None if exact_blocks else np.linalg.eigh(sub.gram())
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    warm, _ = _newton(
                        sub,
                        theta,
                        project,
                        tol=1e-4,
                        max_iter=max_iter,
                        name=name,
                        free_rows=free_rows,
                        mode=mode,
                        eig=sub_eig,
                        gauges=(gauge_W, gauge_b),
                    )
                # The subsample's optimum starts the full fit only if it is no
                # worse than the given start on all rows.
                warm_start = obj.value_grad(warm)
                if warm_start[0] <= start[0]:
                    theta, start = warm, warm_start
                else:
                    start = obj.value_grad(theta)  # the products' point again
            return _newton(
                obj,
                theta,
                project,
                tol=tol,
                max_iter=max_iter,
                name=name,
                free_rows=free_rows,
                mode=mode,
                eig=eig,
                gauges=(gauge_W, gauge_b),
                start=start,
            )
        finally:
            for objective in objects:
                objective.close()
