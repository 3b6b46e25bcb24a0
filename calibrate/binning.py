"""Binning: the only code in calibrate that puts scores into bins.

Every binned number in the package (the ECE family in :mod:`calibrate.metrics`,
the reliability diagrams, the report) reads a :class:`BinStats` built here, so a
diagram and the ECE printed in its legend cannot disagree.

The bin convention is binding (``DESIGN.md`` section 4):

* uniform edges are ``np.arange(n_bins + 1) / n_bins``, computed exactly (not
  ``linspace``, whose rounding differs in the last bit for some ``n_bins``);
* bins are right-closed, ``(e_k, e_{k+1}]``, and the first bin also holds its
  lower edge, so a score of exactly 0 is in the first bin, 1 in the last, and
  0.3 with ten bins in ``(0.2, 0.3]``.

This is the convention of Guo et al. (2017), Mukhoti et al. (2020) and Kull et
al. (2019), and that of ``sklearn.calibration.calibration_curve`` except at the
few edges where its ``linspace`` is one ulp above ``k / n_bins``.
"""

import numbers
from dataclasses import dataclass

import numpy as np

from calibrate._special import iter_chunks
from calibrate._validation import as_numeric_array, check_sample_weight

__all__ = [
    "INTERVAL_METHODS",
    "STRATEGIES",
    "BinStats",
    "bin_index",
    "bin_stats",
    "bin_stats_by_column",
    "bin_stats_by_group",
    "check_binning",
    "check_confidence_level",
    "merge_bin_stats",
    "uniform_edges",
]

STRATEGIES = ("uniform", "quantile")
INTERVAL_METHODS = ("wilson", "clopper-pearson")


@dataclass(frozen=True, eq=False)
class BinStats:
    """Per-bin statistics of scores and targets.

    Built by :func:`bin_stats`; every array is read-only.  A bin is *empty* when
    the total weight of its samples is 0; its means are then NaN.

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Bin edges, increasing from 0 to 1.  Bin ``k`` is
        ``(edges[k], edges[k + 1]]``; the first bin also holds ``edges[0]``.
    counts : ndarray of shape (n_bins,), dtype int64
        Number of samples in each bin (whatever their weight).
    weights : ndarray of shape (n_bins,)
        Total sample weight in each bin (equal to ``counts`` without weights).
    mean_score : ndarray of shape (n_bins,)
        Weighted mean score (confidence) in each bin; NaN for empty bins.
    mean_target : ndarray of shape (n_bins,)
        Weighted mean target (accuracy, for top-label targets); NaN for empty
        bins.
    strategy : {"uniform", "quantile"}
        How the edges were chosen.
    n_bins_requested : int
        The ``n_bins`` asked for.  With ``strategy="quantile"`` tied scores can
        make fewer bins; :attr:`n_bins` is the number actually used.
    effective_counts : ndarray of shape (n_bins,)
        Kish's effective sample size of each bin, ``sum(w)**2 / sum(w**2)``:
        equal to ``counts`` without weights (or with equal weights), unchanged
        when all weights are multiplied by a constant, 0 for empty bins.

    Examples
    --------
    >>> stats = bin_stats([0.1, 0.3, 0.35, 0.9], [0, 1, 0, 1], n_bins=2)
    >>> stats.n_bins, stats.counts.tolist(), stats.mean_target.tolist()
    (2, [3, 1], [0.3333333333333333, 1.0])
    """

    edges: np.ndarray
    counts: np.ndarray
    weights: np.ndarray
    mean_score: np.ndarray
    mean_target: np.ndarray
    strategy: str
    n_bins_requested: int
    effective_counts: np.ndarray

    def __post_init__(self):
        for name in (
            "edges",
            "counts",
            "weights",
            "effective_counts",
            "mean_score",
            "mean_target",
        ):
            getattr(self, name).flags.writeable = False

    @property
    def n_bins(self):
        """Number of bins actually used (the effective number of bins)."""
        return int(self.counts.shape[0])

    @property
    def nonempty(self):
        """Boolean mask of the bins with positive weight."""
        return self.weights > 0

    @property
    def n_nonempty(self):
        """Number of bins with positive weight."""
        return int(np.count_nonzero(self.nonempty))

    @property
    def total_weight(self):
        """Total sample weight over all bins."""
        return float(self.weights.sum())

    @property
    def fraction(self):
        """Share of the total weight in each bin (sums to 1)."""
        return self.weights / self.total_weight

    @property
    def gap(self):
        """``mean_target - mean_score`` per bin; NaN for empty bins."""
        return self.mean_target - self.mean_score

    def mean_target_interval(self, *, method="wilson", confidence_level=0.95):
        """Return a confidence interval for each bin's mean target (accuracy).

        The mean target of bin ``b`` is read as a binomial proportion of
        ``n_b`` trials with ``n_b * mean_target_b`` successes, where ``n_b`` is
        the bin's :attr:`effective_counts`: its number of samples without
        weights, and with weights Kish's effective sample size, so the
        interval does not change when the weights are rescaled (weights are
        read as importance weights; a weight of 2 is not two samples here).
        Soft targets and weights give fractional counts, which both formulas
        accept.

        Parameters
        ----------
        method : {"wilson", "clopper-pearson"}, default="wilson"
            ``"wilson"``: the Wilson score interval, which keeps its coverage
            close to nominal for small bins and proportions near 0 or 1 (where
            the normal "Wald" interval collapses to a point).
            ``"clopper-pearson"``: the exact interval from beta quantiles,
            conservative (coverage at least nominal).
        confidence_level : float, default=0.95
            Nominal coverage, in (0, 1).

        Returns
        -------
        low, high : ndarray of shape (n_bins,)
            Interval ends, within [0, 1]; NaN for empty bins.

        Examples
        --------
        Eight right out of ten in one bin (Wilson: 0.490 to 0.943):

        >>> stats = bin_stats([0.85] * 10, [1] * 8 + [0] * 2, n_bins=1)
        >>> low, high = stats.mean_target_interval()
        >>> round(float(low[0]), 3), round(float(high[0]), 3)
        (0.49, 0.943)
        """
        from scipy.stats import beta, norm

        if method not in INTERVAL_METHODS:
            raise ValueError(
                f"method must be one of {INTERVAL_METHODS}; got {method!r}."
            )
        check_confidence_level(confidence_level)
        alpha = 1.0 - float(confidence_level)
        low = np.full(self.n_bins, np.nan)
        high = np.full(self.n_bins, np.nan)
        filled = self.nonempty
        n = self.effective_counts[filled]
        p = self.mean_target[filled]
        if method == "wilson":
            z2 = norm.isf(alpha / 2.0) ** 2
            # Multiplied through by n, so that no term divides by a small n.
            centre = (n * p + z2 / 2.0) / (n + z2)
            half = np.sqrt(z2 * (n * p * (1.0 - p) + z2 / 4.0)) / (n + z2)
            lo, hi = centre - half, centre + half
        else:
            successes = p * n
            # beta.ppf is undefined at a shape of 0: no successes (or no
            # failures) puts that end of the interval exactly at 0 (or 1).
            with np.errstate(invalid="ignore"):
                lo = beta.ppf(alpha / 2.0, successes, n - successes + 1.0)
                hi = beta.isf(alpha / 2.0, successes + 1.0, n - successes)
            lo = np.where(successes > 0, lo, 0.0)
            hi = np.where(successes < n, hi, 1.0)
        # Mathematically 0 <= low <= p <= high <= 1; this only absorbs rounding
        # (at p = 0 or 1 the Wilson end is p itself, computed as a difference).
        low[filled] = np.clip(lo, 0.0, p)
        high[filled] = np.clip(hi, p, 1.0)
        return low, high

    def __repr__(self):
        return (
            f"BinStats(strategy={self.strategy!r}, n_bins={self.n_bins}, "
            f"n_nonempty={self.n_nonempty}, total_weight={self.total_weight:g})"
        )


