"""calibrate: post-hoc calibration of classifier outputs.

Fit a small calibration map on a model's validation logits (or probabilities)
and apply it to new outputs, with scikit-learn compatible estimators.

>>> import calibrate
>>> sorted(calibrate.CALIBRATORS)
['dirichlet', 'ets', 'matrix', 'platt', 'temperature', 'vector']
"""

__version__ = "0.1.0"

from calibrate._classifier import CalibratedClassifier  # noqa: E402
from calibrate.calibrators import (  # noqa: E402
    CALIBRATORS,
    DirichletCalibration,
    EnsembleTemperatureScaling,
    MatrixScaling,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
)
from calibrate.calibrators._auto import AutoCalibration  # noqa: E402
from calibrate.exceptions import CalibrationWarning  # noqa: E402

__all__ = [
    "CALIBRATORS",
    "AutoCalibration",
    "CalibratedClassifier",
    "CalibrationWarning",
    "DirichletCalibration",
    "EnsembleTemperatureScaling",
    "MatrixScaling",
    "PlattScaling",
    "TemperatureScaling",
    "VectorScaling",
    "__version__",
]
