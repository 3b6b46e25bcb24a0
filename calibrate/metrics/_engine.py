"""The evaluation engine: every registered metric, chunk by chunk.

:func:`evaluate` is the one path by which the command line, the report and
:func:`evaluate_calibrator` compute metrics.  It reads the scores in blocks of
rows, in their own dtype (a memory-mapped ``.npy`` file larger than memory
works), and combines each metric over the blocks as its registry entry says
(:attr:`~calibrate.metrics.Metric.combine`):

* ``"mean"``: the weighted sums of the per-row terms add up over blocks;
* ``"binned"``: equal-width bins are merged over blocks
  (:func:`calibrate.binning.merge_bin_stats`); equal-mass edges depend on the
  whole column, so the reduced scores and targets of the blocks (the top-label
  confidence and correctness: two float64 values a row; classwise: two per
  row and class) are gathered and binned once;
* ``"whole"``: computed once by the metric's function on the whole input,
  never averaged over blocks.

The labels are encoded once over the whole input (8 bytes a row, or a row of
the indicator matrix), so that every block reads them alike.  The chunked
result equals the whole-array one up to the rounding of the sums (about
1e-15 relative).
"""

import numbers
import os
import re
import tempfile
import warnings
from contextlib import contextmanager

import numpy as np

from calibrate._validation import (
    as_label_array,
    as_numeric_array,
    check_input_type,
    check_labels,
    check_sample_weight,
    infer_task,
)
from calibrate.binning import (
    ColumnBinSums,
    GroupBinSums,
    _bin_column,
    _bin_columns,
    _bin_groups,
    check_binning,
    merge_bin_stats,
)
from calibrate.metrics._calibration_error import (
    TopLabelConditionalBins,
    _check_frequency_weights,
    binned_calibration_error,
    binned_errors,
    conditional_errors,
    default_reduction,
)
from calibrate.metrics._predictions import (
    COLUMN_BLOCK_BYTES,
    Predictions,
    predictions,
)
from calibrate.metrics._registry import METRICS

__all__ = ["applicable_metrics", "evaluate", "evaluate_calibrator", "select_metrics"]

# Rows per block: about 2**20 scores, at most 2**18 rows.  Each metric holds
# a few float64 values per score or row of the block: some tens of MB.
_BLOCK_SCORES = 2**20
_MAX_BLOCK_ROWS = 2**18