def uniform_edges(n_bins):
    """Equal-width edges ``k / n_bins`` for ``k = 0 .. n_bins``, exactly rounded.

    Parameters
    ----------
    n_bins : int
        Number of bins, at least 1.

    Returns
    -------
    ndarray of shape (n_bins + 1,)

    Examples
    --------
    >>> uniform_edges(10)[3] == 0.3
    np.True_
    """
    # arange / n is the correctly rounded k / n for every k; linspace computes
    # k * (1 / n), one ulp high for some k (0.30000000000000004 for 3 of 10
    # bins), which would pull a confidence of 0.30000000000000004 (0.1 + 0.2)
    # down into (0.2, 0.3] instead of (0.3, 0.4].
    return np.arange(n_bins + 1) / n_bins


#: Largest ``n_bins`` accepted.  Per-bin statistics take a few arrays of
#: ``n_bins`` float64 each; a million bins (tens of MB) is far beyond any
#: useful diagram or ECE, while a typo such as 10**9 would exhaust memory.
MAX_N_BINS = 1_000_000


def check_binning(n_bins, strategy):
    """Validate ``n_bins`` and ``strategy``; raise ``ValueError`` naming the value.

    Parameters
    ----------
    n_bins : int
        Number of bins; an integer from 1 to :data:`MAX_N_BINS` (booleans
        are refused).
    strategy : {"uniform", "quantile"}
        Equal-width or equal-mass bins.

    Returns
    -------
    int
        ``n_bins`` as a Python int.

    Examples
    --------
    >>> check_binning(0, "uniform")
    Traceback (most recent call last):
        ...
    ValueError: n_bins must be an integer >= 1; got 0.
    """
    if (
        isinstance(n_bins, (bool, np.bool_))
        or not isinstance(n_bins, numbers.Integral)
        or n_bins < 1
    ):
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}.")
    if n_bins > MAX_N_BINS:
        raise ValueError(f"n_bins must be at most {MAX_N_BINS:,}; got {n_bins!r}.")
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}.")
    return int(n_bins)


