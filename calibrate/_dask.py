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
  equal-width ``"binned"`` ones) are computed; "whole" metrics need every
  row at once and are refused with a clear message.
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


def _tree(delayed_parts, combine):
    """Merge delayed results pairwise, so no task holds more than two."""
    import dask

    parts = list(delayed_parts)
    merge = dask.delayed(combine, pure=True)
    while len(parts) > 1:
        paired = [merge(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    return parts[0]


def evaluate_dask(
    y_true, y_prob, *, metrics, input_type, sample_weight, n_bins, strategy
):
    """:func:`calibrate.metrics.evaluate` of a dask array, block by block."""
    import dask

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
    if metrics is None:
        names = [
            n
            for n in select_metrics(None, task)
            if METRICS[n].combine != "whole"
            and not (strategy == "quantile" and _classwise(METRICS[n]))
        ]
    else:
        names = select_metrics(metrics, task)
        for name in names:
            if METRICS[name].combine == "whole" or (
                strategy == "quantile" and _classwise(METRICS[name])
            ):
                raise ValueError(
                    f"metric {name} needs every row at once (it is not a sum over "
                    "blocks of rows), which a dask array does not give; compute "
                    "it on y_prob.compute() if that fits in memory."
                )
    chosen = {name: METRICS[name] for name in names}
    spec = _make_spec(chosen, task, weights, input_type, n_bins, strategy, X.shape[1])
    bounds = np.cumsum((0, *X.chunks[0]))
    parts = []
    partial_of = dask.delayed(block_partial, pure=True)
    for i, block in enumerate(X.to_delayed()[:, 0]):
        rows = slice(int(bounds[i]), int(bounds[i + 1]))
        w = np.ones(rows.stop - rows.start) if weights is None else weights[rows]
        parts.append(partial_of(spec, encoded[rows], block, w))
    (partial,) = dask.compute(_tree(parts, merge_partials))
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
        None,
        X.shape[1],
        partial=partial,
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
    import dask

    task = dask.delayed(kernel, pure=True)
    bounds = np.cumsum((0, *Z.chunks[0]))
    parts = []
    for i, block in enumerate(Z.to_delayed()[:, 0]):
        rows = slice(int(bounds[i]), int(bounds[i + 1]))
        parts.append(
            task(block, *(rows_of(a, rows) for a in row_args), *args, **kwargs)
        )
    (total,) = dask.compute(_tree(parts, _add))
    return total


def temperature_derivatives(Z, y, w, beta, task, coarse, scale=1.0):
    """Return the sums of ``_derivative_sums`` over the blocks of a dask ``Z``."""
    import dask

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
        parts.append(
            dask.delayed(sums_of_block, pure=True)(block, rows_of(y, rows), w[rows])
        )
    (total,) = dask.compute(_tree(parts, np.add))
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
