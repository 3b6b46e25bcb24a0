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
replicates' counts.

The classwise reduction has a score per row *and class*, so its layout would
be ``n x K`` (a language model's 20,000 x 32,000 test logits: 5 GB per
quantity).  Instead (:class:`_ClasswiseBins`) only the entries above the
first bin ``[0, 1 / n_bins]`` are laid out, at most ``n_bins - 1`` per row
of a probability distribution, and the first bin of each class is the
complement: the class's total (``C @ (T - P)``, one dense product over
chunks of rows, ``O(K)`` per replicate) minus its other bins.  Memory is
then ``O(n * n_bins)`` for the layout and ``O(K)`` per replicate, whatever
the number of classes.  Replicate ``b`` equals the library metric with
``sample_weight=C[b]``, which equals the metric on the resampled rows
(integer weights act as repeated rows, the debiased error reading them as
counts).  A ``"whole"`` metric (a median, a rank statistic) has no such sums:
it is recomputed on the resampled rows of each replicate.
"""

import numpy as np
import scipy.sparse

from calibrate._special import iter_chunks
from calibrate.binning import bin_index, uniform_edges
from calibrate.metrics import METRICS
from calibrate.metrics._calibration_error import (
    binned_errors,
    conditional_errors,
    default_reduction,
)
from calibrate.metrics._engine import _n_groups, _reduce
from calibrate.metrics._predictions import (
    _CHUNK_ELEMENTS,
    Predictions,
)
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
# Classwise probabilities up to this size are kept whole between replicate blocks.
_DENSE_BYTES = 2**25


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


def _quantity(quantity, scores, targets):
    """Return each row's term of a bin sum: ``t - s``, 1 or ``t``."""
    if quantity == "gap":
        return targets - scores
    if quantity == "weight":
        return np.ones_like(scores)
    return targets


