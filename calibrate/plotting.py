"""Reliability diagrams.

:class:`ReliabilityDisplay` follows scikit-learn's Display pattern: the
``from_*`` constructors compute the bins through the metric-side function
(:func:`calibrate.metrics.calibration_bins`) and the ECE through
:func:`calibrate.metrics.binned_calibration_error` on those same bins, then
:meth:`~ReliabilityDisplay.plot` draws them.  The picture and the number in its
legend therefore come from one :class:`~calibrate.binning.BinStats` and cannot
disagree.  :class:`ReliabilityComparisonDisplay` puts the diagrams of several
models (uncalibrated, and each calibrator) side by side on shared axes.

matplotlib is imported only when a figure is drawn.  Figures are built from
:class:`matplotlib.figure.Figure` (not ``pyplot``), no global state is touched
(no ``rcParams``, no style, no ``plt.show``), and saving is the caller's:
``display.figure_.savefig("diagram.png")``.
"""

import numbers

import numpy as np

from calibrate._text import escape_controls, literal_mathtext
from calibrate.binning import INTERVAL_METHODS, BinStats, check_confidence_level
from calibrate.metrics._calibration_error import (
    bin_predictions,
    binned_calibration_error,
)
from calibrate.metrics._smooth import SmoothCurve, smooth_calibration_curve

__all__ = ["ReliabilityComparisonDisplay", "ReliabilityDisplay"]

# Colours are given explicitly so that the picture does not depend on the
# user's style: matplotlib's default blue and red, and a neutral grey.
_BAR_COLOR = "#1f77b4"
_GAP_COLOR = "#d62728"
_DIAGONAL_COLOR = "black"
_HIST_COLOR = "0.55"

# Error bars mark the bins whose sampling noise is visible: a 95 % interval
# narrower than 2 % of the axis (about 5 points at the default size, a
# Wilson interval of a bin holding more than about 10,000 samples at p = 0.5)
# barely rises above the bar's top and only adds clutter.
_DEFAULT_MIN_INTERVAL_WIDTH = 0.02

# With more classes than this, the classwise grid shows the most frequent ones.
_DEFAULT_N_CLASSES_SHOWN = 6
_GRID_COLUMNS = 3

_AXIS_LABELS = {
    "top_label": ("confidence", "accuracy"),
    # The positive class is the second column; a longer label would not fit
    # a panel of a caller's two-panel figure.
    "positive": ("predicted probability", "observed frequency"),
    "classwise": ("predicted probability", "observed frequency"),
    "top_label_conditional": ("confidence", "accuracy"),
}
# The reductions drawn as a grid of per-class panels.
_GRID_REDUCTIONS = ("classwise", "top_label_conditional")
# What a ReliabilityDisplay draws: bins, or the kernel-smoothed curve.
_KINDS = ("bins", "smooth")
# The short words the legend uses for the x quantity.
_SCORE_WORDS = {
    "top_label": "confidence",
    "positive": "prediction",
    "classwise": "prediction",
    "top_label_conditional": "confidence",
}


def _check_interval_options(interval, confidence_level, min_interval_width):
    if interval is not None and interval not in INTERVAL_METHODS:
        raise ValueError(
            f"interval must be one of {INTERVAL_METHODS} or None; got {interval!r}."
        )
    check_confidence_level(confidence_level)
    if (
        not isinstance(min_interval_width, numbers.Real)
        or isinstance(min_interval_width, bool)
        or not 0.0 <= min_interval_width <= 1.0
    ):
        raise ValueError(
            "min_interval_width must be a number in [0, 1]; got "
            f"{min_interval_width!r}."
        )


def _ece_label(ece, stats, reduction):
    kind = {"classwise": "classwise ECE", "top_label_conditional": "TL-ECE"}.get(
        reduction, "ECE"
    )
    first = stats if isinstance(stats, BinStats) else stats[0]
    bins = "equal-mass bins" if first.strategy == "quantile" else "bins"
    n_bins = f"{first.n_bins_requested}"
    if (
        isinstance(stats, BinStats)
        and first.strategy == "quantile"
        and stats.n_nonempty < stats.n_bins_requested
    ):
        # Tied scores merged equal-mass bins: say how many hold samples.
        n_bins = f"{stats.n_nonempty} of {n_bins}"
    return f"{kind} ({n_bins} {bins}) = {100 * ece:.2f} %"


def _wrap(name, width):
    """Break a long user-supplied name into lines that fit above a panel.

    The name is shown literally: no mathtext, controls escaped.
    """
    import textwrap

    text = escape_controls(name)
    return literal_mathtext("\n".join(textwrap.wrap(text, width)) or text)


def _overall_means(stats):
    """Weighted mean target and mean score over all samples of ``stats``."""
    filled = stats.nonempty
    w = stats.weights[filled]
    total = w.sum()
    return (
        float(np.dot(w, stats.mean_target[filled]) / total),
        float(np.dot(w, stats.mean_score[filled]) / total),
    )


