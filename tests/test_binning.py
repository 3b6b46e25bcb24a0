"""Tests for calibrate.binning: the bin convention, quantile bins, invariances."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import binomtest
from sklearn.calibration import calibration_curve

from calibrate.binning import (
    BinStats,
    bin_index,
    bin_stats,
    bin_stats_by_column,
    check_binning,
    merge_bin_stats,
    uniform_edges,
)


def naive_bins(scores, targets, weights, edges):
    """Reference: one bin at a time, straight from the definition."""
    out = []
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        inside = (scores > lo) & (scores <= hi)
        if k == 0:
            inside |= scores == lo
        w = weights[inside]
        mean_s = np.sum(w * scores[inside]) / w.sum() if w.sum() > 0 else np.nan
        mean_t = np.sum(w * targets[inside]) / w.sum() if w.sum() > 0 else np.nan
        out.append((int(inside.sum()), w.sum(), mean_s, mean_t))
    return out


def assert_stats_equal(stats, reference):
    counts, weights, mean_s, mean_t = (
        np.array(v) for v in zip(*reference, strict=True)
    )
    np.testing.assert_array_equal(stats.counts, counts)
    np.testing.assert_allclose(stats.weights, weights, rtol=1e-12)
    np.testing.assert_allclose(stats.mean_score, mean_s, rtol=1e-12)
    np.testing.assert_allclose(stats.mean_target, mean_t, rtol=1e-12)


# -- the bin convention, worked by hand ---------------------------------------


@pytest.mark.parametrize("n_bins", [1, 2, 3, 7, 10, 15, 20, 33, 100])
def test_uniform_edges_are_correctly_rounded_fractions(n_bins):
    # Fraction -> float is the correctly rounded k / n: independent of numpy.
    expected = [float(Fraction(k, n_bins)) for k in range(n_bins + 1)]
    assert uniform_edges(n_bins).tolist() == expected


def test_exact_edges_with_ten_bins():
    # 0.3 lies in (0.2, 0.3]; 0.0 in the first bin; 1.0 in the last; the
    # next float above 0.3 in (0.3, 0.4].
    above = np.nextafter(0.3, 1.0)
    stats = bin_stats([0.0, 0.3, above, 1.0, 0.1], [1, 0, 1, 1, 0], n_bins=10)
    assert stats.counts.tolist() == [2, 0, 1, 1, 0, 0, 0, 0, 0, 1]
    assert stats.mean_score[2] == 0.3
    assert stats.mean_score[3] == above
    assert stats.mean_score[0] == 0.05
    assert stats.mean_target[[0, 2, 3, 9]].tolist() == [0.5, 0.0, 1.0, 1.0]
    assert np.isnan(stats.mean_target[1])


def test_every_uniform_edge_closes_its_own_bin():
    for n_bins in (10, 15, 20):
        edges = uniform_edges(n_bins)
        stats = bin_stats(edges, np.ones_like(edges), n_bins=n_bins)
        # 0 and 1/n both fall in the first bin, every other edge in the bin it closes
        assert stats.counts.tolist() == [2] + [1] * (n_bins - 1)


def test_hand_worked_statistics_with_weights():
    scores = np.array([0.05, 0.15, 0.45, 0.55, 0.95])
    targets = np.array([0, 1, 1, 0, 1])
    w = np.array([1.0, 3.0, 2.0, 2.0, 0.5])
    stats = bin_stats(scores, targets, n_bins=2, sample_weight=w)
    assert stats.counts.tolist() == [3, 2]
    assert stats.weights.tolist() == [6.0, 2.5]
    assert stats.mean_score[0] == pytest.approx((0.05 + 3 * 0.15 + 2 * 0.45) / 6)
    assert stats.mean_target[0] == pytest.approx(5 / 6)
    assert stats.mean_target[1] == pytest.approx(0.5 / 2.5)
    assert stats.fraction.tolist() == pytest.approx([6 / 8.5, 2.5 / 8.5])
    assert stats.total_weight == 8.5


def test_matches_sklearn_calibration_curve(rng):
    scores = rng.uniform(size=5_000)
    targets = (rng.uniform(size=5_000) < scores**2).astype(float)
    stats = bin_stats(scores, targets, n_bins=10)
    prob_true, prob_pred = calibration_curve(targets, scores, n_bins=10)
    np.testing.assert_allclose(stats.mean_target[stats.nonempty], prob_true)
    np.testing.assert_allclose(stats.mean_score[stats.nonempty], prob_pred)


def test_matches_naive_reference(rng):
    scores = np.round(rng.uniform(size=2_000), 2)  # many scores exactly on edges
    targets = rng.integers(0, 2, size=2_000)
    w = rng.uniform(0, 3, size=2_000)
    for n_bins in (1, 5, 10, 20):
        stats = bin_stats(scores, targets, n_bins=n_bins, sample_weight=w)
        assert_stats_equal(stats, naive_bins(scores, targets, w, uniform_edges(n_bins)))


def test_empty_uniform_bins_are_kept_with_nan_means():
    stats = bin_stats([0.91, 0.95], [1, 0], n_bins=5)
    assert stats.n_bins == 5 and stats.n_nonempty == 1
    assert np.isnan(stats.mean_score[:4]).all() and np.isnan(stats.gap[:4]).all()
    assert stats.nonempty.tolist() == [False] * 4 + [True]


def test_zero_weight_bin_is_empty():
    stats = bin_stats([0.1, 0.9], [1, 0], n_bins=2, sample_weight=[0.0, 1.0])
    assert stats.counts.tolist() == [1, 1]
    assert stats.nonempty.tolist() == [False, True]
    assert np.isnan(stats.mean_score[0])


# -- quantile bins -------------------------------------------------------------


def test_quantile_edges_match_numpy_inverted_cdf(rng):
    scores = rng.beta(5, 1, size=1_001)
    stats = bin_stats(scores, np.zeros_like(scores), n_bins=10, strategy="quantile")
    inner = np.quantile(scores, np.arange(1, 10) / 10, method="inverted_cdf")
    np.testing.assert_array_equal(stats.edges, np.concatenate(([0.0], inner, [1.0])))
    # equal mass: about a tenth of the samples per bin
    assert stats.counts.min() >= 100 and stats.counts.max() <= 101


def test_weighted_quantile_edges_match_numpy(rng):
    scores = rng.uniform(size=500)
    w = rng.uniform(0.1, 5, size=500)
    stats = bin_stats(
        scores, np.zeros_like(scores), n_bins=7, strategy="quantile", sample_weight=w
    )
    inner = np.quantile(scores, np.arange(1, 7) / 7, method="inverted_cdf", weights=w)
    np.testing.assert_array_equal(stats.edges[1:-1], inner)


def test_quantile_with_many_ties():
    # 60 % of the mass sits at 0.9: the edges at 0.4, 0.6 and 0.8 collapse
    # onto 0.9 and the bins between equal edges disappear.
    scores = np.array([0.1, 0.2, 0.3, 0.4] + [0.9] * 6)
    stats = bin_stats(scores, np.ones(10), n_bins=5, strategy="quantile")
    assert stats.edges.tolist() == [0.0, 0.2, 0.4, 0.9, 1.0]
    assert stats.counts.tolist() == [2, 2, 6, 0]
    assert stats.n_bins == 4 and stats.n_bins_requested == 5
    assert_stats_equal(stats, naive_bins(scores, np.ones(10), np.ones(10), stats.edges))


def test_quantile_all_scores_tied():
    stats = bin_stats([0.7] * 5, [1, 0, 1, 1, 0], n_bins=10, strategy="quantile")
    assert stats.edges.tolist() == [0.0, 0.7, 1.0]
    assert stats.counts.tolist() == [5, 0]
    assert stats.mean_target[0] == 0.6


def test_quantile_point_mass_at_zero_keeps_its_closed_first_bin():
    # Half the scores are exactly 0: the first edge is 0 and the first bin
    # [0, 0] holds them on their own.
    scores = np.array([0.0] * 5 + [0.2, 0.4, 0.6, 0.8, 1.0])
    stats = bin_stats(scores, np.zeros(10), n_bins=4, strategy="quantile")
    assert stats.edges[:2].tolist() == [0.0, 0.0]
    assert stats.counts[0] == 5
    assert stats.counts.sum() == 10
    assert_stats_equal(
        stats, naive_bins(scores, np.zeros(10), np.ones(10), stats.edges)
    )


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_integer_weights_equal_repeated_rows(rng, strategy):
    scores = np.round(rng.uniform(size=300), 2)
    targets = rng.integers(0, 2, size=300)
    w = rng.integers(0, 4, size=300)
    weighted = bin_stats(scores, targets, n_bins=8, strategy=strategy, sample_weight=w)
    repeated = bin_stats(
        np.repeat(scores, w), np.repeat(targets, w), n_bins=8, strategy=strategy
    )
    np.testing.assert_array_equal(weighted.edges, repeated.edges)
    np.testing.assert_allclose(weighted.weights, repeated.counts)
    np.testing.assert_allclose(weighted.mean_score, repeated.mean_score, rtol=1e-12)
    np.testing.assert_allclose(weighted.mean_target, repeated.mean_target, rtol=1e-12)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_sample_order_does_not_matter(rng, strategy):
    scores = np.round(rng.uniform(size=400), 3)
    targets = rng.integers(0, 2, size=400)
    perm = rng.permutation(400)
    a = bin_stats(scores, targets, strategy=strategy)
    b = bin_stats(scores[perm], targets[perm], strategy=strategy)
    np.testing.assert_array_equal(a.edges, b.edges)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.mean_score, b.mean_score, rtol=1e-12)


# -- per column ----------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_by_column_equals_one_column_at_a_time(rng, strategy):
    P = rng.dirichlet(np.ones(4), size=700)
    Y = np.eye(4)[rng.integers(0, 4, size=700)]
    w = rng.uniform(0, 2, size=700)
    per_column = bin_stats_by_column(P, Y, n_bins=6, strategy=strategy, sample_weight=w)
    assert len(per_column) == 4
    for k, stats in enumerate(per_column):
        single = bin_stats(
            P[:, k], Y[:, k], n_bins=6, strategy=strategy, sample_weight=w
        )
        np.testing.assert_array_equal(stats.edges, single.edges)
        np.testing.assert_array_equal(stats.counts, single.counts)
        np.testing.assert_allclose(stats.weights, single.weights, rtol=1e-12)
        np.testing.assert_allclose(stats.mean_score, single.mean_score, rtol=1e-12)
        np.testing.assert_allclose(stats.mean_target, single.mean_target, rtol=1e-12)
        # Independently: Kish's (sum w)^2 / sum w^2, bin by bin.
        index = np.searchsorted(single.edges[1:-1], P[:, k], side="left")
        kish = np.array(
            [w[index == b].sum() ** 2 / np.sum(w[index == b] ** 2) for b in range(6)]
        )
        np.testing.assert_allclose(stats.effective_counts, kish, rtol=1e-12)
        np.testing.assert_allclose(single.effective_counts, kish, rtol=1e-12)


# -- properties ----------------------------------------------------------------


unit = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    scores=arrays(np.float64, st.integers(1, 60), elements=unit),
    n_bins=st.integers(1, 25),
    strategy=st.sampled_from(["uniform", "quantile"]),
)
def test_bins_partition_the_samples(scores, n_bins, strategy):
    targets = (scores > 0.5).astype(float)
    stats = bin_stats(scores, targets, n_bins=n_bins, strategy=strategy)
    assert stats.counts.sum() == scores.size
    assert stats.fraction.sum() == pytest.approx(1.0)
    assert stats.edges[0] == 0.0 and stats.edges[-1] == 1.0
    assert np.all(np.diff(stats.edges) >= 0)
    assert_stats_equal(
        stats, naive_bins(scores, targets, np.ones_like(scores), stats.edges)
    )
    if strategy == "uniform":
        assert stats.n_bins == n_bins
    else:
        assert stats.n_bins <= n_bins
        # only the closed first bin may have equal edges
        assert np.all(np.diff(stats.edges)[1:] > 0)


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True, "10", None])
def test_bad_n_bins(n_bins):
    with pytest.raises(
        ValueError, match=f"n_bins must be an integer >= 1; got {n_bins!r}"
    ):
        bin_stats([0.5], [1], n_bins=n_bins)


def test_bad_strategy():
    with pytest.raises(ValueError, match="strategy must be one of .* got 'equal'"):
        bin_stats([0.5], [1], strategy="equal")
    assert check_binning(np.int64(4), "quantile") == 4


@pytest.mark.parametrize(
    ("scores", "targets", "message"),
    [
        (
            [0.2, 1.5],
            [0, 1],
            r"scores must lie in \[0, 1\]; 1 values do not, first at index \(1\): 1.5",
        ),
        ([0.2, np.nan], [0, 1], r"scores must lie in \[0, 1\].*nan"),
        ([-0.1, 0.2], [0, 1], r"first at index \(0\): -0.1"),
        ([0.2, 0.3], [0, 2], r"targets must lie in \[0, 1\].*: 2"),
        ([0.2, 0.3], [0, 1, 1], r"targets must have shape \(2,\); got \(3,\)"),
        ([], [], "scores is empty"),
        ([[0.2, 0.3]], [[0, 1]], r"scores must be one-dimensional; got shape \(1, 2\)"),
    ],
)
def test_bad_scores_and_targets(scores, targets, message):
    with pytest.raises(ValueError, match=message):
        bin_stats(scores, targets)


def test_bad_weights_and_types():
    with pytest.raises(ValueError, match="sample_weight"):
        bin_stats([0.2, 0.3], [0, 1], sample_weight=[1.0, -1.0])
    with pytest.raises(TypeError, match="string"):
        bin_stats(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="two-dimensional"):
        bin_stats_by_column([0.2, 0.3], [0, 1])


def test_bin_stats_is_frozen():
    stats = bin_stats([0.2, 0.8], [0, 1], n_bins=2)
    assert isinstance(stats, BinStats)
    with pytest.raises(ValueError, match="read-only"):
        stats.counts[0] = 5
    with pytest.raises(AttributeError):
        stats.strategy = "quantile"
    assert "n_bins=2" in repr(stats)


# ----------------------------------------------------- per-bin intervals


@pytest.mark.parametrize(
    ("method", "scipy_method"), [("wilson", "wilson"), ("clopper-pearson", "exact")]
)
@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_mean_target_interval_matches_scipy_binomtest(method, scipy_method, level):
    # Bins of 1, 7, 40 and 500 samples with 0, 3, 40 and 137 hits.
    sizes, hits = [1, 7, 40, 500], [0, 3, 40, 137]
    scores = np.repeat([0.05, 0.35, 0.65, 0.95], sizes)
    targets = np.concatenate(
        [np.arange(n) < k for n, k in zip(sizes, hits, strict=True)]
    )
    stats = bin_stats(scores, targets, n_bins=4)
    low, high = stats.mean_target_interval(method=method, confidence_level=level)
    for b, (n, k) in enumerate(zip(sizes, hits, strict=True)):
        ref = binomtest(k, n).proportion_ci(confidence_level=level, method=scipy_method)
        assert low[b] == pytest.approx(ref.low, abs=1e-12)
        assert high[b] == pytest.approx(ref.high, abs=1e-12)
        assert low[b] <= k / n <= high[b]


def test_mean_target_interval_hand_worked_wilson():
    # Wilson, 8 of 10, z = 1.959964: centre (0.8 + z^2/20) / (1 + z^2/10)
    # = 0.716740, half-width z / (1 + z^2/10) * sqrt(0.016 + z^2/400) = 0.226578.
    stats = bin_stats([0.85] * 10, [1] * 8 + [0] * 2, n_bins=1)
    low, high = stats.mean_target_interval()
    assert low[0] == pytest.approx(0.716740 - 0.226578, abs=2e-6)
    assert high[0] == pytest.approx(0.716740 + 0.226578, abs=2e-6)


def test_mean_target_interval_empty_bins_are_nan_and_weights_are_kish():
    stats = bin_stats([0.1, 0.1, 0.9], [1, 0, 1], n_bins=3, sample_weight=[2, 1, 1])
    # Kish: (2 + 1)^2 / (4 + 1) = 1.8 effective samples in the first bin.
    np.testing.assert_allclose(stats.effective_counts, [1.8, 0.0, 1.0])
    low, high = stats.mean_target_interval()
    assert np.isnan(low[1]) and np.isnan(high[1])
    # Wilson by hand with n = 1.8, p = 2/3, z^2 = 3.841459.
    n, p, z2 = 1.8, 2 / 3, 1.959963984540054**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = np.sqrt(z2) / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    assert low[0] == pytest.approx(centre - half, abs=1e-12)
    assert high[0] == pytest.approx(centre + half, abs=1e-12)


@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
@pytest.mark.parametrize("scale", [1e-200, 1e-3, 1e3])
def test_mean_target_interval_ignores_the_scale_of_the_weights(rng, method, scale):
    scores, targets = rng.uniform(size=300), rng.integers(0, 2, size=300)
    w = rng.uniform(0.5, 2.0, size=300)
    reference = bin_stats(scores, targets, n_bins=5, sample_weight=w)
    scaled = bin_stats(scores, targets, n_bins=5, sample_weight=w * scale)
    for a, b in zip(
        reference.mean_target_interval(method=method),
        scaled.mean_target_interval(method=method),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    # Equal weights are no weights at all.
    plain = bin_stats(scores, targets, n_bins=5)
    tiny = bin_stats(scores, targets, n_bins=5, sample_weight=np.full(300, 1e-200))
    np.testing.assert_allclose(
        plain.mean_target_interval(method=method),
        tiny.mean_target_interval(method=method),
        rtol=1e-9,
    )


@pytest.mark.parametrize("p_hits", [0, 1])
def test_mean_target_interval_ends_stay_in_the_unit_interval(p_hits):
    stats = bin_stats(np.full(50, 0.5), np.full(50, p_hits), n_bins=1)
    for method in ("wilson", "clopper-pearson"):
        low, high = stats.mean_target_interval(method=method)
        assert 0.0 <= low[0] <= p_hits <= high[0] <= 1.0
        assert (low[0] == 0.0) if p_hits == 0 else (high[0] == 1.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "wald"}, "method must be one of"),
        ({"confidence_level": 0}, r"confidence_level must be a number in \(0, 1\)"),
        ({"confidence_level": "95%"}, "got '95%'"),
    ],
)
def test_mean_target_interval_bad_options(options, message):
    stats = bin_stats([0.2, 0.7], [0, 1], n_bins=2)
    with pytest.raises(ValueError, match=message):
        stats.mean_target_interval(**options)


@pytest.mark.parametrize("weighted", [False, True, 1e-170, 1e170])
def test_merge_bin_stats_equals_binning_the_whole(weighted, rng):
    scores = rng.uniform(size=1000)
    targets = (rng.uniform(size=1000) < scores).astype(float)
    weights = rng.exponential(size=1000) if weighted else None
    if weights is not None and weighted is not True:
        weights = weights * weighted  # squares under- or overflow unless rescaled
    cuts = [0, 1, 250, 251, 700, 1000]  # includes a one-sample part
    parts = [
        bin_stats(
            scores[a:b],
            targets[a:b],
            n_bins=10,
            sample_weight=None if weights is None else weights[a:b],
        )
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    merged = merge_bin_stats(parts)
    whole = bin_stats(scores, targets, n_bins=10, sample_weight=weights)
    # Reference: the definition, one bin at a time.
    reference = naive_bins(
        scores, targets, np.ones(1000) if weights is None else weights, whole.edges
    )
    assert np.array_equal(merged.counts, whole.counts)
    assert np.array_equal(merged.edges, whole.edges)
    np.testing.assert_allclose(merged.weights, whole.weights, rtol=1e-12)
    np.testing.assert_allclose(merged.mean_score, whole.mean_score, rtol=1e-12)
    np.testing.assert_allclose(merged.mean_target, whole.mean_target, rtol=1e-12)
    np.testing.assert_allclose(
        merged.effective_counts, whole.effective_counts, rtol=1e-12
    )
    assert_stats_equal(merged, reference)
    if weights is None:
        assert np.array_equal(merged.effective_counts, whole.counts)
    else:
        kish = [
            (weights[m] / weights.max()).sum() ** 2
            / ((weights[m] / weights.max()) ** 2).sum()
            if m.any()
            else 0.0
            for m in (
                (scores > lo) & (scores <= hi) if k else (scores <= hi)
                for k, (lo, hi) in enumerate(
                    zip(whole.edges[:-1], whole.edges[1:], strict=True)
                )
            )
        ]
        np.testing.assert_allclose(merged.effective_counts, kish, rtol=1e-12)


def test_merge_bin_stats_keeps_empty_bins_empty(rng):
    low = bin_stats([0.05, 0.1], [0, 1], n_bins=5)
    high = bin_stats([0.95], [1], n_bins=5)
    merged = merge_bin_stats([low, high])
    assert merged.counts.tolist() == [2, 0, 0, 0, 1]
    assert np.isnan(merged.mean_score[1:4]).all()
    assert merged.mean_target[0] == 0.5 and merged.mean_target[4] == 1.0


def test_merge_bin_stats_refuses_what_cannot_be_merged():
    with pytest.raises(ValueError, match="at least one"):
        merge_bin_stats([])
    quantile = bin_stats([0.1, 0.5, 0.9], [0, 1, 1], n_bins=2, strategy="quantile")
    with pytest.raises(ValueError, match="only equal-width bins"):
        merge_bin_stats([quantile, quantile])
    with pytest.raises(ValueError, match="same edges"):
        merge_bin_stats(
            [bin_stats([0.5], [1], n_bins=2), bin_stats([0.5], [1], n_bins=3)]
        )


def test_merge_bin_stats_parts_of_different_constant_weights():
    # Each part has equal weights, but not the same: the merged bins do not.
    a = bin_stats([0.1, 0.9], [0, 1], n_bins=2, sample_weight=[1, 1])
    c = bin_stats([0.12, 0.95], [1, 0], n_bins=2, sample_weight=[3, 3])
    merged = merge_bin_stats([a, c])
    # Kish by hand: (1 + 3)**2 / (1 + 9) = 1.6 in each bin.
    np.testing.assert_allclose(merged.effective_counts, [1.6, 1.6], rtol=1e-12)


def test_bin_index_is_the_bin_of_bin_stats(rng):
    scores = np.concatenate(
        [
            rng.uniform(size=500),
            uniform_edges(10),
            [0.0, 1.0, 0.3, np.nextafter(0.3, 1)],
        ]
    )
    index = bin_index(scores, uniform_edges(10))
    assert index.dtype == np.int64 and index.shape == scores.shape
    # The counts of bin_stats, and the definition bin by bin.
    stats = bin_stats(scores, np.ones_like(scores), n_bins=10)
    np.testing.assert_array_equal(np.bincount(index, minlength=10), stats.counts)
    edges = uniform_edges(10)
    for k in range(10):
        inside = (scores > edges[k]) & (scores <= edges[k + 1])
        if k == 0:
            inside |= scores == 0.0
        np.testing.assert_array_equal(index == k, inside)
    # 0.3 is in (0.2, 0.3], the next float above it in (0.3, 0.4].
    assert bin_index([0.3, np.nextafter(0.3, 1)], edges).tolist() == [2, 3]
    # Any shape, and edges of unequal widths.
    grid = rng.uniform(size=(7, 3))
    custom = np.array([0.0, 0.5, 0.9, 1.0])
    np.testing.assert_array_equal(
        bin_index(grid, custom), (grid > 0.5).astype(int) + (grid > 0.9)
    )


@pytest.mark.parametrize(
    ("scores", "edges", "message"),
    [
        ([0.5], [0.0, 0.6, 0.4, 1.0], "non-decreasing"),
        ([0.5], [0.1, 1.0], "from 0 to 1"),
        ([0.5], [0.0], "at least two values"),
        ([1.5], [0.0, 1.0], "must lie in \\[0, 1\\]"),
        ([np.nan], [0.0, 1.0], "must lie in \\[0, 1\\]"),
    ],
)
def test_bin_index_refuses_bad_edges_and_scores(scores, edges, message):
    with pytest.raises(ValueError, match=message):
        bin_index(scores, edges)
