"""Calibrators: scikit-learn classifiers over a model's scores.

Each method lives in its own private module; :data:`CALIBRATORS` maps the short
name used by the CLI and the report to the class.
"""

from calibrate.calibrators._base import BaseCalibrator
from calibrate.calibrators._beta import BetaCalibration
from calibrate.calibrators._dirichlet import DirichletCalibration
from calibrate.calibrators._ets import EnsembleTemperatureScaling
from calibrate.calibrators._histogram import HistogramBinning
from calibrate.calibrators._isotonic import IsotonicCalibration
from calibrate.calibrators._matrix import MatrixScaling
from calibrate.calibrators._platt import PlattScaling
from calibrate.calibrators._scaling_binning import ScalingBinning
from calibrate.calibrators._temperature import TemperatureScaling
from calibrate.calibrators._vector import VectorScaling

__all__ = [
    "CALIBRATORS",
    "BaseCalibrator",
    "BetaCalibration",
    "DirichletCalibration",
    "EnsembleTemperatureScaling",
    "HistogramBinning",
    "IsotonicCalibration",
    "MatrixScaling",
    "PlattScaling",
    "ScalingBinning",
    "TemperatureScaling",
    "VectorScaling",
]

#: Short name -> calibrator class; the CLI, the report and :mod:`calibrate.io`
#: read this registry.
CALIBRATORS = {
    "temperature": TemperatureScaling,
    "vector": VectorScaling,
    "matrix": MatrixScaling,
    "platt": PlattScaling,
    "dirichlet": DirichletCalibration,
    "ets": EnsembleTemperatureScaling,
    "isotonic": IsotonicCalibration,
    "histogram": HistogramBinning,
    "beta": BetaCalibration,
    "scaling_binning": ScalingBinning,
}
