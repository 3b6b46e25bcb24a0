"""Input checks: the one place where bad input becomes a clear error.

Every public entry point validates once, through these functions, and then
calls private kernels that trust their input.  Errors are ``ValueError`` (bad
values or shapes) or ``TypeError`` (bad types) and quote the offending value and
where it sits.
"""

import warnings

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from calibrate import _warnings
from calibrate._special import (
    PROBA_FLOOR,
    iter_chunks,
    logsumexp_rows,
    probs_to_logits,
)
from calibrate.exceptions import CalibrationWarning

__all__ = [
    "INPUT_TYPES",
    "TASKS",
    "check_input_type",
    "check_labels",
    "as_label_array",
    "as_numeric_array",
    "check_score_values",
    "check_sample_weight",
    "check_scores",
    "infer_task",
    "preview",
    "proba_sum_tolerance",
]

INPUT_TYPES = ("logits", "probs", "log_probs")
TASKS = ("binary", "multiclass", "multilabel")


def check_input_type(input_type):
    """Return ``input_type`` if it is one of :data:`INPUT_TYPES`, else raise.

    Parameters
    ----------
    input_type : str
        How scores are to be read.

    Returns
    -------
    str
        The same value.

    Examples
    --------
    >>> check_input_type("probs")
    'probs'
    """
    if not isinstance(input_type, str) or input_type not in INPUT_TYPES:
        raise ValueError(
            f"input_type must be one of {INPUT_TYPES}, got {input_type!r}. "
            "It is declared, never guessed: say whether the scores are logits, "
            "probabilities or log-probabilities."
        )
    return input_type


def proba_sum_tolerance(dtype, n_columns):
    """Absolute tolerance on a probability row summing to 1.

    Summing ``n_columns`` values rounded to ``dtype`` can be off by about
    ``n_columns * eps``; we allow eight times that, and never less than 1e-6 so
    that probabilities saved with a few printed digits fewer still pass.

    Parameters
    ----------
    dtype : numpy dtype
        Floating dtype of the probabilities.
    n_columns : int
        Number of classes summed per row.

    Returns
    -------
    float
        The tolerance.

    Examples
    --------
    >>> proba_sum_tolerance(np.float64, 10)
    1e-06
    """
    eps = np.finfo(dtype).eps if np.issubdtype(dtype, np.floating) else 0.0
    return max(1e-6, 8.0 * n_columns * float(eps))


def as_numeric_array(X, name):
    """Return ``X`` as an ndarray of float32/float64 without copying floats.

    Parameters
    ----------
    X : array_like
        Scores or weights.
    name : str
        Name used in error messages.

    Returns
    -------
    ndarray
        float32 and float64 arrays as they are; integers as float64.

    Raises
    ------
    TypeError
        If ``X`` holds anything but real numbers.

    Examples
    --------
    >>> as_numeric_array([1, 2], "X")
    array([1., 2.])
    """
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} could not be read as an array: {exc}") from exc
        if arr.dtype.kind == "O" and hasattr(X, "to_numpy"):
            # pandas nullable dtypes (Float64, Int64) come out as objects; read
            # them as float64, with missing values as NaN (rejected later).
            try:
                arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                pass
    kind = arr.dtype.kind
    if arr.dtype.name == "bfloat16":
        # ml_dtypes' bfloat16 (language-model logits) stays as it is, read
        # chunk by chunk and widened to float32 (exactly) like float16.
        return arr
    if kind in "fiu":
        # float16 stays float16 (read chunk by chunk, never converted whole;
        # its probability rows are checked at float16's own precision);
        # integers and other floats become float64.
        if kind != "f" or arr.dtype not in (np.float16, np.float32, np.float64):
            arr = arr.astype(np.float64)
        return arr
    what = {
        "b": "boolean",
        "c": "complex",
        "O": "object",
        "U": "string",
        "S": "bytes",
        "M": "datetime",
        "m": "timedelta",
        "V": "structured",
    }.get(kind, str(arr.dtype))
    raise TypeError(
        f"{name} must hold real numbers (float32, float64 or integers); got an "
        f"array of {what} dtype {arr.dtype}."
    )


