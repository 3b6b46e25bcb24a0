"""Build a calibration report: fit every method, evaluate, bootstrap."""

import errno
import hashlib
import importlib.metadata
import numbers
import os
import platform
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sklearn.base import clone

import calibrate
from calibrate._validation import TASKS, preview
from calibrate.binning import check_binning, check_confidence_level
from calibrate.calibrators import CALIBRATORS, default_methods
from calibrate.calibrators._diagnostics import (
    PARAMETERS_PER_ROW,
    count_parameters,
    overfit_warning,
)
from calibrate.io import fitted_parameters, split_array_spec
from calibrate.metrics import (
    METRICS,
    calibration_bins,
    evaluate,
    evaluate_calibrator,
)
from calibrate.metrics._predictions import COLUMN_BLOCK_BYTES, Predictions
from calibrate.report._bootstrap import replicate_metrics, report_metrics
from calibrate.report._report import STATISTICS, CalibrationReport

__all__ = ["DEFAULT_METHODS", "MIN_BOOTSTRAP", "MIN_TEST_ROWS", "build_report"]


class _DefaultMethods(Mapping):
    """Task -> the registered methods a report compares when none are named.

    Read from each class's ``_report_default_tasks`` at every lookup, so a
    calibrator added with :func:`calibrate.calibrators.register` counts.
    """

    def __getitem__(self, task):
        if task not in TASKS:
            raise KeyError(task)
        return default_methods(task)

    def __iter__(self):
        return iter(TASKS)

    def __len__(self):
        return len(TASKS)

    def __repr__(self):
        return repr(dict(self))


DEFAULT_METHODS = _DefaultMethods()
_SOURCE_ROLES = ("val_scores", "val_labels", "test_scores", "test_labels")
_DEPENDENCIES = ("numpy", "scipy", "scikit-learn", "matplotlib", "pandas")
#: Below this many test rows a report warns, and calls no lead significant:
#: the resamples of a few rows repeat the same handful of values.
MIN_TEST_ROWS = 50
#: The fewest resamples ``build_report`` takes: fewer cannot place the 2.5 %
#: and 97.5 % quantiles at all.
MIN_BOOTSTRAP = 10


def _check_pair(pair, name):
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(
            f"{name} must be a pair (scores, labels); got {type(pair).__name__}"
            + (f" of length {len(pair)}" if isinstance(pair, (tuple, list)) else "")
            + "."
        )
    return pair


def _check_methods(methods, input_type):
    """Return ``{row name: unfitted calibrator}`` for ``methods``."""
    calibrator_types = (*CALIBRATORS.values(), calibrate.AutoCalibration)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    items = methods.items() if hasattr(methods, "items") else None
    out = {}
    if items is None:
        methods = list(methods)
        for method in methods:
            if method == "auto":
                if method in out:
                    raise ValueError("method 'auto' is given twice.")
                out[method] = calibrate.AutoCalibration(
                    input_type=input_type, random_state=0
                )
                continue
            if not isinstance(method, str) or method not in CALIBRATORS:
                raise ValueError(
                    f"unknown method {method!r}; methods are named among "
                    f"{sorted(CALIBRATORS)}, or given as a mapping of name to "
                    "calibrator."
                )
            if method in out:
                raise ValueError(f"method {method!r} is given twice.")
            out[method] = CALIBRATORS[method](input_type=input_type)
    else:
        for name, calibrator in items:
            if not isinstance(name, str) or not name:
                raise TypeError(
                    f"method names must be non-empty strings; got {name!r}."
                )
            if not isinstance(calibrator, calibrator_types):
                raise TypeError(
                    f"method {name!r} must be a calibrator of calibrate.calibrators "
                    f"({', '.join(t.__name__ for t in calibrator_types)}); got "
                    f"{type(calibrator).__name__}."
                )
            if calibrator.input_type != input_type:
                raise ValueError(
                    f"method {name!r} reads its scores as "
                    f"input_type={calibrator.input_type!r}, but the report reads "
                    f"them as {input_type!r}; the uncalibrated row and every "
                    "method must read the same scores the same way."
                )
            out[name] = clone(calibrator)
    if not out:
        raise ValueError("methods is empty; name at least one calibration method.")
    if "uncalibrated" in out:
        raise ValueError(
            "'uncalibrated' names the row of the scores as given; choose another "
            "name for a method."
        )
    return out


