"""Dask arrays: per-block sums on the workers, combined on the client.

Imported only when an input is a ``dask.array`` (checked by the module name
of its type, so ``import calibrate`` never imports dask).  The scores must
be chunked along rows; a block holding only some of the columns is merged
into whole rows first (``rechunk({1: -1})``).  Labels and weights are O(n)
and read on the client.

* :func:`evaluate_dask` runs the engine's map step
  (:func:`calibrate.metrics._engine.block_partial`) on every block, as a
  dask task, merges the O(K)-per-class results in a tree
  (:func:`~calibrate.metrics._engine.merge_partials`) and finishes on the
  client.  Metrics that combine over blocks (``combine="mean"`` and the
  equal-width ``"binned"`` ones) are computed so; the others (``"whole"``
  metrics, equal-mass classwise bins) are computed by their functions on
  the dask array (:class:`DaskPredictions`: the reduced O(n) quantities
  gathered block by block, classwise columns read a block of columns at a
  time).
* :func:`temperature_derivatives` is the per-pass reduction of the
  temperature-scaling fit: each block's sums of the three derivatives.
* :func:`block_sums` is the same for the Newton kernels of vector and Platt
  scaling (``calibrate/calibrators/_newton.py``): a kernel that sums a loss,
  its gradient and its Hessian (or a Hessian-vector product) over the rows
  of a numpy array is run on every block, as a dask task, and the results
  are added in a tree.  The fits then make the same steps as on numpy, with
  sums that differ only in their rounding (the order of the additions), and
  stop on the same gradient-norm test.
* :func:`predict_dask` maps a fitted calibrator over the blocks
  (``map_blocks``); with ``out`` the result is written by ``dask.array.store``.

With a ``distributed.Client`` in the session the same calls run on its
cluster: dask uses the active client's scheduler for every ``compute``.
"""

import warnings
from functools import partial

import numpy as np

__all__ = [
    "block_sums",
    "evaluate_dask",
    "is_dask",
    "predict_dask",
    "rows_of",
    "temperature_derivatives",
]


def is_dask(X):
    """Whether ``X`` is a dask collection, without importing dask."""
    return type(X).__module__.startswith("dask")


def _rows_chunked(X):
    """``X`` as 2-D, every block holding whole rows."""
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(
            f"a dask y_prob must be of shape (n_samples,) or (n_samples, "
            f"n_classes); got shape {X.shape}."
        )
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    return X


def _local(a):
    """Labels or weights on the client (O(n))."""
    if a is None:
        return None
    return np.asarray(a.compute() if is_dask(a) else a)


def _recorded(function, *args, **kwargs):
    """``(function(*args, **kwargs), its warnings)``: the body of every task.

    The per-block checks warn through :func:`calibrate._warnings.warn`, kept
    here and returned with the result, so that a warning raised on a
    ``distributed`` worker reaches the client (:func:`_compute`) instead of
    the worker's log.
    """
    from calibrate._warnings import collected

    with collected() as caught:
        value = function(*args, **kwargs)
    return value, tuple(caught)


def _task(function):
    """Return a dask task of ``function`` that gives ``(result, warnings)``."""
    import dask

    return partial(dask.delayed(_recorded, pure=True), function)


def _merged(combine, a, b):
    return combine(a[0], b[0]), a[1] + b[1]