class _ClasswiseBins:
    """Per-replicate classwise bin sums, without an ``(n, K)`` layout.

    ``sums(counts)`` yields, for sub-blocks of the rows of ``counts``, the
    ``(gap, weight, target)`` arrays of shape ``(n_sub, K, n_bins)`` that
    :func:`binned_errors` reads (``None`` for a quantity not in ``need``),
    equal to the full layout's up to the rounding of the sums.
    """

    def __init__(self, pred, n_bins, need):
        n, k = pred.scores.shape[0], pred.n_class_columns
        self.pred, self.n_bins, self.need, self.k = pred, n_bins, need, k
        self.quantities = [q for q in ("gap", "weight", "target") if q in need]
        edges = uniform_edges(n_bins)
        # The probabilities are held whole only when small (_DENSE_BYTES);
        # otherwise each block of replicates reads them again, chunk by chunk.
        small = n * k * 8 <= _DENSE_BYTES
        rows_at, cells, values, dense = [], [], [], []
        t_rows, t_cols, t_values = [], [], []
        for rows in self._chunks():
            P, T = self._chunk(rows)
            index = bin_index(P, edges)
            r, c = np.nonzero(index > 0)
            rows_at.append(r + rows.start)
            cells.append(c * n_bins + index[r, c])
            values.append((T[r, c], P[r, c]))
            # the targets, sparse: one per row of a multiclass problem
            r, c = np.nonzero(T)
            t_rows.append(r + rows.start)
            t_cols.append(c)
            t_values.append(T[r, c])
            if small:
                dense.append(P)
        self.dense = np.concatenate(dense) if small else None
        t_at = (np.concatenate(t_rows), np.concatenate(t_cols))
        self.targets = scipy.sparse.csc_matrix(
            (np.concatenate(t_values), t_at), shape=(n, k)
        )
        r = np.concatenate(rows_at)
        c = np.concatenate(cells)
        t = np.concatenate([v[0] for v in values])
        p = np.concatenate([v[1] for v in values])
        size = k * n_bins
        data, cols = [], []
        for j, quantity in enumerate(self.quantities):
            cols.append(c + j * size)
            data.append(_quantity(quantity, p, t))
        self.matrix = scipy.sparse.csr_matrix(
            (np.concatenate(data), (np.tile(r, len(data)), np.concatenate(cols))),
            shape=(n, len(self.quantities) * size),
        )
        self._last = None
        # Replicates per sub-block: their (n_sub, K, n_bins) arrays in 32 MiB.
        self.sub = max(1, _BLOCK_ELEMENTS // max(1, len(self.quantities) * size))

    def _chunks(self):
        n = self.pred.scores.shape[0]
        return iter_chunks(n, self.k, chunk_elements=_CHUNK_ELEMENTS // 2)

    def _chunk(self, rows):
        """Float64 probabilities and targets of ``rows``, ``(rows, K)``."""
        P, labels, T = self.pred._rows(rows)._class_chunk()
        if T is None:
            T = np.zeros(P.shape)
            T[np.arange(P.shape[0]), labels] = 1.0
        return P, np.asarray(T, dtype=np.float64)

    def _totals(self, counts):
        """``(C @ P, C @ T)``: each class's count-weighted sums over all rows.

        Kept for the last block of counts, which every classwise metric of
        the report reads (one pass over the scores per block, not per metric).
        """
        if self._last is not None and self._last[0] is counts:
            return self._last[1]
        self._last = (counts, self._sum_totals(counts))
        return self._last[1]

    def _sum_totals(self, counts):
        ct = np.asarray((self.targets.T @ counts.T).T)
        if self.dense is not None:
            return counts @ self.dense, ct
        cp = np.zeros((counts.shape[0], self.k))
        for rows in self._chunks():
            P, _ = self.pred._rows(rows)._class_chunk()[:2]
            cp += counts[:, rows] @ P
        return cp, ct

    def sums(self, counts):
        """Yield ``(block, gap, weight, target)`` for sub-blocks of ``counts``."""
        cp, ct = self._totals(counts)
        total = counts.sum(axis=1)
        k, nb = self.k, self.n_bins
        for start in range(0, counts.shape[0], self.sub):
            block = slice(start, min(start + self.sub, counts.shape[0]))
            got = np.asarray((self.matrix.T @ counts[block].T).T)
            got = got.reshape(got.shape[0], len(self.quantities), k, nb)
            out = dict.fromkeys(("gap", "weight", "target"))
            first = {
                "gap": ct[block] - cp[block],
                "weight": np.broadcast_to(total[block, None], (got.shape[0], k)),
                "target": ct[block],
            }
            for j, quantity in enumerate(self.quantities):
                q = got[:, j]
                # the first bin: the class's total minus its other bins
                q[:, :, 0] = first[quantity] - q[:, :, 1:].sum(axis=-1)
                out[quantity] = q
            yield block, out["gap"], out["weight"], out["target"]


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
        self.classwise = None
        for reduction, need in needs.items():
            if reduction == "classwise":
                self.classwise = _ClasswiseBins(pred, n_bins, need)
                continue
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
                values.append(_quantity(quantity, scores_r, targets_r))
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

    def _sparse_replicates(self, counts, total, out, column):
        """Write the mean and non-classwise binned metrics of ``counts`` to ``out``."""
        sums = np.asarray((self.matrix.T @ counts.T).T)
        for name, start in self.mean.items():
            out[:, column[name]] = sums[:, start] / total
        nb = self.n_bins
        for name, metric in self.metrics.items():
            if metric.combine != "binned" or self.reduction[name] == "classwise":
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

    def replicates(self, counts):
        """Every metric of ``names`` for each row of ``counts``, ``(n_block, m)``."""
        out = np.full((counts.shape[0], len(self.names)), np.nan)
        column = {name: j for j, name in enumerate(self.names)}
        total = counts.sum(axis=1)
        for name, metric in self.metrics.items():
            if metric.combine == "binned" and self.reduction[name] == "classwise":
                options = dict(metric.binned)
                for block, gap, weights, targets in self.classwise.sums(counts):
                    out[block, column[name]] = binned_errors(
                        gap,
                        total[block, None],
                        norm=options["norm"],
                        debias=options["debias"],
                        weights=weights,
                        targets=targets,
                    )
        if self.matrix is not None:
            # Sub-blocks of replicates whose sums (K * n_bins per replicate
            # for the class-conditional bins) fit in _BLOCK_ELEMENTS.
            step = max(1, _BLOCK_ELEMENTS // max(1, self.size))
            for start in range(0, counts.shape[0], step):
                block = slice(start, min(start + step, counts.shape[0]))
                self._sparse_replicates(counts[block], total[block], out[block], column)
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
