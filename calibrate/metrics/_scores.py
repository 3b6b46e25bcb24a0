"""Proper scores (negative log-likelihood, Brier) and the classification error."""

from calibrate.metrics._predictions import predictions

__all__ = ["accuracy", "brier_score", "classification_error", "negative_log_likelihood"]


# The per-row terms whose weighted means are the scores below (the registry's
# ``terms``): module-level functions, so that dask can send them to workers.
def nll_terms(pred):
    """Per-row ``-log p(observed outcome)``."""
    return -pred.log_likelihood()


def brier_terms(pred):
    """Per-row terms of the Brier score."""
    return pred.brier_terms()


def wrong_terms(pred):
    """Per-row 1.0 for a wrong prediction (share of wrong labels: multilabel)."""
    return pred.predicted_wrong()


def right_terms(pred):
    """Per-row ``1 - wrong_terms``."""
    return 1.0 - pred.predicted_wrong()


def negative_log_likelihood(y_true, y_prob, *, sample_weight=None, input_type="probs"):
    """Compute the mean negative log-likelihood of the labels (the log loss).

    Equal to :func:`sklearn.metrics.log_loss` for binary and multiclass
    probabilities.  From logits it is computed in log space,
    ``logsumexp(z) - z_y``, never through clipped probabilities.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a 0/1 indicator matrix for multilabel problems.  Integer
        labels index the columns of ``y_prob``.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (see ``input_type``); a 1-D array is the
        probability of the positive class.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights; the result is their weighted mean.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.

    Returns
    -------
    float
        ``mean_i -log p_i(y_i)`` in nats.  Multilabel: the mean over labels of
        each label's binary log loss.  A probability below float64 ``tiny``
        (0 included) for an observed outcome is floored there (each such
        sample adds 708.4 to the sum) with a
        :class:`~calibrate.exceptions.CalibrationWarning`.  With
        ``input_type="log_probs"`` a log-probability of ``-inf`` (probability
        exactly 0) for an observed outcome is kept: the result is infinite,
        with the same warning category.  scikit-learn
        instead clips every probability to ``[eps, 1 - eps]`` with ``eps``
        the machine epsilon of its dtype (2.2e-16 for float64, 1.2e-7 for
        float32), so the two differ exactly when some observed outcome has a
        probability below that ``eps`` (ours is then the larger, truer
        value).

    Raises
    ------
    ValueError
        For NaN or infinite scores, probabilities outside [0, 1] or
        multiclass rows not summing to 1 within ``max(1e-6, 8 K eps)``,
        mismatched shapes, or labels outside the columns.
    TypeError
        For scores that are not real numbers (strings, objects).

    Examples
    --------
    ``-(ln 0.5 + ln 0.8) / 2``, then the same from logits:

    >>> round(negative_log_likelihood([0, 1], [[0.5, 0.5], [0.2, 0.8]]), 6)
    0.458145
    >>> round(negative_log_likelihood([0, 1], [[0.0, 0.0], [0.0, 1.0]],
    ...                               input_type="logits"), 6)
    0.503204
    """
    pred = predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    return pred.mean_of(nll_terms)


def brier_score(y_true, y_prob, *, sample_weight=None, input_type="probs"):
    """Compute the Brier score, the mean squared error of the probabilities.

    Equal to :func:`sklearn.metrics.brier_score_loss` (with its default
    ``scale_by_half="auto"``) for binary and multiclass input.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a 0/1 indicator matrix for multilabel problems.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (see ``input_type``).
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.

    Returns
    -------
    float
        With three or more classes, the mean over samples of
        ``sum_k (p_k - 1[y = k])**2``, in [0, 2] (the score of Brier 1950).
        With two classes (a 1-D ``y_prob``, or two columns), the mean of
        ``(p_1 - 1[y = 1])**2``, in [0, 1]: half the sum over both columns,
        as scikit-learn reports it.  Multilabel: the mean over labels of each
        label's binary score.

    Raises
    ------
    ValueError
        As :func:`negative_log_likelihood`.

    Examples
    --------
    >>> brier_score([1, 0], [0.8, 0.4])  # ((0.8 - 1)^2 + 0.4^2) / 2
    0.1
    >>> round(brier_score([0, 2], [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]), 6)
    0.1875
    """
    pred = predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    return pred.mean_of(brier_terms)


def classification_error(y_true, y_prob, *, sample_weight=None, input_type="probs"):
    """Compute the share of wrong predictions (1 - accuracy).

    Not a calibration measure, but the number every calibration table sits
    next to: temperature scaling leaves it unchanged, vector and matrix
    scaling may not.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a 0/1 indicator matrix for multilabel problems.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (see ``input_type``).
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.

    Returns
    -------
    float
        The weighted share of wrong predictions, ``1 - accuracy_score``.  The
        prediction is the arg-max column (ties to the lowest), or the positive
        class when its probability exceeds 0.5.  Multilabel: the share of
        wrong labels (scikit-learn's ``hamming_loss``).

    Raises
    ------
    ValueError
        As :func:`negative_log_likelihood`.

    Examples
    --------
    >>> classification_error([0, 1, 1], [[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    0.3333333333333333
    """
    pred = predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    return pred.mean_of(wrong_terms)


def accuracy(y_true, y_prob, *, sample_weight=None, input_type="probs"):
    """Compute the share of right predictions, ``1 - classification_error``.

    The one metric of the package where higher is better.  The arguments,
    the predictions (arg-max column, or positive class when ``p > 0.5``) and
    the errors are those of :func:`classification_error`.

    Returns
    -------
    float
        scikit-learn's ``accuracy_score`` with the same weights; multilabel:
        the share of right labels, ``1 - hamming_loss``.

    Examples
    --------
    >>> accuracy([0, 1, 1], [[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    0.6666666666666666
    """
    pred = predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    return pred.mean_of(right_terms)
