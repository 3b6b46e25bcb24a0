"""Tests for calibrate.plotting: reliability and comparison displays.

Figures are built from ``matplotlib.figure.Figure`` (never pyplot), rendered
with the Agg canvas through ``savefig``, and dropped when the test ends.
"""

import io
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from scipy.special import log_softmax, softmax
from scipy.stats import binomtest
from sklearn.exceptions import NotFittedError

from calibrate import PlattScaling, TemperatureScaling, VectorScaling
from calibrate.binning import bin_stats
from calibrate.datasets import (
    make_miscalibrated,
    make_miscalibrated_binary,
    make_miscalibrated_multilabel,
)
from calibrate.metrics import (
    binned_calibration_error,
    calibration_bins,
    expected_calibration_error,
)
from calibrate.plotting import ReliabilityComparisonDisplay, ReliabilityDisplay

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def render(figure, fmt="png"):
    """Draw the figure to bytes with the Agg-based savefig."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    return buffer.getvalue()


def bar_containers(ax):
    """The accuracy bars and the gap bars, in drawing order."""
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2
    return bars


def bar_geometry(container):
    """(left, width, bottom, height) of each rectangle of a bar container."""
    return np.array(
        [
            (p.get_x(), p.get_width(), p.get_y(), p.get_height())
            for p in container.patches
        ]
    )


def error_bars(ax):
    """(x, low, high) of each drawn error bar on ``ax``."""
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    if not containers:
        return np.empty((0, 3))
    (container,) = containers
    _, _, (segments,) = container.lines
    out = []
    for seg in segments.get_segments():
        (x0, y0), (x1, y1) = seg
        assert x0 == x1
        out.append((x0, min(y0, y1), max(y0, y1)))
    return np.array(out)


@pytest.fixture
def multiclass(rng):
    return make_miscalibrated(n_samples=3000, n_classes=5, random_state=rng)


def naive_bins(confidence, correct, n_bins):
    """Per-bin accuracy by a plain loop over the bins (independent reference)."""
    acc = np.full(n_bins, np.nan)
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (confidence > lo) & (confidence <= hi)
        if b == 0:
            inside |= confidence == 0
        if inside.any():
            acc[b] = correct[inside].mean()
    return acc


# ----------------------------------------------------- the number and the bars


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_display_ece_equals_the_metric(multiclass, strategy, n_bins):
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels,
        multiclass.logits,
        input_type="logits",
        n_bins=n_bins,
        strategy=strategy,
    )
    expected = expected_calibration_error(
        multiclass.labels,
        multiclass.logits,
        input_type="logits",
        n_bins=n_bins,
        strategy=strategy,
    )
    assert display.ece == expected
    title = display.ax_.get_legend().get_title().get_text()
    assert f"= {100 * expected:.2f} %" in title


def test_display_ece_with_weights_and_probabilities(multiclass, rng):
    weights = rng.uniform(0.1, 3.0, size=multiclass.labels.shape[0])
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, sample_weight=weights
    )
    assert display.ece == expected_calibration_error(
        multiclass.labels, multiclass.probabilities, sample_weight=weights
    )


def test_bar_heights_are_the_per_bin_accuracy(multiclass):
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, n_bins=10
    )
    stats = display.bin_stats
    accuracy, gap = bar_containers(display.ax_)
    geometry = bar_geometry(accuracy)
    filled = stats.nonempty
    np.testing.assert_array_equal(geometry[:, 3], stats.mean_target[filled])
    np.testing.assert_allclose(geometry[:, 0], stats.edges[:-1][filled])
    np.testing.assert_allclose(geometry[:, 1], np.diff(stats.edges)[filled])
    # Independently of BinStats: a loop over the ten bins.
    confidence = multiclass.probabilities.max(axis=1)
    correct = multiclass.probabilities.argmax(axis=1) == multiclass.labels
    reference = naive_bins(confidence, correct, 10)
    np.testing.assert_allclose(
        geometry[:, 3], reference[~np.isnan(reference)], rtol=1e-12
    )
    # The shaded gap runs from the accuracy to the bin's mean confidence.
    gaps = bar_geometry(gap)
    np.testing.assert_array_equal(gaps[:, 2], stats.mean_target[filled])
    np.testing.assert_allclose(
        gaps[:, 2] + gaps[:, 3], stats.mean_score[filled], rtol=1e-12
    )


def test_gap_area_weighted_by_bin_share_is_the_ece(multiclass):
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities
    )
    gaps = bar_geometry(bar_containers(display.ax_)[1])
    fraction = display.bin_stats.fraction[display.bin_stats.nonempty]
    assert np.dot(fraction, np.abs(gaps[:, 3])) == pytest.approx(display.ece, 1e-12)


def test_histogram_shows_each_bins_share_and_the_overall_means(multiclass):
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities
    )
    stats = display.bin_stats
    (hist,) = [c for c in display.hist_ax_.containers if isinstance(c, BarContainer)]
    heights = bar_geometry(hist)[:, 3]
    np.testing.assert_allclose(heights, stats.fraction[stats.nonempty])
    assert heights.sum() == pytest.approx(1.0)
    lines = {
        line.get_label().split(":")[0]: line.get_xdata()[0]
        for line in display.hist_ax_.get_lines()
    }
    correct = multiclass.probabilities.argmax(axis=1) == multiclass.labels
    assert lines["overall accuracy"] == pytest.approx(correct.mean())
    assert lines["mean confidence"] == pytest.approx(
        multiclass.probabilities.max(axis=1).mean()
    )


def test_empty_bins_are_not_drawn():
    # Scores in three of ten bins only.
    y_prob = np.array([0.05, 0.06, 0.55, 0.58, 0.95, 0.97, 0.99])
    y_true = np.array([0, 1, 1, 0, 1, 1, 1])
    display = ReliabilityDisplay.from_predictions(
        y_true, y_prob, reduction="positive", n_bins=10
    )
    accuracy, gap = bar_containers(display.ax_)
    assert len(accuracy.patches) == len(gap.patches) == 3
    np.testing.assert_allclose(
        [p.get_x() for p in accuracy.patches], [0.0, 0.5, 0.9], atol=1e-12
    )
    np.testing.assert_allclose(
        [p.get_height() for p in accuracy.patches], [0.5, 0.5, 1.0]
    )
    render(display.figure_)


def test_a_single_sample_bin_renders_with_a_wide_interval():
    y_prob = np.array([0.15, 0.81, 0.82, 0.83, 0.84])
    y_true = np.array([1, 1, 0, 1, 1])
    display = ReliabilityDisplay.from_predictions(
        y_true, y_prob, reduction="positive", n_bins=5
    )
    bars = error_bars(display.ax_)
    # The lone sample at 0.15 (a hit) gets the Wilson interval of 1/1.
    low, high = binomtest(1, 1).proportion_ci(method="wilson")
    first = bars[np.argmin(bars[:, 0])]
    np.testing.assert_allclose(first, [0.1, low, high], atol=1e-12)
    assert render(display.figure_).startswith(PNG_SIGNATURE)


# ------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("interval", "scipy_method"), [("wilson", "wilson"), ("clopper-pearson", "exact")]
)
def test_error_bars_are_binomial_intervals_around_the_bar(interval, scipy_method, rng):
    confidence = rng.uniform(0.5, 1.0, size=300)
    correct = (rng.uniform(size=300) < confidence).astype(int)
    y_prob = np.where(correct == 1, confidence, 1 - confidence)
    display = ReliabilityDisplay.from_predictions(
        np.ones(300, dtype=int),
        y_prob,
        n_bins=10,
        interval=interval,
        min_interval_width=0.0,
    )
    stats = display.bin_stats
    filled = stats.nonempty
    bars = error_bars(display.ax_)
    assert len(bars) == stats.n_nonempty
    centres = (stats.edges[:-1] + np.diff(stats.edges) / 2)[filled]
    np.testing.assert_allclose(bars[:, 0], centres)
    for (_, low, high), n, acc in zip(
        bars, stats.counts[filled], stats.mean_target[filled], strict=True
    ):
        k = round(acc * n)
        ref = binomtest(k, int(n)).proportion_ci(method=scipy_method)
        assert low == pytest.approx(ref.low, abs=1e-9)
        assert high == pytest.approx(ref.high, abs=1e-9)
        assert low <= acc <= high


def test_by_default_only_small_bins_carry_error_bars(rng):
    # One big bin (20,000 samples) and one small bin (30 samples).
    y_prob = np.concatenate([np.full(20000, 0.85), np.full(30, 0.25)])
    y_true = np.concatenate(
        [(rng.uniform(size=20000) < 0.8), (rng.uniform(size=30) < 0.3)]
    ).astype(int)
    display = ReliabilityDisplay.from_predictions(
        y_true, y_prob, reduction="positive", n_bins=10
    )
    bars = error_bars(display.ax_)
    np.testing.assert_allclose(bars[:, 0], [0.25])
    everything = ReliabilityDisplay.from_predictions(
        y_true, y_prob, reduction="positive", n_bins=10, min_interval_width=0
    )
    assert len(error_bars(everything.ax_)) == 2
    none = ReliabilityDisplay.from_predictions(
        y_true, y_prob, reduction="positive", n_bins=10, interval=None
    )
    assert len(error_bars(none.ax_)) == 0


@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
def test_intervals_shrink_as_counts_grow(method):
    widths = []
    for n in (10, 100, 1000, 10000):
        stats = bin_stats(np.full(n, 0.75), np.arange(n) % 4 != 0, n_bins=1)
        low, high = stats.mean_target_interval(method=method)
        assert low[0] <= 0.75 <= high[0]
        widths.append(high[0] - low[0])
    assert np.all(np.diff(widths) < 0)
    # The width falls like 1 / sqrt(n): a hundredfold count, a tenfold width.
    assert widths[1] / widths[3] == pytest.approx(10, rel=0.1)


# ------------------------------------------------------------- tasks


def test_binary_scores_render_for_top_label_and_positive(rng):
    data = make_miscalibrated_binary(n_samples=600, random_state=rng)
    for reduction in ("top_label", "positive"):
        display = ReliabilityDisplay.from_predictions(
            data.labels, data.logits, input_type="logits", reduction=reduction
        )
        assert display.ece == expected_calibration_error(
            data.labels, data.logits, input_type="logits", reduction=reduction
        )
        assert render(display.figure_).startswith(PNG_SIGNATURE)
    assert display.ax_.get_ylabel() == "observed frequency"


def test_multilabel_gives_one_panel_per_label(rng):
    data = make_miscalibrated_multilabel(n_samples=800, n_labels=4, random_state=rng)
    display = ReliabilityDisplay.from_predictions(
        data.labels, data.logits, input_type="logits", reduction="classwise"
    )
    assert display.ece == expected_calibration_error(
        data.labels, data.logits, input_type="logits", reduction="classwise"
    )
    assert len(display.ax_) == len(display.hist_ax_) == 4
    per_label = calibration_bins(
        data.labels, data.logits, input_type="logits", reduction="classwise"
    )
    for k, ax in enumerate(display.ax_):
        ece_k = binned_calibration_error(per_label[k])
        assert ax.get_title() == f"label {k}: ECE {100 * ece_k:.2f} %"
        heights = bar_geometry(bar_containers(ax)[0])[:, 3]
        np.testing.assert_array_equal(
            heights, per_label[k].mean_target[per_label[k].nonempty]
        )
    assert "over 4 labels" in display.figure_._suptitle.get_text()
    assert render(display.figure_).startswith(PNG_SIGNATURE)


def test_multilabel_top_label_is_refused_with_the_remedy(rng):
    data = make_miscalibrated_multilabel(n_samples=50, n_labels=3, random_state=rng)
    with pytest.raises(ValueError, match="reduction='classwise'"):
        ReliabilityDisplay.from_predictions(data.labels, data.probabilities)


def test_classwise_default_draws_the_most_frequent_classes(rng):
    n_classes = 9
    # Class k appears with frequency proportional to k + 1.
    labels = rng.choice(n_classes, size=4000, p=np.arange(1, 10) / 45)
    logits = rng.normal(size=(4000, n_classes))
    display = ReliabilityDisplay.from_predictions(
        labels, logits, input_type="logits", reduction="classwise"
    )
    counts = np.bincount(labels, minlength=n_classes)
    expected = np.sort(np.argsort(-counts, kind="stable")[:6])
    np.testing.assert_array_equal(display.classes_shown_, expected)
    assert len(display.ax_) == 6
    title = display.figure_._suptitle.get_text()
    assert "6 of 9 shown" in title
    assert f"{100 * display.ece:.2f} %" in title
    assert display.ece == expected_calibration_error(
        labels, logits, input_type="logits", reduction="classwise"
    )
    render(display.figure_)


def test_classwise_classes_can_be_chosen_by_label(rng):
    names = np.array(["ant", "bee", "cat", "dog"])
    labels = names[rng.integers(0, 4, size=500)]
    probs = rng.dirichlet(np.ones(4), size=500)
    display = ReliabilityDisplay.from_predictions(
        labels, probs, reduction="classwise", classes=["dog", "bee"]
    )
    np.testing.assert_array_equal(display.classes_shown_, ["dog", "bee"])
    assert [ax.get_title().split(":")[0] for ax in display.ax_] == [
        "class dog",
        "class bee",
    ]
    with pytest.raises(ValueError, match="'eel'.*not one of the classes"):
        display.plot(classes=["eel"])
    with pytest.raises(ValueError, match="needs reduction='classwise'"):
        ReliabilityDisplay.from_predictions(
            (labels == "dog").astype(int), probs[:, 0], classes=[1]
        )


def test_logits_probs_and_log_probs_give_the_same_picture(multiclass):
    # multiclass.probabilities are the true ones; the model's are softmax(logits).
    kinds = {
        "logits": multiclass.logits,
        "probs": softmax(multiclass.logits, axis=1),
        "log_probs": log_softmax(multiclass.logits, axis=1),
    }
    heights = {}
    for kind, scores in kinds.items():
        display = ReliabilityDisplay.from_predictions(
            multiclass.labels, scores, input_type=kind
        )
        heights[kind] = bar_geometry(bar_containers(display.ax_)[0])[:, 3]
    np.testing.assert_allclose(heights["logits"], heights["probs"], atol=1e-12)
    np.testing.assert_allclose(heights["log_probs"], heights["probs"], atol=1e-12)


# ------------------------------------------------------------- axes and state


def test_draws_into_the_callers_axes_and_appends_the_histogram(multiclass):
    fig = Figure()
    ax = fig.add_subplot()
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, ax=ax
    )
    assert display.ax_ is ax and display.figure_ is fig
    assert display.hist_ax_.figure is fig
    assert display.hist_ax_.get_shared_x_axes().joined(ax, display.hist_ax_)
    render(fig)
    alone = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, histogram=False
    )
    assert alone.hist_ax_ is None and len(alone.figure_.axes) == 1


@pytest.mark.parametrize("layout", ["constrained", "tight"])
def test_callers_gridspec_axes_make_room_for_the_histogram(multiclass, layout):
    # The caller's axes shrinks within its own cell, so the layout engine
    # keeps the histogram's tick labels and x label inside the figure.
    fig = Figure(figsize=(8, 5), layout=layout)
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        display = ReliabilityDisplay.from_predictions(
            multiclass.labels, multiclass.probabilities, ax=ax
        )
        assert display.ax_ is ax
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)
        assert box.y0 >= -1 and box.x0 >= -1
        assert box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1
    assert len(fig.axes) == 4


def test_axes_placed_by_hand_get_a_divided_histogram(multiclass):
    fig = Figure(figsize=(5, 6))
    ax = fig.add_axes((0.15, 0.1, 0.8, 0.6))
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, ax=ax
    )
    fig.draw_without_rendering()
    top, bottom = ax.get_position(), display.hist_ax_.get_position()
    assert bottom.y1 <= top.y0 and bottom.x0 == pytest.approx(top.x0)
    render(fig)


def test_classwise_into_caller_axes_needs_one_per_class(rng):
    labels = rng.integers(0, 3, size=300)
    probs = rng.dirichlet(np.ones(3), size=300)
    fig = Figure()
    axes = fig.subplots(1, 3)
    display = ReliabilityDisplay.from_predictions(
        labels, probs, reduction="classwise", ax=axes, histogram=False
    )
    assert list(display.ax_) == list(axes)
    legend = axes[0].get_legend().get_title().get_text()
    assert f"classwise ECE (15 bins) = {100 * display.ece:.2f} %" in legend
    with pytest.raises(ValueError, match=r"one Axes per class drawn \(3"):
        ReliabilityDisplay.from_predictions(
            labels, probs, reduction="classwise", ax=Figure().subplots(1, 2)
        )


def test_classwise_into_caller_axes_keeps_the_callers_title(rng):
    labels = rng.integers(0, 2, size=200)
    probs = rng.dirichlet(np.ones(2), size=200)
    fig = Figure(layout="constrained")
    fig.suptitle("my experiment")
    ReliabilityDisplay.from_predictions(
        labels, probs, reduction="classwise", ax=fig.subplots(1, 2)
    )
    assert fig._suptitle.get_text() == "my experiment"
    assert fig.legends == []
    render(fig)


def test_plot_again_on_a_new_figure_keeps_the_computed_bins(multiclass):
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, name="first"
    )
    stats, first = display.bin_stats, display.figure_
    display.plot(name="second", interval=None)
    assert display.bin_stats is stats and display.figure_ is not first
    assert display.ax_.get_legend().get_title().get_text().startswith("second\n")


def test_constructed_display_computes_its_ece_from_the_bins():
    stats = bin_stats([0.1, 0.3, 0.35, 0.9], [0, 1, 0, 1], n_bins=2)
    display = ReliabilityDisplay(stats, reduction="positive").plot()
    # 3/4 * |1/3 - 0.25| + 1/4 * |1 - 0.9| = 0.0875
    assert "= 8.75 %" in display.ax_.get_legend().get_title().get_text()
    with pytest.raises(ValueError, match="needs one BinStats"):
        ReliabilityDisplay([stats, stats]).plot()
    with pytest.raises(ValueError, match="reduction must be one of"):
        ReliabilityDisplay(stats, reduction="everything").plot()


def test_no_global_matplotlib_state_is_touched():
    code = """
