"""Tests for calibrate.datasets: synthetic data with a known calibration map.

The references are independent numpy formulas (softmax and sigmoid written out
here) and the defining property of calibrated probabilities: among samples
given probability p, the event happens with frequency p.
"""

import doctest
import math

import numpy as np
import pytest

import calibrate.datasets._synthetic
from calibrate.datasets import (
    make_miscalibrated,
    make_miscalibrated_binary,
    make_miscalibrated_multilabel,
)

# Statistical checks allow this many standard errors: with a fixed seed they
# are deterministic, and a real bias of a few per cent is hundreds of standard
# errors at n = 100,000.
N_SE = 4.0
N_LARGE = 100_000


@pytest.fixture
def seed():
    return 20240607


def reference_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reference_sigmoid(z):
    # 1 / (1 + exp(-z)) without overflow for very negative z.
    return np.exp(-np.logaddexp(0.0, -z))


def assert_frequency_matches(events, probabilities, what):
    """Sum of Bernoulli(p_i) outcomes equals sum of p_i within N_SE errors."""
    events = np.asarray(events, dtype=np.float64)
    se = math.sqrt(np.sum(probabilities * (1.0 - probabilities)))
    gap = abs(events.sum() - probabilities.sum())
    assert gap <= N_SE * se + 1e-9, (
        f"{what}: {events.sum()} events, expected {probabilities.sum():.1f} +- {se:.1f}"
    )


def max_binned_gap(events, probabilities, *, n_bins=10, min_count=500):
    """Largest |observed - expected| in standard errors over equal-width bins."""
    bins = np.minimum((probabilities * n_bins).astype(np.int64), n_bins - 1)
    worst = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if np.count_nonzero(in_bin) < min_count:
            continue
        p = probabilities[in_bin]
        se = math.sqrt(np.sum(p * (1.0 - p)))
        worst = max(worst, abs(events[in_bin].sum() - p.sum()) / se)
    return worst


GENERATORS = {
    "multiclass": lambda n, **kw: make_miscalibrated(n, 5, **kw),
    "binary": lambda n, **kw: make_miscalibrated_binary(n, **kw),
    "multilabel": lambda n, **kw: make_miscalibrated_multilabel(n, 4, **kw),
}
SHAPES = {
    "multiclass": ((7, 5), (7,)),
    "binary": ((7,), (7,)),
    "multilabel": ((7, 4), (7, 4)),
}


@pytest.mark.parametrize("task", sorted(GENERATORS))
def test_fields_shapes_and_dtypes(task, seed):
    data = GENERATORS[task](7, temperature=1.25, random_state=seed)
    assert set(data) == {"logits", "labels", "probabilities", "temperature", "DESCR"}
    logits_shape, labels_shape = SHAPES[task]
    assert data.logits.shape == logits_shape
    assert data.probabilities.shape == logits_shape
    assert data.labels.shape == labels_shape
    assert data.logits.dtype == np.float64
    assert data.probabilities.dtype == np.float64
    assert data.labels.dtype == np.int64
    assert type(data.temperature) is float and data.temperature == 1.25
    assert isinstance(data.DESCR, str) and "1.25" in data.DESCR
    assert np.isfinite(data.logits).all()