def _draw_reliability(
    ax,
    stats,
    *,
    reduction,
    interval,
    confidence_level,
    min_interval_width,
    bar_kwargs=None,
):
    """Draw accuracy bars, gaps, the diagonal and intervals on ``ax``.

    No legend: the caller puts one where it cannot cover the bars.
    """
    filled = stats.nonempty
    left = stats.edges[:-1][filled]
    width = np.diff(stats.edges)[filled]
    accuracy = stats.mean_target[filled]
    confidence = stats.mean_score[filled]
    x_label, y_label = _AXIS_LABELS[reduction]

    ax.plot(
        [0, 1],
        [0, 1],
        linestyle="--",
        color=_DIAGONAL_COLOR,
        linewidth=1,
        label="perfect calibration",
        zorder=3,
    )
    style = {
        "width": width,
        "align": "edge",
        "zorder": 1,
        "color": _BAR_COLOR,
        "edgecolor": "black",
        "linewidth": 0.6,
        "label": y_label,
    }
    style.update(bar_kwargs or {})
    ax.bar(left, accuracy, **style)
    # The gap runs from the bin's accuracy to its mean confidence: the
    # quantity the ECE averages.  Its far edge is the diagonal evaluated at the
    # bin's mean confidence, not at the bin centre.
    ax.bar(
        left,
        confidence - accuracy,
        bottom=accuracy,
        width=width,
        align="edge",
        # Over an under-confident bin's bar (accuracy above confidence) the
        # gap is hatched only: a tinted fill would blend into a third colour.
        color=[
            (0.84, 0.15, 0.16, 0.0 if above else 0.25)
            for above in accuracy > confidence
        ],
        edgecolor=_GAP_COLOR,
        hatch="//",
        linewidth=0.6,
        zorder=2,
    )
    # One legend swatch per gap style that occurs, whichever bin comes first:
    # invisible patches carry the labels.
    from matplotlib.patches import Rectangle

    word = _SCORE_WORDS[reduction]
    for shown, alpha, label in (
        ((accuracy <= confidence).any(), 0.25, f"gap to mean {word}"),
        ((accuracy > confidence).any(), 0.0, f"gap (under-confident: {word} low)"),
    ):
        if shown:
            ax.add_patch(
                Rectangle(
                    (0, 0),
                    0,
                    0,
                    facecolor=(0.84, 0.15, 0.16, alpha),
                    edgecolor=_GAP_COLOR,
                    hatch="//",
                    linewidth=0.6,
                    label=label,
                )
            )
    if interval is not None:
        low, high = stats.mean_target_interval(
            method=interval, confidence_level=confidence_level
        )
        low, high = low[filled], high[filled]
        shown = (high - low) >= min_interval_width
        if shown.any():
            ax.errorbar(
                (left + width / 2)[shown],
                accuracy[shown],
                yerr=np.vstack(
                    [accuracy[shown] - low[shown], high[shown] - accuracy[shown]]
                ),
                fmt="none",
                ecolor="black",
                elinewidth=0.9,
                capsize=2,
                label=f"{100 * confidence_level:g} % interval ({interval})",
                zorder=4,
                clip_on=False,  # caps at accuracy 1 stay above the frame
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ticks = np.linspace(0, 1, 6)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_ylabel(y_label)
    ax.set_xlabel(x_label)
    ax.grid(True, color="0.9", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)


def _draw_histogram(ax, stats, *, reduction, values=True, lines=True, log=False):
    """Draw each bin's share of the samples and the overall means on ``ax``.

    The two lines (overall accuracy and mean confidence; ``lines=False``
    omits them) are labelled for the caller's legend, with their values
    unless ``values=False`` (a legend shared by several panels).  ``log``
    puts the shares on a log scale.
    """
    filled = stats.nonempty
    left = stats.edges[:-1][filled]
    width = np.diff(stats.edges)[filled]
    ax.bar(
        left,
        stats.fraction[filled],
        width=width,
        align="edge",
        color=_HIST_COLOR,
        edgecolor="black",
        linewidth=0.6,
    )
    x_label, y_label = _AXIS_LABELS[reduction]
    if lines:
        mean_accuracy, mean_confidence = _overall_means(stats)
        accuracy_label = f"overall {y_label}"
        confidence_label = f"mean {_SCORE_WORDS[reduction]}"
        if values:
            accuracy_label += f": {100 * mean_accuracy:.1f} %"
            confidence_label += f": {100 * mean_confidence:.1f} %"
        ax.axvline(mean_accuracy, color=_BAR_COLOR, linewidth=1.5, label=accuracy_label)
        ax.axvline(
            mean_confidence,
            color=_GAP_COLOR,
            linewidth=1.5,
            linestyle="--",
            label=confidence_label,
        )
    from matplotlib.ticker import (
        FuncFormatter,
        LogLocator,
        MaxNLocator,
        NullFormatter,
        PercentFormatter,
    )

    ax.set_xlim(0, 1)
    top = float(stats.fraction[filled].max())
    if log:
        ax.set_yscale("log")
        bottom = float(stats.fraction[filled & (stats.fraction > 0)].min())
        # At least a decade, so that a major tick (a power of ten) is shown.
        ax.set_ylim(min(bottom / 2, top / 20), 2 * top)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(LogLocator(numticks=4))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:g}%"))
    else:
        ax.set_ylim(0, 1.25 * top)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.set_ylabel("share of samples")
    ax.set_xlabel(x_label)


def _draw_smooth(ax, curve, *, reduction, line_kwargs=None):
    """Draw the smoothed calibration curve, its band and the diagonal on ``ax``."""
    x_label, y_label = _AXIS_LABELS[reduction]
    ax.plot(
        [0, 1],
        [0, 1],
        linestyle="--",
        color=_DIAGONAL_COLOR,
        linewidth=1,
        label="perfect calibration",
        zorder=3,
    )
    if curve.n_bootstrap:
        ax.fill_between(
            curve.mesh,
            curve.low,
            curve.high,
            color=_BAR_COLOR,
            alpha=0.25,
            linewidth=0,
            label=f"{100 * curve.confidence_level:g} % bootstrap band "
            f"({curve.n_bootstrap} resamples)",
            zorder=1,
        )
    style = {"color": _BAR_COLOR, "linewidth": 2, "label": f"smoothed {y_label}"}
    style.update(line_kwargs or {})
    ax.plot(curve.mesh, curve.curve, zorder=2, **style)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ticks = np.linspace(0, 1, 6)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_ylabel(y_label)
    ax.set_xlabel(x_label)
    ax.grid(True, color="0.9", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)


def _draw_density(ax, curve, *, reduction):
    """Draw the smoothed density of the scores (share per mesh step) on ``ax``."""
    from matplotlib.ticker import MaxNLocator

    ax.fill_between(curve.mesh, 0.0, curve.density, color=_HIST_COLOR, linewidth=0)
    ax.plot(curve.mesh, curve.density, color="black", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.25 * float(curve.density.max()))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
    ax.set_ylabel("density")
    ax.set_xlabel(_AXIS_LABELS[reduction][0])


def _smooth_label(curve):
    return f"smooth ECE = {100 * curve.ece:.2f} % (kernel width {curve.bandwidth:.4f})"


def _check_fresh(ax):
    """Refuse axes that already hold a reliability diagram."""
    for a in np.ravel(np.asarray(ax, dtype=object)):
        if getattr(a, "_calibrate_reliability", False):
            raise ValueError(
                f"ax {a!r} already holds a reliability diagram (or its "
                "histogram); drawing another there would stack a second "
                "histogram and legend. Call plot() without ax for a new figure, "
                "or pass fresh Axes."
            )


def _mark_drawn(ax, hist_ax):
    # A private attribute on the caller's Axes, read by _check_fresh.
    for a in (ax, hist_ax):
        if a is not None:
            a._calibrate_reliability = True


def _check_n_cols(n_cols):
    if (
        isinstance(n_cols, (bool, np.bool_))
        or not isinstance(n_cols, numbers.Integral)
        or n_cols < 1
    ):
        raise ValueError(f"n_cols must be an integer >= 1 or None; got {n_cols!r}.")
    return int(n_cols)


def _legend_entries(ax, hist_ax):
    handles, labels = ax.get_legend_handles_labels()
    if hist_ax is not None:
        more_handles, more_labels = hist_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    return handles, labels


def _figure_legend(fig, ax, hist_ax):
    """One legend for a figure of several panels, below them.

    Three columns where they fit the figure's width, fewer where not (a
    one-panel-wide figure for a phone), so no entry is cut at the edge.
    """
    handles, labels = _legend_entries(ax, hist_ax)
    width = fig.get_figwidth() * fig.dpi
    for ncols in range(min(len(handles), 3), 0, -1):
        legend = fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=ncols,
            fontsize="small",
            frameon=False,
        )
        # The legend's width does not depend on the layout still to come.
        if ncols == 1 or legend.get_window_extent().width <= 0.98 * width:
            return
        legend.remove()


