"""The smooth calibration error (smooth ECE) of Błasiok and Nakkiran (2024).

Definition
----------
For scores ``f_i`` in [0, 1], outcomes ``y_i`` and weights ``w_i``, the
residuals ``r_i = f_i - y_i`` are smoothed with the Gaussian kernel of width
``sigma`` reflected at 0 and 1 (so no mass leaves the unit interval):

    R(t) = sum_i w_i r_i K_sigma(t, f_i),    D(t) = sum_i w_i K_sigma(t, f_i),

and the smooth ECE at bandwidth ``sigma`` is the ``D``-weighted mean of
``|R(t) / D(t)|`` over ``t`` in [0, 1], that is ``int |R| / int D``.  The
bandwidth is the fixed point ``smECE_sigma = sigma`` (Błasiok and Nakkiran,
"Smooth ECE: Principled Reliability Diagrams via Kernel Smoothing", ICLR
2024): ``smECE_sigma`` decreases in ``sigma``, so the fixed point is found by
bisection on [0, 1].

Discretisation
--------------
The discretisation is the one of the authors' package ``relplot`` (version
1.0.3), so that the numbers agree with it to about 1e-9 (the tests check
1e-6 on the CIFAR ResNet-110 logits):

* the residuals and the weights are spread onto a uniform grid of
  ``m = max(2000, round(20 / sigma)) // 2 + 1`` points on [0, 1] by linear
  interpolation (each row adds to its two neighbouring grid points), one
  O(n) pass of ``np.bincount``;
* the grid is reflected once at each end and convolved (by FFT, O(m log m))
  with the Gaussian sampled at the grid offsets ``j / (m - 1) - 1/2``,
  ``j = 0 .. m - 1`` (the kernel is cut at half the unit interval);
* ``R`` and ``D`` are interpolated linearly onto
  ``max(round(10 / sigma), 200)`` equally spaced points of [0, 1], where the
  integrals become sums;
* the bisection starts at ``sigma = 1`` (taken if ``1 < smECE_1``), halves
  the bracket [0, 1] ten times, and returns the upper end of the final
  bracket (a bandwidth at least the error it gives), as relplot does;
  bandwidths below 0.001 count as below the fixed point.

relplot adds 1e-4 to the unnormalised density ``D`` at every mesh point; this
package does not, so that the value depends on the weights only through their
ratios (``sample_weight=c w`` gives the result of ``w``, integer weights the
result of repeated rows).  The difference is below 1e-4 times the mesh size
divided by ``sum D``, about 1e-9 for 10,000 rows.

The grid depends on ``sigma`` only through ``m``, which is 1001 for every
``sigma >= 0.01``; the deposit is computed once per grid size, so a whole
evaluation reads the data once or a few times, not once per bandwidth.
"""

import numbers

import numpy as np
from scipy.signal import fftconvolve

from calibrate.metrics._predictions import Predictions

__all__ = ["smooth_calibration_error", "smooth_ece_bandwidth"]

SMOOTH_REDUCTIONS = ("top_label", "classwise", "positive")
_BISECTION_STEPS = 10
_MIN_BANDWIDTH = 1e-3


def _grid_size(sigma):
    return max(2000, round(20.0 / sigma)) // 2 + 1


def _mesh_size(sigma):
    return max(round(10.0 / sigma), 200)