def _first_index(mask):
    """Return the index tuple of the first True entry of ``mask`` as ints."""
    return tuple(int(i) for i in np.unravel_index(np.argmax(mask), mask.shape))


def _entries(mask, X=None):
    """``"3 entries"``: the True entries of ``mask``, or of ``mask(X)`` by chunks."""
    if X is None:
        n = int(mask.sum())
    else:
        n_cols = X.shape[1] if X.ndim == 2 else 1
        n = sum(
            int(np.count_nonzero(mask(X[rows])))
            for rows in iter_chunks(X.shape[0], n_cols)
        )
    return f"{n} entry" if n == 1 else f"{n} entries"


def _where(index):
    return (
        f"row {index[0]}" if len(index) == 1 else f"row {index[0]}, column {index[1]}"
    )


def _check_finite(X, name, *, allow_neg_inf=False):
    # One float64 sum per chunk of rows detects any NaN or inf without a
    # boolean temporary of the array's size (a float16 sum of the whole array
    # would overflow, and a whole-array mask of a 20,000 x 32,000 file is
    # 640 MB); the element-wise search that names the culprit runs only on a
    # chunk whose sum is not finite (including a harmless overflow of huge
    # finite values, which it then lets through).
    n_rows = X.shape[0]
    n_cols = X.shape[1] if X.ndim == 2 else 1
    for rows in iter_chunks(n_rows, n_cols):
        chunk = X[rows]
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.sum(chunk, dtype=np.float64)
        if np.isfinite(total):
            continue
        nan = np.isnan(chunk)
        if nan.any():
            idx = _shift(_first_index(nan), rows.start)
            raise ValueError(
                f"{name} contains NaN ({_entries(np.isnan, X)}; first at "
                f"{_where(idx)})."
            )
        test = np.isposinf if allow_neg_inf else np.isinf
        bad = test(chunk)
        if bad.any():
            idx = _shift(_first_index(bad), rows.start)
            raise ValueError(
                f"{name} contains infinite values ({_entries(test, X)}; first at "
                f"{_where(idx)}: {X[idx].item()})."
            )
        # Only finite values (and allowed -inf) whose float64 sum overflowed.


def _shift(index, start):
    return (index[0] + start, *index[1:])