def _check_bootstrap(n_bootstrap):
    if (
        isinstance(n_bootstrap, (bool, np.bool_))
        or not isinstance(n_bootstrap, numbers.Integral)
        or n_bootstrap < MIN_BOOTSTRAP
    ):
        raise ValueError(
            f"n_bootstrap must be an integer >= {MIN_BOOTSTRAP}; got {n_bootstrap!r}."
        )
    return int(n_bootstrap)


def _seed(random_state):
    """Return ``(seed, rng)``; the seed is drawn and recorded when None."""
    if random_state is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(random_state, (bool, np.bool_)) or not isinstance(
        random_state, numbers.Integral
    ):
        raise TypeError(
            "random_state must be None or a non-negative integer (recorded in the "
            f"report so that it can be reproduced); got {random_state!r}."
        )
    elif random_state < 0:
        raise ValueError(f"random_state must be >= 0; got {random_state!r}.")
    else:
        seed = int(random_state)
    return seed, np.random.default_rng(seed)


def _sha256_array(array):
    """SHA-256 of the array's bytes in C order.

    Object arrays (labels read from pandas, say) hold references, not values:
    they are hashed as their values converted to a fixed-width unicode array.
    """
    if array.dtype.kind == "O":
        array = array.astype(str)
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(array).view(np.uint8).reshape(-1))
    return digest.hexdigest()


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe_inputs(arrays, sources):
    """One record per input array: its source, shape, dtype and SHA-256."""
    if sources is None:
        sources = {}
    if not hasattr(sources, "items"):
        raise TypeError(
            f"sources must be a mapping of {_SOURCE_ROLES} to file names; got "
            f"{type(sources).__name__}."
        )
    unknown = set(sources) - set(_SOURCE_ROLES)
    if unknown:
        raise ValueError(
            f"sources names unknown inputs {sorted(map(str, unknown))}; they are "
            f"{list(_SOURCE_ROLES)}."
        )
    records = []
    for role, array in zip(_SOURCE_ROLES, arrays, strict=True):
        source = sources.get(role)
        record = {
            "role": role,
            "source": None if source is None else str(source),
            "shape": list(np.shape(array)),
            "dtype": str(np.asarray(array).dtype),
        }
        path = None if source is None else Path(split_array_spec(str(source))[0])
        if path is not None and path.is_file():
            # The hash of the file as stored: what a colleague can check with
            # sha256sum.  An .npz member is hashed as the whole archive.
            record["sha256"] = _sha256_file(path)
            record["sha256_of"] = "file"
        else:
            record["sha256"] = _sha256_array(np.asarray(array))
            record["sha256_of"] = "array"
        records.append(record)
    return records


def _versions():
    versions = {"calibrate": calibrate.__version__, "python": platform.python_version()}
    for name in _DEPENDENCIES:
        versions[name] = importlib.metadata.version(name)
    return versions


def _record(caught, source, into):
    for w in caught:
        into.append(
            {
                "source": source,
                "category": w.category.__name__,
                "message": str(w.message),
            }
        )


def _ranges(names):
    """Each metric's range (from the registry), where a centred interval is cut."""
    low, high = np.array([METRICS[name].range for name in names]).T
    return low, high


def _point_metrics(y, scores, input_type, task, n_bins):
    """Each report metric, from the engine (NaN where not defined for ``task``)."""
    names = report_metrics()
    applicable = [name for name in names if task in METRICS[name].tasks]
    values = evaluate(
        y, scores, metrics=applicable, input_type=input_type, n_bins=n_bins
    )
    return {name: values.get(name, np.nan) for name in names}