def test_multiclass_labels_in_range(seed):
    data = make_miscalibrated(2_000, 7, random_state=seed)
    assert set(np.unique(data.labels)) == set(range(7))
    np.testing.assert_allclose(data.probabilities.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_indicator_labels_are_zero_or_one(task, seed):
    data = GENERATORS[task](2_000, random_state=seed)
    assert set(np.unique(data.labels)) == {0, 1}


@pytest.mark.parametrize("task", sorted(GENERATORS))
def test_single_sample(task, seed):
    data = GENERATORS[task](1, random_state=seed)
    assert data.logits.shape[0] == 1 and data.labels.shape[0] == 1


@pytest.mark.parametrize("task", sorted(GENERATORS))
def test_same_seed_same_data(task, seed):
    a = GENERATORS[task](500, temperature=2.0, random_state=seed)
    b = GENERATORS[task](500, temperature=2.0, random_state=seed)
    c = GENERATORS[task](500, temperature=2.0, random_state=seed + 1)
    for field in ("logits", "labels", "probabilities"):
        np.testing.assert_array_equal(a[field], b[field])
    assert not np.array_equal(a.logits, c.logits)


@pytest.mark.parametrize("task", sorted(GENERATORS))
def test_generator_as_random_state(task, seed):
    from_seed = GENERATORS[task](300, random_state=seed)
    from_generator = GENERATORS[task](300, random_state=np.random.default_rng(seed))
    np.testing.assert_array_equal(from_seed.logits, from_generator.logits)
    np.testing.assert_array_equal(from_seed.labels, from_generator.labels)


@pytest.mark.parametrize("task", sorted(GENERATORS))
def test_temperature_only_scales_the_logits(task, seed):
    # Same seed: the same true logits u and the same label draws, whatever T is.
    calibrated = GENERATORS[task](1_000, temperature=1.0, random_state=seed)
    hot = GENERATORS[task](1_000, temperature=3.0, random_state=seed)
    np.testing.assert_allclose(hot.logits, 3.0 * calibrated.logits, rtol=1e-15)
    np.testing.assert_allclose(hot.probabilities, calibrated.probabilities, rtol=1e-12)
    np.testing.assert_array_equal(hot.labels, calibrated.labels)


@pytest.mark.parametrize("temperature", [0.4, 1.0, 2.5])
def test_probabilities_are_softmax_of_logits_over_temperature(temperature, seed):
    data = make_miscalibrated(3_000, 6, temperature=temperature, random_state=seed)
    expected = reference_softmax(data.logits / temperature)
    np.testing.assert_allclose(data.probabilities, expected, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("temperature", [0.4, 1.0, 2.5])
def test_probabilities_are_sigmoid_of_logits_over_temperature(temperature, seed):
    binary = make_miscalibrated_binary(
        3_000, temperature=temperature, random_state=seed
    )
    np.testing.assert_allclose(
        binary.probabilities, reference_sigmoid(binary.logits / temperature), rtol=1e-12
    )
    multilabel = make_miscalibrated_multilabel(
        3_000, 5, temperature=temperature, random_state=seed
    )
    np.testing.assert_allclose(
        multilabel.probabilities,
        reference_sigmoid(multilabel.logits / temperature),
        rtol=1e-12,
    )


def test_multiclass_label_frequencies_match_true_probabilities(seed):
    data = make_miscalibrated(N_LARGE, 5, temperature=2.0, random_state=seed)
    for k in range(5):
        assert_frequency_matches(
            data.labels == k, data.probabilities[:, k], f"class {k}"
        )


def test_multiclass_true_probabilities_are_calibrated(seed):
    data = make_miscalibrated(N_LARGE, 5, temperature=2.0, random_state=seed)
    confidence = data.probabilities.max(axis=1)
    correct = (data.probabilities.argmax(axis=1) == data.labels).astype(np.float64)
    assert max_binned_gap(correct, confidence) <= N_SE
    for k in range(5):
        events = (data.labels == k).astype(np.float64)
        assert max_binned_gap(events, data.probabilities[:, k]) <= N_SE
    # The check has power: the raw softmax of the over-confident logits fails it.
    raw = reference_softmax(data.logits)
    assert max_binned_gap(correct, raw.max(axis=1)) > 10.0


def test_binary_labels_are_calibrated(seed):
    data = make_miscalibrated_binary(N_LARGE, temperature=0.5, random_state=seed)
    assert_frequency_matches(data.labels, data.probabilities, "class 1")
    assert max_binned_gap(data.labels, data.probabilities) <= N_SE
    raw = reference_sigmoid(data.logits)
    assert max_binned_gap(data.labels, raw) > 10.0


def test_multilabel_labels_are_calibrated(seed):
    data = make_miscalibrated_multilabel(N_LARGE, 4, temperature=1.5, random_state=seed)
    for k in range(4):
        assert_frequency_matches(
            data.labels[:, k], data.probabilities[:, k], f"label {k}"
        )
    assert max_binned_gap(data.labels.ravel(), data.probabilities.ravel()) <= N_SE
    # Base rates differ between labels (per-label offsets).
    rates = data.labels.mean(axis=0)
    assert np.ptp(rates) > 0.02


@pytest.mark.parametrize("n_classes", [2, 10, 100])
def test_multiclass_spread_is_realistic(n_classes, seed):
    data = make_miscalibrated(20_000, n_classes, random_state=seed)
    confidence = data.probabilities.max(axis=1)
    accuracy = np.mean(data.probabilities.argmax(axis=1) == data.labels)
    assert 1.0 / n_classes + 0.1 < accuracy < 0.95
    assert confidence.min() < 1.0 / n_classes + 0.05
    assert confidence.max() > 0.99
    # Every tenth of the confidence range above chance is populated.
    edges = np.linspace(1.0 / n_classes, 1.0, 11)
    counts = np.histogram(confidence, bins=edges)[0]
    assert (counts > 0).all(), counts


def test_binary_spread_is_realistic(seed):
    data = make_miscalibrated_binary(20_000, random_state=seed)
    p = data.probabilities
    accuracy = np.mean((p > 0.5) == (data.labels == 1))
    assert 0.6 < accuracy < 0.95
    assert 0.4 < data.labels.mean() < 0.6
    counts = np.histogram(np.maximum(p, 1 - p), bins=np.linspace(0.5, 1.0, 11))[0]
    assert (counts > 0).all(), counts


BAD_ARGUMENTS = [
    (make_miscalibrated, (0, 3), {}, ValueError, "n_samples must be >= 1; got 0"),
    (make_miscalibrated, (-5, 3), {}, ValueError, "got -5"),
    (make_miscalibrated, (10, 1), {}, ValueError, "n_classes must be >= 2; got 1"),
    (make_miscalibrated, (10.0, 3), {}, TypeError, "n_samples must be an integer"),
    (make_miscalibrated, (True, 3), {}, TypeError, "got True"),
    (make_miscalibrated, (10, "3"), {}, TypeError, "n_classes .* got '3'"),
    (make_miscalibrated, (10, 3), {"temperature": 0.0}, ValueError, "got 0.0"),
    (make_miscalibrated, (10, 3), {"temperature": -1.5}, ValueError, "got -1.5"),
    (make_miscalibrated, (10, 3), {"temperature": np.nan}, ValueError, "got nan"),
    (make_miscalibrated, (10, 3), {"temperature": np.inf}, ValueError, "got inf"),
    (make_miscalibrated, (10, 3), {"temperature": "2"}, TypeError, "got '2'"),
    (make_miscalibrated_binary, (0,), {}, ValueError, "n_samples must be >= 1"),
    (make_miscalibrated_binary, (10,), {"temperature": -1}, ValueError, "got -1"),
    (make_miscalibrated_multilabel, (10, 1), {}, ValueError, "n_labels must be >= 2"),
    (make_miscalibrated_multilabel, (0, 3), {}, ValueError, "n_samples must be >= 1"),
    (
        make_miscalibrated_multilabel,
        (10, 3),
        {"temperature": float("inf")},
        ValueError,
        "finite number > 0; got inf",
    ),
]


@pytest.mark.parametrize(("func", "args", "kwargs", "error", "match"), BAD_ARGUMENTS)
def test_bad_arguments_raise(func, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        func(*args, **kwargs)


def test_numpy_integer_arguments_are_accepted(seed):
    data = make_miscalibrated(
        np.int64(10), np.int32(3), temperature=np.float32(2.0), random_state=seed
    )
    assert data.logits.shape == (10, 3)
    assert type(data.temperature) is float


def test_docstring_examples():
    # The examples live outside calibrate/ in the repository, so pytest's
    # doctest collection does not see them; run them on the installed module.
    result = doctest.testmod(
        calibrate.datasets._synthetic,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0
