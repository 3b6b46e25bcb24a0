"""Bootstrap replicates of the report's metrics, all resamples at once.

A bootstrap resample of the test rows is a vector of counts ``c`` (how many
times each row was drawn, summing to ``n``), and every metric the registry
combines over rows is a function of count-weighted sums over rows
(:attr:`calibrate.metrics.Metric.combine`):

* ``"mean"``: ``c @ terms / n``, with ``terms`` the metric's per-row terms;
* ``"binned"``: per bin, ``c`` summed over the bin's rows, and over their
  ``target - score`` and their targets; the error is then
  :func:`calibrate.metrics._calibration_error.binned_errors`, the formula
  behind :func:`~calibrate.metrics.binned_calibration_error`, evaluated on a
  whole block of replicates at once.

So instead of recomputing each metric on each resampled array, the per-row
quantities are computed once (by
:class:`calibrate.metrics._predictions.Predictions`, the code behind the
metrics) and laid out as the columns of one sparse matrix ``M``; ``C @ M``
then gives every sum of every replicate in one product, with ``C`` the
replicates' counts.  Replicate ``b`` equals the library metric with
``sample_weight=C[b]``, which equals the metric on the resampled rows
(integer weights act as repeated rows, the debiased error reading them as
counts).  A ``"whole"`` metric (a median, a rank statistic) has no such sums:
it is recomputed on the resampled rows of each replicate.
"""

import numpy as np
import scipy.sparse

from calibrate.binning import bin_index, uniform_edges
from calibrate.metrics import METRICS
from calibrate.metrics._calibration_error import (
    binned_errors,
    conditional_errors,
    default_reduction,
)
from calibrate.metrics._engine import _n_groups, _reduce
from calibrate.metrics._predictions import Predictions
from calibrate.metrics._registry import report_metrics

__all__ = [
    "REPORT_METRICS",
    "bootstrap_counts",
    "replicate_metrics",
    "report_metrics",
]

