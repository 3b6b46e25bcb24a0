"""Bad input: every case a ValueError/TypeError that names the problem."""

import numpy as np
import pytest

import calibrate._validation
from calibrate import MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling
from calibrate._validation import check_labels, check_scores, proba_sum_tolerance

ALL = [TemperatureScaling, VectorScaling, MatrixScaling, PlattScaling]


@pytest.fixture
def logits(rng):
    return rng.normal(size=(20, 3)) * 2


@pytest.fixture
def labels():
    return np.arange(20) % 3


@pytest.mark.parametrize("Cal", ALL)
@pytest.mark.parametrize(
    "value, message",
    [(np.nan, r"contains NaN .*row 4, column 1"), (np.inf, r"infinite .*row 4")],
)
def test_non_finite_scores_are_rejected_with_their_position(
    Cal, logits, labels, value, message
):
    logits[4, 1] = value
    with pytest.raises(ValueError, match=message):
        Cal().fit(logits, labels)


@pytest.mark.parametrize("Cal", ALL)
def test_non_finite_scores_rejected_at_predict_time(Cal, logits, labels):
    cal = Cal().fit(logits, labels)
    logits[0, 0] = -np.inf
    with pytest.raises(ValueError, match="infinite"):
        cal.predict_proba(logits)


@pytest.mark.parametrize("Cal", ALL)
def test_wrong_dimensions(Cal, labels):
    with pytest.raises(ValueError, match=r"shape \(20, 3, 1\)"):
        Cal().fit(np.zeros((20, 3, 1)), labels)


@pytest.mark.parametrize("Cal", ALL)
def test_mismatched_lengths(Cal, logits):
    with pytest.raises(ValueError, match="X has 20, y has 19"):
        Cal().fit(logits, np.arange(19) % 3)


@pytest.mark.parametrize("Cal", ALL)
def test_labels_outside_the_columns(Cal, logits, labels):
    labels[3] = 3
    with pytest.raises(ValueError, match=r"label 3, but X has 3 columns"):
        Cal().fit(logits, labels)
    labels[3] = -1
    with pytest.raises(ValueError, match=r"label -1"):
        Cal().fit(logits, labels)


@pytest.mark.parametrize("Cal", ALL)
def test_non_integer_labels_must_all_occur(Cal, logits):
    y = np.array(["a", "b"] * 10)
    with pytest.raises(ValueError, match="2 distinct non-integer labels"):
        Cal().fit(logits, y)


@pytest.mark.parametrize("Cal", ALL)
def test_continuous_labels(Cal, logits):
    with pytest.raises(ValueError, match="continuous"):
        Cal().fit(logits, np.linspace(0, 1, 20))


@pytest.mark.parametrize("Cal", ALL)
def test_empty_input(Cal):
    with pytest.raises(ValueError, match="empty"):
        Cal().fit(np.zeros((0, 3)), np.zeros(0, dtype=int))


@pytest.mark.parametrize("Cal", ALL)
def test_object_and_string_arrays(Cal, logits, labels):
    with pytest.raises(TypeError, match="object dtype"):
        Cal().fit(logits.astype(object), labels)
    with pytest.raises(TypeError, match="string dtype"):
        Cal().fit(logits.astype(str), labels)
    with pytest.raises(TypeError, match="boolean"):
        Cal().fit(logits > 0, labels)


@pytest.mark.parametrize("Cal", ALL)
@pytest.mark.parametrize(
    "weights, message",
    [
        (-1.0, r"non-negative; sample 2 has weight -1.0"),
        (np.nan, "NaN or infinite"),
    ],
)
def test_bad_sample_weights(Cal, logits, labels, weights, message):
    w = np.ones(20)
    w[2] = weights
    with pytest.raises(ValueError, match=message):
        Cal().fit(logits, labels, sample_weight=w)


@pytest.mark.parametrize("Cal", ALL)
def test_all_zero_or_misshapen_sample_weights(Cal, logits, labels):
    with pytest.raises(ValueError, match="zero for every sample"):
        Cal().fit(logits, labels, sample_weight=np.zeros(20))
    with pytest.raises(ValueError, match=r"shape \(20,\)"):
        Cal().fit(logits, labels, sample_weight=np.ones(19))


@pytest.mark.parametrize("Cal", ALL)
def test_probabilities_outside_unit_interval(Cal, labels, rng):
    p = rng.dirichlet(np.ones(3), size=20)
    p[5, 0] = 1.5
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*row 5, column 0: 1.5"):
        Cal(input_type="probs").fit(p, labels)


@pytest.mark.parametrize("Cal", ALL)
def test_probability_rows_must_sum_to_one(Cal, labels, rng):
    p = rng.dirichlet(np.ones(3), size=20)
    p[7] *= 0.9
    with pytest.raises(ValueError, match=r"sum to 1 .*first row 7"):
        Cal(input_type="probs").fit(p, labels)


@pytest.mark.parametrize("Cal", ALL)
def test_log_probabilities_must_be_non_positive(Cal, labels, rng):
    lp = np.log(rng.dirichlet(np.ones(3), size=20))
    lp[1, 2] = 0.5
    with pytest.raises(ValueError, match="positive values"):
        Cal(input_type="log_probs").fit(lp, labels)


@pytest.mark.parametrize("Cal", ALL)
def test_unknown_input_type(Cal, logits, labels):
    with pytest.raises(ValueError, match="input_type must be one of"):
        Cal(input_type="logit").fit(logits, labels)


@pytest.mark.parametrize("Cal", ALL)
def test_predict_with_a_different_number_of_columns(Cal, logits, labels):
    cal = Cal().fit(logits, labels)
    with pytest.raises(ValueError, match="3 features"):
        cal.predict_proba(logits[:, :2])


