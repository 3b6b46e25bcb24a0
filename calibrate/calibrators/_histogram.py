"""Histogram binning, with the multiclass reductions of Gupta and Ramdas (2022)."""

import numbers
import warnings

import numpy as np
from scipy.special import log_softmax, logsumexp

from calibrate.binning import _bin_index, check_binning, uniform_edges
from calibrate.calibrators._base import BaseCalibrator, log1mexp
from calibrate.calibrators._probability import score_probabilities
from calibrate.exceptions import CalibrationWarning

__all__ = ["HistogramBinning", "equal_mass_edges", "fit_histogram"]

REDUCTIONS = ("top_label", "classwise", "confidence")


def equal_mass_edges(scores, weights, n_bins):
    """Equal-mass edges by Gupta and Ramdas' rule: 0, ``n_bins - 1`` data values, 1.

    The sorted scores are cut into ``n_bins`` groups of equal count, the first
    ``n mod n_bins`` groups one point larger (``np.array_split``), and each
    interior edge is the largest score of its group.  This, not the
    inverted-CDF quantile at ``k / n_bins`` of :mod:`calibrate.binning`,
    reproduces their published numbers: with the 50 or so calibration points
    per class of CIFAR-100 and 15 bins, the two rules place edges one point
    apart and the top-label ECE moves by 0.002-0.004.  Edges are data values,
    so equal scores always share a bin and ties need no random noise.

    With weights, counts are measured in units of the smallest positive
    weight (unit weights give exactly the rule above, and integer weights
    whose smallest value is 1 give the edges of repeated rows); rows of
    weight 0 are never edges.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Probabilities in [0, 1].
    weights : ndarray of shape (n,)
        Non-negative weights with a positive sum.
    n_bins : int
        Number of bins.

    Returns
    -------
    ndarray of shape (n_bins + 1,)
        Non-decreasing edges from 0 to 1 (repeated edges leave empty bins).

    Examples
    --------
    >>> equal_mass_edges(np.arange(1, 8) / 10, np.ones(7), 3).tolist()
    [0.0, 0.3, 0.5, 1.0]
    """
    keep = weights > 0
    scores, weights = scores[keep], weights[keep]
    order = np.argsort(scores, kind="stable")
    units = weights[order] / weights.min()
    cumulative = np.cumsum(units)
    q, r = divmod(cumulative[-1], n_bins)
    k = np.arange(1, n_bins)
    levels = k * q + np.minimum(k, r)
    index = np.minimum(np.searchsorted(cumulative, levels, side="left"), len(order) - 1)
    return np.concatenate(([0.0], scores[order[index]], [1.0]))


def fit_histogram(scores, targets, weights, n_bins, strategy):
    """Fit one histogram binning: edges, and the label frequency of each bin.

    The kernel of :class:`HistogramBinning`, on the bin convention of
    :mod:`calibrate.binning`: bin ``k`` is ``(e_k, e_{k+1}]`` with the first
    bin also holding 0, equal-width edges are exactly ``k / n_bins``, and
    equal-mass edges come from :func:`equal_mass_edges`.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Probabilities in [0, 1].
    targets : ndarray of shape (n,)
        0/1 outcomes.
    weights : ndarray of shape (n,)
        Non-negative weights with a positive sum.
    n_bins : int
        Number of bins.
    strategy : {"quantile", "uniform"}
        Equal-mass or equal-width edges.

    Returns
    -------
    edges : ndarray of shape (n_bins + 1,)
    values : ndarray of shape (n_bins,)
        Weighted frequency of ``targets == 1`` in each bin (0 in an empty bin).
    bin_weights : ndarray of shape (n_bins,)
        Total weight in each bin.

    Examples
    --------
    >>> edges, values, w = fit_histogram(np.array([0.1, 0.2, 0.7, 0.8]),
    ...                                  np.array([0.0, 1.0, 1.0, 1.0]),
    ...                                  np.ones(4), 2, "quantile")
    >>> edges.tolist(), values.tolist(), w.tolist()
    ([0.0, 0.2, 1.0], [0.5, 1.0], [2.0, 2.0])
    """
    if strategy == "quantile":
        edges = equal_mass_edges(scores, weights, n_bins)
    else:
        edges = uniform_edges(n_bins)
    index = _bin_index(scores, edges)
    bin_weights = np.bincount(index, weights=weights, minlength=n_bins)
    hits = np.bincount(index, weights=weights * targets, minlength=n_bins)
    values = np.divide(hits, bin_weights, out=np.zeros(n_bins), where=bin_weights > 0)
    return edges, values, bin_weights