#: The columns of the report with the default registry, in order (the
#: entries of :data:`calibrate.metrics.METRICS` with ``report=True``); the
#: report itself reads :func:`report_metrics` when it is built.
REPORT_METRICS = report_metrics()

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

    def __init__(self, y_true, scores, input_type, names, n_bins):
        pred = Predictions(y_true, scores, input_type=input_type, sample_weight=None)
        n = pred.scores.shape[0]
        self.y_true, self.scores, self.input_type = y_true, scores, input_type
        self.n_samples, self.n_bins = n, n_bins
        self.names = names
        self.metrics = {
            name: METRICS[name] for name in names if pred.task in METRICS[name].tasks
        }
        columns, values = [], []
        offset = 0
        self.mean = {}
        for name, metric in self.metrics.items():
            if metric.combine == "mean":
                self.mean[name] = offset
                columns.append(np.full((n, 1), offset))
                values.append(metric.terms(pred)[:, None])
                offset += 1
        # For each reduction of a binned metric, the per-bin sums its norms
        # need: target - score always, the weight unless every norm is L1,
        # the target for the debiased error.
        needs = {}
        self.reduction = {}
        for name, metric in self.metrics.items():
            if metric.combine == "binned":
                options = dict(metric.binned)
                reduction = default_reduction(options["reduction"], pred.task)
                self.reduction[name] = reduction
                need = needs.setdefault(reduction, set())
                need.add("gap")
                if options["norm"] != "l1":
                    need.add("weight")
                if options["debias"]:
                    need.add("target")
        edges = uniform_edges(n_bins)
        self.binned = {}
        for reduction, need in needs.items():
            arrays = _reduce(pred, reduction)
            if len(arrays) == 3:
                # conditioned on the predicted class: one row of bins per
                # class, each sample in the bins of its own class only
                scores_r, targets_r, group = (a[:, None] for a in arrays)
                k = _n_groups(pred)
                index = bin_index(scores_r, edges) + n_bins * group
            else:
                scores_r, targets_r = arrays
                if scores_r.ndim == 1:
                    scores_r, targets_r = scores_r[:, None], targets_r[:, None]
                k = scores_r.shape[1]
                index = bin_index(scores_r, edges) + n_bins * np.arange(k)
            where = {}
            for quantity in ("gap", "weight", "target"):
                if quantity not in need:
                    continue
                where[quantity] = offset
                columns.append(offset + index)
                if quantity == "gap":
                    values.append(targets_r - scores_r)
                elif quantity == "weight":
                    values.append(np.ones_like(scores_r))
                else:
                    values.append(targets_r)
                offset += k * n_bins
            self.binned[reduction] = (k, where)
        whole = [n for n, m in self.metrics.items() if m.combine == "whole"]
        # a whole metric with a path for many resamples at once takes it; the
        # others are recomputed on each resample
        self.resampled = {
            n: self.metrics[n].resampled(pred)
            for n in whole
            if self.metrics[n].resampled is not None
        }
        self.whole = [n for n in whole if n not in self.resampled]
        self.size = offset
        if columns:
            indices = np.concatenate(columns, axis=1)
            data = np.concatenate([np.asarray(v, dtype=np.float64) for v in values], 1)
            width = data.shape[1]
            self.matrix = scipy.sparse.csr_matrix(
                (data.ravel(), indices.ravel(), np.arange(0, n * width + 1, width)),
                shape=(n, self.size),
            )
        else:
            self.matrix = None

    def replicates(self, counts):
        """Every metric of ``names`` for each row of ``counts``, ``(n_block, m)``."""
        out = np.full((counts.shape[0], len(self.names)), np.nan)
        column = {name: j for j, name in enumerate(self.names)}
        total = counts.sum(axis=1)
        sums = None
        if self.matrix is not None:
            sums = np.asarray((self.matrix.T @ counts.T).T)
        for name, start in self.mean.items():
            out[:, column[name]] = sums[:, start] / total
        nb = self.n_bins
        for name, metric in self.metrics.items():
            if metric.combine != "binned":
                continue
            options = dict(metric.binned)
            reduction = self.reduction[name]
            k, where = self.binned[reduction]

            def block(quantity, k=k, where=where):
                if quantity not in where:
                    return None
                start = where[quantity]
                return sums[:, start : start + k * nb].reshape(-1, k, nb)

            if reduction == "top_label_conditional":
                errors, weight = conditional_errors, total
            else:
                errors, weight = binned_errors, total[:, None]
            out[:, column[name]] = errors(
                block("gap"),
                weight,
                norm=options["norm"],
                debias=options["debias"],
                weights=block("weight"),
                targets=block("target"),
            )
        for name, replicates in self.resampled.items():
            out[:, column[name]] = replicates(counts)
        for name in self.whole:
            metric = METRICS[name]
            kwargs = {"n_bins": self.n_bins, "strategy": "uniform"}
            kwargs = {k: v for k, v in kwargs.items() if k in metric.options}
            y, X = np.asarray(self.y_true), np.asarray(self.scores)
            for b in range(counts.shape[0]):
                rows = np.repeat(np.arange(self.n_samples), counts[b].astype(np.int64))
                out[b, column[name]] = metric(
                    y[rows], X[rows], input_type=self.input_type, **kwargs
                )
        return out


def replicate_metrics(y_true, scores, *, n_bins, n_bootstrap, rng, metrics=None):
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
    metrics : sequence of str, default=None
        Names in :data:`calibrate.metrics.METRICS`; None takes those the
        report shows (:func:`report_metrics`).

    Returns
    -------
    ndarray of shape (n_bootstrap, n_models, len(metrics))
        NaN where a metric is not defined for the task (the top-label errors
        of multilabel data).
    """
    names = tuple(report_metrics() if metrics is None else metrics)
    layouts = [_Layout(y_true, s, t, names, n_bins) for s, t in scores]
    n = layouts[0].n_samples
    out = np.empty((n_bootstrap, len(layouts), len(names)))
    done = 0
    for counts in bootstrap_counts(n, n_bootstrap, rng):
        stop = done + counts.shape[0]
        for m, layout in enumerate(layouts):
            out[done:stop, m] = layout.replicates(counts)
        done = stop
    return out
