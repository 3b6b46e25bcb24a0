"""Isotonic calibration: a non-decreasing map fitted by pool-adjacent-violators."""

import numpy as np
from scipy.optimize import isotonic_regression

from calibrate._special import iter_chunks
from calibrate.calibrators._base import BaseCalibrator
from calibrate.calibrators._probability import score_probabilities

__all__ = ["IsotonicCalibration", "fit_isotonic", "apply_isotonic"]


# scikit-learn's rule for equal scores (``_make_unique``): a score less than
# float64's resolution above the first score of a group joins that group, and
# the group is represented by its first score.
_TIE = np.finfo(np.float64).resolution


def _tie_starts(v):
    """Index of the first score of each group of equal scores in sorted ``v``.

    Groups follow scikit-learn's greedy rule (``_TIE`` above): a new group
    starts at the first score whose difference to the current group's first
    score is at least ``_TIE``.  A score at least ``_TIE`` above its
    predecessor always starts a group; the others form chains behind such a
    start, and only a chain wider than ``_TIE`` has group starts inside it.
    Those are found without a loop over the scores: for each score of a wide
    chain, ``nxt`` is the score that would start the group after it (a
    vectorised bisection of the rule's exact test), and the starts are the
    scores reached from the chain's head by following ``nxt`` -- found by
    pointer doubling, in as many rounds as the log of the longest chain.
    """
    n = len(v)
    start = np.empty(n, dtype=bool)
    start[:1] = True
    np.greater_equal(v[1:] - v[:-1], _TIE, out=start[1:])
    inner = np.flatnonzero(~start)
    if len(inner) == 0:
        return np.arange(n)
    # Chains: a start followed by a run of consecutive non-starts.
    first = np.concatenate(([True], inner[1:] != inner[:-1] + 1))
    head = inner[first] - 1
    end = np.append(inner[np.flatnonzero(first)[1:] - 1], inner[-1]) + 1
    wide = v[end - 1] - v[head] >= _TIE
    if wide.any():
        head, end = head[wide], end[wide]
        length = end - head
        # Every score of the wide chains, with its chain's end.
        offset = np.cumsum(length) - length
        m = int(length.sum())
        local = np.arange(m) - np.repeat(offset, length)
        pos = np.repeat(head, length) + local
        stop = np.repeat(end, length)
        # nxt: the first index j > pos with v[j] - v[pos] >= _TIE (or the
        # chain's end), by bisection on that exact test.
        lo, hi = pos + 1, stop.copy()
        while True:
            open_ = np.flatnonzero(lo < hi)
            if len(open_) == 0:
                break
            mid = (lo[open_] + hi[open_]) // 2
            ok = v[mid] - v[pos[open_]] >= _TIE
            hi[open_[ok]] = mid[ok]
            lo[open_[~ok]] = mid[~ok] + 1
        # As indices into pos, m standing for "past the chain's end".
        jump = np.append(np.where(hi < stop, np.arange(m) + (hi - pos), m), m)
        on = np.zeros(m + 1, dtype=bool)
        on[offset] = True
        # After round r, ``on`` holds the scores reached in fewer than 2**r
        # steps and ``jump`` leads 2**r steps ahead.
        while True:
            on[jump[np.flatnonzero(on)]] = True
            if (jump[:-1] == m).all():
                break
            jump = jump[jump]
        start[pos[on[:m]]] = True
    return np.flatnonzero(start)


