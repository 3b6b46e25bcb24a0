"""What every calibrator shares: input handling, prediction and the NLL kernels.

A calibrator maps scores ``Z`` (logits, shape ``(n, K)``; binary input is
reshaped to ``(n, 1)``) either to calibrated logits ``S = f(Z)`` (logit space)
or directly to log-probabilities (probability space).  Subclasses implement
``_fit(Z, y, w)`` and one of ``_calibrated_logits(Zc)`` or
``_calibrated_log_proba(Zc)``; this module turns their output into
probabilities, log-probabilities, labels and transformed scores for the three
tasks, and provides the chunked float64 objectives that the fits minimise.
"""

import warnings
from abc import ABCMeta, abstractmethod

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import issparse
from scipy.special import log_expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from calibrate._special import iter_chunks, log_softmax, logsumexp_rows, softmax
from calibrate._validation import (
    as_label_array,
    as_numeric_array,
    check_input_type,
    check_labels,
    check_sample_weight,
    check_score_values,
    check_scores,
    infer_task,
    preview,
    warn_if_logits_look_like_probabilities,
)
from calibrate.exceptions import CalibrationWarning

__all__ = ["BaseCalibrator"]


def _is_dask(X):
    """Whether ``X`` is a dask array, without importing dask."""
    return type(X).__module__.startswith("dask")


def _check_out(out, shape):
    """Refuse an ``out`` array of the wrong shape, dtype or writability."""
    if not isinstance(out, np.ndarray):
        raise TypeError(
            f"out must be a numpy array or memory map; got {type(out).__name__}."
        )
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}; got {out.shape}.")
    if out.dtype.kind != "f":
        raise ValueError(f"out must have a floating dtype; got {out.dtype}.")
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array or memory map.")


