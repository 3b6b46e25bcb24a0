"""Numerically stable link functions, in log space.

Everything here works on float64 and trusts its input (validation happens once,
in :mod:`calibrate._validation`).  Large arrays are processed in row chunks by
:func:`iter_chunks` so that a float32 array is never copied whole to float64.
"""

import numpy as np
from scipy.special import log_expit

__all__ = [
    "PROBA_FLOOR",
    "iter_chunks",
    "log_sigmoid",
    "log_softmax",
    "logsumexp_rows",
    "probs_to_logits",
    "sigmoid",
    "softmax",
]

# Probabilities are floored at the smallest normal float64 before taking logs:
# it is the only floor that changes no representable positive probability, and
# log(tiny) = -708.4 keeps exp() of the resulting logits finite.
PROBA_FLOOR = np.finfo(np.float64).tiny

# A chunk holds about 2**20 float64 values (8 MiB): large enough that numpy's
# per-call overhead is negligible, small enough that the float64 temporaries of
# one chunk stay far below the size of a large float32 input.
_CHUNK_ELEMENTS = 2**20


def iter_chunks(n_rows, n_cols, *, chunk_elements=_CHUNK_ELEMENTS):
    """Yield row slices covering ``range(n_rows)`` with about ``chunk_elements``.

    Parameters
    ----------
    n_rows, n_cols : int
        Shape of the array to walk through.
    chunk_elements : int, default=2**20
        Target number of elements per chunk.

    Yields
    ------
    slice
        Consecutive row slices.

    Examples
    --------
    >>> [s for s in iter_chunks(5, 2, chunk_elements=4)]
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    step = max(1, chunk_elements // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def logsumexp_rows(z):
    """Row-wise ``log(sum(exp(z)))``, shifted by the row maximum.

    A plain numpy kernel: scipy's ``logsumexp`` handles general axes, weights
    and the array API, and costs several times more on the 2-D float64
    chunks it is used on here.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_classes)
        Finite logits.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> logsumexp_rows(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0 + np.log(3.0)]]))
    array([   1.38629436, 1001.38629436])
    """
    m = z.max(axis=1)
    e = np.exp(z - m[:, None])
    return np.log(e.sum(axis=1)) + m


def log_softmax(z):
    """Row-wise ``log(softmax(z))`` computed without forming ``softmax(z)``.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_classes)
        Logits.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Log-probabilities; ``logsumexp`` of every row is 0.

    Examples
    --------
    >>> log_softmax(np.array([[0.0, 0.0]]))
    array([[-0.69314718, -0.69314718]])
    """
    # (z - m) - log(sum(exp(z - m))), not z - (m + log(sum)): with a huge row
    # maximum m, m + log(sum) rounds back to m and the log-sum is lost.
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z):
    """Row-wise softmax, ``exp(z - m) / sum(exp(z - m))`` with ``m`` the row maximum.

    One exponential per entry (half the cost of ``exp(log_softmax(z))``), each
    probability within a few ulps of the exact value.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_classes)
        Logits.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Probabilities; every row sums to 1 up to rounding.

    Examples
    --------
    >>> softmax(np.array([[0.0, np.log(3.0)]]))
    array([[0.25, 0.75]])
    """
    e = np.asarray(z, dtype=np.float64)
    e = e - e.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_sigmoid(z):
    """Elementwise ``log(1 / (1 + exp(-z)))``, accurate for large ``|z|``.

    Parameters
    ----------
    z : array_like
        Log-odds.

    Returns
    -------
    ndarray
        ``log P(y = 1)`` for each entry.

    Examples
    --------
    >>> log_sigmoid(np.array([0.0, -1000.0]))
    array([-6.93147181e-01, -1.00000000e+03])
    """
    return log_expit(np.asarray(z, dtype=np.float64))


def sigmoid(z):
    """Elementwise logistic function ``1 / (1 + exp(-z))``.

    Parameters
    ----------
    z : array_like
        Log-odds.

    Returns
    -------
    ndarray
        Probabilities in [0, 1].

    Examples
    --------
    >>> sigmoid(np.array([0.0]))
    array([0.5])
    """
    return np.exp(log_sigmoid(z))


def probs_to_logits(p, *, binary):
    """Turn probabilities into logits, flooring exact zeros at :data:`PROBA_FLOOR`.

    Parameters
    ----------
    p : ndarray
        Probabilities, already validated to lie in [0, 1].
    binary : bool
        If True, every entry is the probability of an independent positive
        event and the result is its log-odds ``log(p) - log(1 - p)``, with both
        ``p`` and ``1 - p`` floored.  If False, rows are categorical
        distributions and the result is ``log(max(p, floor))`` (normalised
        logits: their softmax gives back ``p``).

    Returns
    -------
    logits : ndarray of float64, same shape as ``p``
    n_saturated : int
        Number of entries that had to be floored (0 or 1 probabilities).

    Examples
    --------
    >>> probs_to_logits(np.array([0.5, 0.75]), binary=True)[0]
    array([0.        , 1.09861229])
    """
    p = np.asarray(p, dtype=np.float64)
    pos = np.maximum(p, PROBA_FLOOR)
    n_saturated = int(np.count_nonzero(p < PROBA_FLOOR))
    if not binary:
        return np.log(pos), n_saturated
    q = 1.0 - p
    n_saturated += int(np.count_nonzero(q < PROBA_FLOOR))
    return np.log(pos) - np.log(np.maximum(q, PROBA_FLOOR)), n_saturated
