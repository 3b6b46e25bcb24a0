"""Ensemble temperature scaling (Zhang, Kailkhura and Han 2020, "Mix-n-Match")."""

import numbers

import numpy as np
from scipy.optimize import minimize

from calibrate._special import iter_chunks, log_softmax
from calibrate.calibrators._base import BaseCalibrator
from calibrate.calibrators._temperature import (
    warm_started_temperature,
    warn_temperature_status,
)

__all__ = ["EnsembleTemperatureScaling"]

_LOSSES = ("nll", "mse")


class EnsembleTemperatureScaling(BaseCalibrator):
    """Ensemble temperature scaling: a mixture of three calibrated distributions.

    The calibrated probabilities are::

        w1 * softmax(z / T) + w2 * softmax(z) + w3 / K,   w on the simplex

    with ``T`` fitted first by temperature scaling (the exact NLL optimum)
    and the weights then fitted on the validation rows by ``loss``: the NLL
    of the mixture (convex in ``w``) or its mean squared error against the
    one-hot labels (the Brier score, a quadratic in ``w``), as Zhang et al.
    offer both.  Both are minimised over the simplex by SLSQP on three
    numbers per row (the components' probabilities of the true class, or
    their 3 x 3 Gram matrix for the squared error), so the weights cost one
    pass over the data.  With ``loss="nll"`` the fit is never worse than
    temperature scaling on the validation NLL: ``w = (1, 0, 0)`` is
    temperature scaling, and the weights are kept there unless the mixture
    does better.  Multiclass scores only.

    Parameters
    ----------
    loss : {"nll", "mse"}, default="nll"
        Objective of the weights.
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.
    max_iter : int, default=100
        Iteration budget of the temperature fit (the weights' SLSQP run has
        its own fixed budget of 200 iterations on a 3-variable problem).

    Attributes
    ----------
    temperature_ : float
        ``T``.
    weights_ : ndarray of shape (3,)
        ``(w1, w2, w3)``, non-negative, summing to 1.
    classes_, task_, n_features_in_, n_iter_
        As for every calibrator (``n_iter_`` counts the temperature passes).

    References
    ----------
    J. Zhang, B. Kailkhura and T. Y.-J. Han, "Mix-n-Match: Ensemble and
    Compositional Methods for Uncertainty Calibration in Deep Learning",
    ICML 2020.

    Examples
    --------
    >>> from calibrate import EnsembleTemperatureScaling
    >>> from calibrate.datasets import make_miscalibrated
    >>> data = make_miscalibrated(3_000, 4, temperature=2.0, random_state=0)
    >>> cal = EnsembleTemperatureScaling().fit(data.logits, data.labels)
    >>> bool(abs(cal.weights_.sum() - 1) < 1e-12)
    True
    """

    _supported_tasks = ("multiclass",)
    _report_default_tasks = ()
    _help = "a weighted mix of temperature-scaled, raw and uniform predictions"
    _fitted_parameters = ("temperature_", "weights_")
    _scalar_parameters = (("max_iter", numbers.Integral, 1),)

    def __init__(self, loss="nll", *, input_type="logits", max_iter=100):
        self.loss = loss
        self.input_type = input_type
        self.max_iter = max_iter

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        if not (isinstance(self.loss, str) and self.loss in _LOSSES):
            raise ValueError(
                f"loss must be one of {', '.join(_LOSSES)}; got {self.loss!r}."
            )

    def _components(self, Zc):
        """Log-probabilities of the three components on a float64 chunk."""
        k = Zc.shape[1]
        return (
            log_softmax(Zc / self.temperature_),
            log_softmax(Zc),
            np.full(Zc.shape, -np.log(k)),
        )

    def _fit(self, Z, y, w):
        # No per-class parameter: absent classes change nothing (as for
        # temperature scaling), so no warning about them.
        t, self.n_iter_, status = warm_started_temperature(
            Z, y, w, "multiclass", max_iter=self.max_iter
        )
        self.temperature_ = float(np.exp(t))
        warn_temperature_status(self, status, self.temperature_)
        if self.loss == "nll":
            # q[i, m]: component m's probability of row i's true class.
            q = np.empty((Z.shape[0], 3))
            for rows in iter_chunks(*Z.shape):
                parts = self._components(Z[rows].astype(np.float64))
                r = np.arange(rows.stop - rows.start)
                for m, L in enumerate(parts):
                    q[rows, m] = np.exp(L[r, y[rows]])

            def objective(v):
                mix = q @ v
                value = -float(w @ np.log(np.maximum(mix, 1e-300)))
                return value, -(w / np.maximum(mix, 1e-300)) @ q

        else:
            # Brier score of the mixture: v' G v - 2 c' v + 1.
            G, c = np.zeros((3, 3)), np.zeros(3)
            for rows in iter_chunks(*Z.shape):
                Zc = Z[rows].astype(np.float64)
                P = np.stack([np.exp(L) for L in self._components(Zc)])
                wr = w[rows]
                G += np.einsum("mik,nik,i->mn", P, P, wr)
                c += P[:, np.arange(len(wr)), y[rows]] @ wr

            def objective(v):
                return float(v @ G @ v - 2 * c @ v + 1), 2 * (G @ v) - 2 * c

        start = np.array([1.0, 0.0, 0.0])
        res = minimize(
            objective,
            np.full(3, 1 / 3),
            jac=True,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * 3,
            constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1.0}],
            options={"ftol": 1e-15, "maxiter": 200},
        )
        v = np.clip(res.x, 0.0, None)
        v /= v.sum()
        if not (objective(v)[0] < objective(start)[0]):
            v = start  # the mixture does not beat temperature scaling
        self.weights_ = v

    def _n_free_parameters(self):
        return 3  # T and two of the three weights (they sum to 1)

    def _parameter_shapes(self):
        return {"temperature_": (), "weights_": (3,)}

    def _calibrated_logits(self, Zc):
        # log of the mixture, computed in log space; a zero weight drops its
        # component rather than taking log(0).
        logs = [
            np.log(wm) + L
            for wm, L in zip(self.weights_, self._components(Zc), strict=True)
            if wm > 0
        ]
        return _logsumexp_last(np.stack(logs, axis=2))


def _logsumexp_last(a):
    """``log(sum(exp(a), axis=-1))`` shifted by the maximum (finite inputs)."""
    top = a.max(axis=-1)
    return top + np.log(np.exp(a - top[..., None]).sum(axis=-1))