import sys
import calibrate.plotting
assert "matplotlib" not in sys.modules, "imported matplotlib at import time"
import matplotlib
# copy(), not dict(): reading rcParams["backend"] would import pyplot.
before = matplotlib.rcParams.copy()
from calibrate.plotting import ReliabilityDisplay, ReliabilityComparisonDisplay
from calibrate import TemperatureScaling
from calibrate.datasets import make_miscalibrated
import io
d = make_miscalibrated(n_samples=500, n_classes=4, random_state=20261123)
ts = TemperatureScaling().fit(d.logits, d.labels)
ReliabilityDisplay.from_predictions(d.labels, d.logits, input_type="logits")
ReliabilityDisplay.from_predictions(
    d.labels, d.logits, input_type="logits", reduction="classwise"
).figure_.savefig(io.BytesIO(), format="png")
ReliabilityComparisonDisplay.from_calibrators({"ts": ts}, d.logits, d.labels)
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
after = matplotlib.rcParams.copy()
assert before == after, "rcParams changed"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_figure_saves_in_every_format_the_cli_offers(multiclass, fmt):
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities
    )
    data = render(display.figure_, fmt)
    signature = {"png": PNG_SIGNATURE, "svg": b"<?xml", "pdf": b"%PDF"}[fmt]
    assert data.startswith(signature)


