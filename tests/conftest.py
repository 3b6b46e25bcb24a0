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


@pytest.fixture
def write_scores(tmp_path):
    """Return ``write(kind, n=...) -> dict`` of files of synthetic model outputs.

    Over-confident outputs (true temperature 2) from
    :func:`calibrate.datasets.make_miscalibrated`, split in halves and saved
    under ``tmp_path`` both as ``.npy`` files (``val_scores.npy``,
    ``val_labels.npy``, ``test_scores.npy``, ``test_labels.npy``) and as one
    ``outputs.npz``.  The dictionary maps ``"npy"`` and ``"npz"`` to the four
    array arguments (``val_scores``, ``val_labels``, ``test_scores``,
    ``test_labels``) and ``"arrays"`` to the arrays themselves.  ``kind`` is
    ``"multiclass"`` (10 classes), ``"binary"`` (1-D logits) or
    ``"multilabel"`` (5 labels, an indicator matrix).
    """
    from calibrate.datasets import (
        make_miscalibrated,
        make_miscalibrated_binary,
        make_miscalibrated_multilabel,
    )

    def write(kind="multiclass", n=4000, seed=0, dtype=np.float64):
        if kind == "multiclass":
            data = make_miscalibrated(n, 10, temperature=2.0, random_state=seed)
        elif kind == "binary":
            data = make_miscalibrated_binary(n, temperature=2.0, random_state=seed)
        else:
            data = make_miscalibrated_multilabel(
                n, 5, temperature=2.0, random_state=seed
            )
        half = n // 2
        arrays = {
            "val_scores": data.logits[:half].astype(dtype),
            "val_labels": data.labels[:half],
            "test_scores": data.logits[half:].astype(dtype),
            "test_labels": data.labels[half:],
        }
        npy = {}
        for key, value in arrays.items():
            np.save(tmp_path / f"{key}.npy", value)
            npy[key] = str(tmp_path / f"{key}.npy")
        np.savez(tmp_path / "outputs.npz", **arrays)
        npz = {key: f"{tmp_path / 'outputs.npz'}:{key}" for key in arrays}
        return {"npy": npy, "npz": npz, "arrays": arrays}

    return write