def check_score_values(X, *, input_type="logits", task, name="X"):
    """Validate scores as what ``input_type`` declares, without converting them.

    The checks of :func:`check_scores` alone, for callers that read
    probabilities directly (the metrics) rather than as logits.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_columns)
        Scores, already two-dimensional.
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How to read ``X``: logits must be finite; probabilities must lie in
        [0, 1] and, for ``task="multiclass"``, rows must sum to 1 within
        :func:`proba_sum_tolerance`; log-probabilities must be <= 0 (``-inf``
        allowed) and multiclass rows must have a log-sum-exp of 0 within the
        same tolerance.
    task : {"binary", "multiclass", "multilabel"}
        Whether rows are categorical distributions (multiclass) or columns are
        independent events (binary, multilabel).
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    ndarray of shape (n_samples, n_columns)
        ``X`` as float32 or float64 (integers become float64), not copied.

    Raises
    ------
    TypeError
        If ``X`` is not an array of real numbers.
    ValueError
        If ``X`` is empty, not two-dimensional, contains NaN or infinite
        values, or violates what ``input_type`` declares.

    Examples
    --------
    >>> check_score_values([[0.5, 0.25]], input_type="probs", task="multiclass")
    Traceback (most recent call last):
        ...
    ValueError: X: rows of multiclass probabilities must sum to 1 (within ...
    """
    check_input_type(input_type)
    X = as_numeric_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be two-dimensional here; got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); need at least one row.")
    _check_finite(X, name, allow_neg_inf=input_type == "log_probs")
    # min/max are streaming reductions: a memory-mapped file larger than memory
    # is checked without a temporary of its size; the element-wise search that
    # names the culprit runs only on failure.
    if input_type == "probs":
        if X.min() < 0 or X.max() > 1:
            outside = (X < 0) | (X > 1)
            idx = _first_index(outside)
            raise ValueError(
                f"{name} was declared input_type='probs' but holds values outside "
                f"[0, 1] ({_entries(outside)}; first at {_where(idx)}: "
                f"{X[idx].item()!r}). Pass input_type='logits' if these are logits."
            )
        if task == "multiclass":
            _check_rows_normalised(X, np.sum(X, axis=1, dtype=np.float64), name, 1.0)
    elif input_type == "log_probs":
        if X.max() > 0:
            positive = X > 0
            idx = _first_index(positive)
            raise ValueError(
                f"{name} was declared input_type='log_probs' but holds positive "
                f"values ({_entries(positive)}; first at {_where(idx)}: "
                f"{X[idx].item()!r}). Log-probabilities are <= 0."
            )
        if task == "multiclass":
            # -inf entries (probability 0) contribute exp(-inf) = 0; a row of
            # only -inf gives NaN, which the check reports.  Chunks of float64
            # keep the memory bounded.
            lse = np.empty(X.shape[0])
            with np.errstate(divide="ignore", invalid="ignore"):
                for rows in iter_chunks(*X.shape):
                    lse[rows] = logsumexp_rows(X[rows].astype(np.float64))
            _check_rows_normalised(X, lse, name, 0.0)
    return X


def check_scores(X, *, input_type="logits", task, name="X"):
    """Validate scores and return them as logits.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_columns)
        Scores, already two-dimensional (a binary ``(n,)`` input is reshaped to
        ``(n, 1)`` by the caller).
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How to read ``X`` (checked by :func:`check_score_values`).  Logits are
        returned as they are (float32 stays float32 and is not copied).
        Probabilities and log-probabilities are converted to float64 logits:
        for multiclass ``log(max(p, tiny))``, for binary and multilabel
        columns the log-odds with ``p`` and ``1 - p`` both floored at
        ``tiny``.  A log-probability of ``-inf`` is a probability of 0 and is
        floored the same way.  Flooring emits a :class:`CalibrationWarning`.
    task : {"binary", "multiclass", "multilabel"}
        Whether rows are categorical distributions (multiclass) or columns are
        independent events (binary, multilabel).
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    ndarray of shape (n_samples, n_columns)
        Logits (log-odds for binary and multilabel).

    Raises
    ------
    TypeError
        If ``X`` is not an array of real numbers (object, string, boolean,
        complex).
    ValueError
        If ``X`` is empty, not two-dimensional, contains NaN or infinite
        values, or violates what ``input_type`` declares.

    Examples
    --------
    >>> check_scores(np.array([[0.25, 0.75]]), input_type="probs", task="multiclass")
    array([[-1.38629436, -0.28768207]])
    """
    X = check_score_values(X, input_type=input_type, task=task, name=name)
    if input_type == "logits":
        return X
    binary = task != "multiclass"
    if input_type == "probs":
        logits, n_saturated = probs_to_logits(X, binary=binary)
    else:
        logits, n_saturated = _log_probs_to_logits(X, binary=binary)
    if n_saturated:
        _warnings.warn(
            f"{name}: {n_saturated} probabilities are exactly 0 or 1; they were "
            f"floored at {PROBA_FLOOR:.3g} before taking logs, which caps those "
            f"logits at {np.log(PROBA_FLOOR):.1f}.",
            CalibrationWarning,
            stacklevel=3,
        )
    return logits


