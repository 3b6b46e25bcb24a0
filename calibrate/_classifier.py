"""Calibrating a scikit-learn classifier: a classifier over features."""

import numbers

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from calibrate._validation import labels_to_columns

__all__ = ["CalibratedClassifier"]

_RESPONSES = ("auto", "decision_function", "predict_proba")


def _response_method(estimator, response):
    """Name of the estimator's method to call, and how its output is read."""
    if response not in _RESPONSES:
        raise ValueError(
            f"response must be one of {', '.join(_RESPONSES)}; got {response!r}."
        )
    if response == "auto":
        if hasattr(estimator, "decision_function"):
            response = "decision_function"
        elif hasattr(estimator, "predict_proba"):
            response = "predict_proba"
        else:
            raise TypeError(
                f"{type(estimator).__name__} has neither decision_function nor "
                "predict_proba: it cannot be calibrated."
            )
    elif not hasattr(estimator, response):
        raise TypeError(f"{type(estimator).__name__} has no {response} method.")
    return response, "logits" if response == "decision_function" else "probs"


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier followed by a calibration map of its outputs.

    ``fit(X, y)`` takes *features*, like the wrapped estimator.  With
    ``cv="prefit"`` the estimator is already fitted and only the calibrator is
    fitted, on the estimator's outputs for ``X`` (use held-out rows).  With an
    integer ``cv``, clones of the estimator are fitted on the training folds of
    a ``StratifiedKFold(cv)`` and a calibrator on each held-out fold, and
    ``predict_proba`` averages the folds' calibrated probabilities, as
    scikit-learn's ``CalibratedClassifierCV(ensemble=True)`` does.

    The response follows from the estimator, never from the numbers:
    ``response="auto"`` calls ``decision_function`` when it exists (read as
    logits) and otherwise ``predict_proba`` (read as probabilities).

    **Saturated probabilities.** A ``predict_proba`` response is floored at
    ``1 / (n + 2)`` and capped at ``1 - 1 / (n + 2)``, ``n`` the number of
    calibration rows (per fold with an integer ``cv``), before the calibrator
    sees it, at fit and at prediction alike (``floor_``).  An exact 0 or 1 from
    a tree ensemble means "no vote", not certainty, and read literally it is a
    logit of about -708 or +708 that lets a handful of confidently wrong rows
    dominate the fit (a random forest on breast cancer came out worse after
    Platt and temperature scaling than uncalibrated).  ``1 / (n + 2)`` is
    Laplace's rule of succession: with ``n`` rows nothing supports a
    probability closer to 0 or 1.  Probabilities inside the bounds are
    unchanged.  Decision-function outputs are not touched.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Fitted already (``cv="prefit"``) or to be fitted on folds.
    method : str or calibrator, default="temperature"
        A name of :data:`calibrate.CALIBRATORS`, ``"auto"`` (an
        :class:`~calibrate.AutoCalibration`), or a calibrator instance (cloned;
        its ``input_type`` is set from the response).
    response : {"auto", "decision_function", "predict_proba"}, default="auto"
        Which output of the estimator to calibrate.
    cv : "prefit" or int, default="prefit"
        See above.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The estimator's classes (any labels); ``predict_proba``'s columns
        follow them.
    calibrator_ : calibrator
        The fitted map (``cv="prefit"``); with an integer ``cv``, the first
        fold's.
    calibrated_classifiers_ : list of (estimator, calibrator)
        One pair per fold (the estimator itself for ``cv="prefit"``).
    response_ : str
        The method called on the estimator.
    floor_ : float or None
        The probability floor of each fold (``predict_proba`` responses).

    Notes
    -----
    :func:`calibrate.io.save_calibrator` saves ``calibrator_`` only: the
    estimator is the user's, saved with the user's own means (pickle, skops).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from calibrate import CalibratedClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=5000).fit(X[:300], y[:300])
    >>> cal = CalibratedClassifier(clf).fit(X[300:450], y[300:450])
    >>> cal.predict_proba(X[450:]).shape
    (119, 2)
    """

    def __init__(
        self, estimator, method="temperature", *, response="auto", cv="prefit"
    ):
        self.estimator = estimator
        self.method = method
        self.response = response
        self.cv = cv

    # ------------------------------------------------------------------ helpers
    def _make_calibrator(self, input_type):
        from calibrate.calibrators import CALIBRATORS
        from calibrate.calibrators._auto import AutoCalibration

        if isinstance(self.method, str):
            if self.method == "auto":
                return AutoCalibration(input_type=input_type)
            if self.method not in CALIBRATORS:
                raise ValueError(
                    f"unknown method {self.method!r}; choose one of "
                    f"{', '.join(sorted(CALIBRATORS))}, 'auto', or pass a calibrator."
                )
            return CALIBRATORS[self.method](input_type=input_type)
        if not hasattr(self.method, "fit") or not hasattr(self.method, "predict_proba"):
            raise TypeError(
                "method must be a calibrator name or a calibrator instance; got "
                f"{type(self.method).__name__}."
            )
        return clone(self.method).set_params(input_type=input_type)

    def _scores(self, estimator, X, floor):
        out = np.asarray(getattr(estimator, self.response_)(X))
        if self.response_ == "predict_proba":
            if out.ndim == 2 and out.shape[1] == 2:
                out = out[:, 1]
            out = np.clip(out, floor, 1.0 - floor)
            if out.ndim == 2:
                out = out / out.sum(axis=1, keepdims=True)
        elif out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def _encode(self, y):
        what = f"the estimator's classes {self.classes_.tolist()!r}"
        return labels_to_columns(y, self.classes_, what=what)

    # ---------------------------------------------------------------- interface
    def fit(self, X, y, sample_weight=None):
        """Fit the calibrator (and, with an integer ``cv``, the estimator's clones).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, as the estimator takes them.
        y : array-like of shape (n_samples,)
            Labels, among the estimator's classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the calibration fit (and of the estimator's fit with an
            integer ``cv``, when the estimator accepts them).

        Returns
        -------
        self : CalibratedClassifier
        """
        check_consistent_length(X, y)
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            _assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        self.response_, input_type = _response_method(self.estimator, self.response)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, y)
        if isinstance(self.cv, str) and self.cv == "prefit":
            try:
                check_is_fitted(self.estimator)
            except NotFittedError as exc:
                raise NotFittedError(
                    f"{type(self.estimator).__name__} is not fitted: with "
                    "cv='prefit' fit it first, or pass an integer cv to fit it on "
                    "folds."
                ) from exc
            self.classes_ = np.asarray(self.estimator.classes_)
            labels = self._encode(y)
            pairs = [(self.estimator, np.arange(len(labels)))]
        elif isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool):
            self.classes_ = np.unique(np.asarray(y))
            labels = self._encode(y)
            smallest = np.bincount(labels).min()
            if self.cv < 2 or self.cv > smallest:
                raise ValueError(
                    f"cv={self.cv} folds need 2 <= cv <= the smallest class's "
                    f"count ({smallest})."
                )
            pairs = []
            folds = StratifiedKFold(n_splits=int(self.cv))
            for train, test in folds.split(np.zeros(len(labels)), labels):
                est = clone(self.estimator)
                kwargs = {}
                if sample_weight is not None:
                    kwargs["sample_weight"] = sample_weight[train]
                est.fit(_take(X, train), np.asarray(y)[train], **kwargs)
                pairs.append((est, test))
        else:
            raise ValueError(
                f"cv must be 'prefit' or an integer >= 2; got {self.cv!r}."
            )

        self.calibrated_classifiers_, self.floor_ = [], []
        for est, rows in pairs:
            floor = 1.0 / (len(rows) + 2) if self.response_ == "predict_proba" else 0.0
            scores = self._scores(est, _take(X, rows), floor)
            cal = self._make_calibrator(input_type)
            weights = None if sample_weight is None else sample_weight[rows]
            cal.fit(scores, labels[rows], sample_weight=weights)
            self.calibrated_classifiers_.append((est, cal))
            self.floor_.append(floor)
        self.calibrator_ = self.calibrated_classifiers_[0][1]
        if self.response_ != "predict_proba":
            self.floor_ = None
        first = self.calibrated_classifiers_[0][0]
        if hasattr(first, "n_features_in_"):
            self.n_features_in_ = first.n_features_in_
        return self

    def predict_proba(self, X):
        """Calibrated probabilities, one column per class of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "calibrated_classifiers_")
        floors = self.floor_ or [0.0] * len(self.calibrated_classifiers_)
        total = None
        for (est, cal), floor in zip(self.calibrated_classifiers_, floors, strict=True):
            P = cal.predict_proba(self._scores(est, X, floor))
            total = P if total is None else total + P
        return total / len(self.calibrated_classifiers_)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Return the class of highest calibrated probability."""
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]

    def __sklearn_tags__(self):
        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags


def _take(X, rows):
    """Rows of an array, a DataFrame or a list."""
    if issparse(X):
        return X.tocsr()[rows]
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if isinstance(X, list):
        return [X[i] for i in rows]
    return np.asarray(X)[rows] if not hasattr(X, "shape") else X[rows]