def _interval(replicates, estimate, alpha):
    """Bootstrap interval of each column, centred on its estimate.

    The spread of the replicates around their median, ``q_lo - median`` and
    ``q_hi - median``, placed around the estimate from the whole test set.
    A plain percentile interval would sit wherever the replicates do, and the
    replicates of a binned error sit above the estimate (repeated rows make
    every bin look more certain than it is): a calibrated model's ECE of 2.9 %
    got the percentile interval [3.6 %, 4.9 %].  NaN where a column is NaN.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        low, median, high = np.nanquantile(
            replicates, [alpha / 2, 0.5, 1 - alpha / 2], axis=0
        )
    return estimate - (median - low), estimate + (high - median)


def _metrics_table(rows, points, replicates, confidence_level):
    import pandas as pd

    alpha = 1.0 - confidence_level
    names = list(points[rows[0]])
    values = np.array([[points[r][m] for m in names] for r in rows])
    low, high = _interval(replicates, values, alpha)
    # A centred interval can cross the range of the metric; it is cut there.
    bottom, top = _ranges(names)
    np.clip(low, bottom, top, out=low)
    np.clip(high, bottom, top, out=high)
    change = np.full(values.shape, np.nan)
    change_low = np.full(values.shape, np.nan)
    change_high = np.full(values.shape, np.nan)
    change[1:] = values[1:] - values[0]
    # Paired: the same resampled rows for the method and the uncalibrated model.
    paired = replicates[:, 1:] - replicates[:, :1]
    change_low[1:], change_high[1:] = _interval(paired, change[1:], alpha)
    stats = np.stack((values, low, high, change, change_low, change_high), axis=2)
    columns = pd.MultiIndex.from_product(
        (names, STATISTICS), names=("metric", "statistic")
    )
    return pd.DataFrame(
        stats.reshape(len(rows), -1),
        index=pd.Index(list(rows), name="method"),
        columns=columns,
    )


def _verdict(rows, points, replicates, confidence_level, n_rows):
    """Best row by test NLL, the runner-up, and the sentence saying how sure."""
    nll = np.array([points[r]["nll"] for r in rows])
    order = np.argsort(nll, kind="stable")
    best, runner = int(order[0]), int(order[1])
    column = list(points[rows[0]]).index("nll")
    difference = replicates[:, best, column] - replicates[:, runner, column]
    low, high = (
        float(v)
        for v in _interval(difference, nll[best] - nll[runner], 1 - confidence_level)
    )
    level = f"{100 * confidence_level:g} %"
    head = (
        f"Lowest test NLL: {rows[best]} ({nll[best]:.4g}), against "
        f"{nll[runner]:.4g} for the runner-up, {rows[runner]}."
    )
    if rows[best] == "uncalibrated":
        head = (
            f"Lowest test NLL: the uncalibrated scores ({nll[best]:.4g}); no method "
            f"lowers it, the closest is {rows[runner]} ({nll[runner]:.4g})."
        )
    interval = f"[{low:+.3g}, {high:+.3g}]"
    n_test = int(n_rows)
    # A handful of test rows gives intervals of (nearly) no width: they say
    # nothing about the noise, so no lead is called significant there.
    significant = bool(high < 0) and low < high and n_test >= MIN_TEST_ROWS
    if significant:
        tail = (
            f"The paired {level} bootstrap interval of the difference, {interval}, "
            "lies below 0: the advantage is outside the resampling noise of this "
            "test set."
        )
    elif n_test >= MIN_TEST_ROWS and not low < high:
        tail = (
            f"The difference is the same on every resample ({interval}): the two "
            f"predict alike on these rows, and this test set does not show that "
            f"{rows[best]} is better than {rows[runner]}."
        )
    elif n_test < MIN_TEST_ROWS:
        tail = (
            f"With {n_test} test rows the bootstrap cannot tell how noisy the "
            f"difference is (paired interval {interval}): this test set does not "
            f"show that {rows[best]} is better than {rows[runner]}."
        )
    else:
        tail = (
            f"The paired {level} bootstrap interval of the difference, {interval}, "
            f"contains 0: this test set does not show that {rows[best]} is better "
            f"than {rows[runner]}."
        )
    return {
        "method": rows[best],
        "runner_up": rows[runner],
        "nll": float(nll[best]),
        "runner_up_nll": float(nll[runner]),
        "difference": float(nll[best] - nll[runner]),
        "difference_low": low,
        "difference_high": high,
        "significant": significant,
        "sentence": f"{head} {tail}",
    }


def _same_arrays(a, b):
    """Whether two arrays hold the same values: shape, dtype and SHA-256 of the bytes.

    The arrays, not their files: the validation and test sets are often two
    members of one ``.npz`` archive, whose file hashes are equal.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return _sha256_array(a) == _sha256_array(b)