class BaseCalibrator(
    ClassifierMixin, TransformerMixin, BaseEstimator, metaclass=ABCMeta
):
    """Base class for calibrators: a scikit-learn classifier over scores.

    Not for direct use.  A calibrator written outside the package subclasses
    it, implements the methods below and is added to the registry with
    :func:`calibrate.calibrators.register`; the CLI, the report and
    :mod:`calibrate.io` then read everything they need from the class.

    **Methods a subclass implements**

    ``_fit(self, Z, y, w)``
        Set the fitted attributes (names ending in ``_``).  ``Z`` is the
        validated scores as logits, shape ``(n, K)`` (``K = 1`` for binary),
        in the input's float dtype (float32 stays float32: convert chunk by
        chunk).  ``y`` is the encoded target: multiclass, column indices of
        shape ``(n,)``; binary and multilabel, 0/1 of shape ``(n,)`` or
        ``(n, K)``.  ``w`` is the sample weights, shape ``(n,)``, summing to
        1.  ``classes_`` and ``task_`` are already set.  Set ``n_iter_`` if
        the fit iterates (it is optional everywhere else).

    and exactly one of

    ``_calibrated_logits(self, Zc)`` -- **logit space**
        Map a float64 chunk ``Zc`` of shape ``(m, K)`` to calibrated logits of
        the same shape: softmax logits (multiclass, any additive constant per
        row) or log-odds of the positive class / of each label (binary,
        multilabel).  Every value must be finite.

    ``_calibrated_log_proba(self, Zc)`` -- **probability space**
        Map a float64 chunk ``Zc`` of shape ``(m, K)`` to log-probabilities of
        the same shape: ``log P(class j)`` (multiclass; each row must sum to 1
        in probability, to 1e-9 in log space), ``log P(positive class)``
        (binary, one column) or ``log P(label j is on)`` (multilabel).
        ``-inf`` (probability 0) is a valid value; NaN, ``+inf`` and values
        above 0 are refused.  Binary ``log P(negative)`` is derived as
        ``log(1 - P(positive))``, computed as ``log(-expm1(l))`` near 0.

    The base class derives ``predict_log_proba``, ``predict_proba``,
    ``predict`` and ``transform`` from whichever exists; ``_output_space``
    ("logit" or "probability") is set from it when the class is created.
    Defining both in one class is a ``TypeError``.

    **What** ``transform`` **returns.**  Logit space: calibrated logits
    (multiclass: normalised, i.e. log-probabilities; binary and multilabel:
    log-odds).  Probability space: log-probabilities, ``log P(class j)``
    (multiclass), ``log P(positive class)`` (binary) or ``log P(label j is
    on)`` (multilabel), which may be ``-inf``.  Code that scores a calibrator
    should use ``predict_log_proba`` (or ``predict_proba``), which means the
    same thing in both spaces.

    **Class attributes a subclass sets** (facts the CLI, the report and
    :mod:`calibrate.io` read instead of hand-typed lists)

    ``_supported_tasks`` : tuple of str
        Tasks the method fits, among "binary", "multiclass", "multilabel".
    ``_report_default_tasks`` : tuple of str, default=()
        Tasks for which the report fits the method when ``--methods`` is not
        given.
    ``_help`` : str
        One line describing the method (CLI help, report legend).
    ``_fitted_parameters`` : tuple of str
        Names of the fitted attributes that :mod:`calibrate.io` saves
        besides the common ``classes_``, ``n_features_in_``, ``task_`` and
        the optional ``n_iter_``.
    ``_parameter_shapes(self)`` : method
        The expected shape of each of them given the fitted ``classes_`` and
        ``n_features_in_``, see :meth:`_parameter_shapes`.
    ``_scalar_parameters`` : tuple of (name, type, minimum)
        Numeric constructor arguments checked at the start of ``fit``
        (default: none; the constructor must also take ``input_type``).
    """

    _supported_tasks = ("binary", "multiclass", "multilabel")
    _report_default_tasks = ()
    _help = ""
    _fitted_parameters = ()
    #: "logit" or "probability"; set by ``__init_subclass__`` from the method
    #: the class implements (None while neither is defined).
    _output_space = None
    # (name, type, minimum) of the numeric constructor arguments.
    _scalar_parameters = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._output_space = _output_space_of(cls)

    # ------------------------------------------------------------------ input
    def _scores_2d(self, X, *, reset):
        """Return ``X`` as a 2-D numeric array and whether it came in 1-D."""
        if issparse(X):
            raise TypeError(
                f"{type(self).__name__} needs dense scores; got a sparse matrix. "
                "Convert it with X.toarray()."
            )
        arr = as_numeric_array(X, "X")
        one_d = arr.ndim == 1
        if one_d:
            arr = arr.reshape(-1, 1)
        elif arr.ndim != 2:
            raise ValueError(
                f"X must be of shape (n_samples,) or (n_samples, n_columns); got "
                f"shape {arr.shape}."
            )
        # Feature names and the column count are checked the scikit-learn way;
        # the array itself was converted above without copying float input.
        validate_data(self, X if not one_d else arr, reset=reset, skip_check_array=True)
        return arr, one_d

    def _validate_fit_data(self, X, y, sample_weight, classes=None):
        if _is_dask(X):
            return self._validate_dask_fit_data(X, y, sample_weight, classes)
        X, _ = self._scores_2d(X, reset=True)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"X is empty: found {X.shape[0]} sample(s) and {X.shape[1]} "
                f"feature(s) (shape={X.shape}) while a minimum of 1 is required."
            )
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        y = as_label_array(y, "y")
        task = infer_task(X.shape, y)
        if task not in self._supported_tasks:
            raise ValueError(
                f"{type(self).__name__} supports {', '.join(self._supported_tasks)} "
                f"input; got {task} input (X of shape {X.shape}, y of shape "
                f"{np.shape(y)})."
            )
        y_enc, classes = check_labels(
            y, task=task, n_columns=X.shape[1], n_samples=X.shape[0], classes=classes
        )
        Z = self._check_scores(X, task)
        if self.input_type == "logits":
            warn_if_logits_look_like_probabilities(X, task=task, stacklevel=4)
        w = check_sample_weight(sample_weight, X.shape[0])
        w /= w.sum()  # a new array: normalised in place, no second n-vector
        self.classes_ = classes
        self.task_ = task
        return Z, y_enc, w

    #: Whether ``_fit`` runs on a dask array chunked along rows (its passes
    #: are per-block reductions); the others refuse dask input.
    _fits_dask = False

    def _validate_dask_fit_data(self, X, y, sample_weight, classes):
        from calibrate._dask import _local, _rows_chunked, check_dask_logits

        name = type(self).__name__
        if not self._fits_dask:
            raise TypeError(
                f"{name} does not fit dask arrays; TemperatureScaling, "
                "VectorScaling and PlattScaling do. Pass X.compute() if the "
                "scores fit in memory."
            )
        if self.input_type != "logits":
            raise ValueError(
                f"{name} fits dask arrays of logits only; got input_type="
                f"{self.input_type!r}."
            )
        X = _rows_chunked(X)
        if X.dtype.kind != "f":
            X = X.astype(np.float64)
        self.n_features_in_ = X.shape[1]
        y = as_label_array(_local(y), "y")
        task = infer_task(X.shape, y)
        if task not in self._supported_tasks:
            raise ValueError(f"{name} supports {', '.join(self._supported_tasks)}.")
        y_enc, classes = check_labels(
            y, task=task, n_columns=X.shape[1], n_samples=X.shape[0], classes=classes
        )
        check_dask_logits(X)
        w = check_sample_weight(_local(sample_weight), X.shape[0])
        self.classes_ = classes
        self.task_ = task
        return X, y_enc, w / w.sum()

    def _validate_predict_data(self, X):
        check_is_fitted(self)
        X, one_d = self._scores_2d(X, reset=False)
        return self._check_scores(X, self.task_), one_d

    #: Whether ``_fit`` and ``_calibrated_log_proba`` are handed the
    #: probabilities as given when ``input_type="probs"`` (validated, not
    #: turned into logits), for the calibrators that map probabilities and
    #: must see equal scores as equal (a round trip through logits and the
    #: softmax would break ties by a rounding that differs from row to row).
    _maps_given_probabilities = False

    def _check_scores(self, X, task):
        """Return the validated scores as ``_fit`` and the map take them."""
        if self._maps_given_probabilities and self.input_type == "probs":
            return check_score_values(X, input_type="probs", task=task)
        return check_scores(X, input_type=self.input_type, task=task)

    def _absent_columns(self, y, w):
        """Boolean mask of score columns whose fit data cannot identify them.

        A multiclass class with no (positively weighted) label, or a multilabel
        column that is constant, would drive its own parameters to infinity;
        calibrators keep those parameters at their starting values and warn.
        """
        name = type(self).__name__
        if self.task_ == "multiclass":
            absent = np.bincount(y, weights=w, minlength=len(self.classes_)) <= 0
            what = f"classes {preview(self.classes_[absent])} never occur in y"
        else:
            # Binary and multilabel: a column whose targets are all 0 or all 1.
            Y = y.reshape(len(y), -1)
            absent = np.all(Y == Y[:1], axis=0)
            if self.task_ == "binary":
                only = self.classes_[int(Y[0, 0] > 0)].item()
                what = f"only class {only!r} occurs in y"
            else:
                what = f"labels {preview(np.flatnonzero(absent))} are constant in y"
        if absent.any():
            warnings.warn(
                f"{name}: {what}; their columns are kept, and parameters that only "
                "they determine stay at their starting values.",
                CalibrationWarning,
                stacklevel=4,
            )
        return absent

    # -------------------------------------------------------------- interface
    def fit(self, X, y, sample_weight=None, *, classes=None):
        """Fit the calibration map on validation scores.

        Parameters
        ----------
        X : array-like of shape (n_samples,), (n_samples, 1) or (n_samples, n_classes)
            Validation scores of the model, read as ``input_type`` says.
            One column means binary; ``n_classes`` columns with one label per
            row mean multiclass; with an ``(n_samples, n_classes)`` 0/1
            indicator ``y`` they mean multilabel.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            True labels.  Integer multiclass labels index the columns of ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; None means equal weights.
        classes : array-like of shape (n_columns,), default=None
            The labels of the score columns, in column order (for binary
            scores the two labels, the positive second): ``[1, 2, 3]``,
            strings, any order.  ``classes_`` is then this array and each
            label of ``y`` is its column.  None keeps the default rule
            (integer labels index the columns; other labels are sorted).

        Returns
        -------
        self : object
            The fitted calibrator.
        """
        _check_implements_map(type(self))
        self._validate_hyperparameters()
        # A fit that fails leaves the estimator as it was (fitted or not),
        # never half-fitted with attributes from two different fits.
        previous = dict(self.__dict__)
        try:
            Z, y, w = self._validate_fit_data(X, y, sample_weight, classes)
            self._fit(Z, y, w)
            self._check_fitted_finite()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise
        return self

    def _check_fitted_finite(self):
        """Refuse a fit that ended with NaN or infinite parameters.

        Never saved or used silently: a fit that overflowed (scores too
        extreme for float64) raises one error naming the parameter.
        """
        for name in self._fitted_parameters:
            try:
                value = np.asarray(getattr(self, name), dtype=np.float64)
            except (TypeError, ValueError):  # nested or ragged: checked inside
                continue
            if not np.isfinite(value).all():
                raise ValueError(
                    f"{type(self).__name__}: the fit ended with non-finite "
                    f"{name} ({value.ravel()[:4].tolist()}); the scores are too "
                    "extreme for float64. Divide them by a constant, or use "
                    "temperature scaling."
                )

    def _validate_hyperparameters(self):
        """Check the constructor arguments (run first in ``fit``)."""
        check_input_type(self.input_type)
        for name, kind, low in self._scalar_parameters:
            check_scalar(getattr(self, name), name, kind, min_val=low)

    def _decision_chunk(self, Zc, start):
        """Map output of one float64 chunk ``Zc`` (rows from ``start``)."""
        probability = self._output_space == "probability"
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if probability:
                chunk = np.asarray(self._calibrated_log_proba(Zc), dtype=np.float64)
            else:
                chunk = np.asarray(self._calibrated_logits(Zc), dtype=np.float64)
        if probability:
            self._check_log_proba_chunk(chunk, start)
            return chunk
        bad = ~np.isfinite(chunk)
        if bad.any():
            row = int(np.argmax(bad.any(axis=1)))
            raise ValueError(
                f"{type(self).__name__}: the calibrated logits of row {start + row} "
                f"are not finite ({chunk[row][:5].tolist()}); the scores or the "
                "fitted parameters are too extreme for float64."
            )
        return chunk

    def _decision(self, X):
        """Map output of ``X`` as float64 ``(n, K)``, and input layout.

        Calibrated logits (logit space, all finite) or log-probabilities
        (probability space, ``-inf`` allowed), computed chunk by chunk.
        """
        Z, one_d = self._validate_predict_data(X)
        out = np.empty(Z.shape, dtype=np.float64)
        for rows in iter_chunks(*Z.shape):
            out[rows] = self._decision_chunk(Z[rows].astype(np.float64), rows.start)
        return out, one_d

    def _predict_into(self, X, kind, out):
        """Compute ``kind`` of ``X`` chunk by chunk, into ``out`` if given.

        ``kind`` is ``"transform"``, ``"log_proba"`` or ``"proba"``.  Only one
        chunk of rows is held in float64 at a time; ``out`` (an array or a
        memory map of the right shape and a float dtype) receives each chunk,
        rounded to its dtype.
        """
        if _is_dask(X):
            from calibrate._dask import predict_dask

            return predict_dask(self, X, kind, out)
        Z, one_d = self._validate_predict_data(X)
        n, k = Z.shape
        shape = self._output_shape(Z.shape, one_d, kind)
        if out is None:
            out = np.empty(shape, dtype=np.float64)
        else:
            _check_out(out, shape)
        flat = out.reshape(n, -1) if out.ndim == 1 else out
        for rows in iter_chunks(n, k):
            S = self._decision_chunk(Z[rows].astype(np.float64), rows.start)
            flat[rows] = self._finish(S, kind)
        return out

    def _output_shape(self, shape, one_d, kind):
        n, k = shape
        if kind == "transform":
            return (n,) if one_d else (n, k)
        return (n, 2) if self.task_ == "binary" else (n, k)

    def _finish(self, S, kind):
        """``kind`` from the map output ``S`` of one chunk."""
        logit = self._output_space == "logit"
        if kind == "transform":
            return log_softmax(S) if self.task_ == "multiclass" and logit else S
        if kind == "proba" and self.task_ == "multiclass" and logit:
            return softmax(S)  # one exponential, not exp(log_softmax)
        L = self._log_proba(S)
        return np.exp(L) if kind == "proba" else L

    def _check_log_proba_chunk(self, L, start):
        """Refuse NaN, ``+inf``, log-probabilities above 0 and unnormalised rows."""
        name = type(self).__name__
        bad = np.isnan(L) | (L > 0)
        if bad.any():
            row = int(np.argmax(bad.any(axis=1)))
            raise ValueError(
                f"{name}: the log-probabilities of row {start + row} are not in "
                f"[-inf, 0] ({L[row][:5].tolist()}); _calibrated_log_proba must "
                "return log-probabilities (NaN and +inf are refused)."
            )
        if self.task_ == "multiclass":
            with np.errstate(divide="ignore", invalid="ignore"):
                lse = logsumexp_rows(L)
            # Probabilities normalised in float64 sum to 1 within K * eps;
            # 1e-9 leaves room for that at any vocabulary size.
            off = ~(np.abs(lse) <= 1e-9)
            if off.any():
                row = int(np.argmax(off))
                raise ValueError(
                    f"{name}: the probabilities of row {start + row} sum to "
                    f"{float(np.exp(lse[row])):.17g}, not 1; _calibrated_log_proba "
                    "must return normalised multiclass log-probabilities."
                )

    def transform(self, X, *, out=None):
        """Return the calibrated scores in the layout of the input.

        Logit space: calibrated logits.  Multiclass: normalised logits
        (log-probabilities), so that ``softmax(transform(X)) ==
        predict_proba(X)``; binary and multilabel: calibrated log-odds.
        Probability space (``_output_space == "probability"``):
        log-probabilities, ``log P(class j)`` (multiclass), ``log P(positive
        class)`` (binary) or ``log P(label j is on)`` (multilabel), where
        ``-inf`` means probability 0.  Binary output has shape ``(n,)`` or
        ``(n, 1)`` as ``X`` had.  To score a calibrator, use
        :meth:`predict_log_proba`, which means the same in both spaces.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says (a memory-mapped array is read
            chunk by chunk in its own dtype; a ``dask.array`` chunked along
            rows is computed block by block).
        out : ndarray, optional
            Array of the output's shape and a floating dtype (float64,
            float32, float16; a ``numpy.memmap`` opened for writing works) to
            write into, chunk by chunk, instead of allocating the result; it
            is returned.  Values are rounded to its dtype.  For a dask input,
            anything ``dask.array.store`` accepts (a memory map, a zarr array).

        Returns
        -------
        ndarray of float64, same shape as ``X``
            Calibrated logits (logit space) or log-probabilities (probability
            space).
        """
        return self._predict_into(X, "transform", out)

    def predict_log_proba(self, X, *, out=None):
        """Return log-probabilities, computed in log space.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says (a memory-mapped array is read
            chunk by chunk in its own dtype; a ``dask.array`` chunked along
            rows is computed block by block).
        out : ndarray, optional
            Array of the output's shape and a floating dtype (float64,
            float32, float16; a ``numpy.memmap`` opened for writing works) to
            write into, chunk by chunk, instead of allocating the result; it
            is returned.  Values are rounded to its dtype.  For a dask input,
            anything ``dask.array.store`` accepts (a memory map, a zarr array).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Multiclass: ``log P(class j)``.  Binary: two columns,
            ``log P(classes_[0])`` and ``log P(classes_[1])``.  Multilabel:
            ``log P(label j is on)`` for each label.  ``-inf`` only from a
            probability-space calibrator that gives probability 0.
        """
        return self._predict_into(X, "log_proba", out)

    def _log_proba(self, S):
        """Log-probabilities from the map output ``S`` (float64, 2-D)."""
        if self._output_space == "probability":
            if self.task_ == "binary":
                return np.column_stack([log1mexp(S[:, 0]), S[:, 0]])
            return S
        if self.task_ == "multiclass":
            return log_softmax(S)
        if self.task_ == "binary":
            return np.column_stack([log_expit(-S[:, 0]), log_expit(S[:, 0])])
        return log_expit(S)

    def predict_proba(self, X, *, out=None):
        """Return calibrated probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says (a memory-mapped array is read
            chunk by chunk in its own dtype; a ``dask.array`` chunked along
            rows is computed block by block).
        out : ndarray, optional
            Array of the output's shape and a floating dtype (float64,
            float32, float16; a ``numpy.memmap`` opened for writing works) to
            write into, chunk by chunk, instead of allocating the result; it
            is returned.  Values are rounded to its dtype.  For a dask input,
            anything ``dask.array.store`` accepts (a memory map, a zarr array).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Multiclass and binary: rows sum to 1 (binary gives two columns, as
            scikit-learn does).  Multilabel: the probability of each label.
        """
        return self._predict_into(X, "proba", out)

    def predict(self, X):
        """Return the predicted class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns)
            Scores, read as ``input_type`` says (a memory-mapped array is read
            chunk by chunk in its own dtype; a ``dask.array`` chunked along
            rows is computed block by block).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``classes_[argmax]`` for multiclass; the positive class where the
            calibrated probability exceeds 0.5 for binary; a 0/1 indicator
            matrix for multilabel.
        """
        Z, _ = self._validate_predict_data(X)
        # Logit space: log-odds above 0; probability space: log P above log 0.5.
        threshold = 0.0 if self._output_space == "logit" else np.log(0.5)
        parts = []
        for rows in iter_chunks(*Z.shape):
            S = self._decision_chunk(Z[rows].astype(np.float64), rows.start)
            if self.task_ == "multiclass":
                parts.append(self.classes_[np.argmax(S, axis=1)])
            elif self.task_ == "binary":
                parts.append(self.classes_[(S[:, 0] > threshold).astype(np.intp)])
            else:
                parts.append((S > threshold).astype(np.int64))
        return np.concatenate(parts)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = "multilabel" in self._supported_tasks
        # Scores are the model's logits, not features: generic data scores poorly.
        tags.classifier_tags.poor_score = True
        # ``transform`` returns calibrated logits or log-probabilities, float64.
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    # ------------------------------------------------------------ subclasses
    @abstractmethod
    def _fit(self, Z, y, w):
        """Set the fitted parameters from logits ``Z``, encoded ``y``, weights ``w``."""

    def _parameter_shapes(self):
        """Return the expected shape of each entry of ``_fitted_parameters``.

        Called on a fitted instance (``classes_``, ``task_`` and
        ``n_features_in_`` set), by :mod:`calibrate.io` to validate a model
        file.  Returns a dict name -> shape, where a shape is

        - a tuple of ints: an array of exactly that shape (``()`` is a
          float); an entry ``None`` is a dimension whose length depends on
          the data (``(None,)``: a 1-D array of any length, such as
          thresholds);
        - ``None``: an array of any shape;
        - a list of shapes: a list of arrays, one shape each (for example one
          array of any length per class: ``[(None,)] * n_classes``).

        The default accepts an array of any shape for every name.
        """
        return dict.fromkeys(self._fitted_parameters)