def fit_isotonic(x, y, w, *, positives=None):
    """Weighted isotonic (non-decreasing) regression of ``y`` on ``x``.

    The kernel of :class:`IsotonicCalibration`, and the same steps as
    scikit-learn's ``IsotonicRegression``: rows of zero weight are dropped,
    rows with equal ``x`` are pooled into their weighted mean (so ties are
    resolved without noise, in one deterministic way), the pooled means are
    fitted by weighted pool-adjacent-violators (scipy's compiled PAVA), and
    points inside a constant run are dropped, which leaves the linear
    interpolant unchanged.

    Parameters
    ----------
    x : ndarray of shape (n,)
        Scores (float64).
    y : ndarray of shape (n,) or None
        Targets in [0, 1]; None when ``positives`` gives them.
    w : ndarray of shape (n,)
        Non-negative weights, at least one positive.
    positives : ndarray of int, default=None
        Indices of the rows whose target is 1, the others 0 (instead of
        ``y``).

    Returns
    -------
    x_thresholds : ndarray of shape (m,)
        Increasing knots.
    y_thresholds : ndarray of shape (m,)
        Non-decreasing fitted values at the knots.

    Examples
    --------
    >>> xs, ys = fit_isotonic(np.array([0.1, 0.2, 0.3]), np.array([1.0, 0.0, 1.0]),
    ...                       np.ones(3))
    >>> xs.tolist(), ys.tolist()
    ([0.1, 0.2, 0.3], [0.5, 0.5, 1.0])
    """
    if positives is None:
        positives = np.flatnonzero(y)
        binary = bool(np.all(y[positives] == 1))
    else:
        binary = True
    if binary and len(w) and w.min() > 0 and w.min() == w.max():
        return _fit_isotonic_binary(x, positives)
    if y is None:
        y = np.zeros(len(x))
        y[positives] = 1.0
    keep = w > 0
    x, y, w = x[keep], y[keep], w[keep]
    # Ties are pooled into their weighted mean, so their order is free.
    order = np.argsort(x, kind="stable")
    x, y, w = x[order], y[order], w[order]
    start = _tie_starts(x)
    x_unique = x[start]
    weight = np.add.reduceat(w, start)
    mean = np.add.reduceat(w * y, start) / weight
    fitted = isotonic_regression(mean, weights=weight, increasing=True).x
    if len(fitted) > 2:
        # Keep the two ends of every constant run (scikit-learn's rule).
        inner = (fitted[:-2] != fitted[1:-1]) | (fitted[1:-1] != fitted[2:])
        keep = np.concatenate(([True], inner, [True]))
        x_unique, fitted = x_unique[keep], fitted[keep]
    return x_unique, fitted


def _fit_isotonic_binary(x, positives):
    """:func:`fit_isotonic` of 0/1 targets under equal weights, in one sort.

    Probabilities are non-negative, so the bits of a float64 read as an
    int64 are in the order of the values; shifted left by one they leave the
    lowest bit for the target, and one sort of these keys gives the scores
    in order with each row's target beside it (within a tie, 0s first).

    PAVA then runs on blocks rather than rows: each value that has a target
    1 (its group of equal scores pooled into its mean, by
    scikit-learn's rule: see :func:`_tie_starts`) and each stretch of
    target-0 rows between them (mean 0).  Pooling adjacent points of equal
    value never changes the fit -- at a boundary between two fitted levels
    the last point of the lower level lies at or below it and the first
    point of the upper level at or above it, so two equal points are never
    split -- and the blocks are at most twice the number of target-1 rows.
    """
    n = len(x)
    # + 0.0 turns a -0.0 (sign bit set) into +0.0.
    key = np.add(x, 0.0, dtype=np.float64).view(np.int64) << 1
    key[positives] |= 1
    key.sort()
    value = (key >> 1).view(np.float64)
    hit = np.flatnonzero(key & 1)
    tied = _tie_starts(value)
    ties = len(tied) < n
    if ties:
        # A value's block is its whole group of equal scores.
        group = np.searchsorted(tied, hit, side="right") - 1
        changed = group[1:] != group[:-1]
        first = np.flatnonzero(np.concatenate(([len(hit) > 0], changed)))
        ones = np.diff(np.append(first, len(hit))).astype(np.float64)
        lo = tied[group[first]]
        hi = np.append(tied[1:], n)[group[first]]
    else:
        ones = np.ones(len(hit))
        lo, hi = hit, hit + 1
    g = len(lo)
    # Blocks: target-0 stretch, value with 1s, ..., target-0 stretch.
    start = np.zeros(2 * g + 1, dtype=np.intp)
    stop = np.full(2 * g + 1, n, dtype=np.intp)
    start[1::2], stop[1::2] = lo, hi
    start[2::2], stop[:-1:2] = hi, lo
    sums = np.zeros(2 * g + 1)
    sums[1::2] = ones
    filled = stop > start
    start, stop, sums = start[filled], stop[filled], sums[filled]
    counts = (stop - start).astype(np.float64)
    fitted = isotonic_regression(sums / counts, weights=counts, increasing=True).x
    # Constant runs of the fit keep their first and last value (one knot
    # when they are the same value), as scikit-learn's rule does.
    run = np.flatnonzero(np.concatenate(([True], fitted[1:] != fitted[:-1])))
    last = np.append(run[1:], len(fitted)) - 1
    # Each group is represented by its first score.
    right = stop[last] - 1
    if ties:
        right = tied[np.searchsorted(tied, right, side="right") - 1]
    ends = np.column_stack([value[start[run]], value[right]])
    two = ends[:, 1] != ends[:, 0]
    keep = np.column_stack([np.ones(len(run), dtype=bool), two]).ravel()
    return ends.ravel()[keep], np.repeat(fitted[run], 1 + two)


