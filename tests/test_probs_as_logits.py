"""Probabilities passed as logits get one warning, and are still read as logits."""

import warnings

import numpy as np
import pytest
from scipy.special import softmax

from calibrate import CalibrationWarning, PlattScaling, TemperatureScaling


def test_probability_rows_declared_as_logits_warn_once(rng):
    z = rng.normal(size=(2_000, 4)) * 3
    y = np.argmax(z / 2 + rng.gumbel(size=z.shape), axis=1)
    P = softmax(z, axis=1)
    with pytest.warns(CalibrationWarning, match="look like probabilities") as seen:
        as_logits = TemperatureScaling().fit(P, y)
    assert sum("look like probabilities" in str(w.message) for w in seen) == 1
    # Never acted on: the fit is the fit of P read as logits, far from T = 2.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = TemperatureScaling().fit(P.copy(), y)
    assert as_logits.temperature_ == reference.temperature_
    declared = TemperatureScaling(input_type="probs").fit(P, y)
    assert abs(declared.temperature_ - 2) < 0.2
    assert abs(as_logits.temperature_ - 2) > 1


def test_binary_probabilities_declared_as_logits_warn(rng):
    p = rng.uniform(0.01, 0.99, size=500)
    y = (rng.random(500) < p).astype(int)
    with pytest.warns(CalibrationWarning, match="every score lies in"):
        PlattScaling().fit(p, y)


def test_genuine_logits_do_not_warn(rng):
    z = rng.normal(size=(500, 3)) * 2
    y = rng.integers(0, 3, 500)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        TemperatureScaling().fit(z, y)
    # Rows in [0, 1] that do not sum to 1 are not probabilities of a softmax.
    u = rng.uniform(size=(500, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        TemperatureScaling().fit(u, y)