def check_confidence_level(confidence_level):
    """Validate a confidence level; raise ``ValueError`` naming the value.

    Parameters
    ----------
    confidence_level : float
        Nominal coverage of an interval, strictly between 0 and 1 (booleans
        are refused).

    Examples
    --------
    >>> check_confidence_level(95)
    Traceback (most recent call last):
        ...
    ValueError: confidence_level must be a number in (0, 1); got 95.
    """
    if (
        not isinstance(confidence_level, numbers.Real)
        or isinstance(confidence_level, bool)
        or not 0.0 < confidence_level < 1.0
    ):
        raise ValueError(
            f"confidence_level must be a number in (0, 1); got {confidence_level!r}."
        )


def _check_unit_interval(values, name, shape=None):
    if np.asarray(values).dtype.kind == "b":  # correctness flags
        values = np.asarray(values, dtype=np.float64)
    values = as_numeric_array(values, name)
    if shape is not None and values.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {values.shape}.")
    outside = ~((values >= 0) & (values <= 1))  # NaN is outside too
    if outside.any():
        index = np.unravel_index(np.argmax(outside), values.shape)
        where = ", ".join(str(int(i)) for i in index)
        raise ValueError(
            f"{name} must lie in [0, 1]; {int(outside.sum())} values do not, "
            f"first at index ({where}): {values[index].item()!r}."
        )
    return values


def _quantile_edges(scores, weights, n_bins):
    """Raw equal-mass edges: 0, the weighted quantiles at k / n_bins, 1.

    The quantile at level q is the smallest score whose cumulative weight
    reaches q times the total (the "inverted CDF" rule): always a data value,
    never an interpolation, so integer weights give the same edges as repeated
    rows and zero-weight samples never become edges.
    """
    order = np.argsort(scores, kind="stable")
    cumulative = np.cumsum(weights[order])
    total = cumulative[-1]
    # Multiply before dividing so that k * n / n_bins is exact for whole weights.
    levels = np.arange(1, n_bins) * total / n_bins
    index = np.minimum(np.searchsorted(cumulative, levels, side="left"), len(order) - 1)
    return np.concatenate(([0.0], scores[order[index]], [1.0]))


def _bin_index(scores, edges):
    # The number of interior edges strictly below the score: bin k is
    # (e_k, e_{k+1}], and scores at or below e_1 (0 included) are in bin 0.
    return np.searchsorted(edges[1:-1], scores, side="left")


def bin_index(scores, edges):
    """Return the bin of each score under the package's bin convention.

    For code that aggregates per-bin sums itself, such as the report's
    bootstrap, which re-weights the same samples a thousand times: the bins
    are those :func:`bin_stats` uses, ``(e_k, e_{k+1}]`` with the first bin
    also holding ``e_0``.

    Parameters
    ----------
    scores : array_like
        Scores in [0, 1], of any shape.
    edges : array_like of shape (n_bins + 1,)
        Increasing edges from 0 to 1, such as :func:`uniform_edges` returns.

    Returns
    -------
    ndarray of int64, the shape of ``scores``
        The bin of each score, from 0 to ``n_bins - 1``.

    Raises
    ------
    ValueError
        If ``edges`` is not one-dimensional with at least two values,
        increasing from 0 to 1, or a score lies outside [0, 1].

    Examples
    --------
    >>> bin_index([0.0, 0.3, 0.31, 1.0], uniform_edges(10)).tolist()
    [0, 2, 3, 9]
    """
    edges = as_numeric_array(edges, "edges").astype(np.float64, copy=False)
    if (
        edges.ndim != 1
        or edges.shape[0] < 2
        or edges[0] != 0.0
        or edges[-1] != 1.0
        or np.any(np.diff(edges) < 0)
    ):
        raise ValueError(
            "edges must be a one-dimensional, non-decreasing array from 0 to 1 "
            f"with at least two values; got {edges!r}."
        )
    scores = _check_unit_interval(scores, "scores")
    return _bin_index(scores, edges).astype(np.int64, copy=False)


def _stats_from_sums(
    edges, counts, weights, effective, score_sums, target_sums, strategy, n_bins
):
    nonempty = weights > 0
    mean_score = np.full(weights.shape, np.nan)
    mean_target = np.full(weights.shape, np.nan)
    np.divide(score_sums, weights, out=mean_score, where=nonempty)
    np.divide(target_sums, weights, out=mean_target, where=nonempty)
    if strategy == "quantile":
        # A bin (e, e] with equal edges can hold nothing (bins are open on the
        # left) and is dropped; the first bin [e_0, e_1] is closed and kept.
        keep = np.concatenate(([True], edges[1:-1] < edges[2:]))
        edges = np.concatenate((edges[:1], edges[1:][keep]))
        counts, weights, effective = counts[keep], weights[keep], effective[keep]
        mean_score, mean_target = mean_score[keep], mean_target[keep]
    return BinStats(
        edges=edges,
        counts=counts.astype(np.int64),
        weights=weights,
        effective_counts=effective,
        mean_score=mean_score,
        mean_target=mean_target,
        strategy=strategy,
        n_bins_requested=n_bins,
    )


def _kish(sums, squared_sums):
    """``sum(u)**2 / sum(u**2)`` per bin, 0 where the bin is empty."""
    out = np.zeros(sums.shape)
    np.divide(sums * sums, squared_sums, out=out, where=squared_sums > 0)
    return out