def _output_space_of(cls):
    """``"logit"``/``"probability"`` from the map method ``cls`` implements."""
    for klass in cls.__mro__:
        own = klass.__dict__
        has_logits = "_calibrated_logits" in own
        has_log_proba = "_calibrated_log_proba" in own
        if has_logits and has_log_proba:
            raise TypeError(
                f"{klass.__name__} defines both _calibrated_logits and "
                "_calibrated_log_proba; a calibrator implements exactly one "
                "(logit space or probability space)."
            )
        if has_logits:
            return "logit"
        if has_log_proba:
            return "probability"
    return None


def _check_implements_map(cls):
    if cls._output_space is None:
        raise TypeError(
            f"{cls.__name__} implements neither _calibrated_logits (logit space) "
            "nor _calibrated_log_proba (probability space); a BaseCalibrator "
            "subclass implements exactly one."
        )


def log1mexp(a):
    """``log(1 - exp(a))`` for ``a <= 0``, accurate at both ends.

    ``log(-expm1(a))`` near 0 and ``log1p(-exp(a))`` below ``-log 2``
    (Maechler 2012); ``a = 0`` gives ``-inf``, ``a = -inf`` gives 0.
    """
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(a > -np.log(2.0), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


# ---------------------------------------------------------------- objectives
def softmax_nll_and_dlogits(S, y, w):
    """Weighted softmax NLL of logits ``S`` and its gradient with respect to ``S``.

    Parameters
    ----------
    S : ndarray of shape (m, K), float64
        Logits (overwritten with the gradient to save a temporary).
    y : ndarray of shape (m,), int
        Column index of the true class.
    w : ndarray of shape (m,)
        Weights (normalised over the whole data set).

    Returns
    -------
    loss : float
        ``sum_i w_i (logsumexp(S_i) - S_i,y_i)``.
    G : ndarray of shape (m, K)
        ``w_i (softmax(S_i) - onehot(y_i))``, stored in ``S``.
    """
    rows = np.arange(S.shape[0])
    lse = logsumexp_rows(S)
    # Rows of weight 0 may be labelled with a masked (absent) class, whose
    # logit is -inf: they contribute nothing, not 0 * inf.
    loss = float(w @ np.where(w > 0, lse - S[rows, y], 0.0))
    S -= lse[:, None]
    np.exp(S, out=S)
    S[rows, y] -= 1.0
    S *= w[:, None]
    return loss, S


def sigmoid_nll_and_dlogits(S, Y, w):
    """Weighted binary cross-entropy of log-odds ``S`` against targets ``Y``.

    Parameters
    ----------
    S : ndarray of shape (m, K), float64
        Log-odds, one independent binary problem per column (overwritten).
    Y : ndarray of shape (m, K)
        Targets in [0, 1] (soft targets allowed).
    w : ndarray of shape (m,)
        Weights (normalised over the whole data set).

    Returns
    -------
    loss : float
        ``sum_i w_i sum_k (log(1 + exp(S_ik)) - Y_ik S_ik)``.
    G : ndarray of shape (m, K)
        ``w_i (sigmoid(S_ik) - Y_ik)``, stored in ``S``.
    """
    loss = float(w @ (np.logaddexp(0.0, S) - Y * S).sum(axis=1))
    np.exp(log_expit(S), out=S)
    S -= Y
    S *= w[:, None]
    return loss, S


def minimize_lbfgs(fun, x0, *, fixed, tol, max_iter, name, scale=None):
    """Minimise ``fun`` (returning value and gradient) with L-BFGS-B.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (value, gradient)``.
    x0 : ndarray
        Starting point; parameters where ``fixed`` is True stay there.
    fixed : ndarray of bool
        Parameters to hold constant (equal lower and upper bounds).
    tol : float
        Stop when the largest projected gradient component is below ``tol``.
    max_iter : int
        Iteration budget.
    name : str
        Estimator name for the warning.
    scale : ndarray or None, default=None
        Diagonal preconditioner: the optimiser works on ``theta * scale``.
        Pass the square root of each parameter's penalty curvature so that
        strong regularisation does not make the problem ill-conditioned.

    Returns
    -------
    theta : ndarray
        The minimiser.
    n_iter : int
        Iterations used.
    """
    if fixed.all():
        return x0.copy(), 0  # nothing to fit (every column lacks data)
    if scale is not None:
        inner, x0 = fun, x0 * scale

        def fun(x):
            value, grad = inner(x / scale)
            return value, grad / scale

    bounds = [(v, v) if f else (None, None) for v, f in zip(x0, fixed, strict=True)]
    # ftol of a few hundred float64 eps: stop once the objective no longer
    # moves at the precision it can be computed to.
    # One BLAS thread: L-BFGS-B's many tiny vector operations run several
    # times slower when OpenBLAS wakes its thread pool for each of them.
    # (threadpoolctl is a requirement of scikit-learn; the limit is undone on
    # exit, no global state is left changed.)
    with threadpool_limits(limits=1, user_api="blas"):
        res = minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds if fixed.any() else None,
            options={
                "maxiter": max_iter,
                "gtol": tol,
                "ftol": 256 * np.finfo(float).eps,
            },
        )
    # A line search that fails with a gradient within 1000 * tol of zero has
    # reached the precision the objective can be computed to: not a failure.
    if res.status == 1 or (not res.success and np.max(np.abs(res.jac)) > 1e3 * tol):
        warnings.warn(
            f"{name} did not converge: {res.message} (largest gradient component "
            f"{np.max(np.abs(res.jac)):.2e} after {res.nit} iterations). Increase "
            "max_iter or check the scores.",
            ConvergenceWarning,
            stacklevel=3,
        )
    theta = res.x if scale is None else res.x / scale
    return theta, int(res.nit)


