"""HistogramBinning: hand-worked bins, the Gupta-Ramdas reductions, real data."""

import warnings

import numpy as np
import pytest
from scipy.special import softmax

from calibrate import CalibrationWarning, HistogramBinning
from calibrate.calibrators._histogram import equal_mass_edges, fit_histogram


def multiclass_probs(rng, n, k, scale=2.0):
    logits = rng.normal(size=(n, k)) * scale
    labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    return softmax(logits, axis=1), labels


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("n", [7, 15, 16, 29, 503])
def test_equal_mass_edges_are_gupta_ramdas_array_split(rng, n):
    # Their get_uniform_mass_bins: the largest value of each np.array_split group.
    s = rng.uniform(size=n)
    groups = np.array_split(np.sort(s), 5)
    expected = [0.0] + [g.max() for g in groups[:-1]] + [1.0]
    np.testing.assert_array_equal(equal_mass_edges(s, np.ones(n), 5), expected)


def test_integer_weights_equal_repeated_rows(rng):
    s = rng.uniform(size=40)
    t = (rng.uniform(size=40) < s).astype(float)
    w = rng.integers(1, 4, size=40).astype(float)
    w[0] = 1.0
    a = fit_histogram(s, t, w, 6, "quantile")
    rep = np.repeat(np.arange(40), w.astype(int))
    b = fit_histogram(s[rep], t[rep], np.ones(len(rep)), 6, "quantile")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-14)