# Cells of the lookup in apply_isotonic: a non-negative float64 read as an
# int64 and shifted right by this many bits keeps its exponent and the top 8
# bits of its mantissa, so a cell spans 1/256 of an octave.
_CELL_SHIFT = 44


def apply_isotonic(x, x_thresholds, y_thresholds):
    """Evaluate a fitted isotonic map: linear between knots, constant outside.

    The values of ``np.interp(x, x_thresholds, y_thresholds)``, bit for bit
    (its formula, on the knots' precomputed slopes), with the knot below each
    score found by a table lookup instead of a bisection: for non-negative
    scores the bits of a float64 are in the order of its values, so the
    high bits of a score name a cell of the knots' range, the table gives the
    number of knots below the cell, and only the scores of a cell holding
    several knots are bisected.

    Parameters
    ----------
    x : ndarray of float64
        Scores, not NaN.
    x_thresholds, y_thresholds : ndarray of shape (m,)
        From :func:`fit_isotonic` (increasing knots; a repeated last knot,
        the padding of ``IsotonicCalibration``, is ignored).

    Returns
    -------
    ndarray, shape of ``x``
        Clamped to the end values outside the knots, which is scikit-learn's
        ``out_of_bounds="clip"``.
    """
    m = int(np.searchsorted(x_thresholds, x_thresholds[-1], side="left")) + 1
    xs, ys = x_thresholds[:m], y_thresholds[:m]
    x = np.asarray(x, dtype=np.float64)
    if m == 1 or xs[0] < 0:
        # The bit order holds for non-negative knots only.
        return np.interp(x, xs, ys)
    cells = xs.view(np.int64) >> _CELL_SHIFT
    c0 = cells[0]
    # Slot 0 is below the first knot's cell, slot L + 2 above the last's.
    per_cell = np.bincount(cells - c0 + 1, minlength=int(cells[-1] - c0) + 3)
    below = (np.cumsum(per_cell) - per_cell).astype(np.intp)
    slot = x.view(np.int64) >> _CELL_SHIFT
    slot -= c0 - 1
    # A negative score (its sign bit set) is below every knot.
    np.clip(slot, 0, len(per_cell) - 1, out=slot)
    slot[x < 0] = 0
    # count: the number of knots <= x.
    count = below[slot]
    held = per_cell[slot]
    one = held == 1
    count[one] += xs[count[one]] <= x[one]
    many = np.flatnonzero(held > 1)
    count[many] = np.searchsorted(xs, x[many], side="right")
    j = np.clip(count - 1, 0, m - 2)
    slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
    out = slopes[j] * (x - xs[j]) + ys[j]
    # np.interp's branches: the end values outside, the knot's value on it.
    np.copyto(out, ys[0], where=count == 0)
    np.copyto(out, ys[-1], where=count == m)
    on = (count > 0) & (count < m)
    on &= x == xs[j]
    np.copyto(out, ys[j], where=on)
    return out


