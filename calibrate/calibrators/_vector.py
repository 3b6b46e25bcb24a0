"""Vector scaling (Guo et al. 2017): a scale and a bias per class."""

import numbers
import warnings

import numpy as np

from calibrate._special import iter_chunks
from calibrate._validation import preview
from calibrate.calibrators._base import (
    BaseCalibrator,
    per_column_affine_objective,
    softmax_nll_and_dlogits,
)
from calibrate.calibrators._newton import (
    EXACT_HESSIAN_MAX_CLASSES,
    absent_class_shift,
    centre,
    fit_per_class_exact_newton,
    gauge_column,
    minimize_trust_newton,
    per_column_affine_hessp,
)
from calibrate.calibrators._temperature import (
    affine_start_temperature,
    check_affine_scale,
    warn_temperature_status,
)
from calibrate.exceptions import CalibrationWarning

__all__ = [
    "VectorScaling",
    "fit_per_class_affine",
    "hold_separated_classes",
    "own_column_separated",
]


class VectorScaling(BaseCalibrator):
    """Vector scaling: ``softmax(w * z + b)`` with a scale and a bias per class.

    Temperature scaling is the special case ``w = 1 / T``, ``b = 0``; the fit
    starts there and minimises the (weighted) validation NLL by Newton's
    method with the exact gradient (float64 over row chunks) and the exact
    Hessian (float32 products; reused for quasi-Newton steps beyond 256
    classes), or by trust-region Newton-CG where that Hessian would be larger
    than both a quarter of the input and 2 MB (256 classes); every accepted
    step lowers the NLL, and the
    optimum is never above temperature scaling's validation NLL (a special
    case of the map).  Multiclass scores only.

    The fit stops on the gradient, not on the decrease of the objective, so it
    reproduces across CPUs and BLAS kernels: two fits agree to about
    ``tol / lambda_min`` in the parameters (``lambda_min`` the smallest
    curvature at the optimum), in practice to 1e-9 relative in every metric
    on the bundled examples.  The softmax's free constant is fixed: the
    intercepts of the classes that occur sum to zero.

    A class that never occurs in ``y`` keeps its column and the
    temperature-scaling map ``z / T``, with a
    :class:`~calibrate.exceptions.CalibrationWarning`; the other classes are
    fitted on the softmax over the classes that occur, so nothing rewards
    pushing the absent class's probability to zero (which maximum likelihood
    would otherwise do, without bound).  Their intercepts are then shifted by
    the smallest common constant ``c >= 0`` that makes the whole model's
    validation NLL no higher than temperature scaling's (``c = 0`` unless the
    fitted classes' logits shrank enough for an absent class to take their
    probability; see ``absent_class_shift`` in ``_newton.py``).

    A class *separated by its own score column* (every row labelled with it
    scores at least as high in that column as every other row, or at most
    as high, the column not being constant) has no finite optimum: as its
    scale grows (or falls) without bound, with the bias that keeps a
    threshold between the two groups, no row's NLL rises and some rows'
    fall.  This is the usual case with many classes and few rows
    (vocabulary-scale logits, where most tokens occur once among the
    validation rows, and the one row is often that column's highest).  Such a
    class keeps the temperature-scaling scale ``1 / T``, with a
    :class:`~calibrate.exceptions.CalibrationWarning` naming it, and its
    intercept (alone, it has a finite optimum) is fitted with the other
    classes' parameters; maximum likelihood would instead make it certain
    above a threshold seen once.  A separation that needs several columns
    together is not detected; the fit then runs to ``max_iter`` with a
    ``ConvergenceWarning``.  Temperature scaling (one parameter every row
    informs) remains the map for such data.

    Parameters
    ----------
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.
    tol : float, default=1e-8
        Stop when the Euclidean norm of the gradient of the mean NLL is at
        most ``tol``.
    max_iter : int, default=1000
        Newton iteration budget; running out raises scikit-learn's
        ``ConvergenceWarning``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes,)
        Per-class scale ``w``.
    intercept_ : ndarray of shape (n_classes,)
        Per-class bias ``b``.
    classes_ : ndarray of shape (n_classes,)
        Class labels; column ``j`` of ``X`` is class ``classes_[j]``.
    task_ : str
        Always ``"multiclass"``.
    n_features_in_ : int
        Number of score columns seen during fit.
    n_iter_ : int
        Newton iterations used.

    See Also
    --------
    TemperatureScaling : One scale for all classes, no bias.
    MatrixScaling : A full affine map of the logits.

    References
    ----------
    C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, "On Calibration of Modern
    Neural Networks", ICML 2017.

    Examples
    --------
    >>> from calibrate import VectorScaling
    >>> from calibrate.datasets import make_miscalibrated
    >>> data = make_miscalibrated(5_000, 4, temperature=2.0, random_state=0)
    >>> cal = VectorScaling().fit(data.logits, data.labels)
    >>> cal.coef_.shape, cal.intercept_.shape
    ((4,), (4,))
    """

    _supported_tasks = ("multiclass",)
    _report_default_tasks = ("multiclass",)
    _help = "a scale and a bias per class logit, 2K parameters"
    _fitted_parameters = ("coef_", "intercept_")
    _fits_dask = True
    _scalar_parameters = (
        ("max_iter", numbers.Integral, 1),
        ("tol", numbers.Real, 0.0),
    )

    def __init__(self, *, input_type="logits", tol=1e-8, max_iter=1000):
        self.input_type = input_type
        self.tol = tol
        self.max_iter = max_iter

    def _fit(self, Z, y, w):
        absent = self._absent_columns(y, w)
        check_affine_scale(self, Z, "multiclass")
        t, _, status = affine_start_temperature(Z, y, w, "multiclass", absent=absent)
        warn_temperature_status(self, status, np.exp(t), start=True)
        held = hold_separated_classes(
            self, Z, y, w, absent, free_intercept=True, what="scales"
        )
        self.coef_, self.intercept_, self.n_iter_ = fit_per_class_affine(
            Z,
            y,
            w,
            absent=absent,
            held=held,
            scale0=np.exp(-t),
            tol=self.tol,
            max_iter=self.max_iter,
            name=type(self).__name__,
        )

    def _parameter_shapes(self):
        k = self.n_features_in_
        return {"coef_": (k,), "intercept_": (k,)}

    def _calibrated_logits(self, Zc):
        return Zc * self.coef_ + self.intercept_