def _tree(delayed_parts, combine):
    """Merge delayed ``(result, warnings)`` pairwise: no task holds more than two."""
    import dask

    parts = list(delayed_parts)
    merge = partial(dask.delayed(_merged, pure=True), combine)
    while len(parts) > 1:
        paired = [merge(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    return parts[0]


def _compute(*recorded):
    """Compute ``(result, warnings)`` tasks; warn on the client; return the results.

    Each kind of warning is warned once, saying how many blocks raised it
    (:func:`calibrate.metrics._engine.warnings_per_chunk`).
    """
    import dask

    from calibrate.metrics._engine import warnings_per_chunk

    done = dask.compute(*recorded)
    with warnings_per_chunk():
        for _, caught in done:
            for category, message in caught:
                warnings.warn(message, category, stacklevel=2)
    return [value for value, _ in done]


def evaluate_dask(
    y_true, y_prob, *, metrics, input_type, sample_weight, n_bins, strategy
):
    """:func:`calibrate.metrics.evaluate` of a dask array, block by block."""
    from calibrate.metrics._engine import (
        METRICS,
        _evaluate,
        _make_spec,
        _prepare,
        block_partial,
        merge_partials,
        select_metrics,
    )

    X = _rows_chunked(y_prob)
    y = _local(y_true)
    w_given = _local(sample_weight)
    task, encoded, weights = _prepare(y, X.shape, w_given, ("y_prob", "y_true"))
    names = select_metrics(metrics, task)
    chosen = {name: METRICS[name] for name in names}
    spec = _make_spec(chosen, task, weights, input_type, n_bins, strategy, X.shape[1])
    bounds = np.cumsum((0, *X.chunks[0]))
    parts = []
    partial_of = _task(block_partial)
    for i, block in enumerate(X.to_delayed()[:, 0]):
        rows = slice(int(bounds[i]), int(bounds[i + 1]))
        w = np.ones(rows.stop - rows.start) if weights is None else weights[rows]
        parts.append(partial_of(spec, encoded[rows], block, w))
    (partial_sums,) = _compute(_tree(parts, merge_partials))
    return _evaluate(
        y,
        encoded,
        None,
        X.shape[0],
        task,
        names,
        input_type,
        weights,
        w_given,
        n_bins,
        strategy,
        None,
        lambda: y_prob,
        X.shape[1],
        partial=partial_sums,
    )


def _classwise(metric):
    return metric.combine == "binned" and dict(metric.binned)["reduction"] == (
        "classwise"
    )


def check_dask_logits(X, name="X"):
    """Refuse NaN and infinite logits of a dask array (one pass on the workers)."""
    import dask.array as da

    if not bool(da.isfinite(X).all().compute()):
        raise ValueError(f"{name} contains NaN or infinite values.")


def rows_of(a, rows):
    """Return the ``rows`` of labels, weights or a targets object (on the client)."""
    return a.take_rows(rows) if hasattr(a, "take_rows") else a[rows]


def _add(a, b):
    """Return ``a + b``, entry by entry for (nested) tuples of numbers and arrays."""
    if isinstance(a, tuple):
        return tuple(_add(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def block_sums(kernel, Z, row_args, *args, **kwargs):
    """Sum ``kernel(block, *row_args_of_block, *args, **kwargs)`` over row blocks.

    ``Z`` is a dask array chunked along rows (whole rows in every block);
    ``row_args`` are O(n) numpy arrays or targets objects (labels, weights),
    cut to each block's rows on the client.  ``kernel`` is a numpy function
    whose result (a number, an array or a nested tuple of them) is a sum over
    the rows it is given: each block's result is computed by one dask task
    and the results are added pairwise in a tree, so no task holds more than
    one block of scores (or two results).
    """
    task = _task(kernel)
    bounds = np.cumsum((0, *Z.chunks[0]))
    parts = []
    for i, block in enumerate(Z.to_delayed()[:, 0]):
        rows = slice(int(bounds[i]), int(bounds[i + 1]))
        parts.append(
            task(block, *(rows_of(a, rows) for a in row_args), *args, **kwargs)
        )
    (total,) = _compute(_tree(parts, _add))
    return total


def temperature_derivatives(Z, y, w, beta, task, coarse, scale=1.0):
    """Return the sums of ``_derivative_sums`` over the blocks of a dask ``Z``."""
    from calibrate._special import iter_chunks
    from calibrate.calibrators._temperature import _derivative_sums

    def sums_of_block(block, yb, wb):
        chunks = list(iter_chunks(*block.shape))
        return np.array(
            _derivative_sums(block, yb, wb, beta, task, coarse, chunks, scale)
        )

    bounds = np.cumsum((0, *Z.chunks[0]))
    parts = []
    for i, block in enumerate(Z.to_delayed()[:, 0]):
        rows = slice(int(bounds[i]), int(bounds[i + 1]))
        parts.append(_task(sums_of_block)(block, rows_of(y, rows), w[rows]))
    (total,) = _compute(_tree(parts, np.add))
    return tuple(float(v) for v in total)


def predict_dask(calibrator, X, kind, out):
    """``kind`` of a fitted calibrator over the blocks of a dask ``X``."""
    import dask.array as da

    one_d = X.ndim == 1
    X2 = _rows_chunked(X)
    k = X2.shape[1]
    if k != calibrator.n_features_in_:
        raise ValueError(
            f"X has {k} columns, but {type(calibrator).__name__} was fitted on "
            f"{calibrator.n_features_in_}."
        )
    shape = calibrator._output_shape(X2.shape, one_d, kind)
    width = shape[1] if len(shape) == 2 else 1

    def block(b):
        return calibrator._predict_into(b, kind, None).reshape(len(b), width)

    result = X2.map_blocks(
        block, dtype=np.float64, chunks=(X2.chunks[0], (width,)), meta=np.empty((0, 0))
    )
    if len(shape) == 1:
        result = result[:, 0]
    if out is None:
        return result
    da.store(result, out)
    return out


# ------------------------------------------------------------------ metrics
def _block_predictions(encoded, block, input_type):
    """Return the :class:`~calibrate.metrics._predictions.Predictions` of a block."""
    from calibrate.metrics._engine import _narrow
    from calibrate.metrics._predictions import Predictions

    block = np.asarray(block)
    if _narrow(block.dtype):  # float16 widened to float32, exactly (as _Blocks)
        block = block.astype(np.float32)
    return Predictions(encoded, block, input_type=input_type, sample_weight=None)


def _on_block(method, encoded, block, input_type):
    """``method(Predictions of the block)``, as a dask task."""
    return method(_block_predictions(encoded, block, input_type))


def _weighted_sums(terms, encoded, block, w, input_type):
    """One block's ``(sum w * terms, sum w)`` (a dask task)."""
    values = terms(_block_predictions(encoded, block, input_type))
    return float(np.dot(w, values)), float(w.sum())


def _nothing(pred):
    """Validate a block and return nothing (its Predictions were built)."""
    return ()


def _row_normaliser(pred):
    """Each row's maximum and sum of ``exp(z - max)``, in float64.

    The same numbers as :meth:`Predictions.class_columns` forms over chunks of
    rows (per row, so they do not depend on the blocks).
    """
    e = np.array(pred.scores, dtype=np.float64)
    top = e.max(axis=1)
    e -= top[:, None]
    np.exp(e, out=e)
    return top, e.sum(axis=1)


def _class_chunk(pred):
    P, _, T = pred._class_chunk()
    return P, T


def _top_label_prediction(pred):
    return pred.top_label_prediction()


def _positive(pred):
    scores, targets = pred.positive()
    return scores, np.asarray(targets, dtype=np.float64)


class DaskPredictions:
    """Predictions of a dask array chunked along rows: what the metrics read.

    The counterpart of :class:`calibrate.metrics._predictions.Predictions`
    for :mod:`calibrate.metrics`' public functions.  Labels and weights are
    O(n) and checked on the client; every block of scores is checked, and its
    per-row quantities computed, by a dask task that builds the block's own
    ``Predictions`` (so the formulas are those of the numpy path):

    * :meth:`mean_of` (NLL, Brier score, accuracy): each block's weighted sum,
      added in a tree;
    * :meth:`binned` (the binned errors with equal-width bins, classwise
      included): the engine's :func:`~calibrate.metrics._engine.block_partial`
      on every block, merged in a tree;
    * the whole-array statistics (KS error, smooth ECE, equal-mass bins):
      :meth:`top_label_prediction`, :meth:`top_label` and :meth:`positive`
      compute the reduced per-row quantities (confidence and correctness,
      O(n)) block by block and return them to the client, which finishes
      the statistic; :meth:`class_columns` gives every row of a block of
      class columns at a time (at most
      :data:`~calibrate.metrics._predictions.COLUMN_BLOCK_BYTES` of float64
      temporaries on the client), so a classwise whole-array statistic reads
      the dask array once per block of columns.
    """

    def __init__(self, y_true, y_prob, *, input_type, sample_weight):
        from calibrate._validation import check_input_type, check_labels
        from calibrate.metrics._engine import _prepare

        check_input_type(input_type)
        X = _rows_chunked(y_prob)
        y = _local(y_true)
        task, _, weights = _prepare(y, X.shape, _local(sample_weight), NAMES)
        from calibrate._validation import as_label_array

        self.y, self.classes = check_labels(
            as_label_array(y, "y_true"),
            task=task,
            n_columns=X.shape[1],
            n_samples=X.shape[0],
            names=NAMES,
        )
        self.scores, self.task, self.input_type = X, task, input_type
        self._given = weights  # None without sample_weight (the engine's form)
        self.weights = np.ones(X.shape[0]) if weights is None else weights

    @property
    def n_columns(self):
        """Number of score columns (1 for binary)."""
        return self.scores.shape[1]

    @property
    def n_class_columns(self):
        """Columns of the classwise reduction (2 for binary scores)."""
        return 2 if self.task == "binary" else self.n_columns

    def _blocks(self):
        """``(rows, delayed block)`` of every block of rows."""
        bounds = np.cumsum((0, *self.scores.chunks[0]))
        for i, block in enumerate(self.scores.to_delayed()[:, 0]):
            yield slice(int(bounds[i]), int(bounds[i + 1])), block

    def _map(self, method):
        """``method(Predictions of each block)``, computed; a list in row order."""
        task = _task(_on_block)
        parts = [
            task(method, self.y[rows], block, self.input_type)
            for rows, block in self._blocks()
        ]
        return _compute(*parts)

    def _concatenated(self, method):
        """Return the per-row arrays of ``method``, concatenated over the blocks."""
        parts = self._map(method)
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def weighted_mean(self, values):
        """Weighted mean over samples of a per-row quantity (on the client)."""
        from calibrate.metrics._predictions import Predictions

        return Predictions.weighted_mean(self, values)

    def mean_of(self, terms):
        """Weighted mean of ``terms(pred)``: a weighted sum per block, added."""
        task = _task(_weighted_sums)
        parts = [
            task(terms, self.y[rows], block, self.weights[rows], self.input_type)
            for rows, block in self._blocks()
        ]
        ((total, weight),) = _compute(_tree(parts, _add))
        with np.errstate(over="ignore", invalid="ignore"):
            return float(total / weight)

    def top_label_prediction(self):
        """Predicted column, confidence and correctness, shape (n,) each."""
        return self._concatenated(_top_label_prediction)

    def top_label(self):
        """Top-label confidence and correctness, shape (n,) each."""
        _, confidence, correct = self.top_label_prediction()
        return confidence, correct

    def positive(self):
        """P(y = positive class) and the 0/1 target (binary problems)."""
        return self._concatenated(_positive)

    def class_columns(self, max_bytes=None):
        """Yield ``(columns, P, T)`` as :meth:`Predictions.class_columns` does.

        One dask pass checks the blocks (and, for multiclass logits, gives
        each row's maximum and sum of exponentials); then each block of
        columns, every row of it, is computed and normalised on the client.
        """
        from calibrate.metrics._predictions import (
            COLUMN_BLOCK_BYTES,
            column_block_proba,
            event_proba,
        )

        n = self.scores.shape[0]
        budget = COLUMN_BLOCK_BYTES if max_bytes is None else max_bytes
        width = max(1, int(budget // (64 * n)))
        if self.task == "binary":
            P, T = self._concatenated(_class_chunk)
            yield slice(0, 2), P, T
            return
        logits = self.task == "multiclass" and self.input_type == "logits"
        if logits:
            top, total = self._concatenated(_row_normaliser)
        else:
            self._map(_nothing)
        k = self.n_columns
        for start in range(0, k, width):
            cols = slice(start, min(start + width, k))
            block = np.asarray(self.scores[:, cols].compute())
            if self.task == "multilabel":
                yield cols, event_proba(block, self.input_type), self.y[:, cols]
                continue
            yield (
                cols,
                *column_block_proba(
                    block,
                    self.input_type,
                    self.y,
                    cols,
                    *((top, total) if logits else ()),
                ),
            )

    def _partial(self, spec):
        """Return the engine's :func:`block_partial` merged over the blocks."""
        from calibrate.metrics._engine import block_partial, merge_partials

        task = _task(block_partial)
        parts = [
            task(spec, self.y[rows], block, self.weights[rows])
            for rows, block in self._blocks()
        ]
        (merged,) = _compute(_tree(parts, merge_partials))
        return merged

    def classwise_bins(self, n_bins, strategy):
        """One BinStats per class, as :meth:`Predictions.classwise_bins`."""
        return self.binned("classwise", n_bins, strategy)

    def binned(self, reduction, n_bins, strategy):
        """Return the bins of ``reduction``, as ``bin_predictions`` does.

        Equal-width bins are the engine's per-block bins merged (classwise:
        its per-block bin sums); equal-mass bins gather the reduced scores
        (top-label, positive: two values a row) and bin them on the client,
        or (classwise) read blocks of columns.
        """
        from calibrate.binning import GroupBinSums, _bin_column
        from calibrate.metrics._calibration_error import TopLabelConditionalBins
        from calibrate.metrics._engine import _bin, _BlockSpec, _merge

        if reduction == "classwise" and strategy != "uniform":
            return tuple(
                _bin_column(P[:, j], T[:, j], self.weights, n_bins, strategy)
                for _, P, T in self.class_columns()
                for j in range(P.shape[1])
            )
        n_groups = max(self.n_columns, 2)
        spec = _BlockSpec(
            input_type=self.input_type,
            metrics={},
            means=[],
            reductions=[] if reduction == "classwise" else [reduction],
            reduction_of={},
            n_groups=n_groups,
            classwise=None,
            n_bins=n_bins,
            strategy=strategy,
            weight_scale=None
            if np.all(self.weights == self.weights[0])
            else float(self.weights.max()),
        )
        if reduction == "classwise":
            w = self.weights
            # The weight scale of Predictions.classwise_bins.
            spec.classwise = (
                self.n_class_columns,
                None if np.all(w == w[0]) else float(w.max()),
            )
        _, _, parts, classwise = self._partial(spec)
        if reduction == "classwise":
            return classwise.stats()
        if strategy == "uniform":
            merged = _merge(parts[reduction])
            if isinstance(merged, GroupBinSums):
                return TopLabelConditionalBins(merged.stats())
            return merged
        arrays = tuple(
            np.concatenate(column) for column in zip(*parts[reduction], strict=True)
        )
        return _bin(arrays, self.weights, n_bins, strategy, n_groups)


NAMES = ("y_prob", "y_true")