def _stack(fig, cell):
    """Split a gridspec cell into a reliability axes above a histogram axes."""
    inner = cell.subgridspec(2, 1, height_ratios=(3, 1), hspace=0.05)
    ax = fig.add_subplot(inner[0])
    hist_ax = fig.add_subplot(inner[1], sharex=ax)
    return ax, hist_ax


def _append_histogram(ax):
    """Add a histogram axes below a caller's axes, sharing its x axis.

    An axes placed by a gridspec (``subplots``, ``add_subplot``) is moved to
    the upper part of its own cell, so any layout engine (constrained, tight)
    makes room for both; an axes placed by hand (``add_axes``) is divided
    with ``mpl_toolkits.axes_grid1``.
    """
    spec = ax.get_subplotspec()
    if spec is not None:
        inner = spec.subgridspec(2, 1, height_ratios=(3, 1), hspace=0.05)
        ax.set_subplotspec(inner[0])
        return ax.figure.add_subplot(inner[1], sharex=ax)
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    return make_axes_locatable(ax).append_axes("bottom", size="33%", pad=0.1, sharex=ax)


def _finish_stacked(ax, hist_ax):
    if hist_ax is not None:
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)


def _single_axes(ax, histogram):
    """Return ``(fig, ax, hist_ax, own_figure)`` for one diagram."""
    from matplotlib.figure import Figure

    own_figure = ax is None
    if own_figure:
        fig = Figure(figsize=(5.6, 6.4 if histogram else 5.2), layout="constrained")
        if histogram:
            ax, hist_ax = _stack(fig, fig.add_gridspec(1, 1)[0])
        else:
            ax, hist_ax = fig.add_subplot(), None
    else:
        _check_fresh(ax)
        fig = ax.figure
        hist_ax = _append_histogram(ax) if histogram else None
    _mark_drawn(ax, hist_ax)
    return fig, ax, hist_ax, own_figure


def _single_legend(ax, hist_ax, name, header, own_figure):
    """Draw the legend of one diagram, headed by the name and the error."""
    if name is not None:
        header = f"{_wrap(name, 50)}\n{header}"
    handles, labels = _legend_entries(ax, hist_ax)
    if own_figure:
        # Inside the axes a legend would cover the bars of some model (the
        # upper left of an under-confident one is full): on a figure of
        # its own it sits above the axes, headed by the name and the ECE.
        ax.legend(
            handles,
            labels,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncols=2,
            title=header,
            title_fontsize="medium",
            fontsize="small",
            frameon=False,
        ).get_title().set_multialignment("center")
    else:
        # In a caller's panel the space above belongs to the caller's
        # layout: the name and the ECE are the title, and a compact legend
        # goes where it covers the fewest bars.
        ax.set_title(header, fontsize="medium")
        ax.legend(handles, labels, loc="best", fontsize="x-small")