def default_chunk_rows(n_columns):
    """Rows per block for scores of ``n_columns`` columns."""
    return max(1, min(_MAX_BLOCK_ROWS, _BLOCK_SCORES // max(1, n_columns)))


def applicable_metrics(task):
    """Return ``(names, not_applicable)`` of the registry for ``task``.

    ``names`` lists the metrics defined for the task, in registry order;
    ``not_applicable`` maps the others to the reason.
    """
    names, skipped = [], {}
    for name, metric in METRICS.items():
        if task in metric.tasks:
            names.append(name)
        else:
            skipped[name] = (
                f"defined for {' and '.join(sorted(metric.tasks))} data only"
            )
    return names, skipped


def select_metrics(metrics, task):
    """Return the names ``metrics`` asks for, checked against the registry.

    ``metrics`` is None (every metric defined for ``task``), a name, a
    comma-separated string of names or a sequence of names.  Raises
    ValueError for an unknown name or one not defined for ``task``.
    """
    names, skipped = applicable_metrics(task)
    if metrics is None:
        return names
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    chosen = []
    for name in metrics:
        name = name.strip() if isinstance(name, str) else name
        if name not in METRICS:
            raise ValueError(
                f"unknown metric {name!r}; the metrics are {', '.join(METRICS)}."
            )
        if name in skipped:
            raise ValueError(f"metric {name} is {skipped[name]}; these are {task}.")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ValueError("metrics names no metric.")
    return chosen


def _check_chunk_rows(chunk_rows):
    if chunk_rows is None:
        return None
    if (
        isinstance(chunk_rows, (bool, np.bool_))
        or not isinstance(chunk_rows, numbers.Integral)
        or chunk_rows < 1
    ):
        raise ValueError(
            f"chunk_rows must be None or an integer >= 1; got {chunk_rows!r}."
        )
    return int(chunk_rows)


@contextmanager
def warnings_per_chunk(what=None):
    """Report a warning raised in many chunks of rows once, not once per chunk.

    Warnings raised in the body are held back; at the end each kind (same
    category, same text but for its numbers) is warned once, with the first
    chunk's text and how many chunks raised it.  ``what`` names the data (the
    scores file, say), or None.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    groups = {}
    for record in caught:
        key = (record.category, re.sub(r"\d[\d.e+-]*", "#", str(record.message)))
        groups.setdefault(key, []).append(record)
    of = "" if what is None else f" of {what}"
    for (category, _), records in groups.items():
        text = str(records[0].message)
        if len(records) > 1:
            text += (
                f" (This was reported for {len(records)} chunks of rows{of}; the "
                "numbers above are the first chunk's.)"
            )
        warnings.warn(text, category, stacklevel=3)


def _block_weights(weights, block, n_rows):
    if weights is None:
        return np.ones(len(range(*block.indices(n_rows))))
    return weights[block]


def _reduce(pred, reduction):
    """Return the arrays ``reduction`` bins.

    Scores and targets (1-D, or ``(n, K)`` classwise), and for
    ``"top_label_conditional"`` the predicted class after them.
    """
    if reduction == "classwise":
        return pred.class_proba()
    if reduction == "top_label":
        return pred.top_label()
    if reduction == "top_label_conditional":
        top, confidence, correct = pred.top_label_prediction()
        return confidence, correct, top
    return pred.positive()


def _n_groups(pred):
    """Predicted classes of the conditional reduction (two for binary scores)."""
    return max(pred.n_columns, 2)


def _bin(arrays, weights, n_bins, strategy, n_groups, weight_scale=None):
    if len(arrays) == 3 and strategy == "uniform":
        # Sums per (predicted class, bin) cell: merged by adding arrays, not
        # one BinStats per class and block.
        return GroupBinSums(n_groups, n_bins, weight_scale=weight_scale).add(
            *arrays, weights
        )
    if len(arrays) == 3:
        return TopLabelConditionalBins(
            _bin_groups(*arrays, n_groups, weights, n_bins, strategy)
        )
    scores, targets = arrays
    if scores.ndim == 2:
        return _bin_columns(scores, targets, weights, n_bins, strategy)
    return _bin_column(scores, targets, weights, n_bins, strategy)


def _merge(parts):
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], GroupBinSums):
        merged = parts[0]
        for part in parts[1:]:
            merged.merge(part)
        return merged
    if isinstance(parts[0], tuple):
        # the classwise tuple, or TopLabelConditionalBins: merged per column
        return type(parts[0])(
            merge_bin_stats(column) for column in zip(*parts, strict=True)
        )
    return merge_bin_stats(parts)


def _narrow(dtype):
    """float16 or bfloat16: 2-byte floats, widened to float32 for arithmetic."""
    return dtype == np.float16 or dtype.name == "bfloat16"


class _Blocks:
    """Scores read block by block: an array (in its own dtype) or a function."""

    def __init__(self, X, read=None):
        self.X, self.read = X, read

    def __getitem__(self, rows):
        if self.read is not None:
            return self.read(rows)
        block = np.asarray(self.X[rows])
        # float16 arithmetic is emulated (a max or an argmax costs 30 times
        # its float32 cost); the block is widened to float32, exactly.
        return block.astype(np.float32) if _narrow(block.dtype) else block


class _BlockSpec:
    """What :func:`block_partial` computes on each block of rows."""

    def __init__(self, **facts):
        self.__dict__.update(facts)


def _make_spec(metrics, task, weights, input_type, n_bins, strategy, blocks_columns):
    """Return the :class:`_BlockSpec` of ``metrics`` (a dict name -> Metric)."""
    means = [n for n, m in metrics.items() if m.combine == "mean"]
    binned = [n for n, m in metrics.items() if m.combine == "binned"]
    reduction_of = {
        n: default_reduction(dict(metrics[n].binned)["reduction"], task) for n in binned
    }
    reductions = set(reduction_of.values())
    # Classwise bins: equal-width sums accumulated over the blocks (O(K) per
    # class), or, for equal-mass edges, computed once from blocks of columns
    # of the whole input; never the (n, K) float64 probabilities.
    spec = _BlockSpec(
        input_type=input_type,
        metrics=metrics,
        means=means,
        reductions=sorted(reductions - {"classwise"}),
        reduction_of=reduction_of,
        # Predicted classes of the conditional reduction (two for binary).
        n_groups=max(blocks_columns, 2),
        classwise=None,
        n_bins=n_bins,
        strategy=strategy,
        # None when every row weighs 1 (effective counts = counts).
        weight_scale=None if weights is None else float(weights.max()),
    )
    if "classwise" in reductions and strategy == "uniform":
        spec.classwise = (
            2 if task == "binary" else blocks_columns,
            None if weights is None else float(weights.max()),
        )
    return spec


def block_partial(spec, encoded, scores, w):
    """Return the sums one block of rows contributes (the map step).

    Returns ``(sums, total, parts, classwise)``: the weighted sums of the
    per-row terms of each "mean" metric, the block's total weight, the bins
    (or, for equal-mass bins, the reduced scores and targets) of each
    reduction, and the classwise :class:`~calibrate.binning.ColumnBinSums`.
    Small (O(K) per class) and merged by :func:`merge_partials`, so blocks
    can be computed anywhere (a dask worker) and combined in any order.
    """
    pred = Predictions(encoded, scores, input_type=spec.input_type, sample_weight=None)
    sums = {
        name: float(np.dot(w, spec.metrics[name].terms(pred))) for name in spec.means
    }
    classwise = None
    if spec.classwise is not None:
        k, scale = spec.classwise
        classwise = ColumnBinSums(k, spec.n_bins, weight_scale=scale)
        pred.add_classwise(classwise, w)
        classwise.compact()
    parts = {}
    for reduction in spec.reductions:
        arrays = _reduce(pred, reduction)
        if spec.strategy == "uniform":
            parts[reduction] = [
                _bin(
                    arrays,
                    w,
                    spec.n_bins,
                    spec.strategy,
                    spec.n_groups,
                    spec.weight_scale,
                )
            ]
        else:
            parts[reduction] = [arrays]
    return sums, float(w.sum()), parts, classwise


def _is_arrays(part):
    """Whether a block's part is reduced scores (equal-mass), not bins."""
    return isinstance(part, tuple) and isinstance(part[0], np.ndarray)


def merge_partials(a, b):
    """Combine two :func:`block_partial` results (of disjoint rows)."""
    sums = {name: a[0][name] + b[0][name] for name in a[0]}
    parts = {r: a[2][r] + b[2][r] for r in a[2]}
    for r, got in parts.items():
        # Equal-width bins (BinStats, or a tuple of them): keep one merged.
        # Equal-mass input (a tuple of arrays) waits for the whole column.
        if len(got) > 1 and not _is_arrays(got[0]):
            parts[r] = [_merge(got)]
    classwise = a[3]
    if classwise is not None:
        classwise.merge(b[3])
    return sums, a[1] + b[1], parts, classwise


def _evaluate(
    y_true,
    encoded,
    blocks,
    n_rows,
    task,
    names,
    input_type,
    weights,
    sample_weight,
    n_bins,
    strategy,
    rows,
    whole,
    blocks_columns,
    partial=None,
):
    """Run the engine on checked input; ``whole()`` returns the whole scores.

    ``blocks_columns`` is the number of score columns the blocks hold;
    ``partial``, the merged :func:`block_partial` of every block when they
    were computed elsewhere (dask), or None to compute them here.
    """
    metrics = {name: METRICS[name] for name in names}
    means = [n for n, m in metrics.items() if m.combine == "mean"]
    binned = [n for n, m in metrics.items() if m.combine == "binned"]
    if sample_weight is not None and any(
        dict(metrics[n].binned)["debias"] for n in binned
    ):
        _check_frequency_weights(weights)
    spec = _make_spec(
        metrics, task, weights, input_type, n_bins, strategy, blocks_columns
    )
    if (means or binned) and partial is None:
        with warnings_per_chunk():
            for start in range(0, n_rows, rows):
                block = slice(start, min(start + rows, n_rows))
                w = _block_weights(weights, block, n_rows)
                got = block_partial(spec, encoded[block], blocks[block], w)
                partial = got if partial is None else merge_partials(partial, got)
    sums, total, parts, classwise = (
        (dict.fromkeys(means, 0.0), 0.0, {}, None) if partial is None else partial
    )
    stats = {}
    for reduction, got in parts.items():
        if strategy == "uniform":
            stats[reduction] = _merge(got)
        else:
            arrays = tuple(np.concatenate(column) for column in zip(*got, strict=True))
            w = np.ones(n_rows) if weights is None else weights
            stats[reduction] = _bin(arrays, w, n_bins, strategy, spec.n_groups)
    if classwise is not None:
        stats["classwise"] = classwise
    elif "classwise" in spec.reduction_of.values():
        stats["classwise"] = predictions(
            y_true, whole(), input_type=input_type, sample_weight=sample_weight
        ).classwise_bins(n_bins, strategy)
    values = {}
    whole_scores = None
    for name, metric in metrics.items():
        if metric.combine == "mean":
            values[name] = float(sums[name] / total)
        elif metric.combine == "binned":
            options = dict(metric.binned)
            got = stats[spec.reduction_of[name]]
            if isinstance(got, GroupBinSums):
                gap_sums, group_totals, bin_weights, targets = got.error_sums()
                if not group_totals.sum() > 0:
                    raise ValueError(
                        "the bins hold no weight; need a positive total weight."
                    )
                values[name] = float(
                    conditional_errors(
                        gap_sums,
                        group_totals.sum(),
                        norm=options["norm"],
                        debias=options["debias"],
                        weights=bin_weights,
                        targets=targets,
                    )
                )
                continue
            if isinstance(got, ColumnBinSums):
                # From the sums directly: no BinStats per class.
                gap_sums, class_totals, bin_weights, targets = got.error_sums()
                norm = "max" if options["norm"] == "max_cell" else options["norm"]
                values[name] = float(
                    binned_errors(
                        gap_sums,
                        class_totals,
                        norm=norm,
                        debias=options["debias"],
                        weights=bin_weights,
                        targets=targets,
                    )
                )
                continue
            values[name] = binned_calibration_error(
                got, norm=options["norm"], debias=options["debias"]
            )
        else:
            if whole_scores is None:
                whole_scores = whole()
            options = {"n_bins": n_bins, "strategy": strategy}
            values[name] = float(
                metric(
                    y_true,
                    whole_scores,
                    input_type=input_type,
                    sample_weight=sample_weight,
                    **{k: v for k, v in options.items() if k in metric.options},
                )
            )
    return values


def _prepare(y_true, shape, sample_weight, names):
    y = as_label_array(y_true, names[1])
    task = infer_task(shape, y, names=names)
    if y.shape[0] != shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} have different numbers of rows: "
            f"{names[0]} has {shape[0]}, {names[1]} has {y.shape[0]}."
        )
    # Integer labels that index the columns (multiclass), 0/1 labels (binary)
    # and indicators read the same in every block: each block checks its own.
    # Other labels (strings) are encoded once over the whole input, so that a
    # block holding one class reads it as the whole does.
    direct = task == "multilabel" or (
        y.dtype.kind in "iu"
        and y.ndim == 1
        and (task == "multiclass" or (y.min() >= 0 and y.max() <= 1))
    )
    encoded = y
    if not direct:
        encoded, _ = check_labels(
            y, task=task, n_columns=shape[1], n_samples=shape[0], names=names
        )
    # No array of n ones without weights: a file of many rows and few
    # columns would hold it beside the labels.
    weights = None
    if sample_weight is not None:
        weights = check_sample_weight(sample_weight, shape[0])
    return task, encoded, weights


