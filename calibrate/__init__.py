"""calibrate: post-hoc calibration of classifier outputs.

Fit a small calibration map on a model's validation logits (or probabilities)
and apply it to new outputs, with scikit-learn compatible estimators.

>>> import calibrate
>>> sorted(calibrate.CALIBRATORS)  # doctest: +NORMALIZE_WHITESPACE
['beta', 'dirichlet', 'ets', 'histogram', 'isotonic', 'matrix', 'platt',
 'scaling_binning', 'temperature', 'vector']

The estimators are imported on first use (PEP 562): ``import calibrate``
alone, as ``calibrate --help`` does, imports neither scikit-learn nor scipy.
``from calibrate import TemperatureScaling`` and ``calibrate.CALIBRATORS``
work as if they had been imported here.
"""

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "CALIBRATORS": "calibrate.calibrators",
    "AutoCalibration": "calibrate.calibrators._auto",
    "BetaCalibration": "calibrate.calibrators",
    "CalibratedClassifier": "calibrate._classifier",
    "CalibrationWarning": "calibrate.exceptions",
    "DirichletCalibration": "calibrate.calibrators",
    "EnsembleTemperatureScaling": "calibrate.calibrators",
    "HistogramBinning": "calibrate.calibrators",
    "IsotonicCalibration": "calibrate.calibrators",
    "MatrixScaling": "calibrate.calibrators",
    "PlattScaling": "calibrate.calibrators",
    "ScalingBinning": "calibrate.calibrators",
    "TemperatureScaling": "calibrate.calibrators",
    "VectorScaling": "calibrate.calibrators",
}

__all__ = [
    "CALIBRATORS",
    "AutoCalibration",
    "BetaCalibration",
    "CalibratedClassifier",
    "CalibrationWarning",
    "DirichletCalibration",
    "EnsembleTemperatureScaling",
    "HistogramBinning",
    "IsotonicCalibration",
    "MatrixScaling",
    "PlattScaling",
    "ScalingBinning",
    "TemperatureScaling",
    "VectorScaling",
    "__version__",
]


def __getattr__(name):
    """Import a public estimator, or the registry, when it is first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'calibrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    # Bound here, so the next access is an ordinary attribute look-up.
    globals()[name] = value
    return value


def __dir__():
    """List the public names with the module's own, imported or not."""
    return sorted({*globals(), *_LAZY})