def _data_warnings(arrays, n_test):
    """Return warnings about what the report's numbers cannot show.

    ``arrays`` are the validation scores and labels and the test scores and
    labels.
    """
    out = []
    X_val, y_val, X_test, y_test = arrays
    if _same_arrays(y_val, y_test) and _same_arrays(X_val, X_test):
        out.append(
            "the validation and test data are the same arrays (equal SHA-256): the "
            "methods are scored on the rows they were fitted on, and look better "
            "than they will on new data."
        )
    if n_test < MIN_TEST_ROWS:
        out.append(
            f"only {n_test} test rows: the bootstrap intervals describe little more "
            "than these rows, and no lead is called significant."
        )
    return [
        {"source": "data", "category": "CalibrationWarning", "message": m} for m in out
    ]


def _default_methods(task, n_columns, n_val, collected):
    """Return the task's defaults; matrix scaling only if the data can fit it."""
    methods = DEFAULT_METHODS[task]
    # Matrix scaling fits K (K + 1) parameters: with fewer validation rows
    # than that it over-fits (and with K = 1000 takes minutes) however it is
    # regularised.
    if "matrix" in methods and n_columns * (n_columns + 1) > n_val:
        methods = tuple(m for m in methods if m != "matrix")
        collected.append(
            {
                "source": "methods",
                "category": "CalibrationWarning",
                "message": (
                    f"matrix scaling was left out of the default methods: it fits "
                    f"{n_columns * (n_columns + 1)} parameters and the validation "
                    f"set has {n_val} rows; name it in methods to fit it anyway."
                ),
            }
        )
    return methods


def _check_same_classes(fitted, checked, task):
    """Refuse test labels whose classes are not the validation labels' classes.

    Labels other than column indices (strings, say) are matched to the
    columns in sorted order within each set, so two sets with different
    classes would silently read the columns as different classes.
    """
    if task == "multilabel":
        return  # an indicator has no classes to match; the columns are the labels
    if len(fitted) != len(checked.classes) or not np.array_equal(
        fitted, checked.classes
    ):
        raise ValueError(
            f"test data: the test labels have the classes {preview(checked.classes)}, "
            f"but the validation labels {preview(fitted)}; both sets must label the "
            "score columns alike."
        )


def _direction(checked):
    """Mean confidence and accuracy of the uncalibrated predictions.

    Top-label for binary and multiclass scores.  Multilabel: every label is a
    binary prediction of its own, confidence ``max(p, 1 - p)``, right when
    ``p > 0.5`` matches the label, averaged over labels and rows (the mean
    probability against the label rate would say whether too many labels are
    predicted, not whether the model is too sure).
    """
    if checked.task != "multilabel":
        confidence, correct = checked.top_label()
    else:
        p = checked.event_proba()
        confidence = np.maximum(p, 1.0 - p)
        correct = (p > 0.5) == (checked.y == 1)
    return float(np.mean(confidence)), float(np.mean(correct))


