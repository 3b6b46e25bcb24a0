"""The binned calibration errors: ECE (L1), RMS (L2, optionally debiased), max."""

import numpy as np

from calibrate.binning import (
    BinStats,
    bin_stats,
    bin_stats_by_group,
    check_binning,
)
from calibrate.metrics._predictions import predictions

__all__ = [
    "NORMS",
    "REDUCTIONS",
    "TopLabelConditionalBins",
    "binned_calibration_error",
    "calibration_bins",
    "conditional_errors",
    "default_reduction",
    "expected_calibration_error",
    "maximum_calibration_error",
]

NORMS = ("l1", "l2", "max", "max_cell")
REDUCTIONS = ("top_label", "classwise", "positive", "top_label_conditional")


class TopLabelConditionalBins(tuple):
    """The bins of the top-label reduction conditioned on the predicted class.

    A tuple of :class:`~calibrate.binning.BinStats`, entry ``l`` holding the
    top-class confidences and correctness of the rows predicted class ``l``
    (Gupta and Ramdas 2022), as
    ``calibration_bins(..., reduction="top_label_conditional")`` returns it.
    :func:`binned_calibration_error` weights each class by its share of the
    rows, where a plain tuple (the classwise reduction) weights every class
    ``1 / K``.
    """

    __slots__ = ()

    def __repr__(self):
        return f"TopLabelConditionalBins({tuple.__repr__(self)})"


def _conditional_error(per_class, norm, debias):
    """Reduce :class:`TopLabelConditionalBins`; see binned_calibration_error."""
    gap_sums, totals, weights, targets = stats_sums(per_class)
    if not totals.sum() > 0:
        raise ValueError("the bins hold no weight; need a positive total weight.")
    return float(
        conditional_errors(
            gap_sums,
            totals.sum(),
            norm=norm,
            debias=debias,
            weights=weights,
            targets=targets,
        )
    )


def conditional_errors(
    gap_sums, total, *, norm, debias=False, weights=None, targets=None
):
    """Compute the top-label errors conditioned on the class from per-bin sums.

    :func:`binned_errors` for the bins of
    ``reduction="top_label_conditional"``: the arrays have shape ``(...,
    n_classes, n_bins)``, one row per predicted class, and ``total`` (shape
    ``(...)``) is the weight of all rows.  :func:`binned_calibration_error`
    and the report's bootstrap (on a block of resamples at once) both call
    it.  ``"max"`` is ``max_b sum_l |gap_sum_lb| / w_b`` over the bins ``b``
    holding weight (bins matched by index: the same edges for equal-width
    bins, the ``b``-th equal-mass bin of each class otherwise); the other
    norms pool every (class, bin) cell as a bin of one set of rows, and
    ``"max_cell"`` is then the largest gap of a cell.

    Returns
    -------
    ndarray of shape (...)
        The error of each leading index.
    """
    total = np.asarray(total, dtype=np.float64)
    if norm == "max":
        # max_b sum_l (w_lb / w_b) |gap_lb| = max_b sum_l |gap_sum_lb| / w_b.
        in_bin = weights.sum(axis=-2)
        deviation = np.abs(gap_sums).sum(axis=-2)
        ratio = np.full(in_bin.shape, -np.inf)
        np.divide(deviation, in_bin, out=ratio, where=in_bin > 0)
        return ratio.max(axis=-1)
    cells = gap_sums.shape[:-2] + (1, -1)

    def pooled(a):
        return None if a is None else np.reshape(a, cells)

    return binned_errors(
        pooled(gap_sums),
        total[..., None],
        norm="max" if norm == "max_cell" else norm,
        debias=debias,
        weights=pooled(weights),
        targets=pooled(targets),
    )


def _check_norm(norm, debias):
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}.")
    if not isinstance(debias, (bool, np.bool_)):
        raise ValueError(f"debias must be True or False; got {debias!r}.")
    if debias and norm != "l2":
        raise ValueError(
            f"debias=True is defined for norm='l2' only (the per-bin variance "
            f"correction of Kumar et al. 2019); got norm={norm!r}."
        )