def _effective_counts(index, weights, counts):
    """Kish's effective sample size per bin; the counts when weights are equal."""
    if np.all(weights == weights[0]):
        return np.where(weights[0] > 0, counts, 0).astype(np.float64)
    # Weights divided by their maximum, so that squaring neither overflows
    # nor underflows (the ratio does not depend on the scale).
    u = weights / weights.max()
    n_bins = counts.size
    return _kish(
        np.bincount(index, weights=u, minlength=n_bins),
        np.bincount(index, weights=u * u, minlength=n_bins),
    )


def _bin_column(scores, targets, weights, n_bins, strategy):
    """Bin one column of trusted scores and targets (float64, in [0, 1])."""
    if strategy == "uniform":
        edges = uniform_edges(n_bins)
    else:
        edges = _quantile_edges(scores, weights, n_bins)
    index = _bin_index(scores, edges)
    counts = np.bincount(index, minlength=n_bins)
    return _stats_from_sums(
        edges,
        counts,
        np.bincount(index, weights=weights, minlength=n_bins),
        _effective_counts(index, weights, counts),
        np.bincount(index, weights=weights * scores, minlength=n_bins),
        np.bincount(index, weights=weights * targets, minlength=n_bins),
        strategy,
        n_bins,
    )


def merge_bin_stats(parts):
    """Combine the bins of disjoint parts of a data set into the bins of the whole.

    With equal-width bins a sample's bin does not depend on the other samples,
    so a data set too large to hold at once can be binned chunk by chunk and
    the chunks' statistics merged: counts and weights add, the means are
    weight-averaged, and Kish's effective counts are recombined from each
    part's ``sum(w)`` and ``sum(w**2) = sum(w)**2 / effective``.  The result
    equals :func:`bin_stats` of the whole up to the rounding of the sums.

    Parameters
    ----------
    parts : iterable of BinStats, or of tuples of BinStats
        Statistics of disjoint parts, all with ``strategy="uniform"`` and the
        same edges.  (Equal-mass edges depend on all the scores, so they
        cannot be merged.)  Parts that are tuples (one ``BinStats`` per class,
        as :func:`bin_stats_by_column` and :func:`bin_stats_by_group` return)
        are merged position by position.

    Returns
    -------
    BinStats, or a tuple of the type of the first part

    Raises
    ------
    ValueError
        If ``parts`` is empty, or holds equal-mass bins or different edges.

    Examples
    --------
    >>> scores, targets = [0.1, 0.3, 0.35, 0.9], [0, 1, 0, 1]
    >>> merged = merge_bin_stats([bin_stats(scores[:2], targets[:2], n_bins=2),
    ...                           bin_stats(scores[2:], targets[2:], n_bins=2)])
    >>> whole = bin_stats(scores, targets, n_bins=2)
    >>> merged.counts.tolist() == whole.counts.tolist()
    True
    >>> bool(np.allclose(merged.mean_target, whole.mean_target))
    True
    """
    parts = list(parts)
    if not parts:
        raise ValueError("merge_bin_stats needs at least one BinStats.")
    first = parts[0]
    if not isinstance(first, BinStats):
        if len({len(part) for part in parts}) != 1:
            raise ValueError(
                "per-class parts must all hold the same number of BinStats; got "
                f"{sorted({len(part) for part in parts})}."
            )
        merged = (merge_bin_stats(column) for column in zip(*parts, strict=True))
        return type(first)(merged)
    for part in parts:
        if part.strategy != "uniform" or not np.array_equal(part.edges, first.edges):
            raise ValueError(
                "only equal-width bins with the same edges can be merged; got "
                f"strategy={part.strategy!r} with {part.n_bins} bins against "
                f"strategy={first.strategy!r} with {first.n_bins}."
            )
    counts = np.sum([p.counts for p in parts], axis=0)
    weights = np.sum([p.weights for p in parts], axis=0)
    score_sums = np.sum(
        [np.where(p.nonempty, p.mean_score * p.weights, 0.0) for p in parts], axis=0
    )
    target_sums = np.sum(
        [np.where(p.nonempty, p.mean_target * p.weights, 0.0) for p in parts],
        axis=0,
    )
    if all(
        np.array_equal(p.weights, p.counts)
        and np.array_equal(p.effective_counts, p.counts)
        for p in parts
    ):
        # Every sample of every part weighs 1: the effective counts are the
        # counts.  (Equal weights within each part are not enough: parts of
        # weight 1 and 3 give a bin of unequal weights.)
        effective = counts.astype(np.float64)
    else:
        # Rescale each part's weights by the overall maximum weight sum before
        # squaring, so that neither overflows nor underflows.
        scale = max(float(p.weights.max()) for p in parts) or 1.0
        squared = np.sum(
            [_kish(p.weights / scale, p.effective_counts * 1.0) for p in parts],
            axis=0,
        )
        effective = _kish(weights / scale, squared)
    return _stats_from_sums(
        first.edges,
        counts,
        weights,
        effective,
        score_sums,
        target_sums,
        "uniform",
        first.n_bins_requested,
    )