class IsotonicCalibration(BaseCalibrator):
    """Isotonic calibration: a non-decreasing map of each probability.

    * binary scores: one map of the positive-class probability;
    * multilabel scores: one map per column;
    * multiclass scores: one-vs-rest, one map of each class probability
      fitted on ``y == k``, then each row divided by its sum, as
      scikit-learn's ``CalibratedClassifierCV(method="isotonic")`` does.  A
      row whose calibrated values are all 0 gets the uniform distribution
      (scikit-learn's rule too).

    Each map is the weighted least-squares non-decreasing fit of the 0/1
    targets on the model's probability (pool-adjacent-violators), linear
    between its knots and constant beyond the fitted range (clipped, as
    ``IsotonicRegression(out_of_bounds="clip")``).  The map is fitted on
    probabilities whatever ``input_type`` is (logits go through the softmax,
    or the sigmoid per column; probabilities are taken as given, so equal
    scores are pooled as scikit-learn pools them), so logits and the
    probabilities they stand for give the same calibrated probabilities.

    Parameters
    ----------
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; declared, never guessed.

    Attributes
    ----------
    x_thresholds_ : ndarray of shape (n_columns, n_knots)
        Knots of each column's map (probabilities), increasing; a column
        with fewer knots repeats its last one.
    y_thresholds_ : ndarray of shape (n_columns, n_knots)
        Calibrated values at the knots.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    task_ : {"binary", "multiclass", "multilabel"}
        The task read from the shapes of ``X`` and ``y``.
    n_features_in_ : int
        Number of score columns seen during fit.
    n_iter_ : int
        Always 1: the fit is direct.

    References
    ----------
    B. Zadrozny and C. Elkan, "Transforming classifier scores into accurate
    multiclass probability estimates", KDD 2002.

    Examples
    --------
    >>> from calibrate import IsotonicCalibration
    >>> cal = IsotonicCalibration(input_type="probs")
    >>> cal = cal.fit([0.1, 0.2, 0.3, 0.9], [0, 1, 0, 1])
    >>> cal.predict_proba([0.0, 0.25, 1.0])[:, 1].tolist()
    [0.0, 0.5, 1.0]
    """

    _help = (
        "isotonic regression: a non-decreasing map of each probability "
        "(pool-adjacent-violators; one-vs-rest and normalised for multiclass)"
    )
    _fitted_parameters = ("x_thresholds_", "y_thresholds_")

    # The fit is direct: no iteration budget to check.
    _scalar_parameters = ()

    def __init__(self, *, input_type="logits"):
        self.input_type = input_type

    # Probabilities given as such are fitted as they are: equal scores stay
    # equal, and are pooled as scikit-learn pools them.
    _maps_given_probabilities = True

    def _probabilities(self, Zc):
        """Return the model's probabilities for a float64 chunk of scores."""
        if self.input_type == "probs":
            return Zc
        return score_probabilities(Zc, self.task_)

    def _fit(self, Z, y, w):
        self._absent_columns(y, w)
        n, k = Z.shape
        if self.input_type == "probs":
            # Each column is read in place (the kernel copies it into its
            # sort keys).
            columns = Z.T
        else:
            # The probabilities, chunk by chunk, into one contiguous row per
            # column (the sorts and gathers of the fit read a column at a
            # time).
            columns = np.empty((k, n))
            for rows in iter_chunks(n, k):
                columns[:, rows] = self._probabilities(
                    Z[rows].astype(np.float64, copy=False)
                ).T
        if self.task_ == "multiclass":
            # The rows of each class, from one stable sort of the labels (a
            # radix sort when they fit in 16 bits).
            labels = y.astype(np.uint16) if k <= 2**16 else y
            by_label = np.argsort(labels, kind="stable")
            bounds = np.searchsorted(labels[by_label], np.arange(k + 1))
        else:
            Y = y.reshape(n, k)
        knots = []
        for j in range(k):
            if self.task_ == "multiclass":
                hit = by_label[bounds[j] : bounds[j + 1]]
            else:
                hit = np.flatnonzero(Y[:, j])
            knots.append(fit_isotonic(columns[j], None, w, positives=hit))
        # One row per column, padded on the right with the column's last knot:
        # np.interp gives the same values, and the state is two plain arrays.
        m = max(len(x) for x, _ in knots)
        self.x_thresholds_ = np.array(
            [np.pad(x, (0, m - len(x)), "edge") for x, _ in knots]
        )
        self.y_thresholds_ = np.array(
            [np.pad(v, (0, m - len(v)), "edge") for _, v in knots]
        )
        self.n_iter_ = 1

    def _parameter_shapes(self):
        # One row per score column, of data-dependent length.
        knots = (self.n_features_in_, None)
        return {"x_thresholds_": knots, "y_thresholds_": knots}

    def _calibrated_log_proba(self, Zc):
        P = self._probabilities(Zc)
        Q = np.empty(P.shape)
        for j, (xs, ys) in enumerate(
            zip(self.x_thresholds_, self.y_thresholds_, strict=True)
        ):
            Q[:, j] = apply_isotonic(P[:, j], xs, ys)
        with np.errstate(divide="ignore"):
            if self.task_ != "multiclass":
                return np.log(Q)
            total = Q.sum(axis=1, keepdims=True)
            empty = total[:, 0] <= 0
            Q[empty] = 1.0
            total[empty] = Q.shape[1]
            return np.log(Q) - np.log(total)