# ------------------------------------------------------------- calibrators


def test_from_calibrator_bins_the_calibrated_probabilities(multiclass):
    ts = TemperatureScaling().fit(multiclass.logits, multiclass.labels)
    display = ReliabilityDisplay.from_calibrator(
        ts, multiclass.logits, multiclass.labels
    )
    assert display.name == "TemperatureScaling"
    assert display.ece == expected_calibration_error(
        multiclass.labels, ts.predict_proba(multiclass.logits)
    )
    before = expected_calibration_error(
        multiclass.labels, multiclass.logits, input_type="logits"
    )
    # The synthetic logits are over-confident at T = 1.5; the fit repairs most.
    assert display.ece < before / 2


def test_from_calibrator_binary_platt(rng):
    data = make_miscalibrated_binary(n_samples=800, random_state=rng)
    platt = PlattScaling().fit(data.logits, data.labels)
    display = ReliabilityDisplay.from_calibrator(
        platt, data.logits, data.labels, reduction="positive", name="Platt"
    )
    assert display.ece == expected_calibration_error(
        data.labels, platt.predict_proba(data.logits)[:, 1], reduction="positive"
    )
    render(display.figure_)


def test_from_calibrator_refuses_input_type(multiclass):
    ts = TemperatureScaling().fit(multiclass.logits, multiclass.labels)
    with pytest.raises(TypeError, match="reads X through the calibrator"):
        ReliabilityDisplay.from_calibrator(
            ts, multiclass.logits, multiclass.labels, input_type="logits"
        )


