"""Reliability displays built from fitted scikit-learn classifiers."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression

from calibrate import CalibratedClassifier
from calibrate.metrics import expected_calibration_error
from calibrate.plotting import ReliabilityComparisonDisplay, ReliabilityDisplay

pytest.importorskip("matplotlib")


def test_from_estimator_bins_the_estimators_probabilities():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = LogisticRegression(max_iter=1000).fit(X[::2], names[::2])
    display = ReliabilityDisplay.from_estimator(clf, X[1::2], names[1::2])
    # The ECE of the estimator's own probabilities with labels as column indices.
    P = clf.predict_proba(X[1::2])
    expected = expected_calibration_error(y[1::2], P)
    assert display.ece == pytest.approx(expected, abs=1e-15)
    assert display.name == "LogisticRegression"


def test_from_estimators_compares_model_and_calibrated_model():
    X, y = load_breast_cancer(return_X_y=True)
    clf = LogisticRegression(max_iter=5000).fit(X[:200], y[:200])
    cal = CalibratedClassifier(clf).fit(X[200:400], y[200:400])
    comparison = ReliabilityComparisonDisplay.from_estimators(
        {"model": clf, "calibrated": cal}, X[400:], y[400:]
    )
    assert [d.name for d in comparison.displays] == ["model", "calibrated"]
    # Binary estimators are drawn on P(classes_[1]), with the package's
    # default (top-label) reduction.
    expected = expected_calibration_error(y[400:], cal.predict_proba(X[400:])[:, 1])
    assert comparison.displays[1].ece == pytest.approx(expected, abs=1e-15)


def test_labels_outside_the_estimators_classes_are_refused():
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    with pytest.raises(ValueError, match="not in the estimator's classes"):
        ReliabilityDisplay.from_estimator(clf, X, y + 7)