def evaluate(
    y_true,
    y_prob,
    *,
    metrics=None,
    input_type="probs",
    sample_weight=None,
    n_bins=15,
    strategy="uniform",
    chunk_rows=None,
):
    """Compute registered metrics of scores, chunk by chunk in bounded memory.

    The one evaluation path of the package: the command line (``fit``,
    ``evaluate``), the report and :func:`evaluate_calibrator` call it.  Each
    metric combines over blocks of rows as its registry entry says
    (:attr:`Metric.combine <calibrate.metrics.Metric>`): a weighted mean of
    per-row terms, a binned error from merged bin statistics, or a
    whole-array statistic computed once on the whole input.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a 0/1 indicator matrix for multilabel problems (read as
        the metrics read them).
    y_prob : array_like of shape (n_samples,) or (n_samples, n_columns)
        Scores, read as ``input_type`` says; a memory-mapped array is read
        block by block in its own dtype.
    metrics : None, str or sequence of str, default=None
        Names in :data:`~calibrate.metrics.METRICS` (a comma-separated string
        works too); None computes every metric defined for the task.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights.
    n_bins : int, default=15
        Bins of the metrics that take ``n_bins``.
    strategy : {"uniform", "quantile"}, default="uniform"
        Binning of the metrics that take ``strategy``.  Equal-mass edges need
        the whole column: the reduced scores and targets are gathered over the
        blocks (two float64 values a row, or a row and class for the classwise
        error) and binned once.
    chunk_rows : int, default=None
        Rows per block; None takes about 2**20 scores per block (at most
        2**18 rows).  A ``dask.array`` ``y_prob`` keeps its own row chunks:
        each block's sums are computed as a dask task (on a ``distributed``
        cluster when a ``Client`` is active) and merged.  The metrics that
        need every row at once (``combine="whole"``: KS error, smooth ECE;
        equal-mass classwise bins) gather the reduced per-row quantities,
        O(n) on the client, or read one block of class columns at a time
        (``ks_classwise``, equal-mass classwise bins: the dask array is
        computed once per block of about 2**22 / n_samples columns, as a
        memory-mapped file is read); the values equal the numpy ones to
        1e-12.

    Returns
    -------
    dict
        ``{name: value}`` in the order asked (registry order for None).

    Raises
    ------
    ValueError
        For invalid scores, labels or weights (as the metrics), an unknown
        metric or one not defined for the task, or invalid options.

    Examples
    --------
    Two blocks of rows; the Brier score is ``(0.1**2 + 0.4**2 + 0.7**2) / 3``:

    >>> values = evaluate([0, 1, 1], [[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]],
    ...                   metrics=["accuracy", "brier"], chunk_rows=2)
    >>> {name: round(value, 6) for name, value in values.items()}
    {'accuracy': 0.666667, 'brier': 0.22}
    """
    check_input_type(input_type)
    n_bins = check_binning(n_bins, strategy)
    rows = _check_chunk_rows(chunk_rows)
    if type(y_prob).__module__.startswith("dask"):  # never imports dask otherwise
        from calibrate._dask import evaluate_dask

        return evaluate_dask(
            y_true,
            y_prob,
            metrics=metrics,
            input_type=input_type,
            sample_weight=sample_weight,
            n_bins=n_bins,
            strategy=strategy,
        )
    X = as_numeric_array(y_prob, "y_prob")
    if X.ndim not in (1, 2):
        raise ValueError(
            "y_prob must be of shape (n_samples,) or (n_samples, n_classes); "
            f"got shape {X.shape}."
        )
    X2 = X[:, None] if X.ndim == 1 else X
    task, encoded, weights = _prepare(
        y_true, X2.shape, sample_weight, ("y_prob", "y_true")
    )
    names = select_metrics(metrics, task)
    n = X2.shape[0]
    rows = default_chunk_rows(X2.shape[1]) if rows is None else rows
    return _evaluate(
        y_true,
        encoded,
        _Blocks(X2),
        n,
        task,
        names,
        input_type,
        weights,
        sample_weight,
        n_bins,
        strategy,
        rows,
        lambda: X,
        X2.shape[1],
    )