def bin_stats(scores, targets, *, n_bins=15, strategy="uniform", sample_weight=None):
    """Bin scores and average scores and targets per bin.

    Works from scores and 0/1 targets alone: a user with only top-1
    confidences and correctness can use it directly.

    Parameters
    ----------
    scores : array_like of shape (n_samples,)
        Predicted probabilities of the event (the top-label confidence, or the
        probability of one class), in [0, 1].
    targets : array_like of shape (n_samples,)
        Outcomes in [0, 1] (or booleans): 1 if the event happened (the
        prediction was correct), else 0.  Probabilities of the outcome are
        accepted too; the bin means are then expected frequencies.
    n_bins : int, default=15
        Number of bins requested.
    strategy : {"uniform", "quantile"}, default="uniform"
        ``"uniform"``: equal-width bins with edges ``k / n_bins``; empty bins
        are kept (with NaN means), so there are always ``n_bins``.
        ``"quantile"``: equal-mass ("adaptive") bins.  The inner edges are the
        weighted quantiles of the scores at ``k / n_bins`` by the inverted-CDF
        rule (the smallest score whose cumulative weight reaches that share:
        a data value, so integer weights act as repeated rows), the outer
        edges are 0 and 1.  Tied scores make equal edges; a bin between two
        equal edges can hold nothing and is dropped, so :attr:`BinStats.n_bins`
        (the effective number) can be below ``n_bins``.  Scores equal to an
        edge stay in the bin that edge closes.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights; None means equal weights.

    Returns
    -------
    BinStats

    Raises
    ------
    TypeError
        If ``scores`` or ``targets`` hold strings or objects.
    ValueError
        If ``scores`` or ``targets`` are empty, not one-dimensional, of
        different lengths, or outside [0, 1] (NaN included); if ``n_bins`` is
        not an integer >= 1 or ``strategy`` is unknown; if ``sample_weight``
        is invalid.

    Examples
    --------
    With ten bins 0.3 lies in (0.2, 0.3], 0.0 in the first bin and 1.0 in the
    last:

    >>> stats = bin_stats([0.0, 0.3, 0.31, 1.0], [0, 1, 1, 1], n_bins=10)
    >>> stats.counts.tolist()
    [1, 0, 1, 1, 0, 0, 0, 0, 0, 1]
    >>> stats.mean_score[[0, 2, 3, 9]].tolist()
    [0.0, 0.3, 0.31, 1.0]

    Equal-mass bins with tied scores: the edges collapse and fewer bins remain.

    >>> stats = bin_stats([0.9] * 6 + [0.2, 0.4], [1] * 8, n_bins=4,
    ...                   strategy="quantile")
    >>> stats.edges.tolist(), stats.counts.tolist()
    ([0.0, 0.4, 0.9, 1.0], [2, 6, 0])
    """
    n_bins = check_binning(n_bins, strategy)
    scores = _check_unit_interval(scores, "scores")
    if scores.ndim != 1:
        raise ValueError(f"scores must be one-dimensional; got shape {scores.shape}.")
    if scores.shape[0] == 0:
        raise ValueError("scores is empty; need at least one sample.")
    targets = _check_unit_interval(targets, "targets", shape=scores.shape)
    weights = check_sample_weight(sample_weight, scores.shape[0], rescale=False)
    return _bin_column(
        scores.astype(np.float64, copy=False),
        targets.astype(np.float64, copy=False),
        weights,
        n_bins,
        strategy,
    )


def bin_stats_by_column(
    scores, targets, *, n_bins=15, strategy="uniform", sample_weight=None
):
    """Bin every column of a score matrix on its own, as :func:`bin_stats` does.

    The classwise ("marginal") reduction: column ``k`` holds the probability of
    class ``k`` and its 0/1 target.  With ``strategy="uniform"`` all columns
    share the edges and are binned in one vectorised pass over row chunks; with
    ``"quantile"`` each column gets its own edges (one sort per column).

    Parameters
    ----------
    scores : array_like of shape (n_samples, n_columns)
        Probabilities in [0, 1].
    targets : array_like of shape (n_samples, n_columns)
        Outcomes in [0, 1].
    n_bins : int, default=15
        Number of bins requested per column.
    strategy : {"uniform", "quantile"}, default="uniform"
        As in :func:`bin_stats`.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights of the rows; None means equal weights.

    Returns
    -------
    tuple of BinStats
        One per column, identical to ``bin_stats(scores[:, k], targets[:, k])``.

    Examples
    --------
    >>> per_class = bin_stats_by_column([[0.8, 0.2], [0.4, 0.6]], [[1, 0], [0, 1]],
    ...                                 n_bins=2)
    >>> [s.counts.tolist() for s in per_class]
    [[1, 1], [1, 1]]
    """
    n_bins = check_binning(n_bins, strategy)
    scores = _check_unit_interval(scores, "scores")
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(
            "scores must be a non-empty two-dimensional array; got shape "
            f"{scores.shape}."
        )
    targets = _check_unit_interval(targets, "targets", shape=scores.shape)
    weights = check_sample_weight(sample_weight, scores.shape[0], rescale=False)
    return _bin_columns(scores, targets, weights, n_bins, strategy)