def test_binary_bins_by_hand():
    # Two equal-mass bins of (0.1, 0.2, 0.3 | 0.7, 0.8, 0.9): edge at 0.3.
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 1, 0, 1, 1, 0])
    cal = HistogramBinning(n_bins=2, input_type="probs").fit(p, y)
    np.testing.assert_array_equal(cal.edges_[0], [0.0, 0.3, 1.0])
    out = cal.predict_proba(np.array([0.0, 0.3, 0.31, 1.0]))[:, 1]
    np.testing.assert_allclose(out, [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(
        cal.bin_index(np.array([0.0, 0.3, 0.31, 1.0])), [0, 0, 1, 1]
    )
    # Weights 1, 3, 1, 1, 1, 1: total mass 8, half of it reached at 0.2, so
    # bin 0 is {0.1 (label 0, weight 1), 0.2 (label 1, weight 3)} -> 3/4.
    w = np.array([1.0, 3, 1, 1, 1, 1])
    cal = HistogramBinning(n_bins=2, input_type="probs").fit(p, y, sample_weight=w)
    np.testing.assert_array_equal(cal.edges_[0], [0.0, 0.2, 1.0])
    assert cal.predict_proba(np.array([0.15]))[0, 1] == pytest.approx(3 / 4)
    assert cal.predict_proba(np.array([0.5]))[0, 1] == pytest.approx(2 / 4)


def test_uniform_strategy_uses_exact_edges():
    p = np.array([0.05, 0.3, 0.6, 0.95])
    cal = HistogramBinning(n_bins=4, strategy="uniform", input_type="probs")
    cal.fit(p, [0, 1, 0, 1])
    np.testing.assert_array_equal(cal.edges_[0], [0, 0.25, 0.5, 0.75, 1])
    # One point per bin; 0.5 and 0.75 belong to the bin they close.
    out = cal.predict_proba(np.array([0.1, 0.5, 0.7, 0.75, 0.8]))[:, 1]
    np.testing.assert_allclose(out, [0.0, 1.0, 0.0, 0.0, 1.0])


def test_empty_bin_keeps_the_uncalibrated_value():
    p = np.array([0.05, 0.1, 0.15, 0.9])
    cal = HistogramBinning(n_bins=4, strategy="uniform", input_type="probs")
    with pytest.warns(CalibrationWarning, match="2 bins hold no calibration point"):
        cal.fit(p, [0, 0, 1, 1])
    out = cal.predict_proba(np.array([0.3, 0.6, 0.9]))[:, 1]
    np.testing.assert_allclose(out, [0.3, 0.6, 1.0])


# ------------------------------------------------------------- reductions
def reference_top_label(Pv, yv, Pt, n_bins):
    """Numpy reference of TL-HB: per predicted class, array_split bins."""
    k = Pv.shape[1]
    tv, cv = Pv.argmax(1), Pv.max(1)
    tt, ct = Pt.argmax(1), Pt.max(1)
    new = ct.copy()
    for c in range(k):
        s = cv[tv == c]
        groups = np.array_split(np.sort(s), n_bins)
        upper = np.array([g.max() for g in groups[:-1]])
        fit_bin = np.searchsorted(upper, s, side="left")
        right = yv[tv == c] == c
        values = np.array([right[fit_bin == b].mean() for b in range(n_bins)])
        rows = tt == c
        new[rows] = values[np.searchsorted(upper, ct[rows], side="left")]
    return tt, new


def test_top_label_replaces_the_confidence_and_rescales_the_rest(rng):
    Pv, yv = multiclass_probs(rng, 3_000, 3)
    Pt, _ = multiclass_probs(rng, 1_000, 3)
    cal = HistogramBinning(n_bins=5, input_type="probs").fit(Pv, yv)
    out = cal.predict_proba(Pt)
    top, new = reference_top_label(Pv, yv, Pt, 5)
    rows = np.arange(len(Pt))
    np.testing.assert_allclose(out[rows, top], new, rtol=1e-12)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
    # The other classes keep their ratios.
    rest = Pt.copy()
    rest[rows, top] = 0
    expected = rest * ((1 - new) / rest.sum(axis=1))[:, None]
    expected[rows, top] = new
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(
        cal.bin_index(Pt),
        [
            np.searchsorted(cal.edges_[c, 1:-1], x, side="left")
            for c, x in zip(top, Pt[rows, top], strict=True)
        ],
    )


def test_top_label_class_with_too_few_points_stays_uncalibrated(rng):
    Pv, yv = multiclass_probs(rng, 600, 3)
    # Make class 2 the argmax of only 4 rows.
    Pv[:, 2] = np.minimum(Pv[:, 2], 0.5 * Pv[:, :2].max(axis=1))
    Pv[:4, 2] = 0.98
    Pv /= Pv.sum(axis=1, keepdims=True)
    with pytest.warns(CalibrationWarning, match=r"1 predicted classes \(\[2\]\)"):
        cal = HistogramBinning(n_bins=10, input_type="probs").fit(Pv, yv)
    assert cal.calibrated_.tolist() == [True, True, False]
    row = np.array([[0.01, 0.01, 0.98]])
    np.testing.assert_allclose(cal.predict_proba(row), row, rtol=1e-12)


def test_classwise_is_one_binning_per_class_then_normalised(rng):
    Pv, yv = multiclass_probs(rng, 2_000, 4)
    Pt, _ = multiclass_probs(rng, 500, 4)
    cal = HistogramBinning(n_bins=6, reduction="classwise", input_type="probs")
    cal.fit(Pv, yv)
    raw = cal.predict_classwise_proba(Pt)
    for k in range(4):
        one = HistogramBinning(n_bins=6, input_type="probs").fit(Pv[:, k], yv == k)
        np.testing.assert_allclose(
            raw[:, k], one.predict_proba(Pt[:, k])[:, 1], rtol=1e-12
        )
    np.testing.assert_allclose(
        cal.predict_proba(Pt), raw / raw.sum(axis=1, keepdims=True), rtol=1e-12
    )
    assert cal.bin_index(Pt).shape == (500, 4)


def test_confidence_is_one_binning_of_the_top_probability(rng):
    Pv, yv = multiclass_probs(rng, 2_000, 4)
    Pt, _ = multiclass_probs(rng, 500, 4)
    cal = HistogramBinning(n_bins=8, reduction="confidence", input_type="probs")
    cal.fit(Pv, yv)
    one = HistogramBinning(n_bins=8, input_type="probs")
    one.fit(Pv.max(axis=1), Pv.argmax(axis=1) == yv)
    rows = np.arange(len(Pt))
    top = Pt.argmax(axis=1)
    np.testing.assert_allclose(
        cal.predict_proba(Pt)[rows, top], one.predict_proba(Pt.max(axis=1))[:, 1]
    )
    np.testing.assert_array_equal(cal.bin_index(Pt), one.bin_index(Pt.max(axis=1)))


def test_logits_and_probabilities_give_the_same_map(rng):
    Pv, yv = multiclass_probs(rng, 2_000, 4)
    Pt, _ = multiclass_probs(rng, 300, 4)
    for reduction in ("top_label", "classwise", "confidence"):
        a = HistogramBinning(reduction=reduction, input_type="probs").fit(Pv, yv)
        b = HistogramBinning(reduction=reduction).fit(np.log(Pv), yv)
        np.testing.assert_allclose(
            a.predict_proba(Pt), b.predict_proba(np.log(Pt)), rtol=1e-9
        )


def test_row_order_and_ties_are_deterministic(rng):
    p = 0.05 + 0.9 * np.round(rng.uniform(size=500), 1)
    y = (rng.uniform(size=500) < p).astype(int)
    perm = rng.permutation(500)
    with pytest.warns(CalibrationWarning):
        a = HistogramBinning(input_type="probs").fit(p, y)
    with pytest.warns(CalibrationWarning):
        b = HistogramBinning(input_type="probs").fit(p[perm], y[perm])
    np.testing.assert_array_equal(a.predict_proba(p), b.predict_proba(p))
    # Equal scores share a bin.
    index = a.bin_index(p)
    for value in np.unique(p):
        assert len(np.unique(index[p == value])) == 1


def test_too_few_rows_for_the_bins_is_one_clear_error():
    with pytest.raises(ValueError, match="too few calibration rows for the bins asked"):
        HistogramBinning(n_bins=15, input_type="probs").fit(
            np.linspace(0.1, 0.9, 10), [0, 1] * 5
        )
    with pytest.raises(ValueError, match="reduction must be one of"):
        HistogramBinning(reduction="top").fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="points_per_bin"):
        HistogramBinning(points_per_bin=0).fit(np.zeros(4), [0, 1, 0, 1])


def test_points_per_bin_sets_the_number_of_bins(rng):
    p = rng.uniform(0.01, 0.99, size=100)
    y = (rng.uniform(size=100) < p).astype(int)
    cal = HistogramBinning(points_per_bin=30, input_type="probs").fit(p, y)
    assert cal.edges_.shape == (1, 4)  # floor(100 / 30) = 3 bins


# ------------------------------------------------ published numbers (real data)
def top_label_ece_per_cell(pred, conf, correct, cell, n_classes):
    """TL-ECE with each (predicted class, HB bin) as one cell."""
    index = pred * (cell.max() + 1) + cell
    gaps = np.bincount(index, weights=correct - conf)
    return np.abs(gaps).sum() / len(pred)


@pytest.mark.parametrize(
    ("name", "published"),
    [("mukhoti_c10_resnet110_brier", 0.021), ("mukhoti_c100_resnet110_brier", 0.145)],
)
def test_gupta_ramdas_top_label_hb(shared_data, name, published):
    # Gupta & Ramdas (ICLR 2022) Tables 2-3, TL-HB column; their code: 0.0205, 0.1457.
    d = shared_data(name)
    cal = HistogramBinning(n_bins=15, reduction="top_label")
    cal.fit(d["val_logits"], d["val_labels"])
    out = cal.predict_proba(d["test_logits"])
    pred = d["test_logits"].argmax(axis=1)  # the predicted class is kept
    conf = out[np.arange(len(pred)), pred]
    correct = (pred == d["test_labels"]).astype(float)
    cell = cal.bin_index(d["test_logits"])
    ece = top_label_ece_per_cell(pred, conf, correct, cell, out.shape[1])
    assert abs(ece - published) <= 0.0015


@pytest.mark.parametrize(
    ("name", "published"),
    [("mukhoti_c10_resnet110_brier", 0.27), ("mukhoti_c100_resnet110_brier", 0.16)],
)
def test_gupta_ramdas_classwise_hb(shared_data, name, published):
    # Gupta & Ramdas (ICLR 2022) Tables 2-3, CW-HB column (x 100, un-normalised).
    d = shared_data(name)
    cal = HistogramBinning(n_bins=15, reduction="classwise")
    cal.fit(d["val_logits"], d["val_labels"])
    Q = cal.predict_classwise_proba(d["test_logits"])
    cells = cal.bin_index(d["test_logits"])
    y = d["test_labels"]
    k = Q.shape[1]
    per_class = [
        np.abs(np.bincount(cells[:, j], weights=(y == j) - Q[:, j])).sum() / len(y)
        for j in range(k)
    ]
    assert abs(100 * np.mean(per_class) - published) <= 0.008


@pytest.mark.parametrize("reduction", ["top_label", "classwise", "confidence"])
def test_points_per_bin_round_trips_through_json(rng, tmp_path, reduction):
    # The model file keeps points_per_bin (not a derived n_bins), and the loaded
    # map gives bit-identical probabilities and bins on rows it has never seen.
    from calibrate.io import load_calibrator, save_calibrator

    p, y = multiclass_probs(rng, 600, 4)
    cal = HistogramBinning(points_per_bin=40, reduction=reduction, input_type="probs")
    cal.fit(p, y)
    save_calibrator(cal, tmp_path / "m.json")
    loaded = load_calibrator(tmp_path / "m.json")
    assert loaded.points_per_bin == 40
    assert loaded.get_params() == cal.get_params()
    q, _ = multiclass_probs(rng, 300, 4)
    np.testing.assert_array_equal(loaded.predict_proba(q), cal.predict_proba(q))
    np.testing.assert_array_equal(loaded.bin_index(q), cal.bin_index(q))
    # Refitting the loaded copy on the same rows derives the same bins.
    refit = loaded.fit(p, y)
    np.testing.assert_array_equal(refit.predict_proba(q), cal.predict_proba(q))


@pytest.mark.parametrize("reduction", ["classwise", "top_label"])
def test_fit_in_column_blocks_equals_scipy_softmax_bins(rng, monkeypatch, reduction):
    # The fit reads the logits in blocks of columns (classwise) or chunks of
    # rows (top-label); its edges are those of fit_histogram on scipy's
    # softmax of the whole array, bit for bit, whatever the block size.
    import calibrate.calibrators._histogram as hist

    Z = rng.normal(size=(500, 7)) * 3
    y = rng.integers(7, size=500)
    P = softmax(Z, axis=1)
    monkeypatch.setattr(hist, "_BLOCK_BYTES", 8 * 500 * 3)  # 3 columns a block
    monkeypatch.setattr(hist, "iter_chunks", lambda n, k: (
        slice(i, min(i + 64, n)) for i in range(0, n, 64)))  # fmt: skip
    cal = HistogramBinning(n_bins=5, reduction=reduction).fit(Z, y)
    for j in range(7):
        if reduction == "classwise":
            s, t = P[:, j], (y == j).astype(float)
        else:
            rows = P.argmax(axis=1) == j
            s, t = P[rows, j], (y[rows] == j).astype(float)
        if len(s) < 5:
            continue
        e, v, _ = fit_histogram(s, t, np.ones(len(s)), 5, "quantile")
        np.testing.assert_array_equal(cal.edges_[j], e)
        # The fit normalises weights to mean 1: the frequencies agree to rounding.
        np.testing.assert_allclose(cal.bin_values_[j], v, rtol=1e-14)


@pytest.mark.parametrize("reduction", ["classwise", "top_label"])
def test_fit_never_holds_the_scores_in_float64(rng, tmp_path, monkeypatch, reduction):
    # With chunks of 2**14 values and column blocks of 256 kB, a float32 memmap of
    # 4,000 x 500 is fitted without a float64 copy of it (16 MB) or of its
    # probabilities: the traced peak stays below a quarter of one.
    import functools
    import tracemalloc

    import calibrate.calibrators._histogram as hist
    from calibrate._special import iter_chunks

    monkeypatch.setattr(hist, "_BLOCK_BYTES", 2**18)
    small = functools.partial(iter_chunks, chunk_elements=2**14)
    monkeypatch.setattr(hist, "iter_chunks", small)
    path = tmp_path / "z.npy"
    Z = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(4000, 500))
    Z[:] = rng.normal(size=(4000, 500)).astype(np.float32)
    Z.flush()
    y = rng.integers(500, size=4000)
    Z = np.load(path, mmap_mode="r")
    cal = HistogramBinning(n_bins=2, reduction=reduction)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalibrationWarning)  # tiny classes
            cal.fit(Z, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * Z.size * 8, peak


@pytest.mark.parametrize("n", [5, 16, 97, 1000])
def test_equal_weight_bins_equal_the_weighted_rule(rng, n):
    # The equal-weight fast path (order statistics, counts at the edges)
    # against the general rule: equal_mass_edges, then every row binned and
    # counted by bincount.
    # The edges are order statistics found by a partition, not a sort: ties
    # at and around the edges are where its counting could go wrong.
    for s in (
        np.round(rng.uniform(size=n), 1),  # many ties
        rng.integers(0, 3, size=n) / 2.0,  # three values
        np.full(n, 0.5),  # one value
    ):
        _check_equal_weight_bins(rng, s, n)


def _check_equal_weight_bins(rng, s, n):
    from calibrate.binning import bin_index

    t = (rng.uniform(size=n) < s).astype(float)
    for b in (1, 3, 5, 15):
        if b > n:
            continue
        edges, values, weights = fit_histogram(s, t, np.full(n, 2.0), b, "quantile")
        ref_edges = equal_mass_edges(s, np.ones(n), b)
        np.testing.assert_array_equal(edges, ref_edges)
        index = bin_index(s, ref_edges)
        counts = np.bincount(index, minlength=b)
        hits = np.bincount(index, weights=t, minlength=b)
        np.testing.assert_array_equal(weights, 2.0 * counts)
        expected = np.divide(hits, counts, out=np.zeros(b), where=counts > 0)
        np.testing.assert_allclose(values, expected, rtol=1e-15)
