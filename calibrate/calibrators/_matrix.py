"""Matrix scaling with ODIR regularisation (Kull et al. 2019)."""

import numbers

import numpy as np

from calibrate.calibrators._base import BaseCalibrator
from calibrate.calibrators._matrix_newton import fit_softmax_affine
from calibrate.calibrators._newton import absent_class_shift, centre
from calibrate.calibrators._temperature import (
    check_affine_scale,
    warm_started_temperature,
    warn_temperature_status,
)
from calibrate.calibrators._vector import hold_separated_classes

__all__ = ["MatrixScaling", "fit_odir"]


class MatrixScaling(BaseCalibrator):
    """Matrix scaling: ``softmax(W z + b)`` with ODIR regularisation.

    The objective is the (weighted) mean validation NLL plus the
    Off-Diagonal and Intercept Regularisation of Kull et al. (2019)::

        reg_lambda / (K (K - 1)) * sum_{i != j} W_ij**2 + reg_mu / K * sum_j b_j**2

    The diagonal of ``W`` is free, so temperature and vector scaling lie
    inside the family at zero penalty.  The fit starts at the temperature
    scaling solution (``W = I / T``, ``b = 0``) and runs a line-search
    Newton-CG method with the exact float64 gradient over row chunks (float32
    in the first iterations from 128 classes, until its norm is 1e-3), its
    conjugate gradients preconditioned by the curvature of each output class
    (the full Hessian on a subsample up to 20 classes; beyond, the
    Hessian's diagonal when the off-diagonal weights are penalised, else
    per-class blocks up to 256 classes and a Kronecker approximation above;
    see ``calibrate/calibrators/_matrix_newton.py``); every accepted step lowers
    the regularised objective, so it is never above temperature scaling's.
    Besides its input the fit holds the softmax probabilities in float32
    (``n x K`` values, the size of a float32 input, up to ``2**26`` of
    them) and, up to 256 classes, ``K`` blocks of ``(K + 1)**2`` float64
    values (80 MB at ``K = 200``).  Multiclass scores only.

    The fit stops on the gradient norm, not on the decrease of the objective,
    so it reproduces across CPUs and BLAS kernels.  The softmax is unchanged
    when a constant is added to every logit: with ``reg_mu=0`` the
    intercepts of the classes that occur are centred (sum zero), and with
    ``reg_lambda=0`` the rows of ``W`` of those classes are shifted by a
    common vector so that their mean equals the starting point's; otherwise
    the penalty makes the optimum unique.

    A class that never occurs in ``y`` keeps its column and the
    temperature-scaling map (its row of ``W`` is ``e_k / T``, its bias 0),
    with a :class:`~calibrate.exceptions.CalibrationWarning`; the other rows
    are fitted on the softmax over the classes that occur, so nothing rewards
    pushing the absent class's probability to zero; their intercepts are then
    shifted by the smallest common constant that keeps the whole model's
    validation NLL no higher than temperature scaling's (as in
    :class:`VectorScaling`).

    The diagonal weights are not penalised.  When ``reg_lambda > 0``, a class
    separated by its own score column (see :class:`VectorScaling`; with
    ``reg_mu > 0`` at the threshold 0 only: the column is at least 0 on the
    class's rows and at most 0 on the others, or mirrored) has no finite
    optimum for its diagonal weight ``W_kk``, which the fit would otherwise
    push to tens of thousands while reporting convergence; it keeps the
    temperature-scaling value ``1 / T``, with a
    :class:`~calibrate.exceptions.CalibrationWarning` naming the class, and
    every other parameter is fitted.  Unregularised matrix scaling
    (``reg_lambda=0``) has many more such directions and is not checked.

    Parameters
    ----------
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.
    reg_lambda : float or "auto", default="auto"
        Strength of the penalty on off-diagonal weights, in Kull et al.'s
        normalisation (a mean over the ``K (K - 1)`` entries), so values from
        the paper carry over.  ``"auto"`` is ``0.01 * K * (K - 1)``: 0.01 per
        off-diagonal weight.  With ``K**2`` parameters, unregularised matrix
        scaling over-fits badly when ``K`` is large compared with the
        validation set (on the CIFAR-100 ResNet-110 logits of Mukhoti et al.
        2020, 5,000 validation rows, its test NLL is 12.6 against 1.10 for
        temperature scaling), and the best mean-normalised strength grows
        like ``K**2``: on those logits and their CIFAR-10 counterparts a grid
        over the per-entry strength (0.003, 0.01, 0.03, ...) was best at 0.01
        for both, giving test NLL 1.041 (CIFAR-100) and 0.186 (CIFAR-10)
        against 1.099 and 0.196 for temperature scaling.  Tune it with
        ``GridSearchCV`` for other models.
    reg_mu : float or "auto", default="auto"
        Strength of the penalty on intercepts (a mean over the ``K``
        intercepts).  ``"auto"`` is ``0.01 * K``, 0.01 per intercept; on the
        logits above the test NLL hardly depends on it.
        ``reg_lambda=0, reg_mu=0`` is plain matrix scaling.
    tol : float, default=1e-8
        Stop when the Euclidean norm of the gradient of the objective is at
        most ``tol``.
    max_iter : int, default=1000
        Newton iteration budget; running out raises scikit-learn's
        ``ConvergenceWarning``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_classes)
        The matrix ``W``; calibrated logits are ``z @ coef_.T + intercept_``.
    intercept_ : ndarray of shape (n_classes,)
        The bias ``b``.
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
    VectorScaling : A diagonal ``W``.

    References
    ----------
    M. Kull, M. Perello-Nieto, M. Kängsepp, T. Silva Filho, H. Song and
    P. Flach, "Beyond temperature scaling: Obtaining well-calibrated
    multiclass probabilities with Dirichlet calibration", NeurIPS 2019.

    Examples
    --------
    >>> from calibrate import MatrixScaling
    >>> from calibrate.datasets import make_miscalibrated
    >>> data = make_miscalibrated(5_000, 3, temperature=2.0, random_state=0)
    >>> cal = MatrixScaling().fit(data.logits, data.labels)
    >>> cal.coef_.shape
    (3, 3)
    """

    _supported_tasks = ("multiclass",)
    _report_default_tasks = ("multiclass",)
    _help = "a full affine map of the logits, K(K+1) parameters"
    _fitted_parameters = ("coef_", "intercept_")
    _scalar_parameters = (
        ("max_iter", numbers.Integral, 1),
        ("tol", numbers.Real, 0.0),
    )

    def __init__(
        self,
        *,
        input_type="logits",
        reg_lambda="auto",
        reg_mu="auto",
        tol=1e-8,
        max_iter=1000,
    ):
        self.input_type = input_type
        self.reg_lambda = reg_lambda
        self.reg_mu = reg_mu
        self.tol = tol
        self.max_iter = max_iter

    def _strength(self, name, n_entries):
        """Resolve ``reg_lambda`` or ``reg_mu``; ``"auto"`` is 0.01 per entry."""
        value = getattr(self, name)
        if isinstance(value, str) and value == "auto":
            return 0.01 * n_entries
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not (number and np.isfinite(value) and value >= 0):
            raise ValueError(
                f"{name} must be 'auto' or a finite number >= 0; got {value!r}."
            )
        return float(value)

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        self._strength("reg_lambda", 2)
        self._strength("reg_mu", 1)

    def _fit(self, Z, y, w):
        k = Z.shape[1]
        absent = self._absent_columns(y, w)
        check_affine_scale(self, Z, "multiclass")
        t, _, status = warm_started_temperature(Z, y, w, "multiclass")
        warn_temperature_status(self, status, np.exp(t), start=True)
        lam = self._strength("reg_lambda", k * (k - 1)) / (k * (k - 1))
        mu = self._strength("reg_mu", k) / k
        held = None
        if lam > 0:
            held = hold_separated_classes(
                self, Z, y, w, absent, free_intercept=mu == 0, what="diagonal weights"
            )
        self.coef_, self.intercept_, self.n_iter_ = fit_odir(
            Z,
            y,
            w,
            absent=absent,
            scale0=np.exp(-t),
            lam=lam,
            mu=mu,
            held=held,
            tol=self.tol,
            max_iter=self.max_iter,
            name=type(self).__name__,
        )

    def _parameter_shapes(self):
        k = self.n_features_in_
        return {"coef_": (k, k), "intercept_": (k,)}

    def _calibrated_logits(self, Zc):
        return Zc @ self.coef_.T + self.intercept_