def test_from_calibrator_refuses_an_unfitted_calibrator(multiclass):
    with pytest.raises(NotFittedError):
        ReliabilityDisplay.from_calibrator(
            TemperatureScaling(), multiclass.logits, multiclass.labels
        )


# ------------------------------------------------------------- comparison


def test_comparison_puts_each_model_side_by_side_on_shared_axes(multiclass):
    ts = TemperatureScaling().fit(multiclass.logits, multiclass.labels)
    vs = VectorScaling().fit(multiclass.logits, multiclass.labels)
    comparison = ReliabilityComparisonDisplay.from_calibrators(
        {"temperature": ts, "vector": vs}, multiclass.logits, multiclass.labels
    )
    names = [d.name for d in comparison.displays]
    assert names == ["uncalibrated", "temperature", "vector"]
    expected = [
        expected_calibration_error(
            multiclass.labels, multiclass.logits, input_type="logits"
        ),
        expected_calibration_error(
            multiclass.labels, ts.predict_proba(multiclass.logits)
        ),
        expected_calibration_error(
            multiclass.labels, vs.predict_proba(multiclass.logits)
        ),
    ]
    assert [d.ece for d in comparison.displays] == expected
    first, *others = comparison.axes_
    for ax, name, ece in zip(comparison.axes_, names, expected, strict=True):
        assert ax.get_title() == f"{name}\nECE (15 bins) = {100 * ece:.2f} %"
    for ax in others:
        assert first.get_shared_y_axes().joined(first, ax)
        assert first.get_shared_x_axes().joined(first, ax)
    hist_first, *hist_others = comparison.hist_axes_
    for ax in hist_others:
        assert hist_first.get_shared_y_axes().joined(hist_first, ax)
    assert len(comparison.figure_.legends) == 1
    render(comparison.figure_)


def test_comparison_from_predictions_reads_each_input_type(multiclass):
    comparison = ReliabilityComparisonDisplay.from_predictions(
        multiclass.labels,
        {"logits": multiclass.logits, "probs": softmax(multiclass.logits, axis=1)},
        input_type={"logits": "logits", "probs": "probs"},
        n_bins=10,
    )
    a, b = comparison.displays
    assert a.ece == pytest.approx(b.ece, abs=1e-12)


def test_comparison_refusals(multiclass):
    ts = TemperatureScaling().fit(multiclass.logits, multiclass.labels)
    probs_ts = TemperatureScaling(input_type="probs").fit(
        multiclass.probabilities, multiclass.labels
    )
    with pytest.raises(ValueError, match="read X differently"):
        ReliabilityComparisonDisplay.from_calibrators(
            {"a": ts, "b": probs_ts}, multiclass.logits, multiclass.labels
        )
    with pytest.raises(ValueError, match="'top_label' or 'positive'"):
        ReliabilityComparisonDisplay.from_calibrators(
            {"a": ts},
            multiclass.logits,
            multiclass.labels,
            reduction="classwise",
        )
    with pytest.raises(ValueError, match="non-empty mapping"):
        ReliabilityComparisonDisplay.from_predictions(
            multiclass.labels, [multiclass.probabilities]
        )
    with pytest.raises(NotFittedError):
        ReliabilityComparisonDisplay.from_calibrators(
            {"a": TemperatureScaling()}, multiclass.logits, multiclass.labels
        )


