"""Fixtures shared by the test modules: seeds and the real logits beside the repo."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20261123)


@pytest.fixture
def shared_data():
    """Load ``../shared/data/<name>.npz``, skipping the test when it is absent."""

    def load(name):
        path = SHARED_DATA / f"{name}.npz"
        if not path.exists():
            pytest.skip(f"real data not available: {path}")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    return load


class LogitModel(ClassifierMixin, BaseEstimator):
    """A fitted 'classifier' whose decision function is its input (X holds logits).

    Wrapped in ``FrozenEstimator`` it lets scikit-learn's calibration methods
    run on saved logits, as an independent reference for ours.
    """

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        return np.asarray(X)

    def predict(self, X):
        return self.classes_[np.argmax(X, axis=1)]


@pytest.fixture
def logit_model():
    """Return ``fit(X, y) -> LogitModel`` (see :class:`LogitModel`)."""
    return lambda X, y: LogitModel().fit(X, y)