def _bin_columns(scores, targets, weights, n_bins, strategy):
    """:func:`bin_stats_by_column` on trusted input."""
    n_samples, n_columns = scores.shape
    if strategy == "quantile":
        return tuple(
            _bin_column(
                scores[:, k].astype(np.float64),
                targets[:, k].astype(np.float64),
                weights,
                n_bins,
                strategy,
            )
            for k in range(n_columns)
        )
    edges = uniform_edges(n_bins)
    size = n_columns * n_bins
    counts = np.zeros(size)
    sums = np.zeros((5, size))
    equal_weights = bool(np.all(weights == weights[0]))
    scale = weights.max()  # as in _effective_counts
    offsets = np.arange(n_columns) * n_bins
    for rows in iter_chunks(n_samples, n_columns):
        s = np.asarray(scores[rows], dtype=np.float64)
        w = np.broadcast_to(weights[rows, None], s.shape).ravel()
        flat = (_bin_index(s, edges) + offsets).ravel()
        counts += np.bincount(flat, minlength=size)
        sums[0] += np.bincount(flat, weights=w, minlength=size)
        sums[1] += np.bincount(flat, weights=(w * s.ravel()), minlength=size)
        t = np.asarray(targets[rows], dtype=np.float64).ravel()
        sums[2] += np.bincount(flat, weights=w * t, minlength=size)
        if not equal_weights:
            u = w / scale
            sums[3] += np.bincount(flat, weights=u, minlength=size)
            sums[4] += np.bincount(flat, weights=u * u, minlength=size)
    if equal_weights:
        effective = np.where(weights[0] > 0, counts, 0.0)
    else:
        effective = _kish(sums[3], sums[4])
    shape = (n_columns, n_bins)
    counts = counts.reshape(shape)
    effective = effective.reshape(shape)
    sums = sums.reshape((5, *shape))
    return tuple(
        _stats_from_sums(
            edges.copy(),
            counts[k],
            sums[0, k],
            effective[k],
            sums[1, k],
            sums[2, k],
            strategy,
            n_bins,
        )
        for k in range(n_columns)
    )


def bin_stats_by_group(
    scores,
    targets,
    groups,
    n_groups,
    *,
    n_bins=15,
    strategy="uniform",
    sample_weight=None,
):
    """Bin the scores of each group of rows on its own, as :func:`bin_stats` does.

    The top-label reduction conditioned on the predicted class (Gupta and
    Ramdas 2022): ``groups`` is the predicted class of each row, and group
    ``l`` holds the confidences and correctness of the rows predicted ``l``.
    With ``strategy="uniform"`` every group has the edges ``k / n_bins`` and
    all groups are binned in one vectorised pass; with ``"quantile"`` each
    group gets the equal-mass edges of its own scores.

    Parameters
    ----------
    scores : array_like of shape (n_samples,)
        Scores in [0, 1].
    targets : array_like of shape (n_samples,)
        Outcomes in [0, 1].
    groups : array_like of int, shape (n_samples,)
        The group of each row, from 0 to ``n_groups - 1``.
    n_groups : int
        Number of groups; a group no row belongs to gets ``n_bins``
        equal-width bins of weight 0 (all empty).
    n_bins : int, default=15
        Number of bins requested per group.
    strategy : {"uniform", "quantile"}, default="uniform"
        As in :func:`bin_stats`.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights; None means equal weights.

    Returns
    -------
    tuple of BinStats
        One per group; group ``l`` is ``bin_stats(scores[groups == l],
        targets[groups == l])`` when it has rows.

    Examples
    --------
    >>> per_group = bin_stats_by_group([0.6, 0.9, 0.7], [1, 1, 0], [0, 0, 1], 3,
    ...                                n_bins=2)
    >>> [s.counts.tolist() for s in per_group]
    [[0, 2], [0, 1], [0, 0]]
    """
    n_bins = check_binning(n_bins, strategy)
    scores = _check_unit_interval(scores, "scores").astype(np.float64, copy=False)
    if scores.ndim != 1 or scores.shape[0] == 0:
        raise ValueError(
            f"scores must be a non-empty one-dimensional array; got shape "
            f"{scores.shape}."
        )
    targets = _check_unit_interval(targets, "targets", shape=scores.shape).astype(
        np.float64, copy=False
    )
    groups = np.asarray(groups)
    if (
        groups.shape != scores.shape
        or groups.dtype.kind not in "iu"
        or groups.min() < 0
        or groups.max() >= n_groups
    ):
        raise ValueError(
            f"groups must be integers from 0 to {n_groups - 1} of shape "
            f"{scores.shape}; got dtype {groups.dtype} and shape {groups.shape}."
        )
    weights = check_sample_weight(sample_weight, scores.shape[0], rescale=False)
    return _bin_groups(scores, targets, groups, n_groups, weights, n_bins, strategy)


