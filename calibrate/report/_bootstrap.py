"""Bootstrap replicates of the report's metrics, all resamples at once.

A bootstrap resample of the test rows is a vector of counts ``c`` (how many
times each row was drawn, summing to ``n``), and every metric of the report is
a function of count-weighted sums over rows: the means (accuracy, NLL, Brier)
are ``c @ per_row / n``, and the binned errors read, for each bin, ``c`` summed
over the bin's rows, over their scores and over their targets.  So instead of
recomputing each metric on each resampled array, the per-row quantities are
computed once (by :class:`calibrate.metrics._predictions.Predictions`, the code
behind the metrics) and laid out as the columns of one sparse matrix ``M``;
``C @ M`` then gives every sum of every replicate in one product, with ``C``
the replicates' counts.  Replicate ``b`` equals the library metric with
``sample_weight=C[b]``, which equals the metric on the resampled rows (integer
weights act as repeated rows, the debiased error reading them as counts).
"""

import numpy as np
import scipy.sparse

from calibrate.binning import bin_index, uniform_edges
from calibrate.metrics._predictions import Predictions

__all__ = ["REPORT_METRICS", "bootstrap_counts", "replicate_metrics"]

# The columns of the report, in order: accuracy first (the only one where
# higher is better), then the proper scores, then the binned errors.
REPORT_METRICS = (
    "accuracy",
    "nll",
    "brier",
    "ece",
    "ece_classwise",
    "mce",
    "ece_l2_debiased",
)
_TOP_LABEL = ("ece", "mce", "ece_l2_debiased")

# Replicates are computed in blocks holding at most this many sums (8 bytes
# each, 32 MiB): the whole C @ M for 1000 replicates of 100 classes and 15
# bins would be 12 MB per class.
_BLOCK_ELEMENTS = 2**22


def bootstrap_counts(n_samples, n_bootstrap, rng):
    """Yield blocks of resampling counts, ``(n_block, n_samples)`` float64.

    Row ``b`` counts how often each sample was drawn in resample ``b`` (``n``
    draws with replacement, uniform): a multinomial vector summing to
    ``n_samples``.  The blocks are drawn from ``rng`` one after the other, so
    the counts depend on the seed, ``n_samples`` and ``n_bootstrap`` only.
    """
    block = max(1, min(n_bootstrap, _BLOCK_ELEMENTS // max(n_samples, 1)))
    uniform = np.full(n_samples, 1.0 / n_samples)
    done = 0
    while done < n_bootstrap:
        size = min(block, n_bootstrap - done)
        yield rng.multinomial(n_samples, uniform, size=size).astype(np.float64)
        done += size


class _Layout:
    """The per-row quantities of one model, as columns of a sparse matrix."""

    def __init__(self, y_true, scores, input_type, n_bins):
        pred = Predictions(y_true, scores, input_type=input_type, sample_weight=None)
        n = pred.scores.shape[0]
        edges = uniform_edges(n_bins)
        self.n_samples, self.n_bins = n, n_bins
        self.top_label = pred.task != "multilabel"
        blocks = [
            np.column_stack(
                (pred.predicted_wrong(), -pred.log_likelihood(), pred.brier_terms())
            )
        ]
        columns = [np.tile(np.arange(3), (n, 1))]
        values = [blocks[0]]
        offset = 3
        if self.top_label:
            confidence, correct = pred.top_label()
            index = bin_index(confidence, edges)
            # Per bin: the number of rows, their confidences, their correctness.
            columns.append(offset + index[:, None] + n_bins * np.arange(3))
            values.append(np.column_stack((np.ones(n), confidence, correct)))
            offset += 3 * n_bins
        proba, targets = pred.class_proba()
        k = proba.shape[1]
        self.n_classes = k
        # Per class and bin: the sum of target - probability, all the classwise
        # L1 error needs (fraction * |mean target - mean score| = |sum| / n).
        columns.append(offset + bin_index(proba, edges) + n_bins * np.arange(k))
        values.append(targets - proba)
        self.size = offset + k * n_bins
        self.classwise_offset = offset
        indices = np.concatenate([c.reshape(n, -1) for c in columns], axis=1)
        data = np.concatenate([v.reshape(n, -1) for v in values], axis=1)
        width = data.shape[1]
        self.matrix = scipy.sparse.csr_matrix(
            (data.ravel(), indices.ravel(), np.arange(0, n * width + 1, width)),
            shape=(n, self.size),
        )

    def metrics(self, counts):
        """Every report metric for each row of ``counts``, ``(n_block, 7)``."""
        sums = np.asarray((self.matrix.T @ counts.T).T)
        total = counts.sum(axis=1)
        out = np.full((counts.shape[0], len(REPORT_METRICS)), np.nan)
        out[:, 0] = 1.0 - sums[:, 0] / total
        out[:, 1] = sums[:, 1] / total
        out[:, 2] = sums[:, 2] / total
        nb = self.n_bins
        if self.top_label:
            weight = sums[:, 3 : 3 + nb]
            gap_sum = sums[:, 3 + 2 * nb : 3 + 3 * nb] - sums[:, 3 + nb : 3 + 2 * nb]
            out[:, 3] = np.abs(gap_sum).sum(axis=1) / total
            nonempty = weight > 0
            gap = np.zeros_like(weight)
            np.divide(gap_sum, weight, out=gap, where=nonempty)
            out[:, 5] = np.where(nonempty, np.abs(gap), -np.inf).max(axis=1)
            # Kumar et al. (2019), as binned_calibration_error: bins with fewer
            # than two samples contribute 0, the sum is clipped at 0.
            accuracy = np.zeros_like(weight)
            np.divide(
                sums[:, 3 + 2 * nb : 3 + 3 * nb], weight, out=accuracy, where=nonempty
            )
            enough = weight >= 2
            variance = np.zeros_like(weight)
            np.divide(accuracy * (1 - accuracy), weight - 1, out=variance, where=enough)
            terms = np.where(enough, gap * gap - variance, 0.0)
            squared = (weight / total[:, None] * terms).sum(axis=1)
            out[:, 6] = np.sqrt(np.maximum(squared, 0.0))
        classwise = sums[:, self.classwise_offset :].reshape(-1, self.n_classes, nb)
        out[:, 4] = np.abs(classwise).sum(axis=2).mean(axis=1) / total
        return out


def replicate_metrics(y_true, scores, *, n_bins, n_bootstrap, rng):
    """Return the bootstrap replicates of every report metric for every model.

    Parameters
    ----------
    y_true : array_like
        The test labels, as the metrics read them.
    scores : list of (array_like, str)
        Each model's test scores and their ``input_type``.
    n_bins : int
        Equal-width bins of the binned errors.
    n_bootstrap : int
        Number of resamples.
    rng : numpy.random.Generator
        Source of the resamples; the same resamples serve every model (the
        replicates are paired).

    Returns
    -------
    ndarray of shape (n_bootstrap, n_models, len(REPORT_METRICS))
        NaN where a metric is not defined for the task (the top-label errors
        of multilabel data).
    """
    layouts = [_Layout(y_true, s, t, n_bins) for s, t in scores]
    n = layouts[0].n_samples
    out = np.empty((n_bootstrap, len(layouts), len(REPORT_METRICS)))
    done = 0
    for counts in bootstrap_counts(n, n_bootstrap, rng):
        stop = done + counts.shape[0]
        for m, layout in enumerate(layouts):
            out[done:stop, m] = layout.metrics(counts)
        done = stop
    return out