def _check_rows_normalised(X, sums, name, target):
    tol = proba_sum_tolerance(X.dtype, X.shape[1])
    off = ~(np.abs(sums - target) <= tol)  # NaN sums are off too
    if off.any():
        row = int(np.argmax(off))
        what = "sum to 1" if target == 1.0 else "have logsumexp 0"
        value = float(sums[row])
        raise ValueError(
            f"{name}: rows of multiclass probabilities must {what} (within "
            f"{tol:.1e}); {int(off.sum())} rows do not, first row {row} gives "
            f"{value!r}."
        )


def _log_probs_to_logits(X, *, binary):
    X = np.asarray(X, dtype=np.float64)
    log_floor = np.log(PROBA_FLOOR)
    low = X < log_floor
    n_saturated = int(np.count_nonzero(low))
    if not binary:
        return np.maximum(X, log_floor), n_saturated
    # log P(y = 0) = log(1 - exp(lp)), floored like the probabilities.
    neg = -np.expm1(X)
    n_saturated += int(np.count_nonzero(neg < PROBA_FLOOR))
    return np.maximum(X, log_floor) - np.log(np.maximum(neg, PROBA_FLOOR)), n_saturated


def infer_task(X_shape, y, *, names=("X", "y")):
    """Read the task from the shapes of the scores and the targets.

    Parameters
    ----------
    X_shape : tuple of int
        Shape of the scores after reshaping ``(n,)`` to ``(n, 1)``.
    y : ndarray
        Targets as given.
    names : tuple of str, default=("X", "y")
        Names of the scores and the targets in error messages.

    Returns
    -------
    {"binary", "multiclass", "multilabel"}
        ``"binary"`` for one score column, ``"multilabel"`` for a ``(n, K)``
        target matrix matching ``K >= 2`` score columns, ``"multiclass"`` for
        ``K >= 2`` score columns and one label per row.

    Examples
    --------
    >>> infer_task((4, 1), np.array([0, 1, 1, 0]))
    'binary'
    >>> infer_task((4, 3), np.array([0, 2, 1, 0]))
    'multiclass'
    """
    xn, yn = names
    y_2d = np.ndim(y) == 2 and np.shape(y)[1] > 1
    if X_shape[1] == 1:
        if y_2d:
            raise ValueError(
                f"{xn} has one score column (binary) but {yn} has shape {np.shape(y)}; "
                "binary targets are one label per row."
            )
        return "binary"
    if y_2d:
        if np.shape(y)[1] != X_shape[1]:
            raise ValueError(
                f"{yn} is a {np.shape(y)} indicator matrix but {xn} has {X_shape[1]} "
                "columns; multilabel targets need one column per score column."
            )
        return "multilabel"
    return "multiclass"


def as_label_array(y, name="y"):
    """Read targets as an ndarray of at least one dimension.

    Parameters
    ----------
    y : array_like
        Labels or an indicator matrix.
    name : str, default="y"
        Name used in error messages.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        If ``y`` is ragged (rows of different lengths) or a scalar.

    Examples
    --------
    >>> as_label_array(3)
    Traceback (most recent call last):
        ...
    ValueError: y must be an array of labels; got the scalar 3.
    """
    try:
        y = np.asarray(y)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc
    if y.ndim == 0:
        raise ValueError(
            f"{name} must be an array of labels; got the scalar {y.item()!r}."
        )
    return y