class ReliabilityDisplay:
    """Reliability diagram: per-bin accuracy against confidence.

    Build it with :meth:`from_predictions` or :meth:`from_calibrator`, which
    compute the bins and call :meth:`plot`.  The standard figure has the
    per-bin accuracy as bars against the diagonal, the gap between each bin's
    accuracy and its mean confidence shaded, confidence intervals on the bars
    of small bins, the name and ECE as a heading (the legend's title, above
    the axes, on a figure of its own; the axes title in a caller's axes), and
    below it a histogram of
    the share of samples in each bin with the overall accuracy and mean
    confidence as vertical lines.  Empty bins are not drawn.

    With ``reduction="classwise"`` (multiclass or multilabel) the figure is a
    grid of such diagrams, one per chosen class, and the title gives the
    classwise ECE over all classes; ``"top_label_conditional"`` draws the
    grid of top-label diagrams of the rows predicted each class.

    With ``kind="smooth"`` the bars give way to the kernel-smoothed
    calibration curve of :func:`~calibrate.metrics.smooth_calibration_error`
    (Błasiok and Nakkiran 2024: the same reflected Gaussian kernel at the
    same fixed-point width), a bootstrap band around it, the smoothed density
    of the scores below and the smooth ECE in the legend.

    Parameters
    ----------
    bin_stats : BinStats or sequence of BinStats
        The bins: one :class:`~calibrate.binning.BinStats` for the top-label
        and positive reductions, one per class for ``"classwise"`` and one
        per predicted class for ``"top_label_conditional"`` (as
        :func:`~calibrate.metrics.calibration_bins` returns them).
    ece : float, default=None
        The ECE shown in the legend; None computes it from ``bin_stats`` with
        :func:`~calibrate.metrics.binned_calibration_error`.
    reduction : {"top_label", "positive", "classwise", \
"top_label_conditional"}, default="top_label"
        What the bins hold; sets the axis labels.
    name : str, default=None
        Title of the figure (the model or calibrator).
    class_labels : array_like, default=None
        Label of each class, for the classwise panel titles; None numbers
        them from 0.
    multilabel : bool, default=False
        Whether the classwise columns are independent labels (panels are
        titled "label" rather than "class").
    kind : {"bins", "smooth"}, default="bins"
        ``"bins"``: the binned diagram of ``bin_stats``.  ``"smooth"``: the
        kernel-smoothed calibration curve of ``smooth_curve`` with its
        bootstrap band, the smoothed density of the scores below and the
        smooth ECE in the legend (``bin_stats`` unused).
    smooth_curve : SmoothCurve, default=None
        For ``kind="smooth"``: the curve, from
        :func:`calibrate.metrics._smooth.smooth_calibration_curve`.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn on.
    ax_ : matplotlib.axes.Axes or ndarray of Axes
        The reliability axes; for ``"classwise"`` an array, one per class
        drawn.
    hist_ax_ : matplotlib.axes.Axes or ndarray of Axes or None
        The histogram axes below each reliability axes (None without
        histogram).
    classes_shown_ : ndarray
        For ``"classwise"``: the labels of the classes drawn.

    See Also
    --------
    calibrate.metrics.calibration_bins : The bins drawn.
    ReliabilityComparisonDisplay : Several models side by side.

    Examples
    --------
    >>> from calibrate.datasets import make_miscalibrated
    >>> from calibrate.metrics import expected_calibration_error
    >>> from calibrate.plotting import ReliabilityDisplay
    >>> data = make_miscalibrated(n_samples=2000, n_classes=5, random_state=0)
    >>> display = ReliabilityDisplay.from_predictions(
    ...     data.labels, data.logits, input_type="logits", name="model"
    ... )
    >>> display.ece == expected_calibration_error(
    ...     data.labels, data.logits, input_type="logits"
    ... )
    True
    >>> display.figure_.savefig("diagram.png")  # doctest: +SKIP
    """

    def __init__(
        self,
        bin_stats,
        *,
        ece=None,
        reduction="top_label",
        name=None,
        class_labels=None,
        multilabel=False,
        kind="bins",
        smooth_curve=None,
    ):
        self.bin_stats = bin_stats
        self.ece = ece
        self.reduction = reduction
        self.name = name
        self.class_labels = class_labels
        self.multilabel = multilabel
        self.kind = kind
        self.smooth_curve = smooth_curve

    # ------------------------------------------------------------ constructors
    @classmethod
    def _compute(
        cls,
        y_true,
        y_prob,
        *,
        n_bins,
        strategy,
        reduction,
        sample_weight,
        input_type,
        name,
    ):
        stats, classes, task = bin_predictions(
            y_true,
            y_prob,
            n_bins=n_bins,
            strategy=strategy,
            reduction=reduction,
            sample_weight=sample_weight,
            input_type=input_type,
        )
        return cls(
            stats,
            ece=binned_calibration_error(stats),
            reduction=reduction,
            name=name,
            class_labels=classes,
            multilabel=task == "multilabel",
        )

    @classmethod
    def _compute_smooth(
        cls,
        y_true,
        y_prob,
        *,
        reduction,
        sample_weight,
        input_type,
        name,
        n_bootstrap,
        confidence_level,
        random_state,
    ):
        curve = smooth_calibration_curve(
            y_true,
            y_prob,
            reduction=reduction,
            sample_weight=sample_weight,
            input_type=input_type,
            n_bootstrap=n_bootstrap,
            confidence_level=confidence_level,
            random_state=random_state,
        )
        return cls(
            None,
            ece=curve.ece,
            reduction=reduction,
            name=name,
            kind="smooth",
            smooth_curve=curve,
        )

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_prob,
        *,
        n_bins=15,
        strategy="uniform",
        reduction="top_label",
        sample_weight=None,
        input_type="probs",
        ax=None,
        name=None,
        classes=None,
        n_cols=None,
        histogram=True,
        interval="wilson",
        confidence_level=0.95,
        min_interval_width=_DEFAULT_MIN_INTERVAL_WIDTH,
        kind="bins",
        n_bootstrap=200,
        random_state=0,
        **kwargs,
    ):
        """Compute the bins of predictions and draw their reliability diagram.

        Parameters
        ----------
        y_true : array_like of shape (n_samples,) or (n_samples, n_labels)
            Labels, or a multilabel indicator matrix (``reduction`` must then
            be ``"classwise"``: one diagram per label).
        y_prob : array_like of shape (n_samples,) or (n_samples, n_classes)
            Predicted probabilities, or logits / log-probabilities (see
            ``input_type``), read as in
            :func:`~calibrate.metrics.expected_calibration_error`.
        n_bins : int, default=15
            Number of bins.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width or equal-mass bins (bars of varying width).
        reduction : {"top_label", "classwise", "positive", \
"top_label_conditional"}, default="top_label"
            As in :func:`~calibrate.metrics.expected_calibration_error`.
            ``"top_label_conditional"`` draws a grid like ``"classwise"``:
            one top-label diagram per predicted class (the six most often
            predicted by default), headed by the TL-ECE of Gupta and Ramdas
            (2022).
        sample_weight : array_like of shape (n_samples,), default=None
            Non-negative weights.
        input_type : {"probs", "logits", "log_probs"}, default="probs"
            How to read ``y_prob``.
        ax : matplotlib Axes or sequence of Axes, default=None
            See :meth:`plot`.
        name : str, default=None
            Title of the figure.
        classes : sequence, default=None
            ``"classwise"`` only: labels of the classes to draw; None draws
            the six most frequent (all of them when there are at most six).
        n_cols : int, default=None
            See :meth:`plot`.
        histogram : bool, default=True
            Draw the histogram of samples per bin below each diagram.
        interval : {"wilson", "clopper-pearson"} or None, default="wilson"
            Confidence interval drawn on each bar (see
            :meth:`~calibrate.binning.BinStats.mean_target_interval`); None
            draws none.
        confidence_level : float, default=0.95
            Coverage of the intervals.
        min_interval_width : float, default=0.02
            Intervals narrower than this are not drawn, so by default only
            small bins carry error bars; 0 draws every one.
        kind : {"bins", "smooth"}, default="bins"
            ``"smooth"`` draws the kernel-smoothed curve of
            :func:`~calibrate.metrics.smooth_calibration_error` instead of
            bins (``reduction`` ``"top_label"`` or ``"positive"``; the
            binning options and ``interval`` are then unused).
        n_bootstrap : int, default=200
            ``kind="smooth"``: resamples of the rows for the band (0: none),
            smoothed at the bandwidth of the whole data.
        random_state : int, numpy.random.Generator or None, default=0
            ``kind="smooth"``: source of the resamples.
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.bar` for the accuracy bars
            (``color``, ``alpha``, ...), or to :meth:`~matplotlib.axes.Axes.plot`
            for the curve of ``kind="smooth"``.

        Returns
        -------
        ReliabilityDisplay
            The display, drawn.
        """
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}.")
        if kind == "smooth":
            display = cls._compute_smooth(
                y_true,
                y_prob,
                reduction=reduction,
                sample_weight=sample_weight,
                input_type=input_type,
                name=name,
                n_bootstrap=n_bootstrap,
                confidence_level=confidence_level,
                random_state=random_state,
            )
            return display.plot(ax=ax, classes=classes, histogram=histogram, **kwargs)
        display = cls._compute(
            y_true,
            y_prob,
            n_bins=n_bins,
            strategy=strategy,
            reduction=reduction,
            sample_weight=sample_weight,
            input_type=input_type,
            name=name,
        )
        return display.plot(
            ax=ax,
            classes=classes,
            n_cols=n_cols,
            histogram=histogram,
            interval=interval,
            confidence_level=confidence_level,
            min_interval_width=min_interval_width,
            **kwargs,
        )

    @classmethod
    def from_calibrator(
        cls,
        calibrator,
        X,
        y,
        *,
        n_bins=15,
        strategy="uniform",
        reduction="top_label",
        sample_weight=None,
        ax=None,
        name=None,
        classes=None,
        n_cols=None,
        histogram=True,
        interval="wilson",
        confidence_level=0.95,
        min_interval_width=_DEFAULT_MIN_INTERVAL_WIDTH,
        kind="bins",
        n_bootstrap=200,
        random_state=0,
        **kwargs,
    ):
        """Draw the reliability diagram of a fitted calibrator's output.

        The bins are those of ``calibrator.predict_proba(X)`` against ``y``.

        Parameters
        ----------
        calibrator : fitted calibrator
            Any fitted estimator with ``predict_proba``, such as
            :class:`~calibrate.TemperatureScaling`.
        X : array_like of shape (n_samples,) or (n_samples, n_columns)
            Scores in the calibrator's ``input_type``.
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
            Labels, or a multilabel indicator matrix.
        n_bins : int, default=15
            Number of bins.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width or equal-mass bins.
        reduction : {"top_label", "classwise", "positive", \
"top_label_conditional"}, default="top_label"
            As in :func:`~calibrate.metrics.expected_calibration_error`.
            ``"top_label_conditional"`` draws a grid like ``"classwise"``:
            one top-label diagram per predicted class (the six most often
            predicted by default), headed by the TL-ECE of Gupta and Ramdas
            (2022).
        sample_weight : array_like of shape (n_samples,), default=None
            Non-negative weights.
        ax : matplotlib Axes or sequence of Axes, default=None
            See :meth:`plot`.
        name : str, default=None
            Title of the figure; None uses the calibrator's class name.
        classes : sequence, default=None
            ``"classwise"`` only: labels of the classes to draw; None draws
            the six most frequent.
        n_cols : int, default=None
            See :meth:`plot`.
        histogram : bool, default=True
            Draw the histogram of samples per bin below each diagram.
        interval : {"wilson", "clopper-pearson"} or None, default="wilson"
            Confidence interval on each bar's accuracy; None draws none.
        confidence_level : float, default=0.95
            Coverage of the intervals.
        min_interval_width : float, default=0.02
            Intervals narrower than this are not drawn; 0 draws every one.
        kind, n_bootstrap, random_state
            As :meth:`from_predictions` (``kind="smooth"``: the smoothed
            curve).
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.bar` for the accuracy bars.

        Returns
        -------
        ReliabilityDisplay
            The display, drawn.
        """
        from sklearn.utils.validation import check_is_fitted

        if "input_type" in kwargs:
            raise TypeError(
                "from_calibrator() reads X through the calibrator (its own "
                f"input_type, {getattr(calibrator, 'input_type', None)!r}); drop "
                f"input_type={kwargs['input_type']!r}."
            )
        check_is_fitted(calibrator)
        return cls.from_predictions(
            y,
            calibrator.predict_proba(X),
            n_bins=n_bins,
            strategy=strategy,
            reduction=reduction,
            sample_weight=sample_weight,
            input_type="probs",
            ax=ax,
            name=type(calibrator).__name__ if name is None else name,
            classes=classes,
            n_cols=n_cols,
            histogram=histogram,
            interval=interval,
            confidence_level=confidence_level,
            min_interval_width=min_interval_width,
            kind=kind,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            **kwargs,
        )

    @classmethod
    def from_estimator(cls, estimator, X, y, *, name=None, **kwargs):
        """Draw the reliability diagram of a fitted classifier on features ``X``.

        As scikit-learn's ``CalibrationDisplay.from_estimator``: the bins are
        those of ``estimator.predict_proba(X)`` against ``y``, whose labels are
        the estimator's ``classes_`` (any labels, mapped to its columns).  A
        binary estimator is drawn on the probability of ``classes_[1]``.

        Parameters
        ----------
        estimator : fitted classifier
            Any estimator with ``predict_proba`` and ``classes_``: a
            :class:`~calibrate.CalibratedClassifier`, or the uncalibrated model.
        X : array_like
            Features, as the estimator takes them.
        y : array_like of shape (n_samples,)
            True labels, among ``estimator.classes_``.
        name : str, default=None
            Title; None uses the estimator's class name.
        **kwargs
            Passed to :meth:`from_predictions` (``n_bins``, ``strategy``,
            ``reduction``, ``sample_weight``, ``ax``, ...).

        Returns
        -------
        ReliabilityDisplay
            The display, drawn.
        """
        P, labels = _estimator_predictions(estimator, X, y)
        return cls.from_predictions(
            labels,
            P,
            input_type="probs",
            name=type(estimator).__name__ if name is None else name,
            **kwargs,
        )

    # ------------------------------------------------------------ drawing
    def _checked(self):
        """Return the per-class list (or the single stats) after checking them."""
        if self.reduction not in _AXIS_LABELS:
            raise ValueError(
                f"reduction must be one of {tuple(_AXIS_LABELS)}; got "
                f"{self.reduction!r}."
            )
        if self.reduction in _GRID_REDUCTIONS:
            stats = (
                [self.bin_stats]
                if isinstance(self.bin_stats, BinStats)
                else list(self.bin_stats)
            )
            if not stats or not all(isinstance(s, BinStats) for s in stats):
                raise ValueError(
                    f"reduction={self.reduction!r} needs a sequence of BinStats, "
                    f"one per class; got {type(self.bin_stats).__name__}."
                )
            return stats
        if not isinstance(self.bin_stats, BinStats):
            raise ValueError(
                f"reduction={self.reduction!r} needs one BinStats; got "
                f"{type(self.bin_stats).__name__}."
            )
        return self.bin_stats

    def _ece(self, stats):
        return binned_calibration_error(stats) if self.ece is None else self.ece

    def _class_labels(self, n_classes):
        if self.class_labels is None:
            return np.arange(n_classes)
        labels = np.asarray(self.class_labels)
        if labels.shape != (n_classes,):
            raise ValueError(
                f"class_labels must hold one label per class ({n_classes}); got "
                f"shape {labels.shape}."
            )
        return labels

    def _choose_classes(self, stats, classes):
        labels = self._class_labels(len(stats))
        if classes is None:
            if self.reduction == "top_label_conditional":
                # The weight of the rows predicted the class; a class never
                # predicted has no diagram.
                frequency = np.array([s.total_weight for s in stats])
            else:
                # A class's frequency is the weight of the samples where it
                # occurs.
                frequency = np.array(
                    [np.nansum(s.weights * s.mean_target) for s in stats]
                )
            order = np.argsort(-frequency, kind="stable")
            order = order[frequency[order] > 0]
            return np.sort(order[:_DEFAULT_N_CLASSES_SHOWN])
        chosen = []
        for label in np.atleast_1d(np.asarray(classes, dtype=object)):
            matches = np.flatnonzero(labels == label)
            if matches.size == 0:
                raise ValueError(
                    f"classes holds {label!r}, which is not one of the classes "
                    f"{labels.tolist()!r}."
                )
            chosen.append(int(matches[0]))
        if not chosen:
            raise ValueError("classes must name at least one class; got none.")
        return np.asarray(chosen)

    def plot(
        self,
        ax=None,
        *,
        name=None,
        classes=None,
        n_cols=None,
        histogram=True,
        interval="wilson",
        confidence_level=0.95,
        min_interval_width=_DEFAULT_MIN_INTERVAL_WIDTH,
        **kwargs,
    ):
        """Draw the diagram.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, default=None
            Where to draw.  None creates a new figure.  An Axes holds the
            diagram; with ``histogram=True`` it gives up the lower quarter
            of its gridspec cell to the histogram, which shares its x axis
            (an Axes placed by hand with ``add_axes`` is divided by
            ``mpl_toolkits.axes_grid1`` instead).  The name and the ECE
            become the axes title and a compact legend goes inside the axes
            (``loc="best"``); use a layout engine (``layout="constrained"``)
            so the figure makes room for the histogram's labels.  For
            ``"classwise"``, a sequence of Axes, one per class drawn; the
            classwise ECE heads the legend in the first of them, and the
            figure's own title is left alone.  Axes that already hold a
            reliability diagram are refused.
        name : str, default=None
            Title; None uses the display's ``name``.
        classes : sequence, default=None
            ``"classwise"`` only: labels of the classes to draw; None draws
            the six most frequent (all of them when there are at most six).
        n_cols : int, default=None
            ``"classwise"`` grids on a new figure only: panels per row (1
            suits a phone's screen); None draws two for four panels and
            rows of three otherwise.
        histogram : bool, default=True
            Draw the histogram of samples per bin below each diagram.
        interval : {"wilson", "clopper-pearson"} or None, default="wilson"
            Confidence interval on each bar's accuracy; None draws none.
        confidence_level : float, default=0.95
            Coverage of the intervals.
        min_interval_width : float, default=0.02
            Intervals narrower than this are not drawn, so by default only
            small bins carry error bars; 0 draws every one.
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.bar` for the accuracy bars.

        Returns
        -------
        ReliabilityDisplay
            ``self``, with ``figure_``, ``ax_`` and ``hist_ax_`` set.
        """
        _check_interval_options(interval, confidence_level, min_interval_width)
        name = self.name if name is None else name
        if self.kind == "smooth":
            return self._plot_smooth(ax, name, classes, histogram, kwargs)
        if self.kind != "bins":
            raise ValueError(f"kind must be one of {_KINDS}; got {self.kind!r}.")
        stats = self._checked()
        options = {
            "interval": interval,
            "confidence_level": confidence_level,
            "min_interval_width": min_interval_width,
            "bar_kwargs": kwargs,
        }
        if n_cols is not None:
            if self.reduction not in _GRID_REDUCTIONS or ax is not None:
                raise ValueError(
                    "n_cols arranges the panels of a new classwise grid; it needs "
                    f"reduction='classwise' or 'top_label_conditional' (not "
                    f"{self.reduction!r}) and ax=None."
                )
            n_cols = _check_n_cols(n_cols)
        if self.reduction in _GRID_REDUCTIONS:
            return self._plot_classwise(
                stats, ax, name, classes, histogram, options, n_cols
            )
        if classes is not None:
            raise ValueError(
                "classes selects panels of the classwise grid; it needs "
                f"reduction='classwise', not {self.reduction!r}."
            )
        fig, ax, hist_ax, own_figure = _single_axes(ax, histogram)
        _draw_reliability(ax, stats, reduction=self.reduction, **options)
        if hist_ax is not None:
            _draw_histogram(hist_ax, stats, reduction=self.reduction)
        _finish_stacked(ax, hist_ax)
        header = _ece_label(self._ece(stats), stats, self.reduction)
        _single_legend(ax, hist_ax, name, header, own_figure)
        self.figure_, self.ax_, self.hist_ax_ = fig, ax, hist_ax
        return self

    def _plot_smooth(self, ax, name, classes, histogram, line_kwargs):
        curve = self.smooth_curve
        if not isinstance(curve, SmoothCurve):
            raise ValueError(
                "kind='smooth' needs smooth_curve, a SmoothCurve; got "
                f"{type(curve).__name__}."
            )
        if self.reduction not in ("top_label", "positive"):
            raise ValueError(
                "kind='smooth' draws one curve: reduction must be 'top_label' or "
                f"'positive'; got {self.reduction!r}."
            )
        if classes is not None:
            raise ValueError(
                "classes selects panels of the classwise grid; kind='smooth' "
                "draws one curve."
            )
        fig, ax, hist_ax, own_figure = _single_axes(ax, histogram)
        _draw_smooth(ax, curve, reduction=self.reduction, line_kwargs=line_kwargs)
        if hist_ax is not None:
            _draw_density(hist_ax, curve, reduction=self.reduction)
        _finish_stacked(ax, hist_ax)
        _single_legend(ax, hist_ax, name, _smooth_label(curve), own_figure)
        self.figure_, self.ax_, self.hist_ax_ = fig, ax, hist_ax
        return self

    def _plot_classwise(self, stats, ax, name, classes, histogram, options, n_cols):
        from matplotlib.figure import Figure

        conditional = self.reduction == "top_label_conditional"
        kind = "label" if self.multilabel else "class"
        if conditional:
            kind = "predicted"
        chosen = self._choose_classes(stats, classes)
        labels = self._class_labels(len(stats))
        n_shown = len(chosen)
        if ax is None:
            # Four panels make a square; otherwise rows of three.
            if n_cols is None:
                n_cols = 2 if n_shown == 4 else _GRID_COLUMNS
            n_cols = min(n_cols, n_shown)
            n_rows = -(-n_shown // n_cols)
            fig = Figure(
                figsize=(3.6 * n_cols, (4.6 if histogram else 3.7) * n_rows + 0.4),
                layout="constrained",
            )
            grid = fig.add_gridspec(n_rows, n_cols)
            axes, hist_axes = [], []
            for i in range(n_shown):
                cell = grid[i // n_cols, i % n_cols]
                if histogram:
                    a, h = _stack(fig, cell)
                else:
                    a, h = fig.add_subplot(cell), None
                axes.append(a)
                hist_axes.append(h)
        else:
            _check_fresh(ax)
            axes = list(np.ravel(np.asarray(ax, dtype=object)))
            if len(axes) != n_shown:
                raise ValueError(
                    f"ax must hold one Axes per class drawn ({n_shown}: "
                    f"{labels[chosen].tolist()!r}); got {len(axes)}."
                )
            fig = axes[0].figure
            hist_axes = [_append_histogram(a) if histogram else None for a in axes]
            for a, h in zip(axes, hist_axes, strict=True):
                _mark_drawn(a, h)
        for a, h, k in zip(axes, hist_axes, chosen, strict=True):
            # A legend in every small panel would cover the bars: the panel
            # title carries the class's ECE, and one legend serves the figure.
            _draw_reliability(a, stats[k], reduction=self.reduction, **options)
            if h is not None and conditional:
                # The rows predicted the class, binned by their confidence.
                _draw_histogram(h, stats[k], reduction=self.reduction)
            elif h is not None:
                # Most of a class's samples sit in the first bin (probability
                # near 0): a log scale keeps the other bins visible.
                # The overall frequency and mean prediction of a class sit
                # near 1 / K, on the axis: their lines would say nothing.
                _draw_histogram(
                    h, stats[k], reduction="classwise", lines=False, log=True
                )
            _finish_stacked(a, h)
            class_ece = binned_calibration_error(stats[k])
            label = literal_mathtext(escape_controls(labels[k]))
            a.set_title(f"{kind} {label}: ECE {100 * class_ece:.2f} %")
        shown = "" if n_shown == len(stats) else f", {n_shown} of {len(stats)} shown"
        what = "labels" if self.multilabel else "classes"
        if conditional:
            what = "predicted classes"
        title = (
            f"{_ece_label(self._ece(stats), stats, self.reduction)} "
            f"over {len(stats)} {what}{shown}"
        )
        if name is not None:
            title = f"{_wrap(name, 100)}\n{title}"
        if ax is None:
            _figure_legend(fig, axes[0], hist_axes[0])
            # Wrapped to the figure, which may be one panel wide.
            fig.suptitle(title, wrap=True)
        else:
            # The caller's figure keeps its own title and layout: the overall
            # number heads a compact legend in the first panel.
            handles, entries = _legend_entries(axes[0], hist_axes[0])
            axes[0].legend(
                handles,
                entries,
                loc="best",
                title=title,
                fontsize="x-small",
                title_fontsize="x-small",
            )
        self.figure_ = fig
        self.ax_ = np.asarray(axes, dtype=object)
        self.hist_ax_ = np.asarray(hist_axes, dtype=object) if histogram else None
        self.classes_shown_ = labels[chosen]
        return self


class ReliabilityComparisonDisplay:
    """Reliability diagrams of several models side by side, on shared axes.

    One column per model (typically the uncalibrated scores and each fitted
    calibrator), each a reliability diagram above its histogram, with the y
    axes shared so bars and histograms compare at a glance.  Only the
    top-label and positive reductions are compared: for multilabel scores,
    whose only reduction is classwise, draw one classwise
    :class:`ReliabilityDisplay` per model.

    Parameters
    ----------
    displays : sequence of ReliabilityDisplay
        The diagrams to compare, in order; each display's ``name`` titles its
        column.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn on.
    axes_ : ndarray of Axes of shape (n_models,)
        The reliability axes.
    hist_axes_ : ndarray of Axes of shape (n_models,) or None
        The histogram axes.

    Examples
    --------
    >>> from calibrate import TemperatureScaling
    >>> from calibrate.datasets import make_miscalibrated
    >>> from calibrate.plotting import ReliabilityComparisonDisplay
    >>> data = make_miscalibrated(n_samples=2000, n_classes=5, random_state=0)
    >>> ts = TemperatureScaling().fit(data.logits, data.labels)
    >>> comparison = ReliabilityComparisonDisplay.from_calibrators(
    ...     {"temperature": ts}, data.logits, data.labels
    ... )
    >>> [d.name for d in comparison.displays]
    ['uncalibrated', 'temperature']
    """

    def __init__(self, displays):
        self.displays = list(displays)

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_probs,
        *,
        n_bins=15,
        strategy="uniform",
        reduction="top_label",
        sample_weight=None,
        input_type="probs",
        histogram=True,
        interval="wilson",
        confidence_level=0.95,
        min_interval_width=_DEFAULT_MIN_INTERVAL_WIDTH,
        n_cols=None,
        **kwargs,
    ):
        """Compare the predictions of several models on the same samples.

        Parameters
        ----------
        y_true : array_like of shape (n_samples,)
            Labels.
        y_probs : mapping of str to array_like
            Model name to its predictions, in the order to draw.
        n_bins : int, default=15
            Number of bins.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width or equal-mass bins.
        reduction : {"top_label", "positive"}, default="top_label"
            As in :func:`~calibrate.metrics.expected_calibration_error`.
        sample_weight : array_like of shape (n_samples,), default=None
            Non-negative weights.
        input_type : {"probs", "logits", "log_probs"} or mapping, default="probs"
            How to read the predictions; a mapping gives it per model.
        histogram : bool, default=True
            Draw the histogram of samples per bin below each diagram.
        interval : {"wilson", "clopper-pearson"} or None, default="wilson"
            Confidence interval on each bar's accuracy; None draws none.
        confidence_level : float, default=0.95
            Coverage of the intervals.
        min_interval_width : float, default=0.02
            Intervals narrower than this are not drawn; 0 draws every one.
        n_cols : int, default=None
            Diagrams per row; None puts them all in one row.
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.bar` for the accuracy bars.

        Returns
        -------
        ReliabilityComparisonDisplay
            The display, drawn.
        """
        if not hasattr(y_probs, "items") or len(y_probs) == 0:
            raise ValueError(
                "y_probs must be a non-empty mapping of model name to predictions; "
                f"got {type(y_probs).__name__}."
            )
        _check_comparable(reduction)
        if hasattr(input_type, "items"):
            missing = [str(m) for m in y_probs if m not in input_type]
            if missing:
                raise ValueError(
                    f"input_type gives no input type for the models {missing}; a "
                    "mapping must name every model of y_probs."
                )
        displays = []
        for model_name, y_prob in y_probs.items():
            kind = (
                input_type[model_name] if hasattr(input_type, "items") else input_type
            )
            displays.append(
                ReliabilityDisplay._compute(
                    y_true,
                    y_prob,
                    n_bins=n_bins,
                    strategy=strategy,
                    reduction=reduction,
                    sample_weight=sample_weight,
                    input_type=kind,
                    name=str(model_name),
                )
            )
        return cls(displays).plot(
            histogram=histogram,
            interval=interval,
            confidence_level=confidence_level,
            min_interval_width=min_interval_width,
            n_cols=n_cols,
            **kwargs,
        )

    @classmethod
    def from_estimators(cls, estimators, X, y, **kwargs):
        """Compare fitted classifiers on the same features, one column each.

        Parameters
        ----------
        estimators : mapping of str to fitted classifier
            Name to estimator (with ``predict_proba`` and the same
            ``classes_``), in the order to draw; for example the model and
            its :class:`~calibrate.CalibratedClassifier`.
        X : array_like
            Features.
        y : array_like of shape (n_samples,)
            True labels, among the estimators' ``classes_``.
        **kwargs
            Passed to :meth:`from_predictions`.

        Returns
        -------
        ReliabilityComparisonDisplay
            The display, drawn.
        """
        if not hasattr(estimators, "items") or len(estimators) == 0:
            raise ValueError(
                "estimators must be a non-empty mapping of name to fitted "
                f"classifier; got {estimators!r}."
            )
        y_probs, labels = {}, None
        for model_name, estimator in estimators.items():
            P, these = _estimator_predictions(estimator, X, y)
            if labels is not None and not np.array_equal(labels, these):
                raise ValueError(
                    f"{model_name!r} has classes {list(estimator.classes_)!r}, "
                    "unlike the estimators before it; compare models of one "
                    "label set."
                )
            y_probs[model_name], labels = P, these
        return cls.from_predictions(labels, y_probs, input_type="probs", **kwargs)

    @classmethod
    def from_calibrators(
        cls,
        calibrators,
        X,
        y,
        *,
        uncalibrated=True,
        input_type=None,
        n_bins=15,
        strategy="uniform",
        reduction="top_label",
        sample_weight=None,
        histogram=True,
        interval="wilson",
        confidence_level=0.95,
        min_interval_width=_DEFAULT_MIN_INTERVAL_WIDTH,
        n_cols=None,
        **kwargs,
    ):
        """Compare the uncalibrated scores with each fitted calibrator's output.

        Parameters
        ----------
        calibrators : mapping of str to fitted calibrator
            Name to fitted calibrator, in the order to draw.
        X : array_like of shape (n_samples,) or (n_samples, n_columns)
            Scores, in the calibrators' ``input_type``.
        y : array_like of shape (n_samples,)
            Labels.
        uncalibrated : bool, default=True
            Draw the scores themselves first, titled "uncalibrated".
        input_type : {"logits", "probs", "log_probs"}, default=None
            How to read ``X`` for the uncalibrated column; None takes the
            calibrators' ``input_type`` (they must agree).
        n_bins : int, default=15
            Number of bins.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width or equal-mass bins.
        reduction : {"top_label", "positive"}, default="top_label"
            As in :func:`~calibrate.metrics.expected_calibration_error`.
        sample_weight : array_like of shape (n_samples,), default=None
            Non-negative weights.
        histogram : bool, default=True
            Draw the histogram of samples per bin below each diagram.
        interval : {"wilson", "clopper-pearson"} or None, default="wilson"
            Confidence interval on each bar's accuracy; None draws none.
        confidence_level : float, default=0.95
            Coverage of the intervals.
        min_interval_width : float, default=0.02
            Intervals narrower than this are not drawn; 0 draws every one.
        n_cols : int, default=None
            Diagrams per row; None puts them all in one row.
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.bar` for the accuracy bars.

        Returns
        -------
        ReliabilityComparisonDisplay
            The display, drawn.
        """
        from sklearn.utils.validation import check_is_fitted

        if not hasattr(calibrators, "items") or len(calibrators) == 0:
            raise ValueError(
                "calibrators must be a non-empty mapping of name to fitted "
                f"calibrator; got {calibrators!r}."
            )
        for calibrator in calibrators.values():
            check_is_fitted(calibrator)
        if input_type is None and uncalibrated:
            kinds = {getattr(c, "input_type", None) for c in calibrators.values()}
            if len(kinds) != 1 or None in kinds:
                raise ValueError(
                    "the calibrators read X differently (input_type "
                    f"{sorted(map(str, kinds))}); pass input_type= to say how to "
                    "read X for the uncalibrated column."
                )
            (input_type,) = kinds
        y_probs, kinds = {}, {}
        if uncalibrated:
            y_probs["uncalibrated"], kinds["uncalibrated"] = X, input_type
        for model_name, calibrator in calibrators.items():
            y_probs[model_name] = calibrator.predict_proba(X)
            kinds[model_name] = "probs"
        return cls.from_predictions(
            y,
            y_probs,
            n_bins=n_bins,
            strategy=strategy,
            reduction=reduction,
            sample_weight=sample_weight,
            input_type=kinds,
            histogram=histogram,
            interval=interval,
            confidence_level=confidence_level,
            min_interval_width=min_interval_width,
            n_cols=n_cols,
            **kwargs,
        )

    def plot(
        self,
        *,
        histogram=True,
        interval="wilson",
        confidence_level=0.95,
        min_interval_width=_DEFAULT_MIN_INTERVAL_WIDTH,
        n_cols=None,
        **kwargs,
    ):
        """Draw the diagrams side by side on a new figure.

        Parameters
        ----------
        histogram : bool, default=True
            Draw the histogram of samples per bin below each diagram.
        interval : {"wilson", "clopper-pearson"} or None, default="wilson"
            Confidence interval on each bar's accuracy; None draws none.
        confidence_level : float, default=0.95
            Coverage of the intervals.
        min_interval_width : float, default=0.02
            Intervals narrower than this are not drawn.
        n_cols : int, default=None
            Diagrams per row; None puts them all in one row (a narrow page
            reads two per row better).
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.bar` for the accuracy bars.

        Returns
        -------
        ReliabilityComparisonDisplay
            ``self``, with ``figure_``, ``axes_`` and ``hist_axes_`` set.
        """
        from matplotlib.figure import Figure

        _check_interval_options(interval, confidence_level, min_interval_width)
        if not self.displays or not all(
            isinstance(d, ReliabilityDisplay) for d in self.displays
        ):
            raise ValueError(
                "displays must be a non-empty sequence of ReliabilityDisplay; got "
                f"{self.displays!r}."
            )
        reductions = {d.reduction for d in self.displays}
        if len(reductions) != 1:
            raise ValueError(
                "the displays must share one reduction to be compared; got "
                f"{sorted(reductions)}."
            )
        _check_comparable(reductions.pop())
        n = len(self.displays)
        n_cols = n if n_cols is None else min(_check_n_cols(n_cols), n)
        n_rows = -(-n // n_cols)
        per_row = 2 if histogram else 1
        fig = Figure(
            figsize=(3.3 * n_cols + 0.4, (4.6 if histogram else 3.7) * n_rows),
            layout="constrained",
        )
        grid = fig.add_gridspec(
            per_row * n_rows,
            n_cols,
            height_ratios=(3, 1) * n_rows if histogram else None,
            hspace=0.05,
        )
        axes, hist_axes = [], []
        for i, display in enumerate(self.displays):
            stats = display._checked()
            row, column = divmod(i, n_cols)
            share = axes[0] if axes else None
            ax = fig.add_subplot(
                grid[per_row * row, column], sharex=share, sharey=share
            )
            hist_ax = None
            if histogram:
                hist_ax = fig.add_subplot(
                    grid[per_row * row + 1, column],
                    sharex=ax,
                    sharey=hist_axes[0] if hist_axes else None,
                )
            _draw_reliability(
                ax,
                stats,
                reduction=display.reduction,
                interval=interval,
                confidence_level=confidence_level,
                min_interval_width=min_interval_width,
                bar_kwargs=kwargs,
            )
            if hist_ax is not None:
                _draw_histogram(
                    hist_ax, stats, reduction=display.reduction, values=False
                )
            _finish_stacked(ax, hist_ax)
            if column > 0:
                ax.set_ylabel("")
                ax.tick_params(labelleft=False)
                if hist_ax is not None:
                    hist_ax.set_ylabel("")
                    hist_ax.tick_params(labelleft=False)
            header = _ece_label(display._ece(stats), stats, display.reduction)
            ax.set_title(
                header
                if display.name is None
                else f"{_wrap(display.name, 34)}\n{header}",
                fontsize="medium",
            )
            axes.append(ax)
            hist_axes.append(hist_ax)
        if histogram:
            top = max(float(d._checked().fraction.max()) for d in self.displays)
            hist_axes[0].set_ylim(0, 1.25 * top)
        _figure_legend(fig, axes[0], hist_axes[0])
        self.figure_ = fig
        self.axes_ = np.asarray(axes, dtype=object)
        self.hist_axes_ = np.asarray(hist_axes, dtype=object) if histogram else None
        return self


def _check_comparable(reduction):
    if reduction not in ("top_label", "positive"):
        raise ValueError(
            "a comparison draws one diagram per model, so reduction must be "
            f"'top_label' or 'positive'; got {reduction!r}. For classwise "
            "diagrams, draw one ReliabilityDisplay per model."
        )


def _estimator_predictions(estimator, X, y):
    """``predict_proba`` of a fitted classifier and ``y`` as column indices."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"{type(estimator).__name__} has no predict_proba; draw its scores "
            "with from_predictions(y, scores, input_type=...) instead."
        )
    from calibrate._validation import labels_to_columns

    classes = np.asarray(estimator.classes_)
    what = f"the estimator's classes {classes.tolist()!r}"
    index = labels_to_columns(y, classes, what=what)
    P = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    if P.ndim == 2 and P.shape[1] == 2:
        return P[:, 1], index
    return P, index