def binned_errors(gap_sums, total, *, norm, debias=False, weights=None, targets=None):
    """Compute every binned calibration error from per-bin sums, over leading axes.

    Every binned error of the package (:func:`binned_calibration_error`, the
    chunked :func:`calibrate.metrics.evaluate` and the report's bootstrap,
    which evaluates it on a block of resamples at once) is this function of
    per-bin weighted sums.  The arrays have shape ``(..., n_classes,
    n_bins)``: any leading axes (replicates of a bootstrap), then one row per
    class of a classwise error (a single row for the top-label and positive
    reductions), then the bins.

    Parameters
    ----------
    gap_sums : ndarray of shape (..., n_classes, n_bins)
        ``sum_i w_i (target_i - score_i)`` over the rows of each bin (0 for an
        empty bin).
    total : ndarray broadcastable to (..., n_classes)
        Total weight of each class's rows (of all bins).
    norm : {"l1", "l2", "max"}
        As :func:`binned_calibration_error`.
    debias : bool, default=False
        With ``norm="l2"``: Kumar et al.'s (2019) variance correction.
    weights : ndarray of shape (..., n_classes, n_bins), optional
        Total weight per bin; needed unless ``norm="l1"``.
    targets : ndarray of shape (..., n_classes, n_bins), optional
        ``sum_i w_i target_i`` per bin; needed when ``debias``.

    Returns
    -------
    ndarray of shape (...)
        The error of each leading index.
    """
    total = np.asarray(total, dtype=np.float64)
    if norm == "l1":
        # sum_b (w_b / W) |acc_b - conf_b| = sum_b |gap_sum_b| / W, per class
        per_class = np.abs(gap_sums).sum(axis=-1) / total
        return per_class.mean(axis=-1)
    nonempty = weights > 0
    gap = np.zeros(np.shape(gap_sums))
    np.divide(gap_sums, weights, out=gap, where=nonempty)
    if norm == "max":
        return np.where(nonempty, np.abs(gap), -np.inf).max(axis=(-2, -1))
    terms = gap * gap
    if debias:
        # Kumar et al. (2019): (acc - conf)^2 overestimates the squared gap by
        # the variance of the bin's accuracy, acc (1 - acc) / (n_b - 1); bins
        # with fewer than two samples carry no estimate and contribute 0.
        acc = np.zeros_like(terms)
        np.divide(targets, weights, out=acc, where=nonempty)
        enough = weights >= 2
        variance = np.zeros_like(terms)
        np.divide(acc * (1.0 - acc), weights - 1.0, out=variance, where=enough)
        terms = np.where(enough, terms - variance, 0.0)
    squared = (weights * terms).sum(axis=-1) / total
    return np.sqrt(np.maximum(squared, 0.0).mean(axis=-1))


def stats_sums(per_class):
    """``(gap_sums, total, weights, targets)`` of BinStats, ``(n_classes, n_bins)``.

    What :func:`binned_errors` reads, from one BinStats per class: the sums
    are the bin means times the bin weights, 0 for empty bins.  Equal-mass
    bins of different classes may keep different numbers of bins; the
    shorter are padded with empty bins, which contribute nothing.
    """
    width = max(s.n_bins for s in per_class)
    padded = any(s.n_bins != width for s in per_class)

    def rows(name):
        if not padded:  # one stack, not a pad per class (32,000 of a vocabulary)
            return np.array([getattr(s, name) for s in per_class], dtype=np.float64)
        return np.array(
            [np.pad(getattr(s, name), (0, width - s.n_bins)) for s in per_class],
            dtype=np.float64,
        )

    weights = rows("weights")
    nonempty = weights > 0
    mean_score, mean_target = rows("mean_score"), rows("mean_target")
    targets = np.where(nonempty, weights * mean_target, 0.0)
    gap_sums = np.where(nonempty, weights * (mean_target - mean_score), 0.0)
    return gap_sums, weights.sum(axis=-1), weights, targets


