"""Datasets: real model outputs to calibrate, and synthetic ones with a known map.

``load_example`` returns the validation and test logits of a real
scikit-learn model trained on data scikit-learn ships, over-confident or
under-confident, bundled with the package (``list_examples`` names them; the
script ``build_examples.py`` beside this module rebuilds them).

``make_*`` functions generate logits whose true calibration map is known
(temperature scaling with a given temperature), with labels drawn from the true
probabilities, so that a fitted calibrator or an estimated calibration error
can be compared with the truth.

This directory sits at the top of the repository and installs as
``calibrate.datasets``; import it by that name only.
"""

from calibrate.datasets._examples import list_examples, load_example
from calibrate.datasets._synthetic import (
    make_miscalibrated,
    make_miscalibrated_binary,
    make_miscalibrated_multilabel,
)

__all__ = [
    "list_examples",
    "load_example",
    "make_miscalibrated",
    "make_miscalibrated_binary",
    "make_miscalibrated_multilabel",
]