def check_labels(y, *, task, n_columns, n_samples, names=("X", "y"), classes=None):
    """Validate targets and encode them against the score columns.

    With ``classes`` (the labels of the score columns, in column order, any
    labels in any order; for binary scores the two labels, the positive one
    second) the mapping is explicit: each label of ``y`` is the column where
    it sits in ``classes``.  Without it:

    The mapping between labels and columns is never guessed from counts alone:

    * multiclass: integer labels index the columns of ``X`` directly
      (``classes_ = arange(K)``), so a class missing from ``y`` keeps its
      column.  Non-integer labels (strings, booleans) must all occur, and
      column ``j`` is the ``j``-th label in sorted order, as in scikit-learn.
    * binary: labels ``{0, 1}`` (or a subset) or booleans give
      ``classes_ = [0, 1]`` / ``[False, True]``; any other pair of labels is
      sorted and the second is the positive class, as in scikit-learn.
    * multilabel: a 0/1 indicator matrix; ``classes_ = arange(K)``.

    Parameters
    ----------
    y : array_like
        Targets.
    task : {"binary", "multiclass", "multilabel"}
        The task, from :func:`infer_task`.
    n_columns : int
        Number of score columns of ``X``.
    n_samples : int
        Number of rows of ``X``.
    names : tuple of str, default=("X", "y")
        Names of the scores and the targets in error messages.
    classes : array_like of shape (n_columns,) or (2,), default=None
        Explicit labels of the score columns (see above).

    Returns
    -------
    y_encoded : ndarray
        ``int64`` column indices (multiclass), ``float64`` 0/1 (binary), or a
        ``float64`` ``(n_samples, K)`` indicator (multilabel).
    classes : ndarray
        ``classes_`` for the estimator.

    Examples
    --------
    >>> y, classes = check_labels(["no", "yes", "no"], task="binary",
    ...                           n_columns=1, n_samples=3)
    >>> y, classes
    (array([0., 1., 0.]), array(['no', 'yes'], dtype='<U3'))
    """
    xn, yn = names
    y = as_label_array(y, yn)
    if classes is not None:
        y, classes = _encode_with_classes(y, classes, task, n_columns, names)
        encoded, _ = check_labels(
            y, task=task, n_columns=n_columns, n_samples=n_samples, names=names
        )
        return encoded, classes
    if y.dtype.kind == "O":
        missing = [
            v for v in y.ravel() if v is None or (isinstance(v, float) and v != v)
        ]
        if missing:
            raise ValueError(f"{yn} contains missing labels ({missing[0]!r}).")
        try:
            y = (
                y.astype(np.float64)
                if all(isinstance(v, (int, float, np.number)) for v in y.ravel())
                else y.astype(str)
            )
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{yn} could not be read as labels: {exc}") from exc
    if y.shape[0] != n_samples:
        raise ValueError(
            f"{xn} and {yn} have different numbers of rows: {xn} has "
            f"{n_samples}, {yn} has {y.shape[0]}."
        )
    if task == "multilabel":
        return _check_indicator(y, yn), np.arange(n_columns)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ValueError(f"{yn} must be one label per row; got shape {y.shape}.")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{yn} contains NaN or infinite labels.")
    try:
        with warnings.catch_warnings():
            # scikit-learn suspects regression targets when most labels are
            # distinct; here labels index score columns, so many distinct
            # classes in few rows (a chunk of a 1,000-class file) are normal.
            warnings.filterwarnings(
                "ignore", "The number of unique classes is greater than 50%"
            )
            check_classification_targets(y)
    except ValueError as exc:
        if y.dtype.kind == "f":
            row = int(np.argmax(y != np.round(y)))
            raise ValueError(
                f"Unknown label type: continuous. {yn} holds non-integer numbers "
                f"(first at row {row}: {y[row].item()!r}); labels are classes "
                "(integers, strings or booleans), and probabilities belong in the "
                "scores."
            ) from None
        raise ValueError(f"{yn}: {exc}") from None

    integral = y.dtype.kind in "iu" or (
        y.dtype.kind == "f" and np.array_equal(y, np.round(y))
    )
    if task == "binary":
        uniques = np.unique(y)
        if integral and np.isin(uniques, (0, 1)).all():
            return y.astype(np.float64), np.array([0, 1])
        if y.dtype.kind == "b":
            return y.astype(np.float64), np.array([False, True])
        if uniques.size != 2:
            raise ValueError(
                f"Binary scores ({xn} has one column) need labels 0/1, booleans, or "
                f"exactly two distinct labels; {yn} has {uniques.size}: "
                f"{preview(uniques)}."
            )
        return (y == uniques[1]).astype(np.float64), uniques

    if integral:
        # Not copied when already int64 (n values: a fifth of 10-class float32
        # scores); nothing downstream writes to the encoded labels.
        y_int = y.astype(np.int64, copy=False)
        bad = (y_int < 0) | (y_int >= n_columns)
        if bad.any():
            value = y[np.argmax(bad)].item()
            raise ValueError(
                f"{yn} contains label {value!r}, but {xn} has {n_columns} columns: "
                f"integer labels index the columns of {xn} and must lie in "
                f"[0, {n_columns})."
            )
        return y_int, np.arange(n_columns)
    uniques, encoded = np.unique(y, return_inverse=True)
    if uniques.size != n_columns:
        raise ValueError(
            f"{yn} has {uniques.size} distinct non-integer labels "
            f"({preview(uniques)}) but {xn} has {n_columns} columns. Column j is "
            "matched to the j-th label in sorted order, so every class must occur; "
            "use integer labels 0..K-1 to index columns directly."
        )
    return encoded.astype(np.int64), uniques


