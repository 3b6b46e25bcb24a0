"""Prediction for calibrators whose map lives in probability space.

Isotonic regression, histogram binning and beta calibration map a model's
probabilities to probabilities, which may be exactly 0 or 1 (an empty-accuracy
bin, a pooled block of negatives).  Their calibrated logits can be infinite, so
they cannot go through :meth:`BaseCalibrator._decision`, which refuses
non-finite logits.  This module gives them the same public methods computed
from ``_calibrated_log_proba`` instead, where ``-inf`` is a valid
log-probability.

Interim: these overrides stand in for the probability-space contract the base
class is about to gain (the ``calreg`` branch); they touch nothing else.
"""

import numpy as np
from scipy.special import expit, softmax

from calibrate._special import iter_chunks
from calibrate.calibrators._base import BaseCalibrator

__all__ = ["ProbabilityCalibrator", "log1mexp", "score_probabilities"]


def log1mexp(lp):
    """Return ``log(1 - exp(lp))`` for ``lp <= 0`` without cancellation.

    ``log(-expm1(lp))`` is exact near ``lp = 0`` and ``log1p(-exp(lp))`` far
    from it; the switch at ``-log 2`` is Maechler's (2012).
    """
    lp = np.asarray(lp, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(lp > -np.log(2.0), np.log(-np.expm1(lp)), np.log1p(-np.exp(lp)))


def score_probabilities(Zc, task):
    """Probabilities of the model, from its float64 logits chunk ``Zc``.

    Multiclass rows go through the softmax; binary and multilabel columns
    through the sigmoid (each column is the probability of its positive
    label).
    """
    if task == "multiclass":
        return softmax(Zc, axis=1)
    return expit(Zc)


class ProbabilityCalibrator(BaseCalibrator):
    """Base of the calibrators that map probabilities to probabilities.

    Subclasses implement ``_fit(Z, y, w)`` and ``_calibrated_log_proba(Zc)``,
    which returns, for a float64 chunk of logits, ``(m, K)`` log-probabilities:
    of each class (multiclass, rows with logsumexp 0) or of each column's
    positive label (binary, multilabel).
    """

    def _calibrated_logits(self, Zc):
        # Only reached through BaseCalibrator._decision, which this class
        # bypasses; kept finite-valued for completeness: the log-probabilities
        # floored at log(tiny), as check_scores floors probabilities.
        return np.maximum(self._calibrated_log_proba(Zc), np.log(np.finfo(float).tiny))

    def _log_proba_columns(self, X):
        """Calibrated log-probabilities in the subclass's layout, and 1-D flag."""
        Z, one_d = self._validate_predict_data(X)
        out = np.empty(Z.shape, dtype=np.float64)
        for rows in iter_chunks(*Z.shape):
            out[rows] = self._calibrated_log_proba(Z[rows].astype(np.float64))
        return out, one_d

    def predict_log_proba(self, X):
        """Return calibrated log-probabilities (``-inf`` for a probability of 0).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Multiclass: ``log P(class j)``.  Binary: two columns,
            ``log P(classes_[0])`` and ``log P(classes_[1])``.  Multilabel:
            ``log P(label j is on)`` for each label.
        """
        L, _ = self._log_proba_columns(X)
        if self.task_ == "binary":
            return np.column_stack([log1mexp(L[:, 0]), L[:, 0]])
        return L

    def predict_proba(self, X):
        """Return calibrated probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Multiclass and binary: rows sum to 1 (binary gives two columns).
            Multilabel: the probability of each label.
        """
        L, _ = self._log_proba_columns(X)
        P = np.exp(L)
        if self.task_ == "binary":
            return np.column_stack([-np.expm1(L[:, 0]), P[:, 0]])
        return P

    def transform(self, X):
        """Return calibrated logits in the layout of the input.

        Multiclass: log-probabilities (``-inf`` where a probability is 0).
        Binary and multilabel: log-odds, ``+-inf`` where a probability is 1 or 0.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says.

        Returns
        -------
        ndarray of float64, same shape as ``X``
            Calibrated logits.
        """
        L, one_d = self._log_proba_columns(X)
        if self.task_ != "multiclass":
            with np.errstate(invalid="ignore"):
                L = L - log1mexp(L)
        return L[:, 0] if one_d else L

    def predict(self, X):
        """Return the class with the largest calibrated probability.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``classes_[argmax]`` (the first on ties) for multiclass; the
            positive class where its probability exceeds 0.5 for binary; a 0/1
            indicator matrix for multilabel.
        """
        L, _ = self._log_proba_columns(X)
        if self.task_ == "multiclass":
            return self.classes_[np.argmax(L, axis=1)]
        on = L > np.log(0.5)
        if self.task_ == "binary":
            return self.classes_[on[:, 0].astype(np.intp)]
        return on.astype(np.int64)