# ------------------------------------------------------------- bad options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"interval": "wald"},
            r"interval must be one of \(.wilson., .clopper-pearson.\) or None",
        ),
        ({"confidence_level": 1.0}, r"confidence_level must be a number in \(0, 1\)"),
        ({"confidence_level": True}, "confidence_level"),
        ({"min_interval_width": -0.1}, r"min_interval_width must be a number in"),
        ({"n_bins": 0}, "n_bins"),
        ({"strategy": "equal"}, "strategy"),
        ({"reduction": "mean"}, "reduction must be one of"),
    ],
)
def test_bad_options_are_refused_naming_the_value(multiclass, options, message):
    with pytest.raises(ValueError, match=message):
        ReliabilityDisplay.from_predictions(
            multiclass.labels, multiclass.probabilities, **options
        )


def test_bad_input_is_refused_before_drawing(multiclass):
    y_prob = multiclass.probabilities.copy()
    y_prob[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ReliabilityDisplay.from_predictions(multiclass.labels, y_prob)
    with pytest.raises(ValueError, match="logits"):
        ReliabilityDisplay.from_predictions(multiclass.labels, multiclass.logits)


# ------------------------------------------------------------- real logits


def test_cifar100_resnet110_before_and_after_temperature_scaling(shared_data):
    # ../shared/data/README.md: 15-bin test ECE 7.88 % uncalibrated, and the
    # NLL-optimal temperature 1.0804 fitted on the validation split gives 4.69 %.
    data = shared_data("mukhoti_c100_resnet110_brier")
    ts = TemperatureScaling().fit(data["val_logits"], data["val_labels"])
    comparison = ReliabilityComparisonDisplay.from_calibrators(
        {"temperature": ts}, data["test_logits"], data["test_labels"]
    )
    before, after = comparison.displays
    assert round(100 * before.ece, 2) == 7.88
    assert round(100 * after.ece, 2) == 4.69
    assert comparison.axes_[0].get_title().endswith("= 7.88 %")
    assert comparison.axes_[1].get_title().endswith("= 4.69 %")
    assert render(comparison.figure_).startswith(PNG_SIGNATURE)


# ------------------------------------------------------------- options reach the figure


def overflow(fig):
    """How far (pixels) any artist of ``fig`` sticks out of the figure."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.get_tightbbox(canvas.get_renderer()).transformed(fig.dpi_scale_trans)
    return max(-box.x0, -box.y0, box.x1 - fig.bbox.x1, box.y1 - fig.bbox.y1)


@pytest.mark.parametrize("reduction", ["top_label", "positive"])
def test_own_figure_keeps_its_legend_inside_at_dpi_100(reduction, rng):
    data = make_miscalibrated_binary(n_samples=2000, random_state=rng)
    display = ReliabilityDisplay.from_predictions(
        data.labels,
        data.logits,
        input_type="logits",
        reduction=reduction,
        strategy="quantile",
        name="a model with a fairly long descriptive name, v2",
    )
    display.figure_.set_dpi(100)
    assert overflow(display.figure_) <= 1


def test_callers_default_size_subplots_get_title_and_inner_legend(rng):
    import warnings

    data = make_miscalibrated_binary(n_samples=2000, random_state=rng)
    fig = Figure(layout="constrained")
    axes = fig.subplots(1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ax in axes:
            display = ReliabilityDisplay.from_predictions(
                data.labels,
                data.logits,
                input_type="logits",
                reduction="positive",
                ax=ax,
                name="model",
            )
            assert ax.get_title() == f"model\nECE (15 bins) = {100 * display.ece:.2f} %"
            legend = ax.get_legend()
            assert legend.get_title().get_text() == ""
        render(fig)
    assert overflow(fig) <= 1


def test_drawing_twice_into_the_same_axes_is_refused(multiclass):
    fig = Figure()
    ax = fig.add_subplot()
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, ax=ax
    )
    with pytest.raises(ValueError, match="already holds a reliability diagram"):
        display.plot(ax=ax)
    display.plot()  # a new figure is fine
    assert display.ax_ is not ax
    # Not after drawing elsewhere, nor with another display, nor on the histogram.
    with pytest.raises(ValueError, match="already holds a reliability diagram"):
        display.plot(ax=ax)
    other = ReliabilityDisplay(display.bin_stats)
    for target in (ax, fig.axes[1]):
        with pytest.raises(ValueError, match="already holds a reliability diagram"):
            other.plot(ax=target)
    assert len(fig.axes) == 2


def test_bar_keywords_reach_the_accuracy_bars(multiclass):
    display = ReliabilityDisplay.from_predictions(
        multiclass.labels, multiclass.probabilities, color="green", zorder=1.5
    )
    accuracy, _ = bar_containers(display.ax_)
    assert all(
        p.get_facecolor() == (0.0, 0.5019607843137255, 0.0, 1.0) for p in accuracy
    )
    assert all(p.get_zorder() == 1.5 for p in accuracy)


def test_heading_says_how_many_equal_mass_bins_were_used():
    # 90 of 100 scores tied at 0.7: ten equal-mass bins collapse to three.
    y_prob = np.concatenate([np.full(90, 0.7), np.linspace(0.1, 0.5, 10)])
    y_true = np.arange(100) % 3 == 0
    display = ReliabilityDisplay.from_predictions(
        y_true.astype(int), y_prob, reduction="positive", strategy="quantile", n_bins=10
    )
    # Edges 0, 0.5, 0.7 (eight times), 1: bins [0, 0.5], (0.5, 0.7] and an
    # empty (0.7, 1].
    assert display.bin_stats.n_bins == 3 and display.bin_stats.n_nonempty == 2
    header = display.ax_.get_legend().get_title().get_text()
    assert "(2 of 10 equal-mass bins)" in header
    assert len(bar_containers(display.ax_)[0]) == 2


def test_under_confident_gaps_are_hatched_without_fill():
    # Accuracy 1.0 at confidence 0.6 (under) and 0.0 at 0.3 (over).
    y_prob = np.array([0.6, 0.6, 0.3, 0.3])
    y_true = np.array([1, 1, 0, 0])
    display = ReliabilityDisplay.from_predictions(
        y_true, y_prob, reduction="positive", n_bins=10
    )
    _, gap = bar_containers(display.ax_)
    over, under = gap.patches  # bins (0.2, 0.3] and (0.5, 0.6]
    assert over.get_facecolor()[3] > 0 and under.get_facecolor()[3] == 0
    # Each style has its own legend swatch.
    swatches = {
        t.get_text(): h.get_facecolor()[3]
        for h, t in zip(
            display.ax_.get_legend().legend_handles,
            display.ax_.get_legend().get_texts(),
            strict=True,
        )
        if t.get_text().startswith("gap")
    }
    assert swatches == {
        "gap to mean prediction": pytest.approx(0.25),
        "gap (under-confident: prediction low)": 0.0,
    }
    only_over = ReliabilityDisplay.from_predictions(
        [0, 0], [0.3, 0.3], reduction="positive", n_bins=10
    )
    texts = [t.get_text() for t in only_over.ax_.get_legend().get_texts()]
    assert "gap to mean prediction" in texts
    assert not any("under-confident" in t for t in texts)


def test_zero_weight_bins_are_not_drawn_and_the_histogram_reads_weights():
    y_prob = np.array([0.05, 0.55, 0.56, 0.95])
    y_true = np.array([0, 1, 0, 1])
    weights = np.array([0.0, 3.0, 1.0, 4.0])
    display = ReliabilityDisplay.from_predictions(
        y_true, y_prob, reduction="positive", n_bins=10, sample_weight=weights
    )
    assert display.bin_stats.counts[0] == 1  # the sample is there, weightless
    accuracy, _ = bar_containers(display.ax_)
    assert len(accuracy) == 2
    np.testing.assert_allclose([p.get_height() for p in accuracy], [0.75, 1.0])
    (hist,) = [c for c in display.hist_ax_.containers if isinstance(c, BarContainer)]
    np.testing.assert_allclose([p.get_height() for p in hist], [0.5, 0.5])


def test_confidence_level_and_min_width_reach_the_error_bars():
    y_prob = np.full(40, 0.75)
    y_true = (np.arange(40) % 4 != 0).astype(int)
    widths = {}
    for level in (0.5, 0.99):
        display = ReliabilityDisplay.from_predictions(
            y_true, y_prob, reduction="positive", n_bins=4, confidence_level=level
        )
        (_, low, high) = error_bars(display.ax_)[0]
        ref = binomtest(30, 40).proportion_ci(confidence_level=level, method="wilson")
        assert (low, high) == (pytest.approx(ref.low), pytest.approx(ref.high))
        widths[level] = high - low
        labels = display.ax_.get_legend_handles_labels()[1]
        assert f"{100 * level:g} % interval (wilson)" in labels
    # An interval exactly as wide as the threshold is drawn.
    low, high = display.bin_stats.mean_target_interval(confidence_level=0.99)
    widths[0.99] = float(high[2] - low[2])
    exact = ReliabilityDisplay.from_predictions(
        y_true,
        y_prob,
        reduction="positive",
        n_bins=4,
        confidence_level=0.99,
        min_interval_width=widths[0.99],
    )
    assert len(error_bars(exact.ax_)) == 1
    wider = ReliabilityDisplay.from_predictions(
        y_true,
        y_prob,
        reduction="positive",
        n_bins=4,
        confidence_level=0.99,
        min_interval_width=widths[0.99] + 1e-9,
    )
    assert len(error_bars(wider.ax_)) == 0


def test_classwise_histograms_are_log_scaled_shares_without_lines(rng):
    labels = rng.integers(0, 4, size=400)
    probs = rng.dirichlet(np.ones(4), size=400)
    display = ReliabilityDisplay.from_predictions(labels, probs, reduction="classwise")
    assert "over 4 classes" in display.figure_._suptitle.get_text()
    for hist_ax in display.hist_ax_:
        assert hist_ax.get_yscale() == "log"
        assert hist_ax.get_lines() == []
        assert hist_ax.get_ylabel() == "share of samples"
        low, high = hist_ax.get_ylim()
        assert high / low >= 10  # at least one decade, so a tick shows


def test_comparison_forwards_binning_weights_and_drawing_options(multiclass, rng):
    weights = rng.uniform(0.2, 2.0, size=multiclass.labels.shape[0])
    ts = TemperatureScaling().fit(multiclass.logits, multiclass.labels)
    comparison = ReliabilityComparisonDisplay.from_calibrators(
        {"temperature": ts},
        multiclass.logits,
        multiclass.labels,
        n_bins=7,
        strategy="quantile",
        sample_weight=weights,
        interval=None,
    )
    before, after = comparison.displays
    assert before.bin_stats.n_bins_requested == 7
    assert before.bin_stats.strategy == "quantile"
    assert after.ece == expected_calibration_error(
        multiclass.labels,
        ts.predict_proba(multiclass.logits),
        n_bins=7,
        strategy="quantile",
        sample_weight=weights,
    )
    assert all(len(error_bars(ax)) == 0 for ax in comparison.axes_)
    # The shared histogram axis fits the tallest bar of any model.
    tallest = max(float(d.bin_stats.fraction.max()) for d in comparison.displays)
    assert comparison.hist_axes_[0].get_ylim()[1] == pytest.approx(1.25 * tallest)


def test_from_calibrator_forwards_binning_and_weights(multiclass, rng):
    weights = rng.uniform(0.2, 2.0, size=multiclass.labels.shape[0])
    ts = TemperatureScaling().fit(multiclass.logits, multiclass.labels)
    display = ReliabilityDisplay.from_calibrator(
        ts, multiclass.logits, multiclass.labels, n_bins=9, sample_weight=weights
    )
    assert display.bin_stats.n_bins == 9
    assert display.ece == expected_calibration_error(
        multiclass.labels,
        ts.predict_proba(multiclass.logits),
        n_bins=9,
        sample_weight=weights,
    )


def test_comparison_errors_name_the_problem(multiclass):
    with pytest.raises(ValueError, match="non-empty mapping.*got {}"):
        ReliabilityComparisonDisplay.from_calibrators(
            {}, multiclass.logits, multiclass.labels
        )
    with pytest.raises(ValueError, match=r"no input type for the models \['b'\]"):
        ReliabilityComparisonDisplay.from_predictions(
            multiclass.labels,
            {"a": multiclass.logits, "b": multiclass.logits},
            input_type={"a": "logits"},
        )
    with pytest.raises(ValueError, match=r"got \[\]"):
        ReliabilityComparisonDisplay([]).plot()


def test_comparison_wraps_into_rows_of_n_cols(multiclass):
    scores = {
        name: multiclass.logits / t for name, t in (("a", 1.0), ("b", 2.0), ("c", 3.0))
    }
    one_row = ReliabilityComparisonDisplay.from_predictions(
        multiclass.labels, scores, input_type="logits"
    )
    wrapped = ReliabilityComparisonDisplay.from_predictions(
        multiclass.labels, scores, input_type="logits", n_cols=2
    )
    # Same diagrams and titles, placed two a row: c starts the second row.
    for ax, ax1 in zip(wrapped.axes_, one_row.axes_, strict=True):
        assert ax.get_title() == ax1.get_title()
    spec = [ax.get_subplotspec() for ax in wrapped.axes_]
    rows = [s.rowspan.start for s in spec]
    columns = [s.colspan.start for s in spec]
    assert columns == [0, 1, 0] and rows[0] == rows[1] < rows[2]
    hist_rows = [ax.get_subplotspec().rowspan.start for ax in wrapped.hist_axes_]
    assert [h - r for h, r in zip(hist_rows, rows, strict=True)] == [1, 1, 1]
    # The left column keeps its tick labels, the right one shares them.
    assert wrapped.axes_[2].yaxis.get_label().get_text() == "accuracy"
    assert wrapped.axes_[1].yaxis.get_label().get_text() == ""
    assert wrapped.figure_.get_size_inches()[1] > one_row.figure_.get_size_inches()[1]
    # More columns than diagrams is one row.
    wide = ReliabilityComparisonDisplay.from_predictions(
        multiclass.labels, scores, input_type="logits", n_cols=10
    )
    assert {ax.get_subplotspec().rowspan.start for ax in wide.axes_} == {0}
    render(wrapped.figure_)


@pytest.mark.parametrize("n_cols", [0, -1, 1.5, True, "2"])
def test_comparison_refuses_bad_n_cols(multiclass, n_cols):
    with pytest.raises(ValueError, match="n_cols must be an integer >= 1"):
        ReliabilityComparisonDisplay.from_predictions(
            multiclass.labels,
            {"a": multiclass.logits},
            input_type="logits",
            n_cols=n_cols,
        )


def test_top_label_conditional_grid_has_one_diagram_per_predicted_class(rng):
    # Four classes, class 3 never predicted (its logit is always lowest).
    n = 3000
    logits = rng.normal(size=(n, 4))
    logits[:, 3] -= 10.0
    labels = rng.integers(0, 4, size=n)
    display = ReliabilityDisplay.from_predictions(
        labels, logits, input_type="logits", reduction="top_label_conditional"
    )
    np.testing.assert_array_equal(display.classes_shown_, [0, 1, 2])
    assert len(display.ax_) == 3
    tl_ece = expected_calibration_error(
        labels, logits, input_type="logits", reduction="top_label_conditional"
    )
    assert display.ece == tl_ece
    title = display.figure_._suptitle.get_text()
    assert f"TL-ECE (15 bins) = {100 * tl_ece:.2f} %" in title
    # each panel is the top-label diagram of the rows predicted that class
    proba = softmax(logits, axis=1)
    predicted = proba.argmax(axis=1)
    for a, k in zip(display.ax_, display.classes_shown_, strict=True):
        rows = predicted == k
        own = expected_calibration_error(labels[rows], proba[rows])
        assert a.get_title() == f"predicted {k}: ECE {100 * own:.2f} %"
    render(display.figure_)


# -- kind="smooth": the kernel-smoothed curve of the smooth ECE (issue 17) ------


def _reflected_gaussian_curve(t, f, y, sigma):
    """sum y K(t, f) / sum K(t, f), the kernel reflected at 0 and 1, by hand.

    The Gaussian of width sigma around f and its mirror images -f and 2 - f,
    each cut at distance 1/2 (as relplot's kernel is).
    """
    t = np.asarray(t)[:, None]
    kernel = 0.0
    for image in (f, -f, 2.0 - f):
        d = t - image
        kernel = kernel + np.where(np.abs(d) <= 0.5, np.exp(-0.5 * (d / sigma) ** 2), 0)
    return (kernel @ y) / kernel.sum(axis=1)


def test_smooth_curve_is_the_kernel_formula_and_its_legend_the_smooth_ece(rng):
    from calibrate.metrics import smooth_calibration_error

    f = rng.beta(4.0, 2.0, size=300)
    y = (rng.uniform(size=300) < f**2).astype(int)
    display = ReliabilityDisplay.from_predictions(
        y, f, reduction="positive", kind="smooth", n_bootstrap=100
    )
    curve = display.smooth_curve
    ece = smooth_calibration_error(y, f, reduction="positive")
    assert display.ece == ece == curve.ece
    # The legend states that number.
    title = display.ax_.get_legend().get_title().get_text()
    assert f"smooth ECE = {100 * ece:.2f} %" in title
    # The curve at a few mesh points against the formula with the exact
    # reflected Gaussian, at the same bandwidth; the discretisation (a
    # 1001-point grid, linear deposits and interpolation) is the difference,
    # below 1e-3 where the scores are (below 0.15, where almost none are, the
    # cut of the kernel at 1/2 sits on a grid step and it reaches 2e-2).
    points = [0.3, 0.45, 0.6, 0.8, 0.95]
    index = [int(round(p * (len(curve.mesh) - 1))) for p in points]
    np.testing.assert_allclose(curve.mesh[index], points, atol=1e-12)
    expected = _reflected_gaussian_curve(points, f, y.astype(float), curve.bandwidth)
    np.testing.assert_allclose(curve.curve[index], expected, rtol=1e-3)
    # The band holds the curve, and it is the line drawn.
    assert np.all(curve.low <= curve.curve) and np.all(curve.curve <= curve.high)
    assert np.any(curve.high - curve.low > 0.01)
    drawn = [line for line in display.ax_.get_lines() if "smoothed" in line.get_label()]
    (line,) = drawn
    np.testing.assert_array_equal(line.get_ydata(), curve.curve)
    render(display.figure_)


def test_smooth_band_is_the_spread_of_resampled_curves(rng):
    # The band from the resamples smoothed at once against curves computed
    # one resample at a time at the same bandwidth (same seed).
    from calibrate.metrics._smooth import smooth_calibration_curve

    f = rng.uniform(0.3, 1.0, size=150)
    y = (rng.uniform(size=150) < f - 0.1).astype(int)
    curve = smooth_calibration_curve(
        y, f, reduction="positive", n_bootstrap=30, random_state=5, n_points=51
    )
    counts = np.random.default_rng(5).multinomial(150, np.full(150, 1 / 150), size=30)
    one_by_one = []
    for c in counts:
        rows = np.repeat(np.arange(150), c)
        sigma = curve.bandwidth
        one_by_one.append(
            _reflected_gaussian_curve(curve.mesh, f[rows], y[rows], sigma)
        )
    q_lo, median, q_hi = np.quantile(one_by_one, [0.025, 0.5, 0.975], axis=0)
    np.testing.assert_allclose(
        curve.low, np.clip(curve.curve - (median - q_lo), 0, 1), atol=2e-3
    )
    np.testing.assert_allclose(
        curve.high, np.clip(curve.curve + (q_hi - median), 0, 1), atol=2e-3
    )


def test_smooth_kind_from_calibrator_and_estimator(rng):
    from sklearn.linear_model import LogisticRegression

    from calibrate.metrics import smooth_calibration_error

    data = make_miscalibrated(1200, 4, temperature=2.0, random_state=rng)
    cal = TemperatureScaling().fit(data.logits[:600], data.labels[:600])
    display = ReliabilityDisplay.from_calibrator(
        cal, data.logits[600:], data.labels[600:], kind="smooth", n_bootstrap=20
    )
    expected = smooth_calibration_error(
        data.labels[600:], cal.predict_proba(data.logits[600:])
    )
    assert display.ece == pytest.approx(expected, abs=1e-12)
    X = rng.normal(size=(400, 3))
    labels = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    model = LogisticRegression().fit(X, labels)
    display = ReliabilityDisplay.from_estimator(
        model, X, labels, kind="smooth", reduction="positive", n_bootstrap=0
    )
    assert display.ece == pytest.approx(
        smooth_calibration_error(
            labels, model.predict_proba(X)[:, 1], reduction="positive"
        ),
        abs=1e-12,
    )
    curve = display.smooth_curve
    np.testing.assert_array_equal(curve.low, curve.curve)  # no band without resamples


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "kde"}, "kind must be one of .* got 'kde'"),
        ({"kind": "smooth", "reduction": "classwise"}, "reduction must be 'top_label'"),
        ({"kind": "smooth", "n_bootstrap": -1}, "n_bootstrap must be an integer >= 0"),
    ],
)
def test_smooth_kind_bad_options(rng, kwargs, message):
    y = rng.integers(0, 3, size=50)
    P = rng.dirichlet(np.ones(3), size=50)
    with pytest.raises(ValueError, match=message):
        ReliabilityDisplay.from_predictions(y, P, **kwargs)
def _drawn_extent(fig, artist):
    fig.canvas.draw()  # the constrained layout places the legend and titles
    return artist.get_window_extent()


@pytest.mark.parametrize("n_cols", [1, 2, 4])
def test_figure_legend_and_title_stay_inside_a_narrow_figure(n_cols, rng):
    """A comparison one panel wide (a phone's report) keeps its legend whole."""
    y = rng.integers(0, 3, size=300)
    probs = softmax(rng.normal(size=(300, 3)), axis=1)
    scores = {f"model {i}": probs for i in range(4)}
    display = ReliabilityComparisonDisplay.from_predictions(y, scores, n_cols=n_cols)
    fig = display.figure_
    FigureCanvasAgg(fig)
    (legend,) = fig.legends
    box = _drawn_extent(fig, legend)
    width = fig.get_figwidth() * fig.dpi
    assert 0 <= box.x0 and box.x1 <= width, (box, width)
    texts = [t.get_text() for t in legend.get_texts()]
    assert {"perfect calibration", "accuracy"} <= set(texts)


def test_classwise_grid_takes_n_cols(rng):
    data = make_miscalibrated(600, 6, temperature=2.0, random_state=0)
    display = ReliabilityDisplay.from_predictions(
        data.labels,
        data.logits,
        input_type="logits",
        reduction="classwise",
        n_cols=1,
        name="a long model name " * 3,
    )
    fig = display.figure_
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    lefts = {round(ax.get_position().x0, 6) for ax in display.ax_}
    assert len(display.ax_) == 6 and len(lefts) == 1
    width = fig.get_figwidth() * fig.dpi
    for artist in [*fig.legends, fig._suptitle]:
        box = artist.get_window_extent()
        assert 0 <= box.x0 and box.x1 <= width, (artist, box, width)
    default = ReliabilityDisplay.from_predictions(
        data.labels, data.logits, input_type="logits", reduction="classwise"
    )
    lefts = {round(ax.get_position().x0, 6) for ax in default.ax_}
    assert len(lefts) == 3  # rows of three by default


@pytest.mark.parametrize("n_cols", [0, 1.5, True, "2"])
def test_n_cols_must_be_a_positive_integer(n_cols, rng):
    data = make_miscalibrated(200, 3, random_state=0)
    with pytest.raises(ValueError, match="n_cols must be an integer >= 1"):
        ReliabilityDisplay.from_predictions(
            data.labels,
            data.logits,
            input_type="logits",
            reduction="classwise",
            n_cols=n_cols,
        )


def test_n_cols_needs_a_new_classwise_grid(rng):
    data = make_miscalibrated(200, 3, random_state=0)
    with pytest.raises(ValueError, match="n_cols arranges the panels"):
        ReliabilityDisplay.from_predictions(
            data.labels, data.logits, input_type="logits", n_cols=1
        )