def _check_indicator(y, yn="y"):
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"Multilabel {yn} must be a 0/1 indicator matrix; got {y.dtype}."
        )
    y = y.astype(np.float64)
    bad = (y != 0) & (y != 1)
    if bad.any():
        idx = _first_index(bad)
        raise ValueError(
            f"Multilabel {yn} must be a 0/1 indicator matrix; found "
            f"{y[idx].item()!r} at {_where(idx)}."
        )
    return y


def preview(values, limit=10):
    """Format the first ``limit`` values for an error message.

    Parameters
    ----------
    values : array_like
        Values to show.
    limit : int, default=10
        How many to show before an ellipsis.

    Returns
    -------
    str
        For example ``"[0, 1, 2, ...]"``.

    Examples
    --------
    >>> preview(np.arange(12), limit=3)
    '[0, 1, 2, ...]'
    """
    shown = ", ".join(
        repr(v.item() if hasattr(v, "item") else v) for v in values[:limit]
    )
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def check_sample_weight(sample_weight, n_samples, *, rescale=True):
    """Validate sample weights; ``None`` means equal weights.

    Parameters
    ----------
    sample_weight : array_like of shape (n_samples,) or None
        Non-negative, finite weights, not all zero.
    n_samples : int
        Expected length.
    rescale : bool, default=True
        Divide the weights by their largest value: every metric and fit
        depends on their ratios only, and this keeps their sums finite.
        False keeps the caller's units (for the per-bin weights that
        :func:`calibrate.binning.bin_stats` reports).

    Returns
    -------
    ndarray of shape (n_samples,), dtype float64
        The weights (ones when ``sample_weight`` is None).

    Examples
    --------
    >>> check_sample_weight([2e300, 4e300], 2).tolist()
    [0.5, 1.0]
    >>> check_sample_weight(None, 3)
    array([1., 1., 1.])
    """
    if sample_weight is None:
        return np.ones(n_samples)
    w = as_numeric_array(sample_weight, "sample_weight").astype(np.float64)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},); got {w.shape}."
        )
    if not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or infinite values.")
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise ValueError(
            f"sample_weight must be non-negative; sample {i} has weight "
            f"{w[i].item()!r}."
        )
    top = w.max()
    if not top > 0:
        raise ValueError("sample_weight is zero for every sample.")
    # Only ratios of weights matter.  Divided once by the largest, weights of
    # 1e307 cannot overflow a sum and weights of 1e-320 (subnormal) lose no
    # precision in one; weights whose largest is 1 are returned as they are.
    # Ordinary weights are returned as given (integer frequency weights stay
    # whole numbers); only weights whose sums could overflow or lose precision
    # are divided by their largest.
    if not rescale or 1e-100 <= top <= 1e100:
        return w
    return w / top


