"""The Kolmogorov-Smirnov calibration error of Gupta et al. (2021).

Definition
----------
For scores ``f_i`` in [0, 1] with outcomes ``y_i`` and weights ``w_i``
(summing to ``W``), sorted by score, the cumulative curves

    h(t) = sum_{f_i <= t} w_i y_i / W,    h~(t) = sum_{f_i <= t} w_i f_i / W

are the integrals of the accuracy and of the confidence against the score
distribution; the score is calibrated exactly when they coincide, and the KS
calibration error is ``max_t |h(t) - h~(t)|`` (Gupta, Rahimi, Ajanthan,
Mensink, Sminchisescu and Hartley, "Calibration of Neural Networks using
Splines", ICLR 2021).  No bins: it converges to the population value at the
rate ``1 / sqrt(n)``.

Both curves are step functions that jump at the distinct scores, so the
maximum is taken at the end of each run of tied scores: the value does not
depend on the order of tied rows (taking it after every row would).

Cost: one sort per column, O(n log n), and one cumulative sum.
"""

import numpy as np

from calibrate.metrics._predictions import predictions

__all__ = ["KS_REDUCTIONS", "ks_calibration_error"]

KS_REDUCTIONS = ("top_label", "classwise", "positive")


def _ks_columns(scores, targets, weights):
    """KS error of each column of trusted ``(n, k)`` scores and targets."""
    # Sorted along the last axis of contiguous (k, n) copies: sorting the
    # strided columns of an (n, k) block directly is several times slower.
    scores = np.ascontiguousarray(np.asarray(scores, dtype=np.float64).T)
    targets = np.ascontiguousarray(np.asarray(targets, dtype=np.float64).T)
    order = np.argsort(scores, axis=1, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, axis=1)
    gap = np.take_along_axis(targets, order, axis=1)
    gap -= sorted_scores
    gap *= weights[order]
    np.cumsum(gap, axis=1, out=gap)
    np.abs(gap, out=gap)
    # the end of each run of tied scores (and the last row) is where both
    # step functions have taken their jump
    gap[:, :-1][sorted_scores[:, 1:] == sorted_scores[:, :-1]] = 0.0
    return gap.max(axis=1) / weights.sum()


def ks_calibration_error(
    y_true,
    y_prob,
    *,
    reduction=None,
    sample_weight=None,
    input_type="probs",
):
    """Compute the Kolmogorov-Smirnov calibration error (Gupta et al. 2021).

    The largest gap between the cumulative sums of the outcome and of the
    score over the rows sorted by score, divided by the number of rows (the
    total weight): ``max_t |sum_{f_i <= t} w_i (y_i - f_i)| / sum_i w_i``.
    See :mod:`calibrate.metrics._ks` for the definition.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a 0/1 indicator matrix for multilabel problems.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (or logits / log-probabilities, see
        ``input_type``), laid out as in
        :func:`~calibrate.metrics.expected_calibration_error`.
    reduction : {"top_label", "classwise", "positive"} or None, default=None
        ``"top_label"``: the confidence of the predicted class against whether
        it is right (the top-label KS error of the paper).  ``"classwise"``:
        the mean over classes (or labels) of each one-vs-rest KS error.
        ``"positive"``: binary only, the probability of the positive class.
        None: ``"top_label"``, or ``"classwise"`` for a multilabel indicator
        ``y_true``.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights; integer weights give the result of repeated
        rows.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.

    Returns
    -------
    float
        The KS calibration error, in [0, 1].

    Raises
    ------
    ValueError
        For invalid scores, labels or weights (as the other metrics), or an
        unknown ``reduction``.

    Examples
    --------
    Sorted by score, the residuals ``y - f`` are -0.2, then 0.4 and -0.6 at the
    tied score 0.6, then 0.1; divided by 4 their cumulative sums at the ends
    of the runs are -0.05, -0.1 and -0.075:

    >>> round(ks_calibration_error([0, 1, 0, 1], [0.2, 0.6, 0.6, 0.9],
    ...                            reduction="positive"), 6)
    0.1
    """
    if reduction is not None and (
        not isinstance(reduction, str) or reduction not in KS_REDUCTIONS
    ):
        raise ValueError(
            f"reduction must be one of {KS_REDUCTIONS} or None; got {reduction!r}."
        )
    # A dask y_prob: the reduced columns are computed block by block (see
    # calibrate._dask.DaskPredictions) and sorted on the client.
    pred = predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    if reduction is None:
        reduction = "classwise" if pred.task == "multilabel" else "top_label"
    weights = pred.weights
    if reduction == "classwise":
        # Blocks of columns, every row of each: never an (n, K) float64 matrix.
        errors = [_ks_columns(P, T, weights) for _, P, T in pred.class_columns()]
        return float(np.concatenate(errors).mean())
    if reduction == "top_label":
        scores, targets = pred.top_label()
    else:
        scores, targets = pred.positive()
    column = _ks_columns(
        scores[:, None], np.asarray(targets, dtype=np.float64)[:, None], weights
    )
    return float(column[0])