def binned_calibration_error(stats, *, norm="l1", debias=False):
    """Compute the calibration error of already binned data.

    The function behind :func:`expected_calibration_error`; reliability
    diagrams call it on the :class:`~calibrate.binning.BinStats` they draw, so
    the number in a legend is the number a metric returns.

    Parameters
    ----------
    stats : BinStats, sequence of BinStats or TopLabelConditionalBins
        One :class:`~calibrate.binning.BinStats` (top-label or positive-class
        reduction), one per class (classwise reduction), or
        :class:`TopLabelConditionalBins` (one per predicted class).
    norm : {"l1", "l2", "max", "max_cell"}, default="l1"
        With ``w_b`` the share of weight in bin ``b`` and ``gap_b`` the
        difference between its mean target and mean score: ``"l1"`` is
        ``sum_b w_b |gap_b|`` (the ECE), ``"l2"`` is
        ``sqrt(sum_b w_b gap_b**2)`` (the RMS calibration error) and ``"max"``
        is ``max_b |gap_b|`` over non-empty bins (the MCE).  For a sequence of
        per-class statistics the norm runs over classes too, each class
        weighted ``1 / K``: the mean of the per-class L1 errors, the root of
        the mean of the per-class squared errors, and the largest per-class
        maximum.  ``"max_cell"`` is the largest ``|gap|`` of any non-empty
        bin of any class (for a single ``BinStats`` or the classwise tuple,
        the same as ``"max"``).

        For :class:`TopLabelConditionalBins`, with ``w_lb`` the weight of the
        rows predicted ``l`` in bin ``b``, ``w_b = sum_l w_lb`` and ``w`` the
        total (Gupta and Ramdas 2022): ``"l1"`` is
        ``sum_l sum_b (w_lb / w) |gap_lb|`` (the TL-ECE), ``"l2"`` is
        ``sqrt(sum_l sum_b (w_lb / w) gap_lb**2)``, ``"max"`` is
        ``max_b sum_l (w_lb / w_b) |gap_lb|`` (the TL-MCE printed in their
        tables: within each bin the class-weighted mean deviation), and
        ``"max_cell"`` the literal ``max_lb |gap_lb|``, which is larger.
    debias : bool, default=False
        With ``norm="l2"`` only: subtract from each bin's squared gap the
        variance of its mean target, ``acc_b (1 - acc_b) / (n_b - 1)``,
        dropping bins with fewer than two samples, and clip the squared error
        at 0 before the root (per class, for a sequence) -- the debiased
        estimator of Kumar, Liang and Ma (2019), "Verified Uncertainty
        Calibration".  The bin weights are read as sample counts ``n_b``.

    Returns
    -------
    float
        The error, in [0, 1].

    Examples
    --------
    Two bins holding 3 and 1 samples, with gaps 1/3 - 0.25 and 0:

    >>> from calibrate.binning import bin_stats
    >>> stats = bin_stats([0.1, 0.3, 0.35, 0.9], [0, 1, 0, 1], n_bins=2)
    >>> round(binned_calibration_error(stats), 6)  # 3/4 * |1/3 - 0.25| + 1/4 * 0.1
    0.0875
    """
    _check_norm(norm, debias)
    per_class = [stats] if isinstance(stats, BinStats) else list(stats)
    if not per_class or not all(isinstance(s, BinStats) for s in per_class):
        raise ValueError(
            "stats must be a BinStats or a non-empty sequence of BinStats; got "
            f"{type(stats).__name__}."
        )
    if isinstance(stats, TopLabelConditionalBins):
        return _conditional_error(per_class, norm, debias)
    if norm == "max_cell":
        norm = "max"
    gap_sums, total, weights, targets = stats_sums(per_class)
    return float(
        binned_errors(
            gap_sums, total, norm=norm, debias=debias, weights=weights, targets=targets
        )
    )