def chunked_objective(Z, y, w, *, forward, backward, dlogits):
    """Sum a per-chunk loss and gradient over the rows of ``Z`` in float64.

    Parameters
    ----------
    Z : ndarray of shape (n, K)
        Logits (float32 or float64); each chunk is converted to float64.
    y : ndarray or targets object
        Labels (softmax) or targets with a ``dense(rows)`` method (sigmoid).
    w : ndarray of shape (n,)
        Weights summing to 1.
    forward : callable
        ``forward(Zc) -> S``, the calibrated logits of a chunk.
    backward : callable
        ``backward(Zc, G) -> gradient`` of the parameters given ``dL/dS``.
    dlogits : callable
        :func:`softmax_nll_and_dlogits` or :func:`sigmoid_nll_and_dlogits`.

    Returns
    -------
    loss : float
    grad : ndarray
    """
    if _is_dask(Z):  # the same sums, one dask task per block of rows
        from calibrate._dask import block_sums

        return block_sums(
            chunked_objective,
            Z,
            (y, w),
            forward=forward,
            backward=backward,
            dlogits=dlogits,
        )
    loss, grad = 0.0, None
    for rows in iter_chunks(*Z.shape):
        Zc = Z[rows].astype(np.float64)
        chunk_loss, G = dlogits(forward(Zc), target_chunk(y, rows, len(Zc)), w[rows])
        loss += chunk_loss
        g = backward(Zc, G)
        grad = g if grad is None else grad + g
    return loss, grad


