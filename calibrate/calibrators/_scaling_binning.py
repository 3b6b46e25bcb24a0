"""Scaling-binning (Kumar, Liang and Ma 2019, "verified uncertainty calibration")."""

import numbers

import numpy as np
from scipy.special import log_expit, log_softmax, logsumexp

from calibrate.binning import _bin_index, check_binning
from calibrate.calibrators._base import BaseCalibrator, log1mexp
from calibrate.calibrators._histogram import equal_mass_edges
from calibrate.calibrators._platt import PlattScaling
from calibrate.calibrators._temperature import TemperatureScaling

__all__ = ["ScalingBinning"]

SCALERS = ("temperature", "platt")
REDUCTIONS = ("top_label", "classwise")


class ScalingBinning(BaseCalibrator):
    """Scaling-binning: a scaling map, then the mean scaled score of each bin.

    The validation rows are split at random in two halves.  A scaling map
    (temperature or Platt scaling) is fitted on the first; the second half's
    scaled probabilities are cut into ``n_bins`` equal-mass bins, and each
    scaled probability is replaced by the mean scaled probability of its bin
    (not by the label frequency, which is what makes the method's calibration
    error measurable; Kumar et al. 2019).

    * binary and multilabel scores: one binning per column;
    * multiclass scores, ``reduction="top_label"``: one binning of the
      top-class scaled confidence; the predicted class keeps its place and the
      other classes are rescaled to fill the rest of the row (their
      top-label binner); ``"classwise"``: one binning per class probability,
      then rows normalised (their marginal binner).

    Parameters
    ----------
    n_bins : int, default=15
        Equal-mass bins per binned quantity (edges by the rule of
        :class:`HistogramBinning`).
    scaler : {"temperature", "platt"}, default="temperature"
        The scaling map.  Platt scaling is one ``(a, b)`` per column
        (one-vs-rest for multiclass).
    reduction : {"top_label", "classwise"}, default="top_label"
        Multiclass variant (ignored for binary and multilabel).
    random_state : int, numpy Generator or None, default=None
        Seed of the split (``np.random.default_rng``); None is seed 0, so
        that a fit reproduces.
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.

    Attributes
    ----------
    coef_, intercept_ : ndarray of shape (n_columns,)
        The scaling map ``a z + b`` of each column (temperature scaling:
        ``a = 1 / T``, ``b = 0``).
    edges_ : ndarray of shape (n_groups, n_bins + 1)
        Bin edges of the scaled probabilities.
    bin_values_ : ndarray of shape (n_groups, n_bins)
        Mean scaled probability of each bin (an empty bin: its scaled value
        is kept, marked by ``bin_weights_ == 0``).
    bin_weights_ : ndarray of shape (n_groups, n_bins)
        Calibration weight in each bin.
    classes_, task_, n_features_in_, n_iter_
        As for every calibrator.

    References
    ----------
    A. Kumar, P. Liang and T. Ma, "Verified uncertainty calibration",
    NeurIPS 2019.

    Examples
    --------
    >>> from calibrate import ScalingBinning
    >>> from calibrate.datasets import make_miscalibrated_binary
    >>> data = make_miscalibrated_binary(4_000, temperature=2.0, random_state=0)
    >>> cal = ScalingBinning(n_bins=10).fit(data.logits, data.labels)
    >>> len(set(cal.predict_proba(data.logits)[:, 1].round(12)))  # 10 levels
    10
    """

    _help = (
        "scaling-binning: temperature or Platt scaling on half the rows, then "
        "the mean scaled probability of equal-mass bins on the other half"
    )
    _fitted_parameters = (
        "coef_",
        "intercept_",
        "edges_",
        "bin_values_",
        "bin_weights_",
    )

    def __init__(
        self,
        *,
        n_bins=15,
        scaler="temperature",
        reduction="top_label",
        random_state=None,
        input_type="logits",
        max_iter=1000,
    ):
        self.n_bins = n_bins
        self.scaler = scaler
        self.reduction = reduction
        self.random_state = random_state
        self.input_type = input_type
        self.max_iter = max_iter

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        check_binning(self.n_bins, "quantile")
        if not isinstance(self.scaler, str) or self.scaler not in SCALERS:
            raise ValueError(f"scaler must be one of {SCALERS}; got {self.scaler!r}.")
        if not isinstance(self.reduction, str) or self.reduction not in REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {REDUCTIONS}; got {self.reduction!r}."
            )
        rs = self.random_state
        if rs is not None and not isinstance(
            rs, (numbers.Integral, np.random.Generator)
        ):
            raise ValueError(
                "random_state must be None, an integer or a numpy Generator; "
                f"got {rs!r}."
            )

    def _top_label(self):
        return self.task_ == "multiclass" and self.reduction == "top_label"

    def _scaled_log_proba(self, Zc):
        """Log-probabilities of the scaling map, ``(m, K)``."""
        S = Zc * self.coef_ + self.intercept_
        if self.task_ == "multiclass":
            if self.scaler == "temperature":
                return log_softmax(S, axis=1)
            L = log_expit(S)  # one-vs-rest sigmoids, normalised
            return L - logsumexp(L, axis=1, keepdims=True)
        return log_expit(S)

    def _fit(self, Z, y, w):
        n, k = Z.shape
        if n < 2 * self.n_bins:
            raise ValueError(
                f"ScalingBinning: too few calibration rows for the bins asked: "
                f"n_samples={n}, at least {2 * self.n_bins} needed (half of them "
                "fit the scaling map, half the bins)."
            )
        rs = 0 if self.random_state is None else self.random_state
        order = np.random.default_rng(rs).permutation(n)
        first, second = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
        scaler_cls = (
            TemperatureScaling if self.scaler == "temperature" else PlattScaling
        )
        scaler = scaler_cls(max_iter=self.max_iter)
        y_fit = y[first]
        if self.task_ == "multilabel":
            y_fit = y_fit.astype(np.int64)
        scaler.fit(Z[first] if k > 1 else Z[first, 0], y_fit, sample_weight=w[first])
        if self.scaler == "temperature":
            self.coef_ = np.full(k, 1.0 / scaler.temperature_)
            self.intercept_ = np.zeros(k)
        else:
            self.coef_ = np.broadcast_to(scaler.coef_, (k,)).astype(np.float64)
            self.intercept_ = np.broadcast_to(scaler.intercept_, (k,)).astype(
                np.float64
            )
        self.n_iter_ = int(scaler.n_iter_)

        P = np.exp(self._scaled_log_proba(Z[second].astype(np.float64)))
        ws = w[second]
        if self._top_label():
            columns = [P.max(axis=1)]
        else:
            columns = [P[:, j] for j in range(k)]
        b = self.n_bins
        self.edges_ = np.empty((len(columns), b + 1))
        self.bin_values_ = np.zeros((len(columns), b))
        self.bin_weights_ = np.zeros((len(columns), b))
        for i, s in enumerate(columns):
            edges = equal_mass_edges(s, ws, b)
            index = _bin_index(s, edges)
            weight = np.bincount(index, weights=ws, minlength=b)
            total = np.bincount(index, weights=ws * s, minlength=b)
            self.edges_[i] = edges
            self.bin_weights_[i] = weight
            np.divide(total, weight, out=self.bin_values_[i], where=weight > 0)

    def _parameter_shapes(self):
        k = self.n_features_in_
        groups = 1 if self._top_label() else k
        return {
            "coef_": (k,),
            "intercept_": (k,),
            "edges_": (groups, self.n_bins + 1),
            "bin_values_": (groups, self.n_bins),
            "bin_weights_": (groups, self.n_bins),
        }

    def _binned(self, group, scores):
        index = _bin_index(scores, self.edges_[group])
        filled = self.bin_weights_[group, index] > 0
        return np.where(filled, self.bin_values_[group, index], scores)

    def _calibrated_log_proba(self, Zc):
        L = self._scaled_log_proba(Zc)
        with np.errstate(divide="ignore"):
            if not self._top_label():
                P = np.exp(L)
                Q = np.column_stack(
                    [self._binned(j, P[:, j]) for j in range(P.shape[1])]
                )
                if self.task_ != "multiclass":
                    return np.log(Q)
                return np.log(Q) - np.log(Q.sum(axis=1, keepdims=True))
            rows = np.arange(len(L))
            top = np.argmax(L, axis=1)
            new_top = np.log(self._binned(0, np.exp(L[rows, top])))
            others = L.copy()
            others[rows, top] = -np.inf
            rest = logsumexp(others, axis=1)
            saturated = np.isneginf(rest)
            new_rest = log1mexp(new_top)
            out = others - np.where(saturated, 0.0, rest)[:, None] + new_rest[:, None]
            if saturated.any():
                out[saturated] = (new_rest[saturated] - np.log(L.shape[1] - 1))[:, None]
            out[rows, top] = new_top
            return out
