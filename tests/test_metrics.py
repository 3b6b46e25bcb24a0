"""Tests for calibrate.metrics against published numbers, scikit-learn and hand work."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, softmax
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    hamming_loss,
    log_loss,
)

from calibrate.binning import BinStats, bin_stats, uniform_edges
from calibrate.datasets import make_miscalibrated, make_miscalibrated_binary
from calibrate.exceptions import CalibrationWarning
from calibrate.metrics import (
    METRICS,
    binned_calibration_error,
    brier_score,
    calibration_bins,
    classification_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
)


def naive_ece(scores, targets, n_bins=15, weights=None, norm="l1"):
    """Reference ECE straight from the definition, one bin at a time."""
    weights = np.ones_like(scores) if weights is None else weights
    edges = [float(k) / n_bins for k in range(n_bins + 1)]
    terms, gaps = [], []
    for k in range(n_bins):
        inside = (scores > edges[k]) & (scores <= edges[k + 1])
        if k == 0:
            inside |= scores == 0
        w = weights[inside]
        if w.sum() == 0:
            continue
        gap = abs(np.dot(w, targets[inside]) - np.dot(w, scores[inside])) / w.sum()
        terms.append((w.sum() / weights.sum(), gap))
        gaps.append(gap)
    if norm == "max":
        return max(gaps)
    if norm == "l2":
        return np.sqrt(sum(f * g**2 for f, g in terms))
    return sum(f * g for f, g in terms)


def top_label(P, y):
    top = P.argmax(axis=1)
    return P[np.arange(len(y)), top], (top == y).astype(float)


# -- published numbers (../shared/data, skipped when absent) ------------------


@pytest.mark.parametrize(
    ("name", "uncalibrated", "at_t12"),
    [
        # Mukhoti et al. 2020, Table 1: top-label, 15 bins, percent
        ("mukhoti_c10_resnet110_brier", 2.56, 1.25),
        ("mukhoti_c100_resnet110_brier", 7.88, 4.65),
    ],
)
def test_mukhoti_table_1(shared_data, name, uncalibrated, at_t12):
    data = shared_data(name)
    z, y = data["test_logits"], data["test_labels"]
    ece = expected_calibration_error(y, z, input_type="logits")
    ece_t = expected_calibration_error(y, z / np.float32(1.2), input_type="logits")
    assert round(100 * ece, 2) == uncalibrated
    assert round(100 * ece_t, 2) == at_t12
    # the same from float64 probabilities
    p = softmax(z.astype(np.float64), axis=1)
    assert expected_calibration_error(y, p) == pytest.approx(ece, abs=1e-9)


def test_imagenet_densenet161_ten_bins(shared_data):
    # hollance/reliability-diagrams, figure all.png: ECE 5.64 % with 10 bins
    data = shared_data("imagenet_densenet161_toplabel")
    correct = data["test_predictions"] == data["test_labels"]
    stats = bin_stats(data["test_confidences"], correct, n_bins=10)
    assert round(100 * binned_calibration_error(stats), 2) == 5.64
    assert round(100 * correct.mean(), 2) == 77.14


@pytest.mark.parametrize(
    ("name", "nll", "brier", "error"),
    [
        # ../shared/data/README.md: plain numpy reference, and test error
        ("mukhoti_c10_resnet110_brier", 0.2044, 0.0879, 0.0548),
        ("mukhoti_c100_resnet110_brier", 1.1072, 0.3725, 0.2510),
    ],
)
def test_proper_scores_on_real_logits(shared_data, name, nll, brier, error):
    data = shared_data(name)
    z, y = data["test_logits"], data["test_labels"]
    assert round(negative_log_likelihood(y, z, input_type="logits"), 4) == nll
    assert round(brier_score(y, z, input_type="logits"), 4) == brier
    assert classification_error(y, z, input_type="logits") == pytest.approx(error)


@pytest.mark.parametrize(
    ("name", "ece", "nll"),
    [("kumar_c10_vgg16", 3.56, 0.2333), ("cleanlab_imdb", 4.11, 0.2966)],
)
def test_readme_numbers_of_probability_sources(shared_data, name, ece, nll):
    data = shared_data(name)
    z, y = data["test_logits"], data["test_labels"]
    assert round(100 * expected_calibration_error(y, z, input_type="logits"), 2) == ece
    assert round(negative_log_likelihood(y, z, input_type="logits"), 4) == nll


# -- scikit-learn's proper scores ----------------------------------------------


@pytest.fixture
def multiclass(rng):
    P = rng.dirichlet(np.full(5, 0.7), size=400)
    y = rng.integers(0, 5, size=400)
    w = rng.uniform(0, 3, size=400)
    return P, y, w


@pytest.fixture
def binary(rng):
    p = rng.uniform(0.01, 0.99, size=300)
    y = (rng.uniform(size=300) < p**1.5).astype(int)
    w = rng.uniform(0, 3, size=300)
    return p, y, w


@pytest.mark.parametrize("weighted", [False, True])
def test_nll_and_brier_equal_sklearn_multiclass(multiclass, weighted):
    P, y, w = multiclass
    w = w if weighted else None
    assert (
        abs(
            negative_log_likelihood(y, P, sample_weight=w)
            - log_loss(y, P, sample_weight=w)
        )
        < 1e-12
    )
    assert (
        abs(
            brier_score(y, P, sample_weight=w) - brier_score_loss(y, P, sample_weight=w)
        )
        < 1e-12
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("two_columns", [False, True])
def test_nll_and_brier_equal_sklearn_binary(binary, weighted, two_columns):
    p, y, w = binary
    w = w if weighted else None
    X = np.column_stack((1 - p, p)) if two_columns else p
    assert (
        abs(
            negative_log_likelihood(y, X, sample_weight=w)
            - log_loss(y, p, sample_weight=w)
        )
        < 1e-12
    )
    assert (
        abs(
            brier_score(y, X, sample_weight=w) - brier_score_loss(y, p, sample_weight=w)
        )
        < 1e-12
    )


def test_string_labels_equal_sklearn(binary):
    p, y, _ = binary
    labels = np.where(y == 1, "spam", "ham")
    assert negative_log_likelihood(labels, p) == pytest.approx(
        log_loss(labels, p), abs=1e-12
    )
    assert brier_score(labels, p) == pytest.approx(
        brier_score_loss(labels, p, pos_label="spam"), abs=1e-12
    )


def test_classification_error_is_one_minus_accuracy(multiclass, binary):
    P, y, w = multiclass
    expected = 1 - accuracy_score(y, P.argmax(axis=1), sample_weight=w)
    assert classification_error(y, P, sample_weight=w) == pytest.approx(
        expected, abs=1e-12
    )
    p, yb, _ = binary
    assert classification_error(yb, p) == pytest.approx(1 - accuracy_score(yb, p > 0.5))


def test_logits_equal_probabilities(multiclass, rng):
    P, y, w = multiclass
    z = np.log(P) + rng.normal(size=(P.shape[0], 1)) * 10  # any row shift
    for metric in (negative_log_likelihood, brier_score, classification_error):
        a = metric(y, P, sample_weight=w)
        assert metric(y, z, input_type="logits", sample_weight=w) == pytest.approx(
            a, abs=1e-12
        )
        assert metric(
            y, np.log(P), input_type="log_probs", sample_weight=w
        ) == pytest.approx(a, abs=1e-12)


def test_float32_logits_agree_with_float64(rng):
    data = make_miscalibrated(3_000, 50, temperature=2.0, random_state=rng)
    z64, y = data.logits, data.labels
    z32 = z64.astype(np.float32)
    P = softmax(
        z32.astype(np.float64), axis=1
    )  # the exact softmax of the float32 values
    assert negative_log_likelihood(y, z32, input_type="logits") == pytest.approx(
        log_loss(y, P), rel=1e-7
    )
    assert brier_score(y, z32, input_type="logits") == pytest.approx(
        brier_score_loss(y, P), abs=1e-7
    )
    conf, correct = top_label(P, y)
    assert expected_calibration_error(y, z32, input_type="logits") == pytest.approx(
        naive_ece(conf, correct), abs=1e-6
    )


def test_nll_from_extreme_logits_stays_finite():
    # softmax would underflow to 0 for the true class; log space does not
    z = np.array([[0.0, 800.0], [1000.0, 0.0]])
    assert negative_log_likelihood([0, 0], z, input_type="logits") == pytest.approx(
        400.0
    )
    assert negative_log_likelihood(
        [1, 0], [-800.0, -1000.0], input_type="logits"
    ) == pytest.approx(400.0)


def test_zero_probability_is_floored_with_a_warning():
    with pytest.warns(
        CalibrationWarning, match="1 observed outcomes have probability below"
    ):
        nll = negative_log_likelihood([0, 1], [[0.0, 1.0], [0.5, 0.5]])
    assert nll == pytest.approx((-np.log(np.finfo(float).tiny) + np.log(2)) / 2)


def test_multilabel_scores_are_means_over_labels(rng):
    P = rng.uniform(0.02, 0.98, size=(200, 4))
    Y = (rng.uniform(size=(200, 4)) < P).astype(int)
    assert negative_log_likelihood(Y, P) == pytest.approx(
        np.mean([log_loss(Y[:, k], P[:, k]) for k in range(4)]), abs=1e-12
    )
    assert brier_score(Y, P) == pytest.approx(
        np.mean([brier_score_loss(Y[:, k], P[:, k]) for k in range(4)]), abs=1e-12
    )
    assert classification_error(Y, P) == pytest.approx(hamming_loss(Y, P > 0.5))
    expected = np.mean(
        [
            expected_calibration_error(Y[:, k], P[:, k], reduction="positive")
            for k in range(4)
        ]
    )
    assert expected_calibration_error(Y, P, reduction="classwise") == pytest.approx(
        expected
    )
    z = np.log(P) - np.log1p(-P)
    assert negative_log_likelihood(Y, z, input_type="logits") == pytest.approx(
        negative_log_likelihood(Y, P), abs=1e-12
    )


# -- the ECE family, worked by hand --------------------------------------------


def test_ece_hand_worked():
    # 4 predictions at 0.8 (3 right), 2 at 0.6 (1 right), 10 bins
    y_prob = [[0.8, 0.2]] * 4 + [[0.4, 0.6]] * 2
    y_true = [0, 0, 0, 1, 1, 0]
    l1 = 4 / 6 * 0.05 + 2 / 6 * 0.1
    l2 = np.sqrt(4 / 6 * 0.05**2 + 2 / 6 * 0.1**2)
    assert expected_calibration_error(y_true, y_prob, n_bins=10) == pytest.approx(l1)
    assert expected_calibration_error(
        y_true, y_prob, n_bins=10, norm="l2"
    ) == pytest.approx(l2)
    assert maximum_calibration_error(y_true, y_prob, n_bins=10) == pytest.approx(0.1)


def test_confidence_exactly_on_an_edge():
    # 0.3 lies in (0.2, 0.3] with 10 bins: alone there its gap is 0.3 - 0 ...
    ece = expected_calibration_error(
        [1, 1], [[0.3, 0.7], [0.7, 0.3]], n_bins=10, reduction="positive"
    )
    # positive-class probabilities 0.7 (y=1) and 0.3 (y=1): two bins, gaps 0.3 and 0.7
    assert ece == pytest.approx(0.5 * 0.3 + 0.5 * 0.7)
    # ... and 0.3 and 0.30000000000000004 are in different bins
    p = np.array([0.3, np.nextafter(0.3, 1)])
    stats = bin_stats(p, [0, 1], n_bins=10)
    assert stats.counts[2] == 1 and stats.counts[3] == 1


def test_max_norm_skips_empty_bins():
    # all mass in two of 15 bins; an empty bin's gap (undefined) must not count
    y_prob = [0.95, 0.95, 0.55, 0.55]
    assert maximum_calibration_error(
        [1, 1, 1, 0], y_prob, reduction="positive"
    ) == pytest.approx(0.05)


def test_classwise_hand_worked():
    # two rows, three classes, 2 bins; per class: (prob, outcome)
    P = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    y = [0, 2]
    # class 0: bins (0, .5] {0.2 -> 0}, (.5, 1] {0.6 -> 1}: 0.5*0.2 + 0.5*0.4 = 0.3
    # class 1: bin 0 {0.3 -> 0, 0.2 -> 0}: |0 - 0.25| = 0.25
    # class 2: bin 0 {0.1 -> 0}, bin 1 {0.6 -> 1}: 0.5*0.1 + 0.5*0.4 = 0.25
    assert expected_calibration_error(
        y, P, n_bins=2, reduction="classwise"
    ) == pytest.approx(0.8 / 3)
    # L2: root of the mean of per-class squared errors
    sq = [0.5 * 0.2**2 + 0.5 * 0.4**2, 0.25**2, 0.5 * 0.1**2 + 0.5 * 0.4**2]
    assert expected_calibration_error(
        y, P, n_bins=2, reduction="classwise", norm="l2"
    ) == pytest.approx(np.sqrt(np.mean(sq)))
    assert maximum_calibration_error(
        y, P, n_bins=2, reduction="classwise"
    ) == pytest.approx(0.4)


def test_debiased_l2_hand_worked():
    # one bin of 4 samples at 0.5 with 3 right: plug-in gap^2 = 0.0625,
    # variance acc (1 - acc) / (n - 1) = 0.1875 / 3 = 0.0625: debiased 0.
    y_prob = [0.5, 0.5, 0.5, 0.5]
    y_true = [1, 1, 1, 0]
    kwargs = dict(n_bins=1, norm="l2", reduction="positive")
    assert expected_calibration_error(y_true, y_prob, **kwargs) == pytest.approx(0.25)
    assert expected_calibration_error(
        y_true, y_prob, debias=True, **kwargs
    ) == pytest.approx(0.0, abs=1e-12)
    # one bin of 5 with 4 right at 0.5: 0.09 - 0.16/4 = 0.05
    assert expected_calibration_error(
        [1, 1, 1, 1, 0], [0.5] * 5, debias=True, **kwargs
    ) == pytest.approx(np.sqrt(0.05))


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_top_label_matches_naive_reference(rng, norm, n_bins):
    P = rng.dirichlet(np.full(4, 0.5), size=1_000)
    P = np.round(P, 2)  # confidences on the edges, rows renormalised below
    P[:, -1] = 1 - P[:, :-1].sum(axis=1)
    P = np.abs(P)
    P /= P.sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, size=1_000)
    w = rng.uniform(0, 2, size=1_000)
    conf, correct = top_label(P, y)
    got = expected_calibration_error(y, P, n_bins=n_bins, norm=norm, sample_weight=w)
    assert got == pytest.approx(naive_ece(conf, correct, n_bins, w, norm), abs=1e-12)


def test_binary_top_label_equals_two_column_input(binary):
    p, y, w = binary
    p[:10] = 0.5  # ties predict the negative class in both layouts
    two = np.column_stack((1 - p, p))
    for reduction in ("top_label", "classwise", "positive"):
        a = expected_calibration_error(y, p, reduction=reduction, sample_weight=w)
        b = expected_calibration_error(y, two, reduction=reduction, sample_weight=w)
        assert a == pytest.approx(b, abs=1e-12)
    z = np.log(p) - np.log1p(-p)
    assert expected_calibration_error(y, z, input_type="logits") == pytest.approx(
        expected_calibration_error(y, p), abs=1e-12
    )


def test_binary_positive_reduction_matches_sklearn_calibration_curve(binary):
    from sklearn.calibration import calibration_curve

    p, y, _ = binary
    prob_true, prob_pred = calibration_curve(y, p, n_bins=15)
    counts = np.bincount(np.searchsorted(uniform_edges(15)[1:-1], p), minlength=15)
    expected = np.dot(counts[counts > 0] / len(p), np.abs(prob_true - prob_pred))
    assert expected_calibration_error(y, p, reduction="positive") == pytest.approx(
        expected, abs=1e-12
    )


def test_quantile_strategy_equal_mass(rng):
    data = make_miscalibrated_binary(10_000, temperature=2.0, random_state=rng)
    p = expit(data.logits)
    y = data.labels
    edges = np.quantile(p, np.arange(1, 10) / 10, method="inverted_cdf")
    idx = np.searchsorted(edges, p)
    gaps = [abs(y[idx == b].mean() - p[idx == b].mean()) for b in range(10)]
    got = expected_calibration_error(
        y, p, n_bins=10, strategy="quantile", reduction="positive"
    )
    assert got == pytest.approx(np.mean(gaps), abs=1e-12)


# -- estimates against a known truth --------------------------------------------


def true_binned_error(data, n_bins=15, norm="l1"):
    """The ECE with the known true probability of the predicted class as target:
    the population value the sample ECE estimates (no label noise)."""
    P = softmax(data.logits, axis=1)
    top = P.argmax(axis=1)
    conf = P[np.arange(len(top)), top]
    q = data.probabilities[np.arange(len(top)), top]
    return naive_ece(conf, q, n_bins=n_bins, norm=norm)


def test_ece_converges_to_the_true_ece():
    data = make_miscalibrated(200_000, 10, temperature=1.5, random_state=3)
    truth = true_binned_error(data)
    assert truth > 0.05  # a clearly miscalibrated model
    got = expected_calibration_error(data.labels, data.logits, input_type="logits")
    assert abs(got - truth) < 0.005


@pytest.mark.parametrize("temperature", [1.0, 1.2])
def test_debiased_l2_is_closer_to_the_truth(temperature):
    truth = true_binned_error(
        make_miscalibrated(1_000_000, 10, temperature=temperature, random_state=0),
        norm="l2",
    )
    plugin, debiased = [], []
    for seed in range(30):
        data = make_miscalibrated(
            2_000, 10, temperature=temperature, random_state=100 + seed
        )
        kwargs = dict(norm="l2", input_type="logits")
        plugin.append(expected_calibration_error(data.labels, data.logits, **kwargs))
        debiased.append(
            expected_calibration_error(data.labels, data.logits, debias=True, **kwargs)
        )
    assert abs(np.mean(debiased) - truth) < abs(np.mean(plugin) - truth)
    assert np.mean(plugin) > truth  # the plug-in estimate is biased upwards


# -- the registry: invariances over every metric ------------------------------


def _inputs(task, rng, n=120):
    if task == "binary":
        p = rng.uniform(0.05, 0.95, size=n)
        return (rng.uniform(size=n) < p).astype(int), p
    if task == "multiclass":
        P = rng.dirichlet(np.ones(4), size=n)
        return rng.integers(0, 4, size=n), P
    P = rng.uniform(0.05, 0.95, size=(n, 3))
    return (rng.uniform(size=(n, 3)) < P).astype(int), P


CASES = [(name, task) for name, m in METRICS.items() for task in sorted(m.tasks)]


def test_registry_lists_every_metric():
    assert {"ece", "ece_classwise", "ece_l2_debiased", "mce", "nll", "brier"} <= set(
        METRICS
    )
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.needs <= {"n_bins", "strategy"}
        assert metric.tasks <= {"binary", "multiclass", "multilabel"}


@pytest.mark.parametrize(("name", "task"), CASES)
def test_sample_order(rng, name, task):
    y, p = _inputs(task, rng)
    perm = rng.permutation(len(y))
    metric = METRICS[name]
    assert metric(y[perm], p[perm]) == pytest.approx(metric(y, p), abs=1e-12)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_none_weights_equal_ones(rng, name, task):
    y, p = _inputs(task, rng)
    metric = METRICS[name]
    assert metric(y, p, sample_weight=np.ones(len(y))) == pytest.approx(
        metric(y, p), abs=1e-12
    )


@pytest.mark.parametrize(("name", "task"), CASES)
def test_integer_weights_equal_repeated_rows(rng, name, task):
    y, p = _inputs(task, rng)
    w = rng.integers(0, 4, size=len(y))
    metric = METRICS[name]
    repeated = metric(np.repeat(y, w, axis=0), np.repeat(p, w, axis=0))
    assert metric(y, p, sample_weight=w) == pytest.approx(repeated, abs=1e-12)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_scaled_weights(rng, name, task):
    y, p = _inputs(task, rng)
    w = rng.integers(1, 4, size=len(y)).astype(float)
    metric = METRICS[name]
    if name == "ece_l2_debiased":
        # frequency weights: fractional weights are refused, not misread
        w[0] = 1.0
        with pytest.raises(ValueError, match="whole numbers; got 0.5 at row 0"):
            metric(y, p, sample_weight=w / 2)
        return
    assert metric(y, p, sample_weight=w / 7) == pytest.approx(
        metric(y, p, sample_weight=w), abs=1e-12
    )


@pytest.mark.parametrize(("name", "task"), CASES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_rejected(rng, name, task, bad):
    y, p = _inputs(task, rng)
    p = p.copy()
    p[(3, 1) if p.ndim == 2 else 3] = bad
    for input_type in ("probs", "logits"):
        with pytest.raises(ValueError, match="NaN|infinite|outside"):
            METRICS[name](y, p, input_type=input_type)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_registry_options(rng, name, task):
    y, p = _inputs(task, rng)
    metric = METRICS[name]
    if metric.needs:
        # the options reach the function: one bin is the overall gap of the
        # reduction, which differs from the 15-bin value on these inputs
        assert metric(y, p, n_bins=1) != metric(y, p)
    with pytest.raises(TypeError, match="takes the options"):
        metric(y, p, reduction="top_label")


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_true", "y_prob", "kwargs", "message"),
    [
        (
            [0, 1],
            [[0.5, 0.6], [0.2, 0.8]],
            {},
            r"must sum to 1 \(within 1.0e-06\).*row 0 gives 1.1",
        ),
        (
            [0, 1],
            [[1.5, -0.5], [0.2, 0.8]],
            {},
            r"outside \[0, 1\].*row 0, column 0: 1.5",
        ),
        (
            [0, 1, 1],
            [[0.5, 0.5], [0.2, 0.8]],
            {},
            "different numbers of rows: y_prob has 2, y_true has 3",
        ),
        (
            [0, 3],
            [[0.5, 0.5], [0.2, 0.8]],
            {},
            r"y_true contains label 3, but y_prob has 2 columns",
        ),
        (
            [0, 1],
            [[0.5, 0.5], [0.2, 0.8]],
            {"n_bins": 0},
            "n_bins must be an integer >= 1; got 0",
        ),
        (
            [0, 1],
            [[0.5, 0.5], [0.2, 0.8]],
            {"norm": "l3"},
            "norm must be one of .* got 'l3'",
        ),
        (
            [0, 1],
            [[0.5, 0.5], [0.2, 0.8]],
            {"reduction": "macro"},
            "reduction must be one of .* got 'macro'",
        ),
        (
            [0, 1],
            [[0.5, 0.5], [0.2, 0.8]],
            {"strategy": "kmeans"},
            "strategy must be one of .* got 'kmeans'",
        ),
        (
            [0, 1],
            [[0.5, 0.5], [0.2, 0.8]],
            {"debias": True},
            "debias=True is defined for norm='l2' only",
        ),
        (
            [0, 1],
            [[0.5, 0.5], [0.2, 0.8]],
            {"input_type": "prob"},
            "input_type must be one of",
        ),
        (
            [0, 1, 2],
            np.full((3, 3), 1 / 3),
            {"reduction": "positive"},
            "reduction='positive' is for binary",
        ),
        (
            [[0, 1], [1, 1]],
            [[0.5, 0.6], [0.2, 0.8]],
            {"reduction": "top_label"},
            "reduction='top_label' needs one label per row",
        ),
        ([], np.empty((0, 2)), {}, "empty"),
        (
            [0, 1],
            np.full((2, 2, 2), 0.5),
            {},
            r"shape \(n_samples,\) or \(n_samples, n_classes\)",
        ),
        ([0, 1], [0.3, 0.8], {"sample_weight": [1.0, -2.0]}, "sample_weight"),
        (
            [0, 1],
            [0.3, 0.8],
            {"sample_weight": [1.0]},
            r"sample_weight must have shape \(2,\)",
        ),
    ],
)
def test_bad_input_names_the_value(y_true, y_prob, kwargs, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(y_true, y_prob, **kwargs)


def test_bad_input_for_proper_scores():
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        negative_log_likelihood([0, 1], [0.2, 1.2])
    with pytest.raises(ValueError, match="must sum to 1"):
        brier_score([0, 1], [[0.3, 0.3], [0.5, 0.5]])
    with pytest.raises(
        ValueError, match="declared input_type='log_probs' but holds positive"
    ):
        negative_log_likelihood(
            [0, 1], [[0.1, -0.1], [-1.0, -0.5]], input_type="log_probs"
        )
    with pytest.raises(TypeError, match="string"):
        classification_error([0, 1], ["a", "b"])


def test_debias_refuses_fractional_weights():
    with pytest.raises(ValueError, match=r"whole numbers; got 0.5 at row 1"):
        expected_calibration_error(
            [0, 1], [0.3, 0.8], norm="l2", debias=True, sample_weight=[1.0, 0.5]
        )


def test_binned_calibration_error_rejects_non_stats():
    with pytest.raises(ValueError, match="BinStats"):
        binned_calibration_error([0.1, 0.2])


# -- properties ------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    k=st.integers(2, 6),
    n_bins=st.integers(1, 20),
    strategy=st.sampled_from(["uniform", "quantile"]),
    reduction=st.sampled_from(["top_label", "classwise"]),
)
def test_norms_are_ordered(seed, n, k, n_bins, strategy, reduction):
    # sum_b w_b |g_b| <= sqrt(sum_b w_b g_b^2) <= max_b |g_b|, per class and over
    # classes (the power means of the gaps), and all lie in [0, 1].
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(k, 0.5), size=n)
    y = rng.integers(0, k, size=n)
    kwargs = dict(n_bins=n_bins, strategy=strategy, reduction=reduction)
    l1 = expected_calibration_error(y, P, **kwargs)
    l2 = expected_calibration_error(y, P, norm="l2", **kwargs)
    mx = maximum_calibration_error(y, P, **kwargs)
    assert 0.0 <= l1 <= l2 + 1e-12
    assert l2 <= mx + 1e-12 <= 1.0 + 2e-12


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50))
def test_one_bin_is_the_overall_gap(seed, n):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(3), size=n)
    y = rng.integers(0, 3, size=n)
    conf, correct = top_label(P, y)
    got = expected_calibration_error(y, P, n_bins=1)
    assert got == pytest.approx(abs(correct.mean() - conf.mean()), abs=1e-12)


# -- paths through every input type ------------------------------------------------


def test_binary_log_probs_and_logits_equal_probs(binary):
    p, y, w = binary
    z = np.log(p) - np.log1p(-p)
    lp = np.log(p)
    for metric in (negative_log_likelihood, brier_score, classification_error):
        ref = metric(y, p, sample_weight=w)
        assert metric(y, lp, input_type="log_probs", sample_weight=w) == pytest.approx(
            ref, abs=1e-12
        )
        assert metric(y, z, input_type="logits", sample_weight=w) == pytest.approx(
            ref, abs=1e-12
        )
    # against scikit-learn directly, from log-probabilities
    assert negative_log_likelihood(y, lp, input_type="log_probs") == pytest.approx(
        log_loss(y, p), abs=1e-12
    )
    for reduction in ("top_label", "classwise", "positive"):
        ref = expected_calibration_error(y, p, reduction=reduction)
        assert expected_calibration_error(
            y, lp, input_type="log_probs", reduction=reduction
        ) == pytest.approx(ref, abs=1e-12)


def test_multilabel_log_probs_equal_sklearn(rng):
    P = rng.uniform(0.02, 0.98, size=(150, 3))
    Y = (rng.uniform(size=(150, 3)) < P).astype(int)
    expected = np.mean([log_loss(Y[:, k], P[:, k]) for k in range(3)])
    assert negative_log_likelihood(
        Y, np.log(P), input_type="log_probs"
    ) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("input_type", ["logits", "log_probs"])
@pytest.mark.parametrize("reduction", ["top_label", "classwise"])
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_multiclass_ece_from_logits_and_log_probs(
    multiclass, input_type, reduction, norm
):
    P, y, w = multiclass
    X = np.log(P) + (3.0 if input_type == "logits" else 0.0)
    if reduction == "top_label":
        conf, correct = top_label(P, y)
        expected = naive_ece(conf, correct, 15, w, norm)
    else:
        per_class = [
            naive_ece(P[:, k], (y == k).astype(float), 15, w, norm)
            for k in range(P.shape[1])
        ]
        expected = {
            "l1": np.mean(per_class),
            "l2": np.sqrt(np.mean(np.square(per_class))),
            "max": np.max(per_class),
        }[norm]
    got = expected_calibration_error(
        y, X, input_type=input_type, reduction=reduction, norm=norm, sample_weight=w
    )
    assert got == pytest.approx(expected, abs=1e-9)


def test_positive_reduction_from_two_column_logits(binary):
    p, y, _ = binary
    z = np.column_stack((np.zeros_like(p), np.log(p) - np.log1p(-p)))
    assert expected_calibration_error(
        y, z, input_type="logits", reduction="positive"
    ) == pytest.approx(naive_ece(p, y.astype(float)), abs=1e-9)


def test_debiased_classwise_hand_worked():
    # two classes, one bin each (n_bins=1), four rows:
    # class 0: probs .5,.5,.5,.5 outcomes 1,1,1,0 -> 0.0625 - 0.1875/3 = 0
    # class 1: probs .5 x4, outcomes 0,0,0,1 -> the same, 0 (clipped at 0 per class)
    P = np.full((4, 2), 0.5)
    y = [0, 0, 0, 1]
    got = expected_calibration_error(
        y, P, n_bins=1, norm="l2", debias=True, reduction="classwise"
    )
    assert got == pytest.approx(0.0, abs=1e-12)
    # five rows, class 0 outcomes 1,1,1,1,0: 0.09 - 0.16/4 = 0.05 in both classes
    P = np.full((5, 2), 0.5)
    got = expected_calibration_error(
        [0, 0, 0, 0, 1], P, n_bins=1, norm="l2", debias=True, reduction="classwise"
    )
    assert got == pytest.approx(np.sqrt(0.05))
    # per-class clipping: class errors -1/12 (clipped to 0) and 0.05 average to 0.025
    P = np.array([[0.5, 0.5]] * 4 + [[0.9, 0.1]] * 5)
    y = [0, 0, 0, 1] + [0, 0, 0, 0, 1]
    # class 0, 2 bins: bin (0,.5] 4 rows at .5 with 3 hits -> 0;
    # bin (.5,1] 5 rows at .9 with 4 hits: 0.01 - 0.16/4 = -0.03 -> weighted 5/9
    # class 1: bin (0,.5] 9 rows: 4 at .5, 5 at .1, hits 2: mean p = 2.5/9
    acc1, conf1 = 2 / 9, (4 * 0.5 + 5 * 0.1) / 9
    c1 = (acc1 - conf1) ** 2 - acc1 * (1 - acc1) / 8
    c0 = 5 / 9 * (0.1**2 - 0.8 * 0.2 / 4)
    expected = np.sqrt(np.mean([max(c0, 0.0), max(c1, 0.0)]))
    got = expected_calibration_error(
        y, P, n_bins=2, norm="l2", debias=True, reduction="classwise"
    )
    assert got == pytest.approx(expected, abs=1e-12)


def test_debiased_bins_of_one_sample_contribute_nothing():
    # bin (0, .5]: one sample at 0.2, wrong -> no estimate, 0;
    # bin (.5, 1]: 0.8 x3 with hits 1,1,0: (2/3 - .8)^2 - (2/9)/2
    y_prob = [0.2, 0.8, 0.8, 0.8]
    y_true = [0, 1, 1, 0]
    sq = 3 / 4 * ((2 / 3 - 0.8) ** 2 - (2 / 9) / 2)
    got = expected_calibration_error(
        y_true, y_prob, n_bins=2, norm="l2", debias=True, reduction="positive"
    )
    assert got == pytest.approx(np.sqrt(max(sq, 0.0)), abs=1e-12)
    # and the plug-in keeps the lone sample's gap of 0.2
    plug = expected_calibration_error(
        y_true, y_prob, n_bins=2, norm="l2", reduction="positive"
    )
    assert plug == pytest.approx(np.sqrt(1 / 4 * 0.2**2 + 3 / 4 * (2 / 3 - 0.8) ** 2))


def test_confident_logit_rows_keep_their_small_terms():
    # exact values: log1p(exp(-37)), and 2 e^-40 / (1 + 2 e^-20)^2 ... in closed form
    assert negative_log_likelihood(
        [0], [[37.0, 0.0]], input_type="logits"
    ) == pytest.approx(np.log1p(np.exp(-37.0)), rel=1e-12)
    e = np.exp(-20.0)
    s = 1 + 2 * e
    exact = (2 * e / s) ** 2 + 2 * (e / s) ** 2
    assert brier_score([0], [[20.0, 0.0, 0.0]], input_type="logits") == pytest.approx(
        exact, rel=1e-12
    )
    exact_miss = (1 / s) ** 2 + (1 - e / s) ** 2 + (e / s) ** 2
    assert brier_score([1], [[20.0, 0.0, 0.0]], input_type="logits") == pytest.approx(
        exact_miss, rel=1e-12
    )


@pytest.mark.parametrize(
    ("y_true", "message"),
    [
        (np.array([0, 1, None], dtype=object), "y_true contains missing labels"),
        (None, "y_true must be an array of labels"),
        ([[0], [1, 2], [0]], "y_true could not be read as an array"),
    ],
)
def test_bad_labels(y_true, message):
    P = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(y_true, P)


def test_multilabel_positive_suggests_classwise():
    with pytest.raises(
        ValueError, match="multilabel indicator matrix. Use reduction='classwise'"
    ):
        expected_calibration_error(
            [[0, 1], [1, 1]], [[0.2, 0.7], [0.6, 0.9]], reduction="positive"
        )


@pytest.mark.parametrize("reduction", ["top_label", "classwise", "positive"])
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_bins_are_the_bins_behind_the_ece(reduction, strategy, rng):
    y_prob = rng.dirichlet([1.0, 1.0], size=400)
    y_true = (rng.uniform(size=400) < y_prob[:, 1]).astype(int)
    weights = rng.uniform(0.5, 2.0, size=400)
    options = {"n_bins": 7, "strategy": strategy, "reduction": reduction}
    stats = calibration_bins(y_true, y_prob, sample_weight=weights, **options)
    if reduction == "classwise":
        assert isinstance(stats, tuple) and len(stats) == 2
    else:
        assert isinstance(stats, BinStats)
    assert binned_calibration_error(stats) == expected_calibration_error(
        y_true, y_prob, sample_weight=weights, **options
    )


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.binned])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_registry_binned_options_reproduce_the_metric(name, task, rng):
    metric = METRICS[name]
    if task not in metric.tasks:
        pytest.skip(f"{name} is not defined for {task}")
    if task == "binary":
        data = make_miscalibrated_binary(3000, temperature=2.0, random_state=rng)
    else:
        data = make_miscalibrated(3000, 5, temperature=2.0, random_state=rng)
    options = dict(metric.binned)
    assert set(options) == {"reduction", "norm", "debias"}
    stats = calibration_bins(
        data.labels,
        data.logits,
        n_bins=12,
        reduction=options["reduction"],
        input_type="logits",
    )
    from_bins = binned_calibration_error(
        stats, norm=options["norm"], debias=options["debias"]
    )
    direct = metric(data.labels, data.logits, input_type="logits", n_bins=12)
    assert from_bins == direct
    # And an independent computation of the same quantity from its definition.
    if name == "mce":
        assert direct == maximum_calibration_error(
            data.labels, data.logits, input_type="logits", n_bins=12
        )
    if name == "ece" and task == "multiclass":
        proba = softmax(data.logits, axis=1)
        assert direct == pytest.approx(
            naive_ece(proba.max(axis=1), proba.argmax(axis=1) == data.labels, 12),
            rel=1e-9,
        )


def test_non_binned_metrics_have_no_binned_options():
    for name in ("nll", "brier", "classification_error"):
        assert METRICS[name].binned == ()


# -- top-label error conditioned on the predicted class (Gupta & Ramdas 2022) --


def naive_top_label_conditional(P, y, n_bins, weights=None):
    """TL-ECE, TL-MCE (as printed) and the largest cell gap, one cell at a time."""
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    top, conf = P.argmax(axis=1), P.max(axis=1)
    correct = (top == y).astype(float)
    edges = [float(k) / n_bins for k in range(n_bins + 1)]
    total = weights.sum()
    ece, per_bin, cells = 0.0, [], []
    for b in range(n_bins):
        inside = (conf > edges[b]) & (conf <= edges[b + 1])
        if b == 0:
            inside |= conf == 0
        numerator = 0.0
        for label in range(P.shape[1]):
            cell = inside & (top == label)
            w = weights[cell]
            if w.sum() == 0:
                continue
            gap = abs(np.dot(w, correct[cell]) - np.dot(w, conf[cell])) / w.sum()
            ece += w.sum() / total * gap
            numerator += w.sum() * gap
            cells.append(gap)
        if weights[inside].sum() > 0:
            per_bin.append(numerator / weights[inside].sum())
    return ece, max(per_bin), max(cells)


@pytest.mark.parametrize(
    ("name", "ece", "ece_t", "mce", "mce_t"),
    [
        # Gupta & Ramdas (ICLR 2022), Table 2: 15 bins, test rows, T = 1.2
        ("mukhoti_c10_resnet110_brier", 0.029, 0.022, 0.275, 0.227),
        ("mukhoti_c100_resnet110_brier", 0.127, 0.121, 0.313, 0.255),
    ],
)
def test_gupta_ramdas_table_2(shared_data, name, ece, ece_t, mce, mce_t):
    data = shared_data(name)
    # Mukhoti's T: the minimiser of the validation ECE over 0.1, 0.2, ..., 10.0
    grid = np.arange(1, 101) / 10
    val = [
        expected_calibration_error(
            data["val_labels"], data["val_logits"] / t, input_type="logits"
        )
        for t in grid
    ]
    assert grid[int(np.argmin(val))] == 1.2
    z, y = data["test_logits"], data["test_labels"]
    options = {"input_type": "logits", "reduction": "top_label_conditional"}
    got = [
        round(f(y, logits, **options), 3)
        for logits in (z, z / np.float32(1.2))
        for f in (expected_calibration_error, maximum_calibration_error)
    ]
    assert got == [ece, mce, ece_t, mce_t]
    # the registry entries are the same numbers
    assert (
        round(METRICS["ece_top_label_conditional"](y, z, input_type="logits"), 3) == ece
    )
    assert (
        round(METRICS["mce_top_label_conditional"](y, z, input_type="logits"), 3) == mce
    )


def test_top_label_conditional_sees_what_top_label_misses():
    # Class 0 predicted at 0.7 and always right, class 1 predicted at 0.7 and
    # right 2 times in 5: the top-label bin (0.6, 0.7] holds 10 rows right 7
    # times at confidence 0.7, a gap of 0; conditioned on the class the gaps
    # are 0.3 and 0.3.
    P = np.array([[0.7, 0.3]] * 5 + [[0.3, 0.7]] * 5)
    y = np.array([0] * 5 + [1, 1, 0, 0, 0])
    assert expected_calibration_error(y, P, n_bins=10) == pytest.approx(0.0, abs=1e-12)
    tl = expected_calibration_error(y, P, n_bins=10, reduction="top_label_conditional")
    assert tl == pytest.approx(0.5 * 0.3 + 0.5 * 0.3)
    mce = maximum_calibration_error(y, P, n_bins=10, reduction="top_label_conditional")
    assert mce == pytest.approx(0.3)


def test_top_label_conditional_mce_is_below_the_largest_cell():
    # Bin (0.8, 0.9]: 4 rows predicted 0 at 0.85, all right (gap 0.15); one row
    # predicted 1 at 0.85, wrong (gap 0.85).  TL-MCE = (4 * 0.15 + 0.85) / 5.
    P = np.array([[0.85, 0.15]] * 4 + [[0.15, 0.85]])
    y = np.array([0, 0, 0, 0, 0])
    options = {"n_bins": 10, "reduction": "top_label_conditional"}
    assert maximum_calibration_error(y, P, **options) == pytest.approx(
        (4 * 0.15 + 0.85) / 5
    )
    assert expected_calibration_error(y, P, norm="max_cell", **options) == (
        pytest.approx(0.85)
    )
    # without conditioning, max_cell is max
    assert expected_calibration_error(y, P, n_bins=10, norm="max_cell") == (
        maximum_calibration_error(y, P, n_bins=10)
    )


@pytest.mark.parametrize("n_bins", [1, 5, 15])
@pytest.mark.parametrize("weighted", [False, True])
def test_top_label_conditional_matches_naive_reference(rng, n_bins, weighted):
    P = rng.dirichlet(np.ones(4) * 0.7, size=500)
    y = rng.integers(0, 4, size=500)
    w = rng.uniform(0, 3, size=500) if weighted else None
    ece, mce, cell = naive_top_label_conditional(P, y, n_bins, w)
    options = {
        "n_bins": n_bins,
        "reduction": "top_label_conditional",
        "sample_weight": w,
    }
    assert expected_calibration_error(y, P, **options) == pytest.approx(ece, rel=1e-12)
    assert maximum_calibration_error(y, P, **options) == pytest.approx(mce, rel=1e-12)
    assert expected_calibration_error(y, P, norm="max_cell", **options) == (
        pytest.approx(cell, rel=1e-12)
    )


def test_top_label_conditional_one_class_is_top_label(rng):
    # every row predicted class 0: the conditioning changes nothing
    P = rng.dirichlet([1.0, 1.0, 1.0], size=300)
    P[:, 0] += 2.0
    P /= P.sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, size=300)
    for norm in ("l1", "l2", "max"):
        assert expected_calibration_error(
            y, P, norm=norm, reduction="top_label_conditional"
        ) == pytest.approx(expected_calibration_error(y, P, norm=norm), rel=1e-12)


def test_top_label_conditional_bins_merge_over_chunks(rng):
    from calibrate.binning import merge_bin_stats
    from calibrate.metrics import TopLabelConditionalBins

    data = make_miscalibrated(2000, 6, temperature=2.0, random_state=rng)
    options = {
        "n_bins": 15,
        "reduction": "top_label_conditional",
        "input_type": "logits",
    }
    chunks = [
        calibration_bins(data.labels[i : i + 300], data.logits[i : i + 300], **options)
        for i in range(0, 2000, 300)
    ]
    merged = merge_bin_stats(chunks)
    assert isinstance(merged, TopLabelConditionalBins)
    for norm in ("l1", "max"):
        assert binned_calibration_error(merged, norm=norm) == pytest.approx(
            expected_calibration_error(data.labels, data.logits, norm=norm, **options),
            rel=1e-12,
        )


def test_binary_top_label_conditional_equals_two_columns(binary):
    p, y, w = binary
    p[:10] = 0.5  # ties predict the negative class in both layouts
    options = {"n_bins": 10, "reduction": "top_label_conditional", "sample_weight": w}
    one = expected_calibration_error(y, p, **options)
    two = expected_calibration_error(y, np.column_stack((1 - p, p)), **options)
    assert one == pytest.approx(two, abs=1e-12)
    ece, _, _ = naive_top_label_conditional(np.column_stack((1 - p, p)), y, 10, w)
    assert one == pytest.approx(ece, rel=1e-12)


def test_multilabel_default_reduction_is_classwise(rng):
    P = rng.uniform(0.05, 0.95, size=(200, 3))
    Y = (rng.uniform(size=(200, 3)) < P).astype(int)
    per_label = [naive_ece(P[:, k], Y[:, k].astype(float)) for k in range(3)]
    assert expected_calibration_error(Y, P) == pytest.approx(np.mean(per_label))
    assert expected_calibration_error(Y, P) == expected_calibration_error(
        Y, P, reduction="classwise"
    )
