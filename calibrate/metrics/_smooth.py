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
  O(n) sparse product;
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

Since ``sum_t D(t)`` is linear in the deposited weights, it is the deposit
against one vector (the adjoint of the smoothing, the interpolation and the
sum, applied to ones): only ``R`` is smoothed.  The same vector bounds the
error, ``|sum_t R(t)| / sum D <= smECE_sigma <= (|deposit of R| @ u) / sum
D`` (the maps are positive), which settles the bisection's steps far from
the fixed point without smoothing.

Many weightings at once
-----------------------
:class:`_Smoother` takes one weighting of the rows or many (the counts of
bootstrap resamples, :func:`smooth_replicates`): every row of weights is
deposited by one sparse product, each bisection step smooths the rows that
the bounds leave open by one inverse FFT, each with the kernel of its own
midpoint, and each weighting gets its own fixed point, as if the metric
were called on it alone (the report's intervals; tested against that loop).
"""

import functools
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse

from calibrate.metrics._predictions import predictions

__all__ = [
    "SmoothCurve",
    "smooth_calibration_curve",
    "smooth_calibration_error",
    "smooth_ece_bandwidth",
    "smooth_replicates",
]

SMOOTH_REDUCTIONS = ("top_label", "classwise", "positive")
_BISECTION_STEPS = 10
_MIN_BANDWIDTH = 1e-3
# Spectra held at once by a block of weightings: 2**21 complex values, 32 MiB.
_BLOCK_SPECTRA = 2**21


def _grid_size(sigma):
    return max(2000, round(20.0 / sigma)) // 2 + 1


def _mesh_size(sigma):
    return max(round(10.0 / sigma), 200)


def _kernel(m, sigma):
    """Return the Gaussian of width ``sigma`` at the offsets ``j / (m - 1) - 1/2``."""
    offsets = np.arange(m) / (m - 1) - 0.5
    return np.exp(-offsets * offsets / (2.0 * sigma * sigma))


@functools.lru_cache(maxsize=256)
def _kernel_spectrum(m, sigma):
    """Return the rfft of :func:`_kernel` at the FFT size of grid ``m``."""
    return scipy.fft.rfft(_kernel(m, sigma), _fft_size(m))


def _fft_size(m):
    # The reflected rows read by the m outputs span 2m - 1 points; a circular
    # convolution of that length wraps nothing onto them.
    return scipy.fft.next_fast_len(2 * m - 1, real=True)


def _reflection_index(m):
    """Return the grid point behind each of the ``2m - 1`` points smoothed.

    The grid is reflected once at each end without repeating the end points
    (``m - 1, .., 1, 0, 1, .., m - 1, m - 2, .., 0``), and cut to the
    ``2m - 1`` points from offset ``m // 2``: output point ``p`` of the valid
    convolution with the ``m``-point kernel reads points ``p .. p + m - 1``.
    """
    x = np.arange(m // 2, m // 2 + 2 * m - 1)
    inside = np.where(x <= 2 * m - 2, x - (m - 1), 3 * m - 3 - x)
    return np.where(x < m - 1, m - 1 - x, inside)


def _interp_weights(m, size):
    """Left grid point and right share of ``size`` mesh points of [0, 1]."""
    position = np.linspace(0.0, 1.0, size) * (m - 1)
    left = np.clip(position.astype(np.int64), 0, m - 2)
    return left, position - left


def _interp_rows(rows, size):
    """Rows on the ``m``-point grid of [0, 1], interpolated at ``size`` points."""
    left, share = _interp_weights(rows.shape[-1], size)
    mesh = np.linspace(0.0, 1.0, size)
    return mesh, rows[..., left] * (1.0 - share) + rows[..., left + 1] * share


def _hat(scores, m, multiplier):
    """Sparse ``(n, m)``: each row's ``multiplier`` spread on its two grid points.

    Linear interpolation: a score adds ``(1 - s)`` of its value to the grid
    point at its left and ``s`` to the one at its right (``s`` its distance
    from the left point in grid steps).
    """
    n = scores.shape[0]
    position = scores * (m - 1)
    left = np.clip(position.astype(np.int64), 0, m - 2)
    share = position - left
    return scipy.sparse.csr_matrix(
        (
            np.concatenate((multiplier * (1.0 - share), multiplier * share)),
            (np.tile(np.arange(n), 2), np.concatenate((left, left + 1))),
        ),
        shape=(n, m),
    )


@functools.lru_cache(maxsize=256)
def _density_functional(sigma):
    """Return ``u`` (m,): ``sum_t D(t)`` on the mesh of ``sigma`` is ``deposit @ u``.

    The smoothing, the interpolation onto the mesh and the sum are linear in
    the deposited weights, so the sum is the deposit against one vector: the
    adjoint of the three maps applied to the ones of the mesh.  The density
    is then never smoothed for the error, only its deposit summed.
    """
    m = _grid_size(sigma)
    left, share = _interp_weights(m, _mesh_size(sigma))
    ones = np.bincount(left, 1.0 - share, minlength=m) + np.bincount(
        left + 1, share, minlength=m
    )
    # the transpose of the valid convolution: a full one with the kernel reversed
    spread = scipy.signal.fftconvolve(ones, _kernel(m, sigma)[::-1])
    return np.bincount(_reflection_index(m), weights=spread, minlength=m)


class _Smoother:
    """Smoothed residuals of one column under one or many weightings.

    Parameters
    ----------
    scores, targets : ndarray of shape (n,), float64
        Trusted scores in [0, 1] and outcomes.
    weights : ndarray of shape (n,) or (n_weightings, n)
        Non-negative weights; a 2-D array holds many weightings of the same
        rows (the counts of bootstrap resamples), smoothed all at once.
    """

    #: The smoothed quantities: each row's weight times its residual, its
    #: weight alone (the density) and times its outcome.
    QUANTITIES = ("residual", "density", "target")

    def __init__(self, scores, targets, weights):
        self.scores, self.targets = scores, targets
        self.weights = np.atleast_2d(weights)
        self.n_weightings = self.weights.shape[0]
        self._cache = {}

    def _multiplier(self, quantity):
        if quantity == "residual":
            return self.scores - self.targets
        return 1.0 if quantity == "density" else self.targets

    def _deposit(self, m, quantity, rows):
        """Return the rows' weighted ``quantity`` on ``m`` grid points, (rows, m)."""
        hat = _hat(self.scores, m, self._multiplier(quantity))
        return np.asarray((hat.T @ self.weights[rows].T).T)

    def _cached(self, key, rows, size, compute):
        """``compute(rows)``, cached for all weightings when they fit the budget."""
        if len(rows) == self.n_weightings:
            rows = slice(None)  # every weighting (a step no bound settles): no copy
        if self.n_weightings * size > _BLOCK_SPECTRA:
            return compute(rows)
        if key not in self._cache:
            self._cache[key] = compute(slice(None))
        return self._cache[key][rows]

    def _spectrum(self, m, quantity, rows):
        """Return the spectra of the reflected deposits on ``m`` points."""
        size = _fft_size(m)

        def compute(which):
            deposit = self._deposit(m, quantity, which)
            return scipy.fft.rfft(deposit[:, _reflection_index(m)], size, axis=-1)

        return self._cached(("spectrum", m, quantity), rows, size // 2 + 1, compute)

    def smoothed(self, sigma, n_points=None, rows=None, quantities=QUANTITIES):
        """Return the mesh and the smoothed rows, (quantities, rows, mesh points).

        ``R``, ``D`` and ``Y`` (as ``quantities`` says) of each weighting in
        ``rows`` (all by default), on ``n_points`` equally spaced points of
        [0, 1] (the mesh of ``sigma`` by default).
        """
        rows = np.arange(self.n_weightings) if rows is None else np.asarray(rows)
        m = _grid_size(sigma)
        size_fft = _fft_size(m)
        kernel = _kernel_spectrum(m, sigma)
        size = _mesh_size(sigma) if n_points is None else n_points
        step = max(1, _BLOCK_SPECTRA // (size_fft // 2 + 1))
        out = []
        for quantity in quantities:
            pieces = []
            for start in range(0, len(rows), step):
                spectrum = self._spectrum(m, quantity, rows[start : start + step])
                full = scipy.fft.irfft(spectrum * kernel, size_fft, axis=-1)
                mesh, on_mesh = _interp_rows(full[:, m - 1 : 2 * m - 1], size)
                pieces.append(on_mesh)
            out.append(np.concatenate(pieces))
        return mesh, np.stack(out)

    def _grid(self, m, quantity, rows):
        """Return the deposit of ``quantity`` on ``m`` points, cached as the spectra."""
        return self._cached(
            ("grid", m, quantity),
            rows,
            m,
            lambda which: self._deposit(m, quantity, which),
        )

    def _by_grid(self, sigmas):
        """Yield ``(m, at, values, inverse)``: the rows on each grid size ``m``.

        ``at`` indexes ``sigmas``; ``values`` are the distinct bandwidths of
        those rows and ``inverse`` maps each row of ``at`` to its value.
        """
        grids = np.array([_grid_size(float(s)) for s in sigmas], dtype=np.int64)
        for m in np.unique(grids):
            at = np.flatnonzero(grids == m)
            values, inverse = np.unique(sigmas[at], return_inverse=True)
            yield int(m), at, values, inverse

    def _density_sums(self, sigmas, rows):
        """``sum_t D(t)`` on the mesh of each row's own bandwidth."""
        out = np.empty(len(rows))
        for m, at, values, inverse in self._by_grid(sigmas):
            u = np.stack([_density_functional(float(v)) for v in values])
            grid = self._grid(m, "density", rows[at])
            out[at] = np.einsum("rm,rm->r", grid, u[inverse])
        return out

    def _residual_sums(self, sigmas, rows):
        """``sum_t |R(t)|`` on the mesh of each row's own bandwidth.

        The rows sharing a grid are smoothed by one inverse FFT, each by the
        kernel of its bandwidth; the mesh (of a size that depends on the
        bandwidth) is then read per bandwidth.
        """
        out = np.empty(len(rows))
        for m, at, values, inverse in self._by_grid(sigmas):
            size_fft = _fft_size(m)
            kernels = np.stack([_kernel_spectrum(m, float(v)) for v in values])
            step = max(1, _BLOCK_SPECTRA // (size_fft // 2 + 1))
            for start in range(0, len(at), step):
                part, which = at[start : start + step], inverse[start : start + step]
                spectrum = self._spectrum(m, "residual", rows[part])
                full = scipy.fft.irfft(spectrum * kernels[which], size_fft, axis=-1)
                on_grid = full[:, m - 1 : 2 * m - 1]
                for g in np.unique(which):
                    mine = which == g
                    _, on_mesh = _interp_rows(on_grid[mine], _mesh_size(values[g]))
                    out[part[mine]] = np.abs(on_mesh).sum(axis=-1)
        return out

    def errors(self, sigma, rows=None):
        """Return the smooth ECE at bandwidth ``sigma`` of the weightings ``rows``.

        ``sigma`` is one bandwidth, or one per row of ``rows``.
        """
        rows = np.arange(self.n_weightings) if rows is None else np.asarray(rows)
        sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), rows.shape)
        return self._residual_sums(sigmas, rows) / self._density_sums(sigmas, rows)

    def _under(self, sigmas, rows, *, value_if_under):
        """Return whether each bandwidth is below the fixed point, and the errors.

        ``sigmas[i] < smECE_sigmas[i]`` for weighting ``rows[i]``.  Bounds
        that cost one product with the density's vector ``u`` settle most of
        the bisection's steps without smoothing: the smoothing and the mesh
        are positive maps, so ``|sum R| / sum D <= smECE_sigma <= (|deposit
        of R| @ u) / sum D``.  Where a bound settles it (with a margin of 1e-9
        relative, far above rounding), the error is NaN (not computed),
        except for weightings below the fixed point when ``value_if_under``.
        """
        density = self._density_sums(sigmas, rows)
        upper, lower = np.empty(len(rows)), np.empty(len(rows))
        for m, at, values, inverse in self._by_grid(sigmas):
            u = np.stack([_density_functional(float(v)) for v in values])[inverse]
            residual = self._grid(m, "residual", rows[at])
            upper[at] = np.einsum("rm,rm->r", np.abs(residual), u)
            lower[at] = np.abs(np.einsum("rm,rm->r", residual, u))
        upper /= density
        lower /= density
        under = np.zeros(len(rows), dtype=bool)
        value = np.full(len(rows), np.nan)
        settled = sigmas >= upper * (1.0 + 1e-9)
        if not value_if_under:
            below = sigmas < lower * (1.0 - 1e-9)
            under[below] = True
            settled |= below
        todo = ~settled
        if todo.any():
            value[todo] = self._residual_sums(sigmas[todo], rows[todo]) / density[todo]
            under[todo] = sigmas[todo] < value[todo]
        return under, value

    def fixed_points(self):
        """Return ``(errors, sigmas)`` at the bisected fixed point of each weighting.

        The bisection of the module docstring, run for every weighting at
        once: each step smooths the weightings that bounds do not settle
        (:meth:`_under`) together, each at its own midpoint; the error at the
        final bandwidth is computed where it was not.
        """
        n = self.n_weightings
        everyone = np.arange(n)
        done, at_high = self._under(np.ones(n), everyone, value_if_under=True)
        # sigma = 1 below the fixed point is taken, with its error
        low, high = np.zeros(n), np.ones(n)
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (low + high)
            under = np.ones(n, dtype=bool)  # below the smallest bandwidth
            value = np.full(n, np.nan)
            todo = np.flatnonzero(~done & (mid >= _MIN_BANDWIDTH))
            if todo.size:
                under[todo], value[todo] = self._under(
                    mid[todo], todo, value_if_under=False
                )
            move_low = ~done & under
            move_high = ~done & ~under
            low = np.where(move_low, mid, low)
            high = np.where(move_high, mid, high)
            at_high = np.where(move_high, value, at_high)
        missing = np.flatnonzero(np.isnan(at_high))
        if missing.size:
            at_high[missing] = self.errors(high[missing], missing)
        return at_high, np.where(done, 1.0, high)


def _columns(y_true, y_prob, reduction, sample_weight, input_type):
    """Validate once; return the (scores, targets) columns and the weights."""
    if reduction is not None and (
        not isinstance(reduction, str) or reduction not in SMOOTH_REDUCTIONS
    ):
        raise ValueError(
            f"reduction must be one of {SMOOTH_REDUCTIONS} or None; got {reduction!r}."
        )
    # A dask y_prob: the reduced columns are computed block by block (see
    # calibrate._dask.DaskPredictions); the smoothing runs on the client.
    pred = predictions(
        y_true, y_prob, input_type=input_type, sample_weight=sample_weight
    )
    return _reduced_columns(pred, reduction), pred.weights


def _reduced_columns(pred, reduction):
    """Return the (scores, targets) columns of ``reduction`` (None: default)."""
    if reduction is None:
        reduction = "classwise" if pred.task == "multilabel" else "top_label"
    if reduction == "classwise":
        # Lazily, a block of columns at a time: never an (n, K) float64 matrix.
        return (
            (P[:, j], T[:, j])
            for _, P, T in pred.class_columns()
            for j in range(P.shape[1])
        )
    if reduction == "top_label":
        return [pred.top_label()]
    scores, targets = pred.positive()
    return [(scores, np.asarray(targets, dtype=np.float64))]


def smooth_replicates(pred, *, reduction=None):
    """Compute the smooth ECE of many weightings of the same rows at once.

    The bootstrap path of :func:`smooth_calibration_error` (its registry
    entry's ``resampled``): ``smooth_replicates(pred)(counts)[b]`` equals
    ``smooth_calibration_error(..., sample_weight=counts[b])`` on the
    predictions ``pred``, with the bandwidth found again for each row of
    ``counts`` (the fixed point of each resample, as a loop over resamples
    calling the metric would find it).  The bisection runs for every row at
    once: the deposits of all rows are smoothed by one FFT per step and
    group of rows whose brackets share the midpoint, and the density's sum
    is a product with one vector (see :class:`_Smoother`).

    Parameters
    ----------
    pred : Predictions
        The checked predictions of the whole input (their weights unused).
    reduction : {"top_label", "classwise", "positive"} or None, default=None
        As :func:`smooth_calibration_error`.

    Returns
    -------
    callable
        ``replicates(counts) -> ndarray of shape (n_block,)`` for counts of
        shape ``(n_block, n_samples)``.
    """
    columns = _reduced_columns(pred, reduction)

    def replicates(counts):
        # Classwise columns are generated afresh for each block of counts.
        cols = (
            columns if isinstance(columns, list) else _reduced_columns(pred, reduction)
        )
        errors = [_Smoother(s, t, counts).fixed_points()[0] for s, t in cols]
        return np.mean(errors, axis=0)

    return replicates


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
        errors = [smoother.fixed_points()[0][0] for smoother in smoothers]
    else:
        errors = [smoother.errors(float(bandwidth))[0] for smoother in smoothers]
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
    return np.array([_Smoother(s, t, weights).fixed_points()[1][0] for s, t in columns])


@dataclass(frozen=True)
class SmoothCurve:
    """A kernel-smoothed calibration curve with its bootstrap band.

    What ``ReliabilityDisplay(kind="smooth")`` draws, computed by
    :func:`smooth_calibration_curve`.

    Attributes
    ----------
    mesh : ndarray of shape (n_points,)
        Equally spaced points of [0, 1].
    curve : ndarray of shape (n_points,)
        ``Y(t) / D(t)``: the smoothed outcome over the smoothed density at
        each mesh point, the outcome frequency near score ``t`` (NaN where
        no row is near: ``D(t)`` below ``1e-12`` of its largest value).
    low, high : ndarray of shape (n_points,)
        The bootstrap band at each mesh point: the resampled curves' spread
        around their median, ``q_lo - median`` and ``q_hi - median``, placed
        around ``curve`` (the report's rule for its intervals) and cut to
        [0, 1].  It contains the curve.
    density : ndarray of shape (n_points,)
        ``D(t) / sum D``: the share of the smoothed weight at each point.
    bandwidth : float
        The kernel width, the fixed point of :func:`smooth_calibration_error`.
    ece : float
        The smooth ECE, ``smooth_calibration_error`` of the same input.
    n_bootstrap : int
        Resamples behind the band.
    confidence_level : float
        Coverage of the band.
    """

    mesh: np.ndarray
    curve: np.ndarray
    low: np.ndarray
    high: np.ndarray
    density: np.ndarray
    bandwidth: float
    ece: float
    n_bootstrap: int
    confidence_level: float


def _curve(smoothed):
    """``Y / D`` of each row, NaN where the density is ~0."""
    _, density, target = smoothed
    curve = np.full(density.shape, np.nan)
    near = density > 1e-12 * density.max(axis=-1, keepdims=True)
    np.divide(target, density, out=curve, where=near)
    return curve


def smooth_calibration_curve(
    y_true,
    y_prob,
    *,
    reduction="top_label",
    sample_weight=None,
    input_type="probs",
    n_points=201,
    n_bootstrap=200,
    confidence_level=0.95,
    random_state=0,
):
    """Compute the kernel-smoothed calibration curve behind the smooth ECE.

    The outcome smoothed with the reflected Gaussian kernel at the smooth
    ECE's fixed-point bandwidth, over the smoothed density of the scores
    (Błasiok and Nakkiran 2024; relplot's reliability diagram), on
    ``n_points`` points of [0, 1], with a bootstrap band: ``n_bootstrap``
    resamples of the rows (with replacement, as multinomial counts that
    multiply ``sample_weight``) smoothed all at once at the same bandwidth
    (relplot too keeps the bandwidth of the whole data for its band).

    Parameters
    ----------
    y_true, y_prob, sample_weight, input_type
        As :func:`smooth_calibration_error`.
    reduction : {"top_label", "positive"}, default="top_label"
        One curve: the top-label confidence, or binary only the positive
        class's probability.
    n_points : int, default=201
        Mesh points.
    n_bootstrap : int, default=200
        Resamples for the band; 0 draws none (``low`` and ``high`` are then
        the curve).
    confidence_level : float, default=0.95
        Coverage of the band.
    random_state : int, numpy.random.Generator or None, default=0
        Source of the resamples.

    Returns
    -------
    SmoothCurve
        The curve, its band, the density, the bandwidth and the smooth ECE.

    Examples
    --------
    >>> curve = smooth_calibration_curve([0, 1, 1, 0, 1], [0.2, 0.9, 0.7, 0.4, 0.6],
    ...                                  reduction="positive", n_bootstrap=20)
    >>> bool(np.all((curve.low <= curve.curve) & (curve.curve <= curve.high)))
    True
    """
    if reduction not in ("top_label", "positive"):
        raise ValueError(
            "the smoothed curve is drawn for one column: reduction must be "
            f"'top_label' or 'positive'; got {reduction!r}."
        )
    for what, value, low in (
        ("n_points", n_points, 2),
        ("n_bootstrap", n_bootstrap, 0),
    ):
        if (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, numbers.Integral)
            or value < low
        ):
            raise ValueError(f"{what} must be an integer >= {low}; got {value!r}.")
    if not isinstance(confidence_level, numbers.Real) or not 0 < confidence_level < 1:
        raise ValueError(
            f"confidence_level must be a number in (0, 1); got {confidence_level!r}."
        )
    ((scores, targets),), weights = _columns(
        y_true, y_prob, reduction, sample_weight, input_type
    )
    smoother = _Smoother(scores, targets, weights)
    (ece,), (sigma,) = smoother.fixed_points()
    mesh, smoothed = smoother.smoothed(float(sigma), n_points=n_points)
    # Y / D lies in [0, 1]; the FFT's rounding can leave it 1e-16 outside.
    curve = np.clip(_curve(smoothed)[0], 0.0, 1.0)
    density = smoothed[1, 0] / smoothed[1, 0].sum()
    low = high = curve
    if n_bootstrap:
        rng = np.random.default_rng(random_state)
        n = scores.shape[0]
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap)
        resampled = _Smoother(scores, targets, counts * weights)
        _, replicates = resampled.smoothed(float(sigma), n_points=n_points)
        alpha = 1.0 - confidence_level
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points
            q_lo, median, q_hi = np.nanquantile(
                _curve(replicates), [alpha / 2, 0.5, 1 - alpha / 2], axis=0
            )
        low = np.clip(curve - (median - q_lo), 0.0, 1.0)
        high = np.clip(curve + (q_hi - median), 0.0, 1.0)
        # where no resample has rows nearby the band is the curve itself
        low, high = (
            np.where(np.isnan(low), curve, low),
            np.where(np.isnan(high), curve, high),
        )
    return SmoothCurve(
        mesh=mesh,
        curve=curve,
        low=low,
        high=high,
        density=density,
        bandwidth=float(sigma),
        ece=float(ece),
        n_bootstrap=int(n_bootstrap),
        confidence_level=float(confidence_level),
    )
