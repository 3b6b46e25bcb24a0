"""Platt scaling (Platt 1999): a logistic regression on each score column."""

import numbers

import numpy as np
from scipy.special import log_expit

from calibrate.calibrators._base import (
    BaseCalibrator,
    OneVsRestTargets,
    target_chunk,
)
from calibrate.calibrators._newton import fit_columns_newton
from calibrate.calibrators._temperature import (
    affine_start_temperature,
    check_affine_scale,
    warn_temperature_status,
)

__all__ = ["PlattScaling"]


class PlattScaling(BaseCalibrator):
    """Platt scaling: ``sigmoid(a * z + b)`` fitted by maximum likelihood.

    * binary scores (one column): one ``(a, b)``, a logistic regression on the
      single logit;
    * multilabel scores (``(n, K)`` with an indicator ``y``): one ``(a, b)`` per
      label, each an independent logistic regression;
    * multiclass scores: one-vs-rest, one ``(a, b)`` per class fitted on
      ``y == k``, and the ``K`` sigmoids normalised to sum to 1 (as
      scikit-learn's ``CalibratedClassifierCV(method="sigmoid")`` does).

    The fit starts at the temperature-scaling solution of the same sigmoid
    likelihood (``a = 1 / T``, ``b = 0``) and solves the ``K`` independent
    two-parameter problems together by damped Newton steps with exact 2 x 2
    Hessians, one pass over the rows (float64 chunks) per step, each column
    backtracking until its loss does not increase.  It stops on the gradient,
    not on the decrease of the objective, so fits reproduce across CPUs and
    BLAS kernels.  By default the targets are the
    labels themselves (plain maximum likelihood, equal to an unregularised
    logistic regression).  With ``target_smoothing=True`` they are Platt's
    ``(N+ + 1) / (N+ + 2)`` for positives and ``1 / (N- + 2)`` for negatives,
    where ``N+`` and ``N-`` count positives and negatives per column (with
    sample weights: the weighted counts rescaled to the number of samples),
    which keeps ``a`` and ``b`` finite on separable data.

    Parameters
    ----------
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.  For binary input,
        probabilities are of the positive class ``classes_[1]``.
    target_smoothing : bool, default=False
        Use Platt's smoothed targets instead of the 0/1 labels.
    tol : float, default=1e-8
        A column stops when the Euclidean norm of its gradient (of the mean
        NLL, in ``(a, b)``) is at most ``tol``.
    max_iter : int, default=1000
        Newton iteration budget; running out raises scikit-learn's
        ``ConvergenceWarning``.

    Attributes
    ----------
    coef_ : float or ndarray of shape (n_classes,)
        The slope ``a``: a float for binary input, one per column otherwise.
    intercept_ : float or ndarray of shape (n_classes,)
        The bias ``b``, shaped like ``coef_``.
    classes_ : ndarray of shape (n_classes,)
        Class labels; for binary input ``classes_[1]`` is the positive class.
    task_ : {"binary", "multiclass", "multilabel"}
        The task read from the shapes of ``X`` and ``y``.
    n_features_in_ : int
        Number of score columns seen during fit.
    n_iter_ : int
        Newton iterations used.

    References
    ----------
    J. Platt, "Probabilistic outputs for support vector machines and
    comparisons to regularized likelihood methods", Advances in Large Margin
    Classifiers, 1999.

    Examples
    --------
    >>> from calibrate import PlattScaling
    >>> from calibrate.datasets import make_miscalibrated_binary
    >>> data = make_miscalibrated_binary(20_000, temperature=2.0, random_state=0)
    >>> cal = PlattScaling().fit(data.logits, data.labels)
    >>> round(cal.coef_, 1)  # the true map is sigmoid(z / 2)
    0.5
    >>> abs(cal.intercept_) < 0.05
    True
    """

    _report_default_tasks = ("binary", "multilabel")
    _help = "a logistic regression on each score column"
    _fitted_parameters = ("coef_", "intercept_")
    _fits_dask = True
    _scalar_parameters = (
        ("max_iter", numbers.Integral, 1),
        ("tol", numbers.Real, 0.0),
    )

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        if not isinstance(self.target_smoothing, (bool, np.bool_)):
            raise TypeError(
                f"target_smoothing must be True or False; got "
                f"{self.target_smoothing!r}."
            )

    def __init__(
        self, *, input_type="logits", target_smoothing=False, tol=1e-8, max_iter=1000
    ):
        self.input_type = input_type
        self.target_smoothing = target_smoothing
        self.tol = tol
        self.max_iter = max_iter

    def _targets(self, y, w):
        """Targets per column: the labels, or Platt's smoothed values."""
        n = len(w)
        if self.task_ == "multiclass":
            k = len(self.classes_)
            if not self.target_smoothing:
                return OneVsRestTargets(y, np.zeros(k), np.ones(k))
            n_pos = n * np.bincount(y, weights=w, minlength=k)
            return OneVsRestTargets(y, 1.0 / (n - n_pos + 2), (n_pos + 1) / (n_pos + 2))
        if not self.target_smoothing:
            return y
        Y = y.reshape(n, -1)
        n_pos = n * (w @ Y)
        hi, lo = (n_pos + 1) / (n_pos + 2), 1.0 / (n - n_pos + 2)
        return (lo + (hi - lo) * Y).reshape(y.shape)

    def _fit(self, Z, y, w):
        absent = self._absent_columns(y, w) & (not self.target_smoothing)
        targets = self._targets(y, w)
        k = Z.shape[1]
        check_affine_scale(self, Z, "multilabel")
        t, _, status = affine_start_temperature(
            Z, targets, w, "multilabel", absent=absent
        )
        warn_temperature_status(self, status, np.exp(t), start=True)
        x0 = np.concatenate([np.full(k, np.exp(-t)), np.zeros(k)])

        slope, bias, self.n_iter_ = fit_columns_newton(
            Z,
            targets,
            w,
            x0[:k],
            x0[k:],
            fixed=absent,
            tol=self.tol,
            max_iter=self.max_iter,
            name=type(self).__name__,
            target_chunk=target_chunk,
        )
        if self.task_ == "binary":
            slope, bias = float(slope[0]), float(bias[0])
        self.coef_, self.intercept_ = slope, bias

    def _parameter_shapes(self):
        shape = () if self.task_ == "binary" else (self.n_features_in_,)
        return {"coef_": shape, "intercept_": shape}

    def _calibrated_logits(self, Zc):
        S = Zc * self.coef_ + self.intercept_
        if self.task_ == "multiclass":
            # One-vs-rest: the log of each class's sigmoid; the caller's
            # log-softmax then normalises the K sigmoids to sum to 1.
            return log_expit(S)
        return S
