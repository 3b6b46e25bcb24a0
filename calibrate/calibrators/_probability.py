"""The model's probabilities, for the calibrators that map probabilities.

Isotonic regression, histogram binning and beta calibration are fitted on the
model's probabilities, whatever ``input_type`` the scores came in: the base
class hands every calibrator logits, and this turns them back.
"""

from scipy.special import expit, softmax

__all__ = ["calibrated_scores", "score_probabilities"]


def score_probabilities(Zc, task):
    """Probabilities of the model, from its float64 logits chunk ``Zc``.

    Multiclass rows go through the softmax; binary and multilabel columns
    through the sigmoid (each column is the probability of its positive
    label).
    """
    if task == "multiclass":
        return softmax(Zc, axis=1)
    return expit(Zc)


def calibrated_scores(calibrator, X):
    """Return a fitted calibrator's output on ``X`` as ``(scores, input_type)``.

    What the CLI and the report score: a logit-space map's ``transform``
    (calibrated logits, finite), and a probability-space map's
    log-probabilities (``-inf`` where it gives probability 0, which the
    metrics floor like any probability of 0), for binary input the one
    column ``log P(positive class)``.
    """
    if calibrator._output_space == "logit":
        return calibrator.transform(X), "logits"
    L = calibrator.predict_log_proba(X)
    return (L[:, 1] if calibrator.task_ == "binary" else L), "log_probs"
