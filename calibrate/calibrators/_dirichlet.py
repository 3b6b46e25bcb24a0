"""Dirichlet calibration (Kull et al. 2019): an affine map of log-probabilities."""

import numbers

import numpy as np

from calibrate._special import log_softmax
from calibrate.calibrators._base import BaseCalibrator
from calibrate.calibrators._matrix import MatrixScaling, fit_odir
from calibrate.calibrators._temperature import (
    warm_started_temperature,
    warn_temperature_status,
)
from calibrate.calibrators._vector import fit_per_class_affine, hold_separated_classes

__all__ = ["DirichletCalibration"]

_PARAMETERIZATIONS = ("full", "diagonal", "fixed_diagonal")


class DirichletCalibration(BaseCalibrator):
    """Dirichlet calibration: ``softmax(W log p + b)`` on the model's probabilities.

    Kull, Perello-Nieto, Kängsepp, Silva Filho, Song and Flach (NeurIPS 2019)
    derive this map from Dirichlet class-conditional densities: it is matrix
    scaling applied to log-probabilities.  The fit shares the kernel of
    :class:`MatrixScaling` (Newton-CG preconditioned by per-class curvature,
    stopped on the gradient norm, from the temperature-scaling
    solution on ``log p``), so its objective is never above that start's.

    ``parameterization`` restricts ``W``:

    * ``"full"``: any ``K x K`` matrix, with Off-Diagonal and Intercept
      Regularisation (ODIR): ``reg_lambda / (K (K - 1)) * sum_{i != j} W_ij**2
      + reg_mu / K * sum_j b_j**2`` added to the mean NLL;
    * ``"diagonal"``: ``W = diag(a)``, one scale per class (vector scaling on
      log-probabilities), intercept penalty ``reg_mu``;
    * ``"fixed_diagonal"``: ``W = a I``, one scale for all classes, with
      per-class intercepts and the intercept penalty ``reg_mu``.

    An unpenalised diagonal weight or scale of a class separated by its own
    log-probability column (as :class:`VectorScaling` and
    :class:`MatrixScaling` describe; with ``reg_mu > 0`` at the threshold
    0, which needs exact probabilities of 1) has no finite optimum: it keeps
    the temperature-scaling value, with a
    :class:`~calibrate.exceptions.CalibrationWarning` naming the class.

    Parameters
    ----------
    parameterization : {"full", "diagonal", "fixed_diagonal"}, default="full"
        The family of ``W``.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How ``X`` is to be read.  Probabilities are the usual input (the map
        acts on ``log p``; an exact 0 is floored as everywhere in the package,
        with a warning).  Logits are first turned into log-probabilities,
        ``log_softmax(z)``, so logits and their softmax give the same fit.
    reg_lambda : float or "auto", default="auto"
        Off-diagonal penalty (``"full"`` only), in Kull et al.'s normalisation
        (a mean over the ``K (K - 1)`` entries).  ``"auto"`` is 0.01 per entry,
        the rule of :class:`MatrixScaling` (the paper tunes ``reg_lambda`` and
        ``reg_mu`` by cross-validation over ``1e-2 ... 1e-7``; do that with
        ``GridSearchCV`` when the data allow).
    reg_mu : float or "auto", default="auto"
        Intercept penalty (a mean over the ``K`` intercepts); ``"auto"`` is
        0.01 per intercept.
    tol : float, default=1e-8
        Stop when the Euclidean norm of the gradient of the objective is at
        most ``tol``.
    max_iter : int, default=1000
        Newton iteration budget; running out raises ``ConvergenceWarning``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_classes)
        ``W`` (diagonal for the restricted parameterisations).
    intercept_ : ndarray of shape (n_classes,)
        ``b``.
    classes_, task_, n_features_in_, n_iter_
        As for every calibrator.

    See Also
    --------
    MatrixScaling : The same map on logits.

    References
    ----------
    M. Kull, M. Perello-Nieto, M. Kängsepp, T. Silva Filho, H. Song and
    P. Flach, "Beyond temperature scaling: Obtaining well-calibrated
    multi-class probabilities with Dirichlet calibration", NeurIPS 2019.

    Examples
    --------
    >>> from calibrate import DirichletCalibration
    >>> from calibrate.datasets import make_miscalibrated
    >>> from scipy.special import softmax
    >>> data = make_miscalibrated(3_000, 3, temperature=2.0, random_state=0)
    >>> cal = DirichletCalibration().fit(softmax(data.logits, axis=1), data.labels)
    >>> cal.coef_.shape
    (3, 3)
    """

    _supported_tasks = ("multiclass",)
    _report_default_tasks = ()
    _help = "an affine map of the log-probabilities, ODIR-regularised"
    _fitted_parameters = ("coef_", "intercept_")
    _scalar_parameters = (
        ("max_iter", numbers.Integral, 1),
        ("tol", numbers.Real, 0.0),
    )

    def __init__(
        self,
        parameterization="full",
        *,
        input_type="probs",
        reg_lambda="auto",
        reg_mu="auto",
        tol=1e-8,
        max_iter=1000,
    ):
        self.parameterization = parameterization
        self.input_type = input_type
        self.reg_lambda = reg_lambda
        self.reg_mu = reg_mu
        self.tol = tol
        self.max_iter = max_iter

    _strength = MatrixScaling._strength

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        if not (
            isinstance(self.parameterization, str)
            and self.parameterization in _PARAMETERIZATIONS
        ):
            raise ValueError(
                f"parameterization must be one of {', '.join(_PARAMETERIZATIONS)}; "
                f"got {self.parameterization!r}."
            )
        self._strength("reg_lambda", 2)
        self._strength("reg_mu", 1)

    def _log_probs(self, Zc):
        """Return the map's input: log-probabilities (logits are log-softmaxed)."""
        return log_softmax(Zc) if self.input_type == "logits" else Zc

    def _fit(self, Z, y, w):
        if self.input_type == "logits":
            Z = _LogSoftmaxRows(Z)
        k = Z.shape[1]
        absent = self._absent_columns(y, w)
        t, _, status = warm_started_temperature(Z, y, w, "multiclass")
        warn_temperature_status(self, status, np.exp(t), start=True)
        mu = self._strength("reg_mu", k) / k
        common = dict(
            absent=absent,
            scale0=np.exp(-t),
            tol=self.tol,
            max_iter=self.max_iter,
            name=type(self).__name__,
        )
        if self.parameterization == "full":
            lam = self._strength("reg_lambda", k * (k - 1)) / max(1, k * (k - 1))
            # Unpenalised diagonal weights have no finite optimum for a class
            # its own column separates (see MatrixScaling).
            held = (
                hold_separated_classes(
                    self,
                    Z,
                    y,
                    w,
                    absent,
                    free_intercept=mu == 0,
                    what="diagonal weights",
                )
                if lam > 0
                else None
            )
            W, b, self.n_iter_ = fit_odir(Z, y, w, lam=lam, mu=mu, held=held, **common)
        else:
            shared = self.parameterization == "fixed_diagonal"
            # ... and neither have unpenalised per-class scales (see
            # VectorScaling); a shared scale is not held.
            held = (
                None
                if shared
                else hold_separated_classes(
                    self, Z, y, w, absent, free_intercept=mu == 0, what="scales"
                )
            )
            a, b, self.n_iter_ = fit_per_class_affine(
                Z, y, w, shared_scale=shared, mu=mu, held=held, **common
            )
            W = np.diag(a)
        self.coef_, self.intercept_ = W, b

    def _n_free_parameters(self):
        k = self.n_features_in_
        scales = {"full": k * k, "diagonal": k, "fixed_diagonal": 1}
        return scales[self.parameterization] + k

    def _parameter_shapes(self):
        k = self.n_features_in_
        return {"coef_": (k, k), "intercept_": (k,)}

    def _calibrated_logits(self, Zc):
        Zc = self._log_probs(Zc)
        if self.parameterization == "full":
            return Zc @ self.coef_.T + self.intercept_
        return Zc * np.diag(self.coef_) + self.intercept_


class _LogSoftmaxRows:
    """Read-only view of ``log_softmax`` of logits, computed per block of rows.

    The fitting kernels only read blocks of rows (``Z[rows]``, ``Z[::step]``),
    so logits are turned into log-probabilities one chunk at a time, never as
    a whole float64 copy.
    """

    def __init__(self, Z):
        self._Z = Z
        self.shape = Z.shape
        self.dtype = np.dtype(np.float64)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        return log_softmax(np.asarray(self._Z[rows], dtype=np.float64))
