"""Histogram binning, with the multiclass reductions of Gupta and Ramdas (2022)."""

import numbers
import warnings

import numpy as np
from scipy.special import expit, log_softmax, logsumexp

from calibrate._special import iter_chunks
from calibrate.binning import _bin_index, check_binning, uniform_edges
from calibrate.calibrators._base import BaseCalibrator, log1mexp
from calibrate.calibrators._probability import score_probabilities
from calibrate.exceptions import CalibrationWarning

__all__ = ["HistogramBinning", "equal_mass_edges", "fit_histogram"]

REDUCTIONS = ("top_label", "classwise", "confidence")

# The column modes form the probabilities of a block of columns for every row
# at once; the block is at most this many bytes of float64 (256 MiB) and an
# eighth of the input, a bounded working set whatever n and K are (one column
# when n alone exceeds it).  Wide
# blocks matter: each block re-reads the rows of the input, and a block of 32
# float32 columns uses two whole cache lines of every row it reads.
_BLOCK_BYTES = 2**28
# Values per chunk of rows (1 MiB of float64) when the row terms of the
# softmax are summed: small enough to stay in cache between its four steps.
_ROW_CHUNK_ELEMENTS = 2**17
# Values per tile (128 KiB of float64): a tile of rows is read, transposed,
# turned into probabilities and copied into the block while it stays in the
# core's cache.
_TILE_ELEMENTS = 2**14


def _top_confidence(Zc):
    """Predicted class and its softmax probability, for a chunk of logits.

    The probability is ``1 / sum(exp(z - z_top))`` in float64, bit for bit
    what ``scipy.special.softmax`` gives at the row maximum, without forming
    the other probabilities; ``Zc`` (any float dtype) is left as it is.
    """
    top = np.argmax(Zc, axis=1)
    work = Zc.astype(np.float64)  # a copy, worked on in place
    peak = work[np.arange(len(work)), top]
    np.subtract(work, peak[:, None], out=work)
    np.exp(work, out=work)
    return top, 1.0 / work.sum(axis=1)


def _top_confidence_all(Z):
    """:func:`_top_confidence` of every row of ``Z``, read chunk by chunk."""
    n = len(Z)
    top = np.empty(n, dtype=np.intp)
    conf = np.empty(n)
    for rows in iter_chunks(*Z.shape):
        top[rows], conf[rows] = _top_confidence(Z[rows])
    return top, conf