def warn_if_logits_look_like_probabilities(X, *, task, name="X", stacklevel=3):
    """Warn once when scores declared as logits look like probabilities.

    Multiclass: every entry in [0, 1] and every row summing to 1 (within the
    tolerance of :func:`proba_sum_tolerance`); binary and multilabel: every
    entry in [0, 1] on at least 10 rows.  Genuine logits almost never look
    like that, while probabilities passed without ``input_type="probs"`` fit a
    temperature far from the truth (0.265 instead of about 2 on the issue's
    example).  The guess is never acted on: the scores are still read as
    logits.  Read chunk by chunk; stops at the first chunk that rules it out.
    """
    if task == "multiclass" and X.shape[1] < 2:
        return
    if task != "multiclass" and X.shape[0] < 10:
        return
    tol = proba_sum_tolerance(X.dtype, X.shape[1])
    for rows in iter_chunks(*X.shape):
        chunk = X[rows]
        if chunk.min() < 0 or chunk.max() > 1:
            return
        if task == "multiclass":
            sums = chunk.sum(axis=1, dtype=np.float64)
            if not np.all(np.abs(sums - 1.0) <= tol):
                return
    what = (
        "every row lies in [0, 1] and sums to 1"
        if task == "multiclass"
        else "every score lies in [0, 1]"
    )
    _warnings.warn(
        f"{name} is read as logits (input_type='logits', the default), but {what}: "
        "these look like probabilities. If they are, pass input_type='probs' "
        "(--input-type probs on the command line); they are still read as logits.",
        CalibrationWarning,
        stacklevel=stacklevel,
    )


def _encode_with_classes(y, classes, task, n_columns, names):
    """Map labels to their positions in an explicit ``classes`` array."""
    xn, yn = names
    classes = np.asarray(classes)
    expected = 2 if task == "binary" else n_columns
    if classes.ndim != 1 or len(classes) != expected:
        what = "the two labels" if task == "binary" else f"one label per column of {xn}"
        raise ValueError(
            f"classes must hold {what} ({expected}); got shape {classes.shape}."
        )
    values, counts = np.unique(classes, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"classes holds duplicates: {preview(values[counts > 1])}.")
    if classes.dtype.kind == "f" and not (classes == np.round(classes)).all():
        # As for labels without classes: 3.5 is a score, not a class.
        value = classes[classes != np.round(classes)][0].item()
        raise ValueError(
            f"classes holds {value!r}, which is not a class label: labels are "
            "integers, strings or booleans, and float labels whole numbers."
        )
    if task == "multilabel":
        return y, classes  # the indicator's columns are the classes
    return labels_to_columns(y, classes, name=yn), classes


def labels_to_columns(y, classes, *, name="y", what=None):
    """Return the position of each label of ``y`` in ``classes`` (any order).

    The one label-to-column mapping of the package: ``fit(classes=...)``,
    :class:`~calibrate.CalibratedClassifier` and the displays built from
    estimators use it.  A label absent from ``classes`` is an error naming it.

    Examples
    --------
    >>> labels_to_columns(np.array([3, 1, 3]), np.array([3, 1, 2]))
    array([0, 1, 0])
    """
    y, classes = np.asarray(y), np.asarray(classes)
    what = f"classes {preview(classes)}" if what is None else what
    order = np.argsort(classes, kind="stable")
    ordered = classes[order]
    flat = y.ravel()
    try:
        pos = np.clip(np.searchsorted(ordered, flat), 0, len(ordered) - 1)
        known = ordered[pos] == flat
    except TypeError as exc:
        raise ValueError(
            f"{name} holds labels of another kind than {what}: {exc}"
        ) from exc
    if not np.all(known):
        bad = flat[np.argmin(known)]
        bad = bad.item() if hasattr(bad, "item") else bad
        raise ValueError(f"{name} holds {bad!r}, which is not in {what}.")
    return order[pos].reshape(y.shape).astype(np.int64)