def default_reduction(reduction, task):
    """``reduction``, or for None the default of ``task``.

    ``"top_label"`` for binary and multiclass scores; ``"classwise"`` for a
    multilabel indicator matrix, which has no top label.
    """
    if reduction is not None:
        return reduction
    return "classwise" if task == "multilabel" else "top_label"


def _check_frequency_weights(weights):
    whole = weights == np.round(weights)
    if not whole.all():
        row = int(np.argmin(whole))
        raise ValueError(
            "debias=True reads sample_weight as frequency weights (a weight of 2 "
            "counts as two samples in the variance correction), so they must be "
            f"whole numbers; got {weights[row].item()!r} at row {row}."
        )


def expected_calibration_error(
    y_true,
    y_prob,
    *,
    n_bins=15,
    strategy="uniform",
    norm="l1",
    reduction=None,
    debias=False,
    sample_weight=None,
    input_type="probs",
):
    """Compute the expected calibration error (ECE) or its L2 and max variants.

    Scores are binned by :func:`calibrate.binning.bin_stats` (bins ``(e_k,
    e_{k+1}]``, the first also holding 0, uniform edges ``k / n_bins``), and
    the gaps between each bin's accuracy and mean confidence are combined by
    ``norm`` (see :func:`binned_calibration_error`).

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a 0/1 indicator matrix for multilabel problems.  Integer
        labels index the columns of ``y_prob``; other labels (strings) are
        matched to columns in sorted order and must all occur.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (or logits / log-probabilities, see
        ``input_type``).  A 1-D array (or one column) is binary, the
        probability of the positive class; ``(n, K)`` with one label per row is
        multiclass, rows summing to 1; ``(n, K)`` with an indicator ``y_true``
        is multilabel, each column an independent probability.
    n_bins : int, default=15
        Number of bins.  15 is the count of Guo et al. (2017) and Mukhoti et
        al. (2020).
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins, or equal-mass ("adaptive") bins; see
        :func:`calibrate.binning.bin_stats`.
    norm : {"l1", "l2", "max", "max_cell"}, default="l1"
        ``"l1"`` is the ECE, ``"l2"`` the RMS calibration error, ``"max"`` the
        maximum calibration error over non-empty bins; ``"max_cell"`` differs
        from ``"max"`` only for ``reduction="top_label_conditional"`` (see
        :func:`binned_calibration_error`).
    reduction : {"top_label", "classwise", "positive", \
"top_label_conditional"} or None, default=None
        ``"top_label"``: the confidence of the predicted class against whether
        it is right (Guo et al. 2017); for binary scores the prediction is the
        positive class when ``p > 0.5``.  ``"classwise"``: each class (or
        label) on its own, its probability against whether it occurred, every
        class weighted ``1 / K`` (Kull et al. 2019); the only reduction for
        multilabel targets.  ``"positive"``: binary only, the probability of
        the positive class (the second column of an ``(n, 2)`` array).
        ``"top_label_conditional"``: the top-label calibration error of Gupta
        and Ramdas (2022), which conditions on the predicted class as well as
        on the confidence: the rows predicted class ``l`` are binned on their
        own, and with ``"l1"`` the error is
        ``sum_l sum_b (n_lb / n) |acc_lb - conf_lb|``; with ``"max"`` it is
        ``max_b sum_l (n_lb / n_b) |acc_lb - conf_lb|``, the TL-MCE of their
        tables.  The top-label ECE can be 0 when each class is badly
        calibrated; this one cannot.  None (the default): ``"top_label"``
        for binary and multiclass scores, ``"classwise"`` for a multilabel
        indicator ``y_true`` (where no top label exists).
    debias : bool, default=False
        With ``norm="l2"``: the debiased estimator of Kumar et al. (2019), see
        :func:`binned_calibration_error`.  ``sample_weight`` must then hold
        whole numbers (they are counts in the variance correction).
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights; None means equal weights.  Integer weights give
        the same result as repeating rows.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.  From logits the top-label confidence is
        computed in log space in one pass, without forming the softmax.

    Returns
    -------
    float
        The calibration error, in [0, 1] (multiply by 100 for the percent that
        papers print).

    Raises
    ------
    ValueError
        For NaN or infinite scores, probabilities outside [0, 1] or rows not
        summing to 1 (within ``max(1e-6, 8 K eps)``), mismatched shapes,
        labels outside the columns, ``n_bins < 1``, or an unknown ``norm``,
        ``reduction`` or ``strategy``.
    TypeError
        For scores that are not real numbers (strings, objects).

    Notes
    -----
    ``input_type`` defaults to ``"probs"`` here, while the calibrators default
    to ``"logits"``: a metric's ``y_prob`` is read like scikit-learn's, and
    logits passed by mistake fail the [0, 1] or row-sum check with a hint.
    Bins are judged on the floating-point value as given: the negative-class
    probability of a 1-D binary input is ``1 - p`` computed in float64 (so
    ``1 - 0.7 = 0.30000000000000004`` lies in (0.3, 0.4] with ten bins), and
    a float32 0.3 is slightly above the float64 edge 0.3.

    See Also
    --------
    maximum_calibration_error : The ``norm="max"`` case.
    calibrate.binning.bin_stats : The bins behind the number.

    Examples
    --------
    Four predictions at 0.8 confidence of which three are right, and two at
    0.6 of which one is right: ``4/6 * |0.75 - 0.8| + 2/6 * |0.5 - 0.6|``.

    >>> y_prob = [[0.8, 0.2]] * 4 + [[0.4, 0.6]] * 2
    >>> y_true = [0, 0, 0, 1, 1, 0]
    >>> round(expected_calibration_error(y_true, y_prob, n_bins=10), 6)
    0.066667
    """
    _check_norm(norm, debias)
    stats, _, _ = bin_predictions(
        y_true,
        y_prob,
        n_bins=n_bins,
        strategy=strategy,
        reduction=reduction,
        sample_weight=sample_weight,
        input_type=input_type,
        frequency_weights=debias,
    )
    return binned_calibration_error(stats, norm=norm, debias=debias)