def target_chunk(y, rows, m):
    """Targets of ``rows``: labels for softmax, a dense ``(m, K)`` block for sigmoid."""
    if hasattr(y, "dense"):
        return y.dense(rows)
    if y.dtype.kind in "iu":
        return y[rows]
    return y[rows].reshape(m, -1)


def subsample(y, stride):
    """Every ``stride``-th row of labels or of a targets object."""
    return y.every(stride) if hasattr(y, "every") else y[::stride]


class OneVsRestTargets:
    """Dense one-vs-rest targets of multiclass labels, built one chunk at a time.

    Column ``k`` is ``hi[k]`` where the label is ``k`` and ``lo[k]`` elsewhere
    (1 and 0 for plain targets), so an ``(n, K)`` matrix is never stored.
    """

    def __init__(self, labels, lo, hi):
        self.labels, self.lo, self.hi = labels, lo, hi

    def __len__(self):
        return len(self.labels)

    def dense(self, rows):
        """Return the ``(m, K)`` float64 targets of ``rows``."""
        labels = self.labels[rows]
        Y = np.broadcast_to(self.lo, (len(labels), len(self.lo))).copy()
        Y[np.arange(len(labels)), labels] = self.hi[labels]
        return Y

    def every(self, stride):
        """Return the targets of every ``stride``-th row."""
        return OneVsRestTargets(self.labels[::stride], self.lo, self.hi)

    def take_rows(self, rows):
        """Return the targets of the slice ``rows`` (a block of a dask fit)."""
        return OneVsRestTargets(self.labels[rows], self.lo, self.hi)


