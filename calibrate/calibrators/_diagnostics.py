"""Over-fitting diagnostics: parameters against validation rows.

A calibration map with many parameters fitted on few validation rows can
drive its validation NLL far below anything it reaches on new data: matrix
scaling on the bundled ``digits_mlp`` example (110 parameters, 599 rows)
reaches a validation NLL of 0.048 against temperature scaling's 0.217, and a
test NLL of 0.431 against 0.209.  :func:`overfit_warning` says so.

The rule, and the evidence for it (validation -> test NLL with the default
settings; "ratio" is the fit's validation NLL over temperature scaling's;
"p / n" the number of free parameters per validation row)::

    data (n rows, K)            method     p / n   ratio  val -> test   TS test  rule
    digits_mlp (599, 10)        matrix     0.18    0.22   0.048 -> 0.431  0.209  warn
    digits_mlp                  dirichlet  0.18    0.21   0.046 -> 1.252  0.209  warn
    digits_naive_bayes          matrix     0.18    0.18   0.064 -> 0.356  0.326  warn
    digits_logistic_regression  matrix     0.18    0.57   0.124 -> 0.161  0.191  -
    digits_logistic_regression  dirichlet  0.18    0.55   0.120 -> 0.163  0.191  -
    CIFAR-100 ResNet-110 (5000) matrix     2.02    0.79   0.862 -> 1.041  1.099  -
    CIFAR-100 ResNet-110        dirichlet  2.02    0.78   0.854 -> 1.047  1.099  -
    CIFAR-10 ResNet-110 (5000)  matrix     0.022   0.90   0.164 -> 0.186  0.196  -

Warn when a map has more than one free parameter per ten validation rows
**and** its validation NLL is below half of temperature scaling's.  The
parameter count alone does not decide (the regularised maps on CIFAR-100 have
two parameters per row and generalise), nor does the drop alone (a large
drop with few parameters is information, not memorisation); the fits that
lost on the test set are exactly those that combine both.  AIC's optimism
``p / n`` (with the effective parameter count of the penalised fits
estimated from the Hessian's diagonal) was tried first and rejected: it
flagged CIFAR-100 matrix scaling, which wins, and missed ``digits_mlp``'s.
"""

import numpy as np

__all__ = ["count_parameters", "overfit_warning"]

#: More free parameters per validation row than this ...
PARAMETERS_PER_ROW = 0.1
#: ... and a validation NLL below this fraction of temperature scaling's.
NLL_RATIO = 0.5


def count_parameters(calibrator):
    """Return the number of free fitted parameters of a fitted calibrator.

    A calibrator may define ``_n_free_parameters()`` (Dirichlet calibration's
    restricted parameterisations store a full matrix with few free entries);
    otherwise it is the total size of its declared fitted arrays.
    """
    own = getattr(calibrator, "_n_free_parameters", None)
    if own is not None:
        return int(own())
    names = calibrator._fitted_parameters
    return int(sum(_size(getattr(calibrator, name)) for name in names))


def _size(value):
    """Entries of a fitted attribute: an array, or a list of arrays."""
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return np.size(value)


def overfit_warning(calibrator, n_rows, validation_nll, temperature_nll):
    """Return a one-line warning when a fit looks over-fitted, else None.

    Parameters
    ----------
    calibrator : BaseCalibrator
        The fitted map.
    n_rows : int
        Validation rows it was fitted on.
    validation_nll : float
        Its validation NLL.
    temperature_nll : float
        Temperature scaling's validation NLL on the same rows.

    Returns
    -------
    str or None

    Examples
    --------
    >>> from calibrate import TemperatureScaling
    >>> from calibrate.datasets import make_miscalibrated
    >>> d = make_miscalibrated(1000, 3, random_state=0)
    >>> ts = TemperatureScaling().fit(d.logits, d.labels)
    >>> overfit_warning(ts, 1000, 0.5, 0.5) is None
    True
    """
    p = count_parameters(calibrator)
    if not (np.isfinite(validation_nll) and np.isfinite(temperature_nll)):
        return None
    if p > PARAMETERS_PER_ROW * n_rows and validation_nll < NLL_RATIO * temperature_nll:
        return (
            f"{type(calibrator).__name__} may be over-fitted: {p} parameters for "
            f"{n_rows} validation rows, and a validation NLL of {validation_nll:.4g}, "
            f"below half of temperature scaling's {temperature_nll:.4g}; expect a "
            "higher NLL on new data (compare on a test set, or use fewer parameters "
            "or a stronger penalty)."
        )
    return None