def test_binary_needs_two_classes():
    with pytest.raises(ValueError, match="exactly two distinct labels; y has 3"):
        TemperatureScaling().fit(np.zeros(6) + [0, 1, 2, 3, 4, 5], [0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="exactly two distinct labels; y has 1"):
        PlattScaling().fit(np.arange(4.0), ["a"] * 4)


def test_multilabel_indicator_must_be_zero_one(rng):
    y = (rng.uniform(size=(10, 3)) > 0.5).astype(float)
    y[2, 1] = 0.5
    with pytest.raises(ValueError, match=r"0/1 indicator.*0.5 at row 2, column 1"):
        PlattScaling().fit(rng.normal(size=(10, 3)), y)


def test_multilabel_shape_mismatch(rng):
    with pytest.raises(ValueError, match="multilabel targets need one column"):
        TemperatureScaling().fit(rng.normal(size=(10, 3)), np.zeros((10, 4)))


def test_sparse_input_is_refused(logits, labels):
    from scipy.sparse import csr_matrix

    with pytest.raises(TypeError, match="dense"):
        TemperatureScaling().fit(csr_matrix(logits), labels)


def test_probability_sum_tolerance_scales_with_precision():
    assert proba_sum_tolerance(np.float64, 1000) == 1e-6
    tol32 = proba_sum_tolerance(np.float32, 1000)
    assert 1e-6 < tol32 < 1e-2
    # A float32 softmax over 1,000 classes passes; a row off by 1 % does not.
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 1000)).astype(np.float32) * 5
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    check_scores(p, input_type="probs", task="multiclass")
    p[3] *= 1.01
    with pytest.raises(ValueError, match="first row 3"):
        check_scores(p, input_type="probs", task="multiclass")


def test_logits_are_not_copied(logits):
    # Logits pass through untouched: same memory, float32 stays float32.
    assert check_scores(logits, task="multiclass") is logits
    z32 = logits.astype(np.float32)
    assert check_scores(z32, task="multiclass").dtype == np.float32


def test_pandas_nullable_frames_are_read_as_floats(rng):
    pd = pytest.importorskip("pandas")
    z = rng.normal(size=(60, 3)) * 2
    y = np.argmax(z / 2 + rng.gumbel(size=z.shape), axis=1)
    frame = pd.DataFrame(z, columns=["a", "b", "c"]).astype("Float64")
    from_frame = TemperatureScaling().fit(frame, y)
    assert from_frame.temperature_ == TemperatureScaling().fit(z, y).temperature_
    np.testing.assert_array_equal(from_frame.feature_names_in_, ["a", "b", "c"])
    frame.iloc[3, 1] = pd.NA
    with pytest.raises(ValueError, match="NaN .*row 3, column 1"):
        TemperatureScaling().fit(frame, y)


def test_log_prob_rows_are_checked_in_every_chunk(monkeypatch):
    # Chunks of 3 rows: the bad row is in the last one.
    monkeypatch.setattr(
        calibrate._validation,
        "iter_chunks",
        lambda n, k: (slice(i, min(i + 3, n)) for i in range(0, n, 3)),
    )
    X = np.log(np.full((10, 4), 0.25))
    X[9] = np.log([0.5, 0.5, 0.5, 0.5])  # sums to 2
    with pytest.raises(ValueError, match="row 9"):
        check_scores(X, input_type="log_probs", task="multiclass")
    X[9] = np.log([0.25] * 4)
    assert np.array_equal(check_scores(X, input_type="log_probs", task="multiclass"), X)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_probabilities_out_of_range_are_named(bad):
    X = np.full((4, 2), 0.5)
    X[2, 1] = bad
    with pytest.raises(ValueError, match=rf"row 2, column 1: {bad}\)"):
        check_scores(X, input_type="probs", task="multilabel")


def test_non_integer_labels_name_the_value():
    with pytest.raises(
        ValueError,
        match=r"y holds non-integer numbers \(first at "
        r"row 2: 0.5\)",
    ):
        check_labels(
            np.array([0.0, 1.0, 0.5]), task="multiclass", n_columns=3, n_samples=3
        )


def test_many_classes_in_few_rows_do_not_warn(recwarn):
    # 10 rows of a 1,000-class problem: scikit-learn would call this a
    # regression target; labels that index score columns are not.
    encoded, classes = check_labels(
        np.arange(10) * 97, task="multiclass", n_columns=1000, n_samples=10
    )
    assert np.array_equal(encoded, np.arange(10) * 97) and len(classes) == 1000
    assert len(recwarn) == 0


def test_correctly_rounded_float16_probability_rows_are_accepted(rng):
    # Before: always refused, the row-sum tolerance being float64's after a
    # whole-array conversion (a 7-class row summed to 1.0000038).
    from scipy.special import softmax

    from calibrate import TemperatureScaling

    z = rng.normal(size=(500, 7)) * 2
    y = rng.integers(0, 7, 500)
    P16 = softmax(z, axis=1).astype(np.float16)
    assert np.abs(P16.astype(np.float64).sum(axis=1) - 1).max() > 1e-6
    fitted = TemperatureScaling(input_type="probs").fit(P16, y)
    reference = TemperatureScaling(input_type="probs").fit(
        P16.astype(np.float64) / P16.astype(np.float64).sum(axis=1, keepdims=True), y
    )
    assert fitted.temperature_ == pytest.approx(reference.temperature_, rel=1e-3)
    # A row that is not a distribution at float16's precision is still refused.
    bad = P16.copy()
    bad[0] = np.float16(0.3)
    with pytest.raises(ValueError, match="sum to 1"):
        TemperatureScaling(input_type="probs").fit(bad, y)
