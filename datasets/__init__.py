"""Datasets: synthetic model outputs with a known calibration map.

``make_*`` functions generate logits whose true calibration map is known
(temperature scaling with a given temperature), with labels drawn from the true
probabilities, so that a fitted calibrator or an estimated calibration error
can be compared with the truth.  Bundled real model outputs (``load_*``) come
in a later release.

This directory sits at the top of the repository and installs as
``calibrate.datasets``; import it by that name only.
"""

from calibrate.datasets._synthetic import (
    make_miscalibrated,
    make_miscalibrated_binary,
    make_miscalibrated_multilabel,
)

__all__ = [
    "make_miscalibrated",
    "make_miscalibrated_binary",
    "make_miscalibrated_multilabel",
]