def own_column_separated(Z, y, w, absent, *, free_intercept=True):
    """Classes separated by their own score column, a boolean mask of shape (K,).

    Class ``k`` is separated when the positively weighted rows labelled
    ``k`` and the other positively weighted rows both exist and a threshold
    ``c`` puts them on either side in column ``k``: ``z_ik >= c`` for the
    rows of ``k`` and ``z_ik <= c`` for the others (or mirrored), with at
    least one of these inequalities strict.  The ray ``a_k += t,
    b_k -= t c`` (``t`` of the sign that lifts the class's own rows) then
    lowers no row's log-likelihood and raises at least one's, so a softmax
    whose logit ``k`` has the unpenalised term ``a_k z_k`` has no finite
    maximum likelihood.  With ``free_intercept=True`` any ``c`` will do (the
    intercept moves with the ray); otherwise only ``c = 0`` (a penalised or
    absent intercept: the ray then leaves it at 0).  One pass over ``Z`` by
    row chunks, compared in its own dtype: a tie that float32 rounding
    creates counts (the float64 problem is then within rounding of
    separated, its optimum scale in the hundreds).
    """
    n, k = Z.shape
    counts = np.bincount(y[w > 0], minlength=k)
    both = ~absent & (counts > 0) & (counts.sum() - counts > 0)
    # A class separated on all rows is separated on any subset of them, so
    # a strided subsample of about 2**14 scores rules out most classes (at
    # 1,000,000 x 10 all of them, in 4 ms instead of a 250 ms pass); the
    # full pass then reads only the remaining columns.
    stride = max(1, (n * k) // 2**14)
    candidates = np.flatnonzero(both)
    if stride > 1 and len(candidates):
        extremes = _group_extremes(Z[::stride], y[::stride], w[::stride], candidates)
        possible = _separation(*extremes, free_intercept=free_intercept, strict=False)
        candidates = candidates[possible]
    separated = np.zeros(k, dtype=bool)
    if len(candidates):
        extremes = _group_extremes(Z, y, w, candidates)
        separated[candidates] = _separation(
            *extremes, free_intercept=free_intercept, strict=True
        )
    return separated


def _group_extremes(Z, y, w, columns):
    """Min and max of ``Z[:, columns]`` over each column's own rows and the others.

    Rows of weight 0 are skipped; a group with no row gives ``inf`` (min) and
    ``-inf`` (max).
    """
    n, k = Z.shape
    m = len(columns)
    position = np.full(k, -1)
    position[columns] = np.arange(m)
    own_min, own_max = np.full(m, np.inf), np.full(m, -np.inf)
    other_min, other_max = np.full(m, np.inf), np.full(m, -np.inf)
    for rows in iter_chunks(n, k):
        keep = w[rows] > 0
        Zc = np.asarray(Z[rows])[keep]  # a copy (boolean index): written below
        if m < k:
            Zc = Zc[:, columns]
        if not len(Zc):
            continue
        yc = position[y[rows][keep]]
        r = np.flatnonzero(yc >= 0)
        yc = yc[r]
        own = Zc[r, yc]
        np.minimum.at(own_min, yc, own)
        np.maximum.at(own_max, yc, own)
        Zc[r, yc] = -np.inf
        np.maximum(other_max, Zc.max(axis=0), out=other_max)
        Zc[r, yc] = np.inf
        np.minimum(other_min, Zc.min(axis=0), out=other_min)
    return own_min, own_max, other_min, other_max


def _separation(own_min, own_max, other_min, other_max, *, free_intercept, strict):
    """Which columns the extremes of :func:`_group_extremes` separate.

    ``strict=False`` drops the requirement that some inequality be strict
    (a subsample may tie where the full data do not).
    """
    if free_intercept:
        # c anywhere between the groups; strict unless every value equals c.
        above = own_min >= other_max
        below = own_max <= other_min
        if strict:
            above &= own_max > other_min
            below &= own_min < other_max
    else:
        above = (own_min >= 0) & (other_max <= 0)
        below = (own_max <= 0) & (other_min >= 0)
        if strict:
            above &= (own_max > 0) | (other_min < 0)
            below &= (own_min < 0) | (other_max > 0)
    return above | below


def hold_separated_classes(estimator, Z, y, w, absent, *, free_intercept, what):
    """:func:`own_column_separated`, with a warning naming the classes found.

    ``what`` names the held parameters in the warning ("scales", "diagonal
    weights").
    """
    held = own_column_separated(Z, y, w, absent, free_intercept=free_intercept)
    if held.any():
        side = (
            "scores at least as high in its column as every other row, or at "
            "most as high"
            if free_intercept
            else "has a score of one sign in its column and every other row of "
            "the other sign (or 0)"
        )
        warnings.warn(
            f"{type(estimator).__name__}: classes "
            f"{preview(estimator.classes_[held])} ({int(held.sum())} of "
            f"{int((~absent).sum())} that occur) are separated by their own "
            f"score column (every row labelled with one {side}), so the "
            f"validation objective has no finite optimum for their {what}; "
            "they keep the temperature-scaling value 1 / T, and the other "
            "parameters are fitted.",
            CalibrationWarning,
            stacklevel=4,
        )
    return held


def fit_per_class_affine(
    Z,
    y,
    w,
    *,
    absent,
    scale0,
    tol,
    max_iter,
    name,
    shared_scale=False,
    mu=0.0,
    held=None,
):
    """Fit ``softmax(a * Z + b)`` from ``a = scale0, b = 0``.

    The kernel of :class:`VectorScaling` and of diagonal Dirichlet
    calibration; ``shared_scale=True`` ties the scales to one ``a`` (fixed-
    diagonal Dirichlet calibration), and ``mu`` adds ``mu * sum_j b_j**2``
    (per-entry intercept penalty).  Trust-region Newton-CG on the weighted
    mean NLL; the softmax's free constant is fixed when ``mu == 0`` and the
    fitted classes' intercepts shifted when a class is absent (see
    :class:`VectorScaling`).  The classes of ``held`` (a mask; present
    classes, see :func:`own_column_separated`) keep their starting scale;
    their intercepts are fitted.

    Returns
    -------
    a : ndarray of shape (K,)
        Scales (all equal when ``shared_scale``).
    b : ndarray of shape (K,)
    n_iter : int
    """
    k = Z.shape[1]
    full_fun = per_column_affine_objective(
        Z, y, w, dlogits=softmax_nll_and_dlogits, absent=absent
    )
    full_hessp = per_column_affine_hessp(Z, w, absent=absent)
    # theta = [a, b] or [a_shared, b]; the per-column kernel sees [a * 1, b].
    n_scale = 1 if shared_scale else k

    def expand(theta):
        return np.concatenate([np.broadcast_to(theta[:n_scale], k), theta[n_scale:]])

    def reduce(g):
        return np.concatenate([[g[:k].sum()] if shared_scale else g[:k], g[k:]])

    def fun(theta):
        loss, grad = full_fun(expand(theta))
        b = theta[n_scale:]
        return loss + mu * (b @ b), reduce(grad) + np.concatenate(
            [np.zeros(n_scale), 2 * mu * b]
        )

    def hessp(theta, v):
        out = reduce(full_hessp(expand(theta), expand(v)))
        out[n_scale:] += 2 * mu * v[n_scale:]
        return out

    x0 = np.concatenate([np.full(n_scale, scale0), np.zeros(k)])
    held = np.zeros(k, dtype=bool) if held is None else held
    fixed = np.concatenate(
        [absent | held if not shared_scale else [absent.all()], absent]
    )
    gauge = gauge_column(absent)
    if gauge is not None and mu == 0:
        fixed[n_scale + gauge] = True  # the softmax's free constant
    # The exact Hessian (2K x 2K float64, about three copies while a step is
    # solved) is formed while it is at most a quarter of the input's size or
    # at most 2 MB (up to 256 classes: 500 x 200 took 3 s by Newton-CG).
    n_bytes = Z.shape[0] * k * np.dtype(getattr(Z, "dtype", np.float64)).itemsize
    if k <= EXACT_HESSIAN_MAX_CLASSES and 32 * k * k <= max(n_bytes / 4, 2**21):
        theta, n_iter = fit_per_class_exact_newton(
            Z,
            y,
            w,
            x0,
            fixed=fixed,
            absent=absent,
            shared_scale=shared_scale,
            mu=mu,
            tol=tol,
            max_iter=max_iter,
            name=name,
        )
    else:
        theta, n_iter = minimize_trust_newton(
            fun, hessp, x0, fixed=fixed, tol=tol, max_iter=max_iter, name=name
        )
    a = np.array(expand(theta)[:k])
    if shared_scale:
        # An absent class keeps the starting map z * scale0 (its own scale
        # is not informed by any row); the others share the fitted scale.
        a[absent] = scale0
    b = theta[n_scale:].copy()
    if mu == 0:
        centre(b, absent)
    b[~absent] += absent_class_shift(
        Z,
        y,
        w,
        fitted=lambda Zc: Zc * a + b,
        start=lambda Zc: Zc * scale0,
        absent=absent,
    )
    return a, b, n_iter
