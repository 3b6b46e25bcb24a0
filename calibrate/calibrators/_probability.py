"""The model's probabilities, for the calibrators that map probabilities.

Isotonic regression, histogram binning and beta calibration are fitted on the
model's probabilities, whatever ``input_type`` the scores came in: the base
class hands every calibrator logits, and this turns them back.
"""

from scipy.special import expit, softmax

__all__ = ["score_probabilities"]


def score_probabilities(Zc, task):
    """Probabilities of the model, from its float64 logits chunk ``Zc``.

    Multiclass rows go through the softmax; binary and multilabel columns
    through the sigmoid (each column is the probability of its positive
    label).
    """
    if task == "multiclass":
        return softmax(Zc, axis=1)
    return expit(Zc)