class _Smoother:
    """Weighted residuals and weights of one column, deposited on grids.

    Parameters
    ----------
    scores, targets, weights : ndarray of shape (n,), float64
        Trusted scores in [0, 1], outcomes and non-negative weights.
    with_targets : bool, default=False
        Also smooth the weighted outcomes (a third row ``Y``, for drawing the
        smoothed calibration curve ``Y / D``); the error does not need them.
    """

    def __init__(self, scores, targets, weights, *, with_targets=False):
        self.scores = scores
        rows = [weights * (scores - targets), weights]
        if with_targets:
            rows.append(weights * targets)
        self.values = np.stack(rows)
        self._grids = {}

    def grid(self, m):
        """Return the deposits of the rows of :attr:`values` on ``m`` points."""
        if m not in self._grids:
            position = self.scores * (m - 1)
            left = np.clip(position.astype(np.int64), 0, m - 2)
            right_share = position - left
            deposit = np.empty((self.values.shape[0], m))
            for row, value in enumerate(self.values):
                right = value * right_share
                deposit[row] = np.bincount(left, weights=value - right, minlength=m)
                deposit[row] += np.bincount(left + 1, weights=right, minlength=m)
            self._grids[m] = deposit
        return self._grids[m]

    def smoothed(self, sigma, n_points=None):
        """Return the mesh and the smoothed rows (``R``, ``D`` and ``Y``) on it."""
        m = _grid_size(sigma)
        deposit = self.grid(m)
        offsets = np.arange(m) / (m - 1) - 0.5
        kernel = np.exp(-offsets * offsets / (2.0 * sigma * sigma))
        # reflect at both ends without repeating the end points
        extended = np.concatenate(
            (deposit[:, :0:-1], deposit, deposit[:, -2::-1]), axis=1
        )
        full = fftconvolve(extended, kernel[None, :], mode="valid", axes=1)
        on_grid = full[:, m // 2 : m // 2 + m]
        size = _mesh_size(sigma) if n_points is None else n_points
        mesh = np.linspace(0.0, 1.0, size)
        grid_points = np.arange(m) / (m - 1)
        return mesh, np.stack([np.interp(mesh, grid_points, row) for row in on_grid])

    def error(self, sigma):
        """Return the smooth ECE at bandwidth ``sigma``."""
        _, (residual, density, *_) = self.smoothed(sigma)
        return float(np.abs(residual).sum() / density.sum())

    def fixed_point(self):
        """Return ``(error, sigma)`` at the bisected fixed point."""
        below = {}

        def under(sigma):  # sigma below the fixed point: smECE_sigma > sigma
            if sigma < _MIN_BANDWIDTH:
                return True
            below[sigma] = self.error(sigma)
            return sigma < below[sigma]

        if under(1.0):
            return below[1.0], 1.0
        low, high = 0.0, 1.0
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (low + high)
            if under(mid):
                low = mid
            else:
                high = mid
        value = below[high] if high in below else self.error(high)
        return value, high


def _columns(y_true, y_prob, reduction, sample_weight, input_type):
    """Validate once; return the (scores, targets) columns and the weights."""
    if reduction is not None and (
        not isinstance(reduction, str) or reduction not in SMOOTH_REDUCTIONS
    ):
        raise ValueError(
            f"reduction must be one of {SMOOTH_REDUCTIONS} or None; got {reduction!r}."
        )
    pred = Predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    if reduction is None:
        reduction = "classwise" if pred.task == "multilabel" else "top_label"
    if reduction == "classwise":
        # Lazily, a block of columns at a time: never an (n, K) float64 matrix.
        columns = (
            (P[:, j], T[:, j])
            for _, P, T in pred.class_columns()
            for j in range(P.shape[1])
        )
    elif reduction == "top_label":
        columns = [pred.top_label()]
    else:
        scores, targets = pred.positive()
        columns = [(scores, np.asarray(targets, dtype=np.float64))]
    return columns, pred.weights


def smooth_calibration_error(
    y_true,
    y_prob,
    *,
    reduction=None,
    bandwidth=None,
    sample_weight=None,
    input_type="probs",
):
    """Compute the smooth calibration error (smooth ECE, Błasiok and Nakkiran).

    A bin-free, consistent estimate of the distance to calibration: the
    residuals ``score - outcome`` are smoothed with a Gaussian kernel
    reflected at 0 and 1, and the smooth ECE is the mean absolute smoothed
    residual under the smoothed score density, at the bandwidth ``sigma``
    where it equals ``sigma`` (Błasiok and Nakkiran, ICLR 2024).  The
    discretisation follows the authors' ``relplot`` 1.0.3, whose ``smECE``
    it reproduces; see the module :mod:`calibrate.metrics._smooth`.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
        Labels, or a 0/1 indicator matrix for multilabel problems.
    y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities (or logits / log-probabilities, see
        ``input_type``), laid out as in
        :func:`~calibrate.metrics.expected_calibration_error`.
    reduction : {"top_label", "classwise", "positive"} or None, default=None
        ``"top_label"``: the confidence of the predicted class against
        whether it is right (the setting of the paper and of relplot's
        reliability diagrams).  ``"classwise"``: the mean over classes (or
        labels) of each one-vs-rest smooth ECE, each with its own bandwidth.
        ``"positive"``: binary only, the probability of the positive class.
        None: ``"top_label"``, or ``"classwise"`` for a multilabel indicator
        ``y_true``.
    bandwidth : float or None, default=None
        The kernel width ``sigma``, in (0, 1]; None (the default) finds the
        fixed point ``smECE_sigma = sigma`` by bisection, the smooth ECE of
        the paper.  A fixed bandwidth gives ``smECE_sigma`` (relplot's
        ``smECE_sigma``), which is not a consistent calibration measure on
        its own.
    sample_weight : array_like of shape (n_samples,), default=None
        Non-negative weights; each row's kernel is scaled by its weight.
        Integer weights give the result of repeated rows, and scaling all
        weights changes nothing.
    input_type : {"probs", "logits", "log_probs"}, default="probs"
        How to read ``y_prob``.

    Returns
    -------
    float
        The smooth ECE, in [0, 1].

    Raises
    ------
    ValueError
        For invalid scores, labels or weights (as the other metrics), or an
        unknown ``reduction``.

    See Also
    --------
    smooth_ece_bandwidth : The fixed-point bandwidth behind the number.

    Notes
    -----
    Cost: one O(n) deposit of the rows onto a grid per grid size (one grid
    for every bandwidth of at least 0.01, a new one for each smaller
    bandwidth the bisection visits), then O(m log m) per bandwidth; no
    ``n x n`` kernel matrix is formed.

    Examples
    --------
    A perfectly calibrated score: the outcome frequency at 0.25 is 1/4 and at
    0.75 it is 3/4, so the smoothed residual is small.

    >>> y_prob = [0.25] * 4 + [0.75] * 4
    >>> y_true = [1, 0, 0, 0, 1, 1, 1, 0]
    >>> round(smooth_calibration_error(y_true, y_prob, reduction="positive"), 4)
    0.0
    """
    if bandwidth is not None and (
        isinstance(bandwidth, (bool, np.bool_))
        or not isinstance(bandwidth, numbers.Real)
        or not 0.0 < bandwidth <= 1.0
    ):
        raise ValueError(
            f"bandwidth must be None or a number in (0, 1]; got {bandwidth!r}."
        )
    columns, weights = _columns(y_true, y_prob, reduction, sample_weight, input_type)
    smoothers = (_Smoother(scores, targets, weights) for scores, targets in columns)
    if bandwidth is None:
        errors = [smoother.fixed_point()[0] for smoother in smoothers]
    else:
        errors = [smoother.error(float(bandwidth)) for smoother in smoothers]
    return float(np.mean(errors))


def smooth_ece_bandwidth(
    y_true,
    y_prob,
    *,
    reduction=None,
    sample_weight=None,
    input_type="probs",
):
    """Return the fixed-point bandwidth of :func:`smooth_calibration_error`.

    Parameters are those of :func:`smooth_calibration_error`.

    Returns
    -------
    ndarray of shape (n_columns,)
        One bandwidth per reduced column (one for ``"top_label"`` and
        ``"positive"``, one per class for ``"classwise"``).

    Examples
    --------
    >>> y_prob = [0.25] * 4 + [0.75] * 4
    >>> y_true = [1, 0, 0, 0, 1, 1, 1, 0]
    >>> smooth_ece_bandwidth(y_true, y_prob, reduction="positive").tolist()
    [0.001953125]
    """
    columns, weights = _columns(y_true, y_prob, reduction, sample_weight, input_type)
    return np.array([_Smoother(s, t, weights).fixed_point()[1] for s, t in columns])