def _log_proba(calibrator, X):
    """Return the calibrated log-probabilities the report scores (``"log_probs"``).

    From ``predict_log_proba``, so that a probability of exactly 0 is scored
    as it is; binary: ``log P(classes_[1])``, one column, as the scores.

    Beyond :data:`~calibrate.metrics._predictions.COLUMN_BLOCK_BYTES` of
    float64 (a language model's 20,000 x 32,000 test logits: 5.1 GB), they
    are written chunk by chunk into a memory map of an anonymous temporary
    file (``tempfile.TemporaryFile``, in ``TMPDIR``: already unlinked, so
    nothing is left behind; its disk space is freed when the report is), and
    every later step reads them in blocks of rows or columns.
    """
    if calibrator.task_ == "binary":
        return calibrator.predict_log_proba(X)[:, 1]
    shape = (int(np.shape(X)[0]), len(calibrator.classes_))
    if shape[0] * shape[1] * 8 <= COLUMN_BLOCK_BYTES:
        return calibrator.predict_log_proba(X)
    nbytes = shape[0] * shape[1] * 8
    with tempfile.TemporaryFile(prefix="calibrate-report-") as f:
        # The space is reserved now: a disk that fills up while the map is
        # written would kill the process (SIGBUS) instead of raising.
        try:
            os.posix_fallocate(f.fileno(), 0, nbytes)
        except (AttributeError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno != errno.EOPNOTSUPP:
                raise OSError(
                    f"no room for the calibrated test scores ({nbytes / 1e9:.2f} GB "
                    f"as float64) in the temporary directory "
                    f"{tempfile.gettempdir()}: {exc.strerror}; set TMPDIR to a "
                    "directory with more space."
                ) from exc
            f.truncate(nbytes)  # no fallocate here: a sparse file
        # The map holds its own handle: it outlives the closed file.
        out = np.memmap(f, dtype=np.float64, mode="r+", shape=shape)
    calibrator.predict_log_proba(X, out=out)
    return out


def _fit_and_score(name, calibrator, val, test, checked, n_bins):
    """Fit one method on ``val``; return its test scores, metrics and diagnostics.

    Also returns the warnings raised meanwhile, as the report lists them.
    """
    (X_val, y_val), (X_test, y_test) = val, test
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", calibrate.CalibrationWarning)
        try:
            calibrator.fit(X_val, y_val)
        except (ValueError, TypeError) as exc:
            raise type(exc)(
                f"fitting {name} ({type(calibrator).__name__}) on the validation "
                f"data: {exc}"
            ) from exc
        if calibrator.task_ != checked.task:
            raise ValueError(
                f"the validation data are {calibrator.task_} (labels of shape "
                f"{np.shape(y_val)}) but the test data {checked.task} (labels of "
                f"shape {np.shape(y_test)}); both sets must hold the same task."
            )
        _check_same_classes(calibrator.classes_, checked, checked.task)
        try:
            calibrated = _log_proba(calibrator, X_test)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"applying {name} to the test data: {exc}") from exc
        val_nll = evaluate_calibrator(calibrator, X_val, y_val, metrics=["nll"])["nll"]
        points = _point_metrics(y_test, calibrated, "log_probs", checked.task, n_bins)
    diagnostics = {
        "class": type(calibrator).__name__,
        "params": {
            k: v
            for k, v in calibrator.get_params().items()
            if isinstance(v, (str, int, float, bool, type(None)))
        },
        # n_iter_ is optional (a closed-form fit has none): 0 iterations.
        "n_iter": int(getattr(calibrator, "n_iter_", 0)),
        "validation_nll": val_nll,
        "warnings": [str(w.message) for w in caught],
    }
    if isinstance(calibrator, calibrate.AutoCalibration):
        table = calibrator.cv_results_
        diagnostics["choice"] = {
            "chosen": calibrator.best_method_,
            "scoring": calibrator.scoring,
            "cv_results": [
                {
                    "method": str(r["method"]),
                    "n_parameters": int(r["n_parameters"]),
                    "mean": float(r["mean"]),
                    "std_error": float(r["std_error"]),
                }
                for _, r in table.iterrows()
            ],
        }
    collected = []
    _record(caught, name, collected)
    return calibrated, points, diagnostics, collected