def bin_predictions(
    y_true,
    y_prob,
    *,
    n_bins,
    strategy,
    reduction,
    sample_weight,
    input_type,
    frequency_weights=False,
):
    """Validate once and bin as ``reduction`` says.

    Return the stats, the class labels and the task of the predictions: what
    the metrics and the reliability diagrams share (not exported from
    :mod:`calibrate.metrics`; :func:`calibration_bins` is the public view).
    """
    n_bins = check_binning(n_bins, strategy)
    if reduction is not None and (
        not isinstance(reduction, str) or reduction not in REDUCTIONS
    ):
        raise ValueError(
            f"reduction must be one of {REDUCTIONS} or None; got {reduction!r}."
        )
    pred = predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    reduction = default_reduction(reduction, pred.task)
    if frequency_weights and sample_weight is not None:
        _check_frequency_weights(pred.weights)
    if hasattr(pred, "binned"):
        # A dask y_prob: the engine's per-block bins, merged (equal-mass
        # bins: the reduced scores gathered, or blocks of class columns).
        stats = pred.binned(reduction, n_bins, strategy)
    elif reduction == "top_label_conditional":
        top, confidence, correct = pred.top_label_prediction()
        stats = TopLabelConditionalBins(
            bin_stats_by_group(
                confidence,
                correct,
                top,
                max(pred.n_columns, 2),
                n_bins=n_bins,
                strategy=strategy,
                sample_weight=pred.weights,
            )
        )
    elif reduction == "classwise":
        # In bounded memory: bin sums over chunks of rows (equal width) or
        # blocks of columns (equal mass), never an (n, K) float64 matrix.
        stats = pred.classwise_bins(n_bins, strategy)
    else:
        scores, targets = (
            pred.top_label() if reduction == "top_label" else pred.positive()
        )
        stats = bin_stats(
            scores,
            targets,
            n_bins=n_bins,
            strategy=strategy,
            sample_weight=pred.weights,
        )
    return stats, pred.classes, pred.task


