"""Calibration metrics: the ECE family, smooth ECE, KS error, proper scores, registry.

The binned errors include the top-label error conditioned on the predicted
class (Gupta and Ramdas 2022); the smooth ECE (Błasiok and Nakkiran 2024)
and the Kolmogorov-Smirnov calibration error (Gupta et al. 2021) need no
bins.

Every metric takes ``(y_true, y_prob)`` like scikit-learn's, with
``sample_weight`` and an ``input_type`` saying whether ``y_prob`` holds
probabilities (the default), logits or log-probabilities.  Lower is better for
all of them but ``accuracy``.  The binned errors read
:func:`calibrate.binning.bin_stats`, the only code in the package that bins.

:data:`METRICS` maps a short name to a :class:`Metric`: the function and
the facts about it (label, unit, range, direction, tasks, options, how it
combines over blocks of rows, whether the report shows it).
:func:`evaluate` computes any of them over arrays or memory-mapped files,
chunk by chunk; the command line, the report, its bootstrap and the
invariance tests all go through it or iterate over the registry.  A new
metric is one function and one :func:`register_metric` call.

Examples
--------
>>> from calibrate.metrics import METRICS, expected_calibration_error
>>> expected_calibration_error([1, 0], [[0.1, 0.9], [0.6, 0.4]], n_bins=10)
0.25
>>> sorted(METRICS)[:3]
['accuracy', 'brier', 'classification_error']
"""

from calibrate.metrics._calibration_error import (
    NORMS,
    REDUCTIONS,
    TopLabelConditionalBins,
    binned_calibration_error,
    calibration_bins,
    expected_calibration_error,
    maximum_calibration_error,
)
from calibrate.metrics._engine import evaluate, evaluate_calibrator
from calibrate.metrics._ks import ks_calibration_error
from calibrate.metrics._registry import METRICS, Metric, register_metric
from calibrate.metrics._scores import (
    accuracy,
    brier_score,
    classification_error,
    negative_log_likelihood,
)
from calibrate.metrics._smooth import smooth_calibration_error, smooth_ece_bandwidth

__all__ = [
    "METRICS",
    "NORMS",
    "REDUCTIONS",
    "Metric",
    "TopLabelConditionalBins",
    "accuracy",
    "binned_calibration_error",
    "brier_score",
    "calibration_bins",
    "classification_error",
    "evaluate",
    "evaluate_calibrator",
    "expected_calibration_error",
    "ks_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "register_metric",
    "smooth_calibration_error",
    "smooth_ece_bandwidth",
]
