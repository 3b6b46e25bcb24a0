"""Synthetic model outputs whose true calibration map is known.

Every generator draws "true" logits ``u`` that are perfectly calibrated (labels
are drawn from their probabilities), then returns ``logits = temperature * u``.
The true calibration map is therefore temperature scaling with ``T =
temperature``: ``temperature > 1`` imitates an over-confident model,
``temperature < 1`` an under-confident one, and a calibrator fitted on the
returned logits should recover ``temperature``.

Random numbers come from ``np.random.default_rng(random_state)`` and are drawn
in a fixed order (documented per generator), so a seed gives the same data on
every platform.
"""

import numbers

import numpy as np
from sklearn.utils import Bunch

from calibrate._special import sigmoid, softmax

__all__ = [
    "make_miscalibrated",
    "make_miscalibrated_binary",
    "make_miscalibrated_multilabel",
]

# Per-row noise scale of the true logits is drawn from U(0, _MAX_SCALE): rows
# range from nearly uniform (scale ~ 0) to sharply peaked, so confidences cover
# (1/K, 1) instead of clustering at one value.
_MAX_SCALE = 2.0
# Binary and multilabel logits have no boosted class, so their scale goes
# higher to reach confident rows: with U(0, 4) about 75 % of binary rows are
# predicted correctly.
_MAX_SCALE_SIGMOID = 4.0