class HistogramBinning(BaseCalibrator):
    """Histogram binning: each probability replaced by its bin's label frequency.

    A piecewise-constant map (Zadrozny and Elkan 2001): the scores are cut
    into ``n_bins`` bins, equal-mass by default, and the calibrated value of a
    bin is the weighted frequency of the positive label among the calibration
    rows that fall in it.

    * binary and multilabel scores: one binning per column;
    * multiclass scores, by the reductions of Gupta and Ramdas (2022),
      chosen with ``reduction``:

      - ``"top_label"``: one binning of the top-class confidence for each
        predicted class, fitted on the rows predicted that class with target
        "the prediction is right".  The predicted class keeps its place; its
        probability is replaced by the bin's accuracy and the other classes
        are rescaled to fill the rest of the row (shared equally when the
        model gave them nothing).
      - ``"classwise"``: one binning of each class probability on ``y == k``,
        then each row divided by its sum (their N-HB; a row whose values are
        all 0 gets the uniform distribution).  The un-normalised values, the
        ones to score classwise calibration on, come from
        :meth:`predict_classwise_proba`.
      - ``"confidence"``: one binning of the top-class confidence over all
        rows; the row is then completed as for ``"top_label"``.

    A bin with no calibration point, and every bin of a predicted class with
    fewer calibration points than its bins need (``n_bins``, or
    ``points_per_bin``), keep the uncalibrated value; both are counted in one
    :class:`CalibrationWarning`.  The map is fitted on probabilities whatever
    ``input_type`` is, so logits and the probabilities they stand for give
    the same output.

    Parameters
    ----------
    n_bins : int, default=15
        Bins per binned quantity.
    points_per_bin : int or None, default=None
        If given, overrides ``n_bins``: each binned quantity gets
        ``floor(n / points_per_bin)`` bins, ``n`` its number of calibration
        rows (Gupta and Ramdas' rule).
    strategy : {"quantile", "uniform"}, default="quantile"
        Equal-mass or equal-width bins.
    reduction : {"top_label", "classwise", "confidence"}, default="top_label"
        Multiclass reduction (ignored for binary and multilabel scores).
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.

    Attributes
    ----------
    edges_ : ndarray of shape (n_groups, n_bins + 1)
        Bin edges of each binned quantity: one row per column (binary,
        multilabel, classwise), per predicted class (top-label) or a single
        row (confidence).  With ``points_per_bin`` the rows are padded with
        edges at 1, whose bins are never reached.
    bin_values_ : ndarray of shape (n_groups, n_bins)
        Calibrated value of each bin.
    bin_weights_ : ndarray of shape (n_groups, n_bins)
        Normalised calibration weight in each bin (0: the bin keeps the
        uncalibrated value).
    calibrated_ : ndarray of bool of shape (n_groups,)
        Whether the binned quantity had enough calibration rows (read from
        ``bin_weights_``: a quantity left uncalibrated has no weight).
    classes_, task_, n_features_in_, n_iter_
        As for every calibrator (``n_iter_`` is 1: the fit is direct).

    References
    ----------
    B. Zadrozny and C. Elkan, "Obtaining calibrated probability estimates from
    decision trees and naive Bayesian classifiers", ICML 2001.
    C. Gupta and A. Ramdas, "Top-label calibration and multiclass-to-binary
    reductions", ICLR 2022.

    Examples
    --------
    >>> from calibrate import HistogramBinning
    >>> cal = HistogramBinning(n_bins=2, input_type="probs")
    >>> cal = cal.fit([0.1, 0.2, 0.7, 0.8], [0, 1, 1, 1])
    >>> cal.predict_proba([0.15, 0.9])[:, 1].tolist()
    [0.5, 1.0]
    >>> cal.bin_index([0.15, 0.9]).tolist()
    [0, 1]
    """

    _help = (
        "histogram binning: each probability replaced by its equal-mass bin's "
        "label frequency (top-label, classwise or confidence for multiclass)"
    )
    _fitted_parameters = ("edges_", "bin_values_", "bin_weights_")
    # The fit is direct: no iteration budget to check.
    _scalar_parameters = ()

    def __init__(
        self,
        *,
        n_bins=15,
        points_per_bin=None,
        strategy="quantile",
        reduction="top_label",
        input_type="logits",
    ):
        self.n_bins = n_bins
        self.points_per_bin = points_per_bin
        self.strategy = strategy
        self.reduction = reduction
        self.input_type = input_type

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        check_binning(self.n_bins, self.strategy)
        ppb = self.points_per_bin
        if ppb is not None and (
            isinstance(ppb, (bool, np.bool_))
            or not isinstance(ppb, numbers.Integral)
            or ppb < 1
        ):
            raise ValueError(
                f"points_per_bin must be None or an integer >= 1; got {ppb!r}."
            )
        if not isinstance(self.reduction, str) or self.reduction not in REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {REDUCTIONS}; got {self.reduction!r}."
            )

    # ---------------------------------------------------------------- fitting
    def _mode(self):
        return self.reduction if self.task_ == "multiclass" else "columns"

    def _groups(self, P, y):
        """(scores, targets, rows) of each binned quantity."""
        mode, k = self._mode(), P.shape[1]
        if mode in ("columns", "classwise"):
            Y = (
                (y[:, None] == np.arange(k))
                if mode == "classwise"
                else y.reshape(-1, k)
            )
            return [(P[:, j], Y[:, j].astype(np.float64), None) for j in range(k)]
        top = np.argmax(P, axis=1)
        conf = P[np.arange(len(P)), top]
        right = (top == y).astype(np.float64)
        if mode == "confidence":
            return [(conf, right, None)]
        # One stable sort groups the rows by predicted class.
        order = np.argsort(top, kind="stable")
        bounds = np.searchsorted(top[order], np.arange(k + 1))
        groups = []
        for c in range(k):
            rows = order[bounds[c] : bounds[c + 1]]
            groups.append((conf[rows], right[rows], rows))
        return groups

    def _bins_for(self, n_points):
        if self.points_per_bin is None:
            return self.n_bins if n_points >= self.n_bins else 0
        return n_points // self.points_per_bin

    def _fit(self, Z, y, w):
        P = score_probabilities(Z.astype(np.float64), self.task_)
        groups = self._groups(P, y)
        counts = [
            int(np.count_nonzero((w if rows is None else w[rows]) > 0))
            for _, _, rows in groups
        ]
        n_bins = [self._bins_for(c) for c in counts]
        if self._mode() != "top_label" and min(n_bins) == 0:
            need = self.n_bins if self.points_per_bin is None else self.points_per_bin
            raise ValueError(
                f"HistogramBinning: too few calibration rows for the bins asked: "
                f"n_samples={min(counts)} of positive weight, at least {need} "
                "needed."
            )
        width = max(max(n_bins), 1)
        g = len(groups)
        edges = np.ones((g, width + 1))
        edges[:, 0] = 0.0
        values = np.zeros((g, width))
        weights = np.zeros((g, width))
        for i, ((s, t, rows), b) in enumerate(zip(groups, n_bins, strict=True)):
            if b == 0:
                continue
            wi = w if rows is None else w[rows]
            e, v, bw = fit_histogram(s, t, wi, b, self.strategy)
            edges[i, : b + 1], values[i, :b], weights[i, :b] = e, v, bw
        self.edges_, self.bin_values_, self.bin_weights_ = edges, values, weights
        self.n_iter_ = 1
        self._warn_uncalibrated(counts, n_bins)

    def _warn_uncalibrated(self, counts, n_bins):
        messages = []
        short = ~self.calibrated_
        if short.any():
            need = self.n_bins if self.points_per_bin is None else self.points_per_bin
            messages.append(
                f"{int(short.sum())} predicted classes "
                f"({np.flatnonzero(short)[:10].tolist()}) have fewer than {need} "
                "calibration points and keep their uncalibrated confidence"
            )
        empty = int(
            sum(
                np.count_nonzero(self.bin_weights_[i, :b] <= 0)
                for i, b in enumerate(n_bins)
            )
        )
        if empty:
            messages.append(
                f"{empty} bins hold no calibration point (equal scores share a "
                "bin) and keep the uncalibrated value"
            )
        if messages:
            warnings.warn(
                f"HistogramBinning: {'; '.join(messages)}.",
                CalibrationWarning,
                stacklevel=4,
            )

    @property
    def calibrated_(self):
        """Boolean mask of the binned quantities that were fitted."""
        return self.bin_weights_.sum(axis=1) > 0

    def _parameter_shapes(self):
        k = self.n_features_in_
        groups = 1 if self._mode() == "confidence" else k
        width = self.n_bins if self.points_per_bin is None else None
        return {
            "edges_": (groups, None if width is None else width + 1),
            "bin_values_": (groups, width),
            "bin_weights_": (groups, width),
        }

    # ------------------------------------------------------------- prediction
    def _column_bins(self, P):
        """Bin index and calibrated value of each column (column modes)."""
        index = np.empty(P.shape, dtype=np.int64)
        Q = np.empty(P.shape)
        for j in range(P.shape[1]):
            index[:, j] = _bin_index(P[:, j], self.edges_[j])
            Q[:, j] = self._value(j, index[:, j], P[:, j])
        return index, Q

    def _value(self, group, index, scores):
        if np.ndim(group) == 0 and not self.calibrated_[group]:
            return scores
        filled = self.bin_weights_[group, index] > 0
        ok = filled & self.calibrated_[group]
        return np.where(ok, self.bin_values_[group, index], scores)

    def _top_bins(self, P):
        """Predicted class, its confidence, bin index and calibrated value."""
        top = np.argmax(P, axis=1)
        conf = P[np.arange(len(P)), top]
        group = top if self._mode() == "top_label" else np.zeros_like(top)
        inner = self.edges_[group, 1:-1]
        index = np.count_nonzero(inner < conf[:, None], axis=1)
        return top, conf, index, self._value(group, index, conf)

    def _calibrated_log_proba(self, Zc):
        mode = self._mode()
        P = score_probabilities(Zc, self.task_)
        with np.errstate(divide="ignore"):
            if mode in ("columns", "classwise"):
                Q = self._column_bins(P)[1]
                if mode == "columns":
                    return np.log(Q)
                total = Q.sum(axis=1, keepdims=True)
                empty = total[:, 0] <= 0
                Q[empty], total[empty] = 1.0, Q.shape[1]
                return np.log(Q) - np.log(total)
            top, _, _, value = self._top_bins(P)
            L = log_softmax(Zc, axis=1)
            rows = np.arange(len(L))
            new_top = np.log(value)
            new_rest = log1mexp(new_top)
            # The other classes keep their ratios and fill 1 - new confidence:
            # log p_j - log(sum of the others) <= 0 holds exactly in floating
            # point (the sum is taken from its largest term up).  When the
            # model gave them nothing, the rest is shared equally.
            others = L.copy()
            others[rows, top] = -np.inf
            rest = logsumexp(others, axis=1)
            saturated = np.isneginf(rest)
            out = others - np.where(saturated, 0.0, rest)[:, None] + new_rest[:, None]
            if saturated.any():
                share = new_rest[saturated] - np.log(L.shape[1] - 1)
                out[saturated] = share[:, None]
            out[rows, top] = new_top
            return out

    def predict_classwise_proba(self, X):
        """Return the un-normalised classwise calibrated probabilities.

        For ``reduction="classwise"``: column ``k`` is the binned value of the
        class-``k`` probability, before rows are normalised; these are the
        values to score classwise calibration on (Gupta and Ramdas' CW-HB).
        For binary and multilabel scores, the calibrated probability of each
        column.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says.

        Returns
        -------
        ndarray of shape (n_samples, n_columns)
        """
        self._require_columns("predict_classwise_proba")
        Z, _ = self._validate_predict_data(X)
        return self._column_bins(score_probabilities(Z.astype(np.float64), self.task_))[
            1
        ]

    def _require_columns(self, method):
        if self._mode() not in ("columns", "classwise"):
            raise ValueError(
                f"HistogramBinning.{method} needs per-class bins; this one was "
                f"fitted with reduction={self.reduction!r}."
            )

    def bin_index(self, X):
        """Return the bin each row falls in, to score binned outputs per cell.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says.

        Returns
        -------
        ndarray of int64
            ``(n,)`` for binary scores and for the ``"top_label"`` (the bin
            within the row's predicted class) and ``"confidence"`` reductions;
            ``(n, K)`` for multilabel scores and for ``"classwise"``.
        """
        Z, _ = self._validate_predict_data(X)
        P = score_probabilities(Z.astype(np.float64), self.task_)
        if self._mode() in ("columns", "classwise"):
            index = self._column_bins(P)[0]
            return index[:, 0] if self.task_ == "binary" else index
        return self._top_bins(P)[2]