def evaluate_calibrator(
    calibrator,
    X,
    y,
    *,
    metrics=None,
    sample_weight=None,
    n_bins=15,
    strategy="uniform",
    chunk_rows=None,
):
    """Compute registered metrics of a fitted calibrator's predictions.

    The calibrator's :meth:`predict_log_proba` is evaluated block by block and
    its log-probabilities scored as :func:`evaluate` scores
    ``input_type="log_probs"``: a class of probability exactly 0 (a
    probability-space map such as histogram binning) is scored as it is.  The
    NLL is then infinite only when the true class has probability 0, and a
    :class:`~calibrate.exceptions.CalibrationWarning` says so.  Binary
    calibrators are scored on ``log P(classes_[1])`` (one column, the binary
    task), the others on all their columns.

    Parameters
    ----------
    calibrator : fitted calibrator
        Anything with ``predict_log_proba`` and ``task_``.
    X : array_like of shape (n_samples,) or (n_samples, n_columns)
        Scores the calibrator reads (its ``input_type``).
    y : array_like
        Labels, or a multilabel indicator matrix.
    metrics, sample_weight, n_bins, strategy, chunk_rows
        As :func:`evaluate`.  A ``dask.array`` ``X`` (chunked along rows) is
        mapped block by block by ``predict_log_proba`` and scored as
        :func:`evaluate` scores dask arrays; the whole-array metrics then
        recompute the predictions on each pass they make (nothing of size
        n x K is held on the client).

    Returns
    -------
    dict
        ``{name: value}``.

    Examples
    --------
    >>> from calibrate import TemperatureScaling
    >>> cal = TemperatureScaling().fit([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]],
    ...                                [0, 1, 1])
    >>> sorted(evaluate_calibrator(cal, [[1.0, 0.0]], [0], metrics="nll"))
    ['nll']
    """
    rows = _check_chunk_rows(chunk_rows)
    n_bins = check_binning(n_bins, strategy)
    binary = getattr(calibrator, "task_", None) == "binary"
    if type(X).__module__.startswith("dask"):
        # The calibrated log-probabilities stay lazy (one map_blocks over the
        # blocks of X), and evaluate() scores them block by block.
        log_proba = calibrator.predict_log_proba(X)
        return evaluate(
            y,
            log_proba[:, 1:] if binary else log_proba,
            metrics=metrics,
            input_type="log_probs",
            sample_weight=sample_weight,
            n_bins=n_bins,
            strategy=strategy,
        )
    X = as_numeric_array(X, "X")
    if X.ndim not in (1, 2) or X.shape[0] == 0:
        raise ValueError(
            f"X must be a non-empty array of shape (n_samples,) or (n_samples, "
            f"n_columns); got shape {X.shape}."
        )
    n_classes = 1 if binary else len(calibrator.classes_)

    def read(block):
        log_proba = np.asarray(calibrator.predict_log_proba(X[block]))
        return log_proba[:, 1:] if binary else log_proba

    shape = (X.shape[0], n_classes)
    task, encoded, weights = _prepare(y, shape, sample_weight, ("X", "y"))
    names = select_metrics(metrics, task)
    rows = (
        default_chunk_rows(max(n_classes, 1 if X.ndim == 1 else X.shape[1]))
        if rows is None
        else rows
    )

    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:

        def whole():
            # The whole-input statistics read the calibrated log-probabilities
            # in blocks of columns; beyond the working set they are spilled to
            # a memory-mapped float64 file, block by block, not held at once.
            n, n_cols = shape
            chunks = [slice(s, min(s + rows, n)) for s in range(0, n, rows)]
            if n * n_cols * 8 <= COLUMN_BLOCK_BYTES:
                return np.concatenate([read(c) for c in chunks])
            out = np.lib.format.open_memmap(
                os.path.join(tmp, "log_proba.npy"),
                mode="w+",
                dtype=np.float64,
                shape=shape,
            )
            for c in chunks:
                out[c] = read(c)
            return out

        return _evaluate(
            y,
            encoded,
            _Blocks(None, read),
            shape[0],
            task,
            names,
            "log_probs",
            weights,
            sample_weight,
            n_bins,
            strategy,
            rows,
            whole,
            n_classes,
        )