def _softmax_terms(Z):
    """Row maxima and ``sum(exp(z - max))`` of ``Z``, read chunk by chunk.

    Worked on in one float64 scratch of :data:`_ROW_CHUNK_ELEMENTS` that
    stays in cache, each row contiguous: the operations (and the pairwise
    row sums) of ``scipy.special.softmax``, bit for bit.
    """
    n, k = Z.shape
    row_max, row_sum = np.empty(n), np.empty(n)
    step = max(1, _ROW_CHUNK_ELEMENTS // max(k, 1))
    scratch = np.empty((min(step, n), k))
    for r0 in range(0, n, step):
        rows = slice(r0, min(r0 + step, n))
        work = scratch[: rows.stop - r0]
        np.copyto(work, Z[rows])
        m = work.max(axis=1, keepdims=True)
        row_max[rows] = m[:, 0]
        np.subtract(work, m, out=work)
        np.exp(work, out=work)
        row_sum[rows] = work.sum(axis=1)
    return row_max, row_sum


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


def _count_at_most_order_statistics(scores, ranks):
    """Order statistics of ``scores`` at ``ranks``, and how many scores are <= each.

    What ``ordered[ranks]`` and ``searchsorted(ordered, ordered[ranks],
    "right")`` give on ``ordered = np.sort(scores)``, from one partition at
    the ranks instead of the sort: after it each rank holds its order
    statistic, with no greater score before it and no smaller one after.
    The scores <= the statistic at rank ``i`` are then the positions up to
    the last rank ``J`` holding the same value, plus the scores equal to it
    in the gap after ``J`` (beyond the next rank every score is greater).

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Scores, not NaN.
    ranks : ndarray of int of shape (m,)
        Non-decreasing ranks in ``[0, n)``.

    Returns
    -------
    values : ndarray of shape (m,)
    at_most : ndarray of int of shape (m,)

    Examples
    --------
    >>> v, c = _count_at_most_order_statistics(np.array([3.0, 1, 2, 2, 0]), [1, 2])
    >>> v.tolist(), c.tolist()
    ([1.0, 2.0], [2, 4])
    """
    ranks = np.asarray(ranks, dtype=np.intp)
    if len(ranks) == 0:
        return np.empty(0), np.empty(0, dtype=np.intp)
    n = len(scores)
    part = np.partition(scores, ranks)
    values = part[ranks]
    last = np.searchsorted(values, values, side="right") - 1
    # Most gaps hold no score equal to the statistic before them (their least
    # score is greater): one reduction over the gaps says so.
    start, stop = ranks + 1, np.append(ranks[1:], n)
    open_ = stop > start
    least = np.minimum.reduceat(part, start[open_]) if open_.any() else values[:0]
    if not np.any(least == values[open_]):
        return values, ranks[last] + 1
    # Each position after the first rank, against the statistic of the rank
    # at or before it; equal[g]: the scores equal to the statistic of rank g
    # in the gap up to the next rank (the next rank itself included: it
    # matters only when its value is the same, and then gap g is not used).
    stop = np.append(ranks, n - 1)
    tail = part[ranks[0] + 1 :] == np.repeat(values, np.diff(stop))
    seen = np.concatenate(([0], np.cumsum(tail)))
    equal = seen[stop[1:] - ranks[0]] - seen[ranks - ranks[0]]
    return values, ranks[last] + 1 + equal[last]


def fit_histogram(
    scores, targets, weights, n_bins, strategy, *, positives=None, equal_weights=None
):
    """Fit one histogram binning: edges, and the label frequency of each bin.

    The kernel of :class:`HistogramBinning`, on the bin convention of
    :mod:`calibrate.binning`: bin ``k`` is ``(e_k, e_{k+1}]`` with the first
    bin also holding 0, equal-width edges are exactly ``k / n_bins``, and
    equal-mass edges come from :func:`equal_mass_edges`.  With equal
    weights and equal-mass bins (the usual case) the work is one sort of the
    scores and a pass over the rows whose target is 1: the bins are runs of
    the sorted scores, counted by bisection.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Probabilities in [0, 1].
    targets : ndarray of shape (n,) or None
        0/1 outcomes; None when ``positives`` gives them.
    weights : ndarray of shape (n,)
        Non-negative weights with a positive sum.
    n_bins : int
        Number of bins.
    strategy : {"quantile", "uniform"}
        Equal-mass or equal-width edges.
    positives : ndarray of int, default=None
        Indices of the rows whose target is 1 (instead of ``targets``).
    equal_weights : bool, default=None
        Whether all weights are equal and positive, when the caller knows it
        (None: read from ``weights``).

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
    if positives is None:
        positives = np.flatnonzero(targets)
    w0 = weights[0] if len(weights) else 0.0
    if equal_weights is None:
        equal_weights = w0 > 0 and weights.min() == weights.max()
    if strategy == "quantile" and equal_weights:
        # Equal weights: the groups of equal_mass_edges are runs of the sorted
        # scores, so the edges are order statistics and every bin is counted
        # at its edges.
        n = len(scores)
        q, r = divmod(n, n_bins)
        k = np.arange(1, n_bins)
        last = np.minimum(k * q + np.minimum(k, r), n) - 1
        inner, below = _count_at_most_order_statistics(scores, last)
        edges = np.concatenate(([0.0], inner, [1.0]))
        counts = np.diff(np.concatenate(([0], below, [n])))
        bin_weights = counts * w0
        hits = np.bincount(
            _bin_index(scores[positives], edges), minlength=n_bins
        ).astype(np.float64)
        values = np.divide(hits, counts, out=np.zeros(n_bins), where=counts > 0)
        return edges, values, bin_weights
    if targets is None:
        targets = np.zeros(len(scores))
        targets[positives] = 1.0
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

    def _top_groups(self, Z, y, w):
        """(scores, targets, weights, None) of each top-label binned quantity.

        One chunked pass over ``Z`` gives the predicted class and its
        confidence; one stable sort by predicted class groups the rows.
        """
        top, conf = _top_confidence_all(Z)
        right = (top == y).astype(np.float64)
        if self._mode() == "confidence":
            return [(conf, right, w, None)]
        k = Z.shape[1]
        order = np.argsort(top, kind="stable")
        bounds = np.searchsorted(top[order], np.arange(k + 1))
        groups = []
        for c in range(k):
            rows = order[bounds[c] : bounds[c + 1]]
            groups.append((conf[rows], right[rows], w[rows], None))
        return groups

    def _column_groups(self, Z, y, w):
        """Yield (scores, None, weights, positives) of each column, in blocks.

        The probabilities of a block of columns for every row are formed in
        one ``(block, n)`` float64 buffer of at most :data:`_BLOCK_BYTES`
        and an eighth of ``Z`` (one row of the buffer per column, contiguous
        for the selection of its edges), so the fit never holds ``n x K``
        float64 values (the buffer is reused: a yielded column is valid until
        the next is asked for).  Multiclass columns are ``exp(z - max) /
        sum``, the very operations of ``scipy.special.softmax`` that
        prediction applies, so a calibration row always falls in the same
        bin when it is predicted.
        """
        n, k = Z.shape
        multiclass = self._mode() == "classwise"
        if multiclass:
            row_max, row_sum = _softmax_terms(Z)
            # The rows of each class, from one stable sort of the labels.
            by_label = np.argsort(y, kind="stable")
            bounds = np.searchsorted(y[by_label], np.arange(k + 1))
        else:
            Y = y.reshape(-1, k)
        # At most an eighth of the input's own size, so small inputs stay
        # small too.
        budget = min(_BLOCK_BYTES, Z.nbytes // 8)
        block = int(max(1, min(k, budget // (8 * max(n, 1)))))
        # One buffer for every block: a yielded column is fitted before the
        # next is asked for.
        whole = np.empty((block, n))
        step = max(1, _TILE_ELEMENTS // block)
        scratch = np.empty((block, step))
        for j0 in range(0, k, block):
            j1 = min(j0 + block, k)
            # Each tile of rows is transposed in its own dtype (float32 then
            # converts exactly) and normalised in a scratch tile: the very
            # operations of softmax (or expit) on a contiguous array, as in
            # prediction.
            for r0 in range(0, n, step):
                rows = slice(r0, min(r0 + step, n))
                tile = np.ascontiguousarray(Z[rows, j0:j1].T)
                out = scratch[: j1 - j0, : rows.stop - r0]
                if multiclass:
                    np.subtract(tile, row_max[None, rows], out=out)
                    np.exp(out, out=out)
                    np.divide(out, row_sum[None, rows], out=out)
                else:
                    # Converted first: expit of a float32 tile would run in
                    # float32.
                    np.copyto(out, tile)
                    expit(out, out=out)
                whole[: j1 - j0, rows] = out
            for j in range(j0, j1):
                if multiclass:
                    positives = by_label[bounds[j] : bounds[j + 1]]
                else:
                    positives = np.flatnonzero(Y[:, j])
                yield whole[j - j0], None, w, positives

    def _bins_for(self, n_points):
        if self.points_per_bin is None:
            return self.n_bins if n_points >= self.n_bins else 0
        return n_points // self.points_per_bin

    def _fit(self, Z, y, w):
        # Z is read chunk by chunk in its own dtype (never converted whole):
        # the top-label modes keep three length-n arrays, the column modes a
        # block of columns at a time (see _column_groups).
        k = Z.shape[1]
        if self._mode() in ("columns", "classwise"):
            n_points = int(np.count_nonzero(w > 0))
            groups = self._column_groups(Z, y, w)
            counts = [n_points] * k
        else:
            groups = self._top_groups(Z, y, w)
            counts = [int(np.count_nonzero(wi > 0)) for _, _, wi, _ in groups]
        n_bins = [self._bins_for(c) for c in counts]
        if self._mode() != "top_label" and min(n_bins) == 0:
            need = self.n_bins if self.points_per_bin is None else self.points_per_bin
            raise ValueError(
                f"HistogramBinning: too few calibration rows for the bins asked: "
                f"n_samples={min(counts)} of positive weight, at least {need} "
                "needed."
            )
        width = max(max(n_bins), 1)
        g = len(counts)
        edges = np.ones((g, width + 1))
        edges[:, 0] = 0.0
        values = np.zeros((g, width))
        weights = np.zeros((g, width))
        # The column modes bin every column on the same weights: whether they
        # are all equal is read once.
        equal = None
        if self._mode() in ("columns", "classwise"):
            equal = bool(w.min() == w.max())
        for i, ((s, t, wi, pos), b) in enumerate(zip(groups, n_bins, strict=True)):
            if b == 0:
                continue
            e, v, bw = fit_histogram(
                s, t, wi, b, self.strategy, positives=pos, equal_weights=equal
            )
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

    def _top_bins(self, Zc):
        """Predicted class, its confidence, bin index and calibrated value."""
        top, conf = _top_confidence(Zc)
        group = top if self._mode() == "top_label" else np.zeros_like(top)
        inner = self.edges_[group, 1:-1]
        index = np.count_nonzero(inner < conf[:, None], axis=1)
        return top, conf, index, self._value(group, index, conf)

    def _calibrated_log_proba(self, Zc):
        mode = self._mode()
        with np.errstate(divide="ignore"):
            if mode in ("columns", "classwise"):
                Q = self._column_bins(score_probabilities(Zc, self.task_))[1]
                if mode == "columns":
                    return np.log(Q)
                total = Q.sum(axis=1, keepdims=True)
                empty = total[:, 0] <= 0
                Q[empty], total[empty] = 1.0, Q.shape[1]
                return np.log(Q) - np.log(total)
            top, _, _, value = self._top_bins(Zc)
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
        out = np.empty(Z.shape)
        for rows in iter_chunks(*Z.shape):
            P = score_probabilities(Z[rows].astype(np.float64), self.task_)
            out[rows] = self._column_bins(P)[1]
        return out

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
        columns = self._mode() in ("columns", "classwise")
        index = np.empty(Z.shape if columns else len(Z), dtype=np.int64)
        for rows in iter_chunks(*Z.shape):
            Zc = Z[rows].astype(np.float64)
            if columns:
                index[rows] = self._column_bins(score_probabilities(Zc, self.task_))[0]
            else:
                index[rows] = self._top_bins(Zc)[2]
        if columns and self.task_ == "binary":
            return index[:, 0]
        return index