def _overfitting(calibrators, diagnostics, val, input_type):
    """Add each method's free-parameter count, and the over-fitting warnings.

    The rule is :func:`calibrate.calibrators._diagnostics.overfit_warning`'s
    (more than one parameter per ten validation rows and a validation NLL
    below half of temperature scaling's); temperature scaling's validation
    NLL is taken from the report's own fit when it has one, else fitted here
    only for a method the first condition flags.
    """
    X_val, y_val = val
    n = int(np.shape(X_val)[0])
    collected, reference = [], None
    for name, calibrator in calibrators.items():
        d = diagnostics[name]
        d["n_parameters"] = count_parameters(calibrator)
        if d["n_parameters"] <= PARAMETERS_PER_ROW * n:
            continue
        if reference is None:
            found = [
                diagnostics[m]["validation_nll"]
                for m, c in calibrators.items()
                if type(c) is calibrate.TemperatureScaling
            ]
            if found:
                reference = found[0]
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ts = calibrate.TemperatureScaling(input_type=input_type)
                    ts.fit(X_val, y_val)
                    reference = evaluate_calibrator(ts, X_val, y_val, metrics=["nll"])[
                        "nll"
                    ]
        message = overfit_warning(calibrator, n, d["validation_nll"], reference)
        if message is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", calibrate.CalibrationWarning)
                warnings.warn(message, calibrate.CalibrationWarning, stacklevel=2)
            d["warnings"].append(message)
            _record(caught, name, collected)
    return collected