def _bin_groups(scores, targets, groups, n_groups, weights, n_bins, strategy):
    """:func:`bin_stats_by_group` on trusted input (weights may all be 0)."""
    empty = np.zeros(n_bins)
    if strategy == "quantile":
        return tuple(
            _bin_column(scores[rows], targets[rows], weights[rows], n_bins, strategy)
            if rows.any()
            else _stats_from_sums(
                uniform_edges(n_bins),
                empty,
                empty,
                empty,
                empty,
                empty,
                "uniform",
                n_bins,
            )
            for rows in (groups == g for g in range(n_groups))
        )
    edges = uniform_edges(n_bins)
    size = n_groups * n_bins
    index = groups.astype(np.int64) * n_bins + _bin_index(scores, edges)
    counts = np.bincount(index, minlength=size)
    shape = (n_groups, n_bins)
    sums = [
        np.bincount(index, weights=w, minlength=size).reshape(shape)
        for w in (weights, weights * scores, weights * targets)
    ]
    effective = _effective_counts(index, weights, counts).reshape(shape)
    counts = counts.reshape(shape)
    return tuple(
        _stats_from_sums(
            edges.copy(),
            counts[g],
            sums[0][g],
            effective[g],
            sums[1][g],
            sums[2][g],
            strategy,
            n_bins,
        )
        for g in range(n_groups)
    )


class _CellSums:
    """What :class:`GroupBinSums` and :class:`ColumnBinSums` share.

    Sums over cells ``(row, bin)`` of an ``(n_rows, n_bins)`` grid:
    ``counts`` and the rows of ``sums`` (weights, score sums, target sums,
    and with a ``scale`` the scaled weights and their squares).
    """

    def _ready(self):
        """Fold anything buffered into the sums."""

    def error_sums(self):
        """``(gap_sums, total, weights, targets)``, ``(n_rows, n_bins)``.

        What :func:`calibrate.metrics._calibration_error.binned_errors` and
        ``conditional_errors`` read, without building one :class:`BinStats`
        per row of the grid.
        """
        self._ready()
        shape = (self._n_rows, self.n_bins)
        weights = self.sums[0].reshape(shape)
        nonempty = weights > 0
        targets = np.where(nonempty, self.sums[2].reshape(shape), 0.0)
        gap_sums = np.where(nonempty, targets - self.sums[1].reshape(shape), 0.0)
        return gap_sums, weights.sum(axis=-1), weights, targets

    def stats(self):
        """Return one :class:`BinStats` per row of the grid."""
        self._ready()
        shape = (self._n_rows, self.n_bins)
        counts = self.counts.reshape(shape)
        sums = self.sums.reshape((-1, *shape))
        if self.scale is None:
            effective = counts.astype(np.float64)
        else:
            effective = _kish(sums[3], sums[4])
        return tuple(
            _stats_from_sums(
                self.edges.copy(),
                counts[r],
                sums[0, r],
                effective[r],
                sums[1, r],
                sums[2, r],
                "uniform",
                self.n_bins,
            )
            for r in range(self._n_rows)
        )


class GroupBinSums(_CellSums):
    """Equal-width bin sums of scores split by group, accumulated over chunks.

    The class-conditional top-label reduction of a large score matrix: every
    row falls in one cell ``(group, bin)`` (its predicted class and the bin of
    its confidence).  :meth:`add` takes one chunk at a time (three
    ``bincount`` calls over its rows) and :meth:`merge` adds the sums of
    disjoint rows, so the cost does not grow with the number of groups per
    chunk (one :class:`BinStats` per group and chunk would: 32,000 of them
    per chunk of a vocabulary).  :meth:`stats` returns what
    :func:`bin_stats_by_group` gives for the whole data (up to the rounding
    of the sums); :meth:`error_sums` the arrays the error formulas read.

    Parameters
    ----------
    n_groups : int
        Number of groups (predicted classes).
    n_bins : int
        Number of equal-width bins per group.
    weight_scale : float or None, default=None
        As for :class:`ColumnBinSums`: None when every row weighs 1, else the
        largest row weight of the whole data (for Kish's effective counts).
    """

    def __init__(self, n_groups, n_bins, *, weight_scale=None):
        self.n_groups, self.n_bins = n_groups, n_bins
        self.edges = uniform_edges(n_bins)
        self.scale = weight_scale
        size = n_groups * n_bins
        # counts; weights, score sums, target sums (, u sums, u**2 sums)
        self.counts = np.zeros(size, dtype=np.int64)
        self.sums = np.zeros((3 if weight_scale is None else 5, size))

    def add(self, scores, targets, groups, w):
        """Add a chunk: scores and targets in [0, 1], integer groups, weights."""
        size = self.counts.size
        flat = np.asarray(groups, dtype=np.int64) * self.n_bins + _bin_index(
            scores, self.edges
        )
        self.counts += np.bincount(flat, minlength=size)
        self.sums[0] += np.bincount(flat, weights=w, minlength=size)
        self.sums[1] += np.bincount(flat, weights=w * scores, minlength=size)
        self.sums[2] += np.bincount(flat, weights=w * targets, minlength=size)
        if self.scale is not None:
            u = w / self.scale
            self.sums[3] += np.bincount(flat, weights=u, minlength=size)
            self.sums[4] += np.bincount(flat, weights=u * u, minlength=size)
        return self

    def merge(self, other):
        """Add the sums of ``other`` (disjoint rows, same shape) to these."""
        self.counts += other.counts
        self.sums += other.sums
        return self

    @property
    def _n_rows(self):
        return self.n_groups