def calibration_bins(
    y_true,
    y_prob,
    *,
    n_bins=15,
    strategy="uniform",
    reduction=None,
    sample_weight=None,
    input_type="probs",
):
    """Return the bins behind :func:`expected_calibration_error`.

    The same validation and binning as the metric, stopped before the bins
    are reduced to a number: ``binned_calibration_error(calibration_bins(...))``
    is ``expected_calibration_error(...)`` with the same arguments.
    Reliability diagrams draw these statistics.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a multilabel indicator matrix.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (see ``input_type``).
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width or equal-mass bins.
    reduction : {"top_label", "classwise", "positive", \
"top_label_conditional"} or None, default=None
        As in :func:`expected_calibration_error`.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.

    Returns
    -------
    BinStats or tuple of BinStats
        One :class:`~calibrate.binning.BinStats` for the top-label and
        positive reductions; a tuple of them, one per column (class or
        label), for ``reduction="classwise"``; a
        :class:`TopLabelConditionalBins`, one per predicted class (two for
        binary scores), for ``reduction="top_label_conditional"``.

    Examples
    --------
    >>> y_prob = [[0.8, 0.2]] * 4 + [[0.4, 0.6]] * 2
    >>> stats = calibration_bins([0, 0, 0, 1, 1, 0], y_prob, n_bins=10)
    >>> stats.counts[5:8].tolist(), stats.mean_target[[5, 7]].tolist()
    ([2, 0, 4], [0.5, 0.75])
    """
    stats, _, _ = bin_predictions(
        y_true,
        y_prob,
        n_bins=n_bins,
        strategy=strategy,
        reduction=reduction,
        sample_weight=sample_weight,
        input_type=input_type,
    )
    return stats


def maximum_calibration_error(
    y_true,
    y_prob,
    *,
    n_bins=15,
    strategy="uniform",
    reduction=None,
    sample_weight=None,
    input_type="probs",
):
    """Compute the maximum calibration error (MCE), the largest gap over bins.

    The ``norm="max"`` case of :func:`expected_calibration_error`; empty bins
    are skipped.  With ``reduction="classwise"`` the largest gap over all
    classes and bins.  With ``reduction="top_label_conditional"`` the
    TL-MCE of Gupta and Ramdas (2022): over bins ``b``, the largest
    class-weighted deviation ``sum_l (n_lb / n_b) |acc_lb - conf_lb|``
    (the literal largest gap over (class, bin) cells, which is larger, is
    ``expected_calibration_error(..., norm="max_cell")``).

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a multilabel indicator matrix.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (see ``input_type``).
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width or equal-mass bins.
    reduction : {"top_label", "classwise", "positive", \
"top_label_conditional"} or None, default=None
        As in :func:`expected_calibration_error`.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.

    Returns
    -------
    float
        The largest ``|accuracy - confidence|`` of a non-empty bin, in [0, 1].

    Examples
    --------
    >>> y_prob = [[0.8, 0.2]] * 4 + [[0.4, 0.6]] * 2
    >>> round(maximum_calibration_error([0, 0, 0, 1, 1, 0], y_prob, n_bins=10), 6)
    0.1
    """
    return expected_calibration_error(
        y_true,
        y_prob,
        n_bins=n_bins,
        strategy=strategy,
        norm="max",
        reduction=reduction,
        sample_weight=sample_weight,
        input_type=input_type,
    )