def build_report(
    val,
    test,
    *,
    methods=None,
    input_type="logits",
    n_bins=15,
    n_bootstrap=1000,
    confidence_level=0.95,
    random_state=None,
    title=None,
    description=None,
    sources=None,
    progress=None,
):
    """Fit calibration methods on validation outputs and compare them on test outputs.

    Every method is fitted on ``val`` and evaluated on ``test`` beside the
    uncalibrated scores.  The metrics are computed by the functions of
    :mod:`calibrate.metrics` (:data:`~calibrate.metrics.METRICS`), each with a
    bootstrap interval over the test rows (see Notes), and each method's change
    from the uncalibrated scores gets a *paired* interval: both are computed
    on the same resampled rows, so the noise the two share cancels.

    Parameters
    ----------
    val : pair of array_like
        ``(scores, labels)`` the methods are fitted on: scores of shape
        ``(n_samples,)`` or ``(n_samples, n_columns)``, read as
        ``input_type`` says, and labels (or a multilabel indicator matrix).
    test : pair of array_like
        ``(scores, labels)`` the methods are evaluated on, in the layout of
        ``val``.
    methods : sequence of str, or mapping of str to calibrator, default=None
        Names among :data:`calibrate.calibrators.CALIBRATORS` (each built with
        its defaults and ``input_type``), or a mapping of row name to an
        unfitted calibrator of :mod:`calibrate.calibrators` (cloned before
        fitting).  None compares the defaults for the task:
        temperature, vector and matrix scaling for multiclass scores (matrix
        scaling only when its ``K (K + 1)`` parameters are at most the
        validation rows; a warning says when it was left out), temperature
        and Platt scaling for binary and multilabel ones.
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How to read the scores of both sets.
    n_bins : int, default=15
        Equal-width bins of the binned errors and of the diagrams.
    n_bootstrap : int, default=1000
        Resamples of the test rows, at least 10.
    confidence_level : float, default=0.95
        Coverage of every interval.
    random_state : int or None, default=None
        Seed of the resamples.  None draws one from the operating system and
        records it in :attr:`CalibrationReport.metadata`, so every report can
        be reproduced.
    title : str, default=None
        Heading of the rendered report; None gives "Calibration report".
    description : str, default=None
        Text shown under the heading: what the model and the data are.
    sources : mapping, default=None
        File names of the inputs, under the keys ``"val_scores"``,
        ``"val_labels"``, ``"test_scores"`` and ``"test_labels"``: recorded
        in the metadata with the SHA-256 of the file (the whole archive for
        a ``file.npz:key``).  Inputs without a file are hashed as arrays
        (their bytes in C order), with the shape and dtype beside.
    progress : callable, default=None
        Called with a short text as each stage starts (``"fitting
        temperature"``, ``"bootstrap"``); the command line shows it on a
        terminal.

    Returns
    -------
    CalibrationReport
        The computed report; render it with ``to_html``, ``to_markdown`` or
        ``to_json``.

    Raises
    ------
    ValueError
        For invalid scores or labels (naming the set), an unknown method, a
        method that does not support the task, or invalid options.
    TypeError
        For ``val``/``test`` that are not pairs, or methods that are not
        calibrators.

    Notes
    -----
    *Intervals.*  ``n_bootstrap`` resamples of the test rows (with
    replacement, of the same size) give each metric's replicates; the
    interval is their spread around their median, ``[q_lo - median, q_hi -
    median]`` at the quantiles of ``confidence_level``, placed around the
    estimate from the whole test set, and cut to the metric's range (0 to 1,
    NLL from 0, Brier 0 to 2).  A binned error's replicates sit above the
    estimate (repeated rows make each bin look surer than it is), so a plain
    percentile interval can miss its own estimate: a calibrated model's ECE
    of 2.9 % got [3.6 %, 4.9 %].  Centred, every interval contains its
    estimate.  The changes use the paired replicates the same way.

    For the binned errors (the ECEs and the MCE) the interval is the sampling
    spread of the estimate, *not* a confidence interval for the true
    calibration error: these estimators are biased upward on a finite test
    set (a perfectly calibrated model has a positive ECE), so the true error
    is likely below the estimate, and below the interval too when the model
    is nearly calibrated.  The debiased L2 error corrects that bias to first
    order; its interval, and those of accuracy, NLL and Brier score, are
    confidence intervals in the usual sense.  The paired intervals of the
    changes share the bias of both terms and are the better guide to whether
    a method helped.

    Each replicate is the metric on its resampled rows, computed for all
    resamples at once from their counts: per-row terms and per-bin sums for
    the means and the binned errors (the class-conditional top-label ECE
    from bins indexed by predicted class and confidence bin), and for the
    smooth ECE every resample smoothed together, with its kernel width found
    again on each resample (the fixed point of that resample, by a bisection
    run for all resamples at once), as a loop calling the metric would.

    *Memory.*  No ``(n, K)`` array is held beyond 256 MB: a method's
    calibrated test log-probabilities larger than that are written to a
    memory map of an unlinked temporary file (in ``TMPDIR``, 8 bytes per
    score, freed with the report), and the bootstrap's classwise sums are
    streamed over chunks of rows for each block of resamples.  A language
    model's 20,000 x 32,000 float16 test logits need 0.74 GB beyond the
    mapped pages (``benchmarks/bench_scale.py``).

    *Best method.*  The lowest test NLL wins (the uncalibrated scores
    compete too), and a sentence says whether its lead over the runner-up is
    outside the paired interval of their difference.

    *Warnings.*  Warnings raised while fitting and evaluating are collected
    into :attr:`CalibrationReport.warnings` (and each method's diagnostics)
    instead of being shown, so that the report carries them to its readers.

    Examples
    --------
    >>> from calibrate.datasets import make_miscalibrated
    >>> from calibrate.report import build_report
    >>> val = make_miscalibrated(n_samples=1000, n_classes=4, temperature=2.0,
    ...                          random_state=0)
    >>> test = make_miscalibrated(n_samples=1000, n_classes=4, temperature=2.0,
    ...                           random_state=1)
    >>> report = build_report((val.logits, val.labels), (test.logits, test.labels),
    ...                       methods=["temperature"], n_bootstrap=200,
    ...                       random_state=0)
    >>> list(report.metrics.index)
    ['uncalibrated', 'temperature']
    >>> report.best["method"]
    'temperature'
    """
    X_val, y_val = _check_pair(val, "val")
    X_test, y_test = _check_pair(test, "test")
    n_bins = check_binning(n_bins, "uniform")
    check_confidence_level(confidence_level)
    confidence_level = float(confidence_level)
    n_bootstrap = _check_bootstrap(n_bootstrap)
    seed, rng = _seed(random_state)
    for name, text in (("title", title), ("description", description)):
        if text is not None and not isinstance(text, str):
            raise TypeError(f"{name} must be a string or None; got {text!r}.")
    say = progress if progress is not None else (lambda text: None)
    collected = []

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", calibrate.CalibrationWarning)
        try:
            # The task as the metrics read it, from the shapes of the test set.
            checked = Predictions(
                y_test, X_test, input_type=input_type, sample_weight=None
            )
            task = checked.task
            uncalibrated = _point_metrics(y_test, X_test, input_type, task, n_bins)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"test data: {exc}") from exc
    _record(caught, "uncalibrated", collected)
    n_val_rows = int(np.shape(X_val)[0])
    n_test_rows = int(np.shape(X_test)[0])
    if methods is None:
        methods = _default_methods(task, checked.n_columns, n_val_rows, collected)
    calibrators = _check_methods(methods, input_type)
    rows = ["uncalibrated", *calibrators]
    points = {"uncalibrated": uncalibrated}
    scores = {"uncalibrated": (X_test, input_type)}
    parameters, diagnostics = {}, {}
    for name, calibrator in calibrators.items():
        say(f"fitting {name}")
        calibrated, points[name], diagnostics[name], caught = _fit_and_score(
            name, calibrator, (X_val, y_val), (X_test, y_test), checked, n_bins
        )
        collected.extend(caught)
        scores[name] = (calibrated, "log_probs")
        chosen = getattr(calibrator, "best_estimator_", calibrator)  # auto
        parameters[name] = fitted_parameters(chosen)
    collected.extend(_overfitting(calibrators, diagnostics, (X_val, y_val), input_type))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", calibrate.CalibrationWarning)
        val_nll_before = METRICS["nll"](y_val, X_val, input_type=input_type)
    _record(caught, "uncalibrated (validation)", collected)

    say(f"bootstrap ({n_bootstrap} resamples of {len(np.asarray(y_test))} rows)")
    with warnings.catch_warnings():
        # The floor warnings of the NLL were recorded with the point values.
        warnings.simplefilter("ignore", calibrate.CalibrationWarning)
        replicates = replicate_metrics(
            y_test,
            [scores[r] for r in rows],
            n_bins=n_bins,
            n_bootstrap=n_bootstrap,
            rng=rng,
        )
    table = _metrics_table(rows, points, replicates, confidence_level)

    reduction = "classwise" if task == "multilabel" else "top_label"
    bins = {
        row: calibration_bins(
            y_test, s, n_bins=n_bins, reduction=reduction, input_type=kind
        )
        for row, (s, kind) in scores.items()
    }
    # The columns' classes, as every method was fitted on them (a class that
    # occurs in neither set still has its column).
    classes = next(iter(calibrators.values())).classes_
    mean_confidence, accuracy = _direction(checked)
    metadata = {
        "title": title if title is not None else "Calibration report",
        "description": description,
        "versions": _versions(),
        "task": task,
        "input_type": input_type,
        "n_val": int(np.shape(X_val)[0]),
        "n_test": int(np.shape(X_test)[0]),
        "n_columns": 1 if np.ndim(X_test) == 1 else int(np.shape(X_test)[1]),
        "classes": [c.item() if hasattr(c, "item") else c for c in classes],
        "n_bins": n_bins,
        "binning": "uniform",
        "n_bootstrap": n_bootstrap,
        "confidence_level": confidence_level,
        "seed": seed,
        "validation_nll_uncalibrated": val_nll_before,
        "mean_confidence": mean_confidence,
        "accuracy": accuracy,
        "inputs": _describe_inputs((X_val, y_val, X_test, y_test), sources),
    }
    collected.extend(_data_warnings((X_val, y_val, X_test, y_test), n_test_rows))
    return CalibrationReport(
        metrics=table,
        replicates=replicates,
        parameters=parameters,
        diagnostics=diagnostics,
        warnings=collected,
        bins=bins,
        best=_verdict(rows, points, replicates, confidence_level, n_test_rows),
        metadata=metadata,
        y_test=y_test,
        predictions=scores,
    )