class ColumnBinSums(_CellSums):
    """Equal-width bin sums of every column, accumulated over chunks of rows.

    The classwise reduction of a large score matrix: :meth:`add` takes one
    chunk of probabilities at a time and :meth:`stats` returns what
    :func:`bin_stats_by_column` gives for the whole matrix (up to the
    rounding of the sums).  Memory is ``O(n_columns * n_bins)`` however many
    rows pass through.

    Cost per chunk: the first bin ``[0, 1 / n_bins]`` is summed with one
    matrix-vector product; only the entries above it (at most ``n_bins - 1``
    per row when the rows are probability distributions) are binned one by
    one.  A vocabulary-sized row is almost all first-bin entries, so this is
    far cheaper than binning every entry.

    Parameters
    ----------
    n_columns : int
        Number of columns (classes or labels).
    n_bins : int
        Number of equal-width bins per column.
    weight_scale : float or None, default=None
        None when every row weighs 1 (the effective counts are then the
        counts); else the largest row weight of the whole data, by which the
        weights are divided before squaring for Kish's effective counts.
    """

    def __init__(self, n_columns, n_bins, *, weight_scale=None):
        self.n_columns, self.n_bins = n_columns, n_bins
        self.edges = uniform_edges(n_bins)
        self.scale = weight_scale
        size = n_columns * n_bins
        n_sums = 3 if weight_scale is None else 5
        # counts, weights, score sums, target sums (, u sums, u**2 sums)
        self.counts = np.zeros(size, dtype=np.int64)
        self.sums = np.zeros((n_sums, size))
        self._pending, self._n_pending = [], 0
        self._targets = []

    def _add_entries(self, flat, w, values):
        # Entries above the first bin are few per row: they are buffered and
        # binned in batches, so that a chunk of a few vocabulary-sized rows
        # does not pay for bincounts of n_columns * n_bins values.
        self._pending.append((flat, w, values))
        self._n_pending += len(flat)
        if self._n_pending >= 2**20:
            self._flush()

    def _flush(self):
        if not self._pending:
            return
        flat, w, values = (np.concatenate(p) for p in zip(*self._pending, strict=True))
        self._pending, self._n_pending = [], 0
        size = self.counts.size
        self.counts += np.bincount(flat, minlength=size)
        self.sums[0] += np.bincount(flat, weights=w, minlength=size)
        self.sums[1] += np.bincount(flat, weights=w * values, minlength=size)
        if self.scale is not None:
            u = w / self.scale
            self.sums[3] += np.bincount(flat, weights=u, minlength=size)
            self.sums[4] += np.bincount(flat, weights=u * u, minlength=size)

    def add(self, P, w, *, labels=None, targets=None):
        """Add a chunk of rows.

        Parameters
        ----------
        P : ndarray of shape (m, n_columns), float64
            Probabilities in [0, 1]; overwritten (the chunk's own copy).
        w : ndarray of shape (m,)
            Row weights.
        labels : ndarray of shape (m,) of int, optional
            The one column whose target is 1 in each row (multiclass).
        targets : ndarray of shape (m, n_columns), optional
            Targets in [0, 1] (binary, multilabel), when ``labels`` is None.
        """
        m, k = P.shape
        B = self.n_bins
        first = self.edges[1]
        # Targets first: they read P before its entries above the first bin
        # are cleared.
        if labels is not None:
            values = P[np.arange(m), labels]
            flat = labels * B + _bin_index(values, self.edges)
            self._targets.append((flat, w))
        else:
            rows, cols = np.nonzero(targets)
            values = P[rows, cols]
            flat = cols * B + _bin_index(values, self.edges)
            self._targets.append((flat, w[rows] * targets[rows, cols]))
        if len(self._targets) >= 256:
            self._flush_targets()
        rows, cols = np.nonzero(P > first)
        values = P[rows, cols]
        self._add_entries(cols * B + _bin_index(values, self.edges), w[rows], values)
        # The first bin of each column: everything else.
        P[rows, cols] = 0.0
        above_w = np.bincount(cols, weights=w[rows], minlength=k)
        first_bin = np.arange(k) * B
        self.counts[first_bin] += m - np.bincount(cols, minlength=k)
        self.sums[0, first_bin] += w.sum() - above_w
        self.sums[1, first_bin] += w @ P
        if self.scale is not None:
            u = w / self.scale
            self.sums[3, first_bin] += u.sum() - np.bincount(
                cols, weights=u[rows], minlength=k
            )
            self.sums[4, first_bin] += (u * u).sum() - np.bincount(
                cols, weights=u[rows] ** 2, minlength=k
            )

    def compact(self):
        """Fold the buffered entries into the sums (before sending it away)."""
        self._flush()
        self._flush_targets()
        return self

    def merge(self, other):
        """Add the sums of ``other`` (disjoint rows, same shape) to these."""
        self.compact()
        other.compact()
        self.counts += other.counts
        self.sums += other.sums
        return self

    def _flush_targets(self):
        if self._targets:
            flat, tw = (np.concatenate(p) for p in zip(*self._targets, strict=True))
            self._targets = []
            self.sums[2] += np.bincount(flat, weights=tw, minlength=self.counts.size)

    @property
    def _n_rows(self):
        return self.n_columns

    def _ready(self):
        self._flush()
        self._flush_targets()