def mask_columns(S, absent):
    """Set the logits of ``absent`` columns to ``-inf`` (in place) and return ``S``.

    Their softmax probability is then exactly 0 and their gradient 0, so a fit
    is the maximum-likelihood fit over the classes that occur.
    """
    if absent.any():
        S[:, absent] = -np.inf
    return S


def per_column_affine_objective(Z, y, w, *, dlogits, absent=None):
    """Objective of ``S = a * Z + b`` (a scale and a bias per column).

    Parameters
    ----------
    Z : ndarray of shape (n, K)
        Logits.
    y : ndarray or targets object
        Labels (softmax) or targets (sigmoid), as :func:`chunked_objective`.
    w : ndarray of shape (n,)
        Weights summing to 1.
    dlogits : callable
        :func:`softmax_nll_and_dlogits` or :func:`sigmoid_nll_and_dlogits`.
    absent : ndarray of bool of shape (K,) or None, default=None
        Columns masked out of the softmax (see :func:`mask_columns`).

    Returns
    -------
    callable
        ``fun(theta) -> (loss, gradient)`` with ``theta = [a, b]``.
    """
    k = Z.shape[1]
    absent = np.zeros(k, dtype=bool) if absent is None else absent

    def fun(theta):
        scale, bias = theta[:k], theta[k:]
        return chunked_objective(
            Z,
            y,
            w,
            forward=lambda Zc: mask_columns(Zc * scale + bias, absent),
            backward=lambda Zc, G: np.concatenate(
                [np.einsum("ij,ij->j", G, Zc), G.sum(axis=0)]
            ),
            dlogits=dlogits,
        )

    return fun