def _check_count(value, name, minimum):
    """Return ``value`` as an int if it is an integer ``>= minimum``, else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}.")
    return int(value)


def _check_temperature(temperature):
    """Return ``temperature`` as a float if it is finite and positive, else raise."""
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(
        temperature, numbers.Real
    ):
        raise TypeError(f"temperature must be a real number; got {temperature!r}.")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(
            f"temperature must be a finite number > 0; got {temperature!r}."
        )
    return float(temperature)


def _bunch(logits, labels, probabilities, temperature, descr):
    return Bunch(
        logits=logits,
        labels=labels,
        probabilities=probabilities,
        temperature=temperature,
        DESCR=descr,
    )


def make_miscalibrated(n_samples, n_classes, *, temperature=1.5, random_state=None):
    """Multiclass logits of a model whose true calibration map is ``z / temperature``.

    True logits are ``u = s * e + b * onehot(c)`` per row, with
    ``s ~ U(0, 2)``, ``e`` standard normal of length ``n_classes``, a boost
    ``b ~ U(0, 2 (1 + log n_classes))`` added to a class ``c`` drawn uniformly.
    The boost grows with ``log n_classes`` so that accuracy stays well between
    chance and 100 % for any number of classes (about 65 % for 10 classes,
    50-55 % for 100 to 1,000) and confidences cover ``(1 / n_classes, 1)``.
    The returned logits are ``temperature * u``; the true probabilities are
    ``softmax(logits / temperature)`` and each label is drawn from its row of
    them by inverse transform sampling.

    Parameters
    ----------
    n_samples : int
        Number of rows, at least 1.
    n_classes : int
        Number of classes, at least 2.
    temperature : float, default=1.5
        The temperature that calibrates the logits: finite and positive.
        Values above 1 make the logits over-confident, below 1 under-confident.
    random_state : int, numpy.random.Generator or None, default=None
        Seed (or generator) for :func:`numpy.random.default_rng`. Draws are
        made in this order: ``s``, ``b``, ``c``, ``e``, one uniform per row for
        the label.

    Returns
    -------
    data : sklearn.utils.Bunch
        With the fields

        logits : ndarray of shape (n_samples, n_classes), dtype float64
            The miscalibrated logits, ``temperature * u``.
        labels : ndarray of shape (n_samples,), dtype int64
            Labels in ``range(n_classes)``, drawn from ``probabilities``.
        probabilities : ndarray of shape (n_samples, n_classes), dtype float64
            The true probabilities, ``softmax(logits / temperature)``.
        temperature : float
            The true temperature.
        DESCR : str
            A description of the recipe.

    Raises
    ------
    TypeError
        If a count is not an integer or ``temperature`` is not a real number.
    ValueError
        If ``n_samples < 1``, ``n_classes < 2`` or ``temperature`` is not
        finite and positive.

    See Also
    --------
    make_miscalibrated_binary : One logit per row, labels in {0, 1}.
    make_miscalibrated_multilabel : Independent binary labels per column.

    Examples
    --------
    >>> import numpy as np
    >>> from calibrate.datasets import make_miscalibrated
    >>> data = make_miscalibrated(1000, 4, temperature=2.0, random_state=0)
    >>> data.logits.shape, data.labels.shape, data.temperature
    ((1000, 4), (1000,), 2.0)
    >>> data.labels.dtype, int(data.labels.min()), int(data.labels.max())
    (dtype('int64'), 0, 3)
    >>> bool(np.allclose(data.probabilities.sum(axis=1), 1.0))
    True
    """
    n_samples = _check_count(n_samples, "n_samples", 1)
    n_classes = _check_count(n_classes, "n_classes", 2)
    temperature = _check_temperature(temperature)
    rng = np.random.default_rng(random_state)

    scale = rng.uniform(0.0, _MAX_SCALE, size=n_samples)
    boost = rng.uniform(0.0, 2.0 * (1.0 + np.log(n_classes)), size=n_samples)
    boosted = rng.integers(n_classes, size=n_samples)
    u = rng.standard_normal((n_samples, n_classes))
    u *= scale[:, None]
    u[np.arange(n_samples), boosted] += boost

    logits = temperature * u
    probabilities = softmax(logits / temperature)
    # Inverse transform sampling: the label is the first class whose cumulative
    # probability reaches the row's uniform draw.  The cumulative sum may end a
    # few ulps below 1, hence the clip to the last class.
    cumulative = np.cumsum(probabilities, axis=1)
    draw = rng.random(n_samples)
    labels = np.count_nonzero(cumulative < draw[:, None], axis=1)
    labels = np.minimum(labels, n_classes - 1).astype(np.int64)

    descr = (
        f"Synthetic multiclass logits: {n_samples} samples, {n_classes} classes, "
        f"true temperature {temperature!r}. True logits u = s * e + b * onehot(c) "
        f"with s ~ U(0, {_MAX_SCALE}), e ~ N(0, I), b ~ U(0, 2 (1 + log K)), "
        "c uniform; logits = temperature * u; labels drawn from "
        "probabilities = softmax(logits / temperature)."
    )
    return _bunch(logits, labels, probabilities, temperature, descr)


def make_miscalibrated_binary(n_samples, *, temperature=1.5, random_state=None):
    """Binary logits of a model whose true calibration map is ``z / temperature``.

    The true logit of each row is ``u = s * e`` with ``s ~ U(0, 4)`` and ``e``
    standard normal, so rows range from uninformative to nearly certain and
    the classes are balanced on average (about 75 % of rows are predicted
    correctly).  The returned logits are ``temperature * u``; the true
    probability of class 1 is ``sigmoid(logits / temperature)`` and each label
    is drawn from it.

    Parameters
    ----------
    n_samples : int
        Number of rows, at least 1.
    temperature : float, default=1.5
        The temperature that calibrates the logits: finite and positive.
    random_state : int, numpy.random.Generator or None, default=None
        Seed (or generator) for :func:`numpy.random.default_rng`. Draws are
        made in this order: ``s``, ``e``, one uniform per row for the label.

    Returns
    -------
    data : sklearn.utils.Bunch
        With the fields

        logits : ndarray of shape (n_samples,), dtype float64
            The miscalibrated logits (log-odds of class 1), ``temperature * u``.
        labels : ndarray of shape (n_samples,), dtype int64
            Labels in {0, 1}, drawn from ``probabilities``.
        probabilities : ndarray of shape (n_samples,), dtype float64
            The true probability of class 1, ``sigmoid(logits / temperature)``.
        temperature : float
            The true temperature.
        DESCR : str
            A description of the recipe.

    Raises
    ------
    TypeError
        If ``n_samples`` is not an integer or ``temperature`` is not a real
        number.
    ValueError
        If ``n_samples < 1`` or ``temperature`` is not finite and positive.

    See Also
    --------
    make_miscalibrated : Multiclass logits.

    Examples
    --------
    >>> from calibrate.datasets import make_miscalibrated_binary
    >>> data = make_miscalibrated_binary(500, temperature=0.5, random_state=0)
    >>> data.logits.shape, data.probabilities.shape, data.temperature
    ((500,), (500,), 0.5)
    >>> sorted(set(data.labels.tolist()))
    [0, 1]
    """
    n_samples = _check_count(n_samples, "n_samples", 1)
    temperature = _check_temperature(temperature)
    rng = np.random.default_rng(random_state)

    scale = rng.uniform(0.0, _MAX_SCALE_SIGMOID, size=n_samples)
    u = scale * rng.standard_normal(n_samples)

    logits = temperature * u
    probabilities = sigmoid(logits / temperature)
    labels = (rng.random(n_samples) < probabilities).astype(np.int64)

    descr = (
        f"Synthetic binary logits: {n_samples} samples, true temperature "
        f"{temperature!r}. True logit u = s * e with s ~ U(0, "
        f"{_MAX_SCALE_SIGMOID}), e ~ N(0, 1); logits = temperature * u; labels "
        "drawn from probabilities = sigmoid(logits / temperature), the "
        "probability of class 1."
    )
    return _bunch(logits, labels, probabilities, temperature, descr)


def make_miscalibrated_multilabel(
    n_samples, n_labels, *, temperature=1.5, random_state=None
):
    """Multilabel logits of a model whose true calibration map is ``z / temperature``.

    True logits are ``u[i, k] = s[i] * e[i, k] + b[k]`` with a per-row scale
    ``s ~ U(0, 4)``, ``e`` standard normal and a per-label offset
    ``b ~ N(-1, 1)``, so labels have different base rates and are mostly
    sparse, as in real multilabel problems.  The returned logits are
    ``temperature * u``; every entry of the indicator matrix is drawn
    independently from ``sigmoid(logits / temperature)``.

    Parameters
    ----------
    n_samples : int
        Number of rows, at least 1.
    n_labels : int
        Number of labels (columns), at least 2 (one column would read as a
        binary problem).
    temperature : float, default=1.5
        The temperature that calibrates the logits: finite and positive.
    random_state : int, numpy.random.Generator or None, default=None
        Seed (or generator) for :func:`numpy.random.default_rng`. Draws are
        made in this order: ``b``, ``s``, ``e``, one uniform per entry for the
        labels.

    Returns
    -------
    data : sklearn.utils.Bunch
        With the fields

        logits : ndarray of shape (n_samples, n_labels), dtype float64
            The miscalibrated logits, ``temperature * u``.
        labels : ndarray of shape (n_samples, n_labels), dtype int64
            A 0/1 indicator matrix drawn from ``probabilities``.
        probabilities : ndarray of shape (n_samples, n_labels), dtype float64
            The true probability of each label, ``sigmoid(logits / temperature)``.
        temperature : float
            The true temperature.
        DESCR : str
            A description of the recipe.

    Raises
    ------
    TypeError
        If a count is not an integer or ``temperature`` is not a real number.
    ValueError
        If ``n_samples < 1``, ``n_labels < 2`` or ``temperature`` is not finite
        and positive.

    See Also
    --------
    make_miscalibrated : Multiclass logits, one label per row.

    Examples
    --------
    >>> from calibrate.datasets import make_miscalibrated_multilabel
    >>> data = make_miscalibrated_multilabel(200, 3, random_state=0)
    >>> data.logits.shape, data.labels.shape, data.labels.dtype
    ((200, 3), (200, 3), dtype('int64'))
    >>> sorted(set(data.labels.ravel().tolist()))
    [0, 1]
    """
    n_samples = _check_count(n_samples, "n_samples", 1)
    n_labels = _check_count(n_labels, "n_labels", 2)
    temperature = _check_temperature(temperature)
    rng = np.random.default_rng(random_state)

    offset = rng.normal(-1.0, 1.0, size=n_labels)
    scale = rng.uniform(0.0, _MAX_SCALE_SIGMOID, size=n_samples)
    u = rng.standard_normal((n_samples, n_labels))
    u *= scale[:, None]
    u += offset

    logits = temperature * u
    probabilities = sigmoid(logits / temperature)
    labels = (rng.random((n_samples, n_labels)) < probabilities).astype(np.int64)

    descr = (
        f"Synthetic multilabel logits: {n_samples} samples, {n_labels} labels, "
        f"true temperature {temperature!r}. True logits u[i, k] = s[i] * e[i, k] "
        f"+ b[k] with s ~ U(0, {_MAX_SCALE_SIGMOID}), e ~ N(0, 1), b ~ N(-1, 1); "
        "logits = temperature * u; each label drawn independently from "
        "probabilities = sigmoid(logits / temperature)."
    )
    return _bunch(logits, labels, probabilities, temperature, descr)