def fit_odir(Z, y, w, *, absent, scale0, lam, mu, tol, max_iter, name, held=None):
    """Fit ``softmax(Z W^T + b)`` with the ODIR penalty from ``W = scale0 I, b = 0``.

    The kernel of :class:`MatrixScaling` and of full Dirichlet calibration
    (which runs it on log-probabilities).  Minimises the weighted mean NLL
    plus ``lam * sum_{i != j} W_ij**2 + mu * sum_j b_j**2`` (``lam`` and
    ``mu`` per entry) by preconditioned Newton-CG
    (:func:`~calibrate.calibrators._matrix_newton.fit_softmax_affine`),
    projecting out the softmax's free directions when a penalty is zero,
    and shifting the fitted classes' intercepts when a class is absent (see
    the class docstring).  The diagonal weights of the classes of ``held``
    (a mask; see :func:`~calibrate.calibrators._vector.own_column_separated`)
    stay at ``scale0``.

    Returns
    -------
    W : ndarray of shape (K, K)
    b : ndarray of shape (K,)
    n_iter : int
    """
    k = Z.shape[1]
    theta0 = np.concatenate([np.eye(k) * scale0, np.zeros((k, 1))], axis=1)
    penalty = np.full((k, k + 1), float(lam))
    penalty[np.arange(k), np.arange(k)] = 0.0
    penalty[:, k] = mu
    theta, n_iter = fit_softmax_affine(
        Z,
        y,
        w,
        theta0,
        absent=absent,
        held_diagonal=held,
        penalty=penalty,
        gauge_W=lam == 0,
        gauge_b=mu == 0,
        tol=tol,
        max_iter=max_iter,
        name=name,
    )
    x0 = np.concatenate([theta0[:, :k].ravel(), theta0[:, k]])
    theta = np.concatenate([theta[:, :k].ravel(), theta[:, k]])
    W = theta[: k * k].reshape(k, k).copy()
    b = theta[k * k :].copy()
    if mu == 0:
        centre(b, absent)
    if lam == 0:
        W0 = x0[: k * k].reshape(k, k)
        shift = W - W0
        centre(shift, absent, axis=0)
        W = np.where(absent[:, None], W, W0 + shift)
    b[~absent] += absent_class_shift(
        Z,
        y,
        w,
        fitted=lambda Zc: Zc @ W.T + b,
        start=lambda Zc: Zc @ x0[: k * k].reshape(k, k).T + x0[k * k :],
        absent=absent,
    )
    return W, b, n_iter
