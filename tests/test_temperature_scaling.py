import warnings

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss

from calibrate import CalibrationWarning, TemperatureScaling, VectorScaling
from calibrate.datasets import (
    make_miscalibrated,
    make_miscalibrated_binary,
    make_miscalibrated_multilabel,
)


# Independent numpy references (they share no code with calibrate).
def softmax_nll(z, y, T, w=None):
    return np.average(-log_softmax(z / T, axis=1)[np.arange(len(y)), y], weights=w)


def dnll_dlog_temperature(z, y, T):
    """d NLL / d log T = -(1/T) * mean(E_p[z] - z_y), p = softmax(z / T)."""
    p = softmax(z / T, axis=1)
    return -np.mean((p * z).sum(axis=1) - z[np.arange(len(y)), y]) / T


def sigmoid_nll(z, y, T):
    s = z / T
    return np.mean(np.logaddexp(0, s) - y * s)


@pytest.mark.parametrize("n_classes", [2, 10, 100])
@pytest.mark.parametrize("temperature", [0.5, 2.5])
def test_recovers_known_temperature(n_classes, temperature):
    data = make_miscalibrated(
        50_000, n_classes, temperature=temperature, random_state=n_classes
    )
    cal = TemperatureScaling().fit(data.logits, data.labels)
    assert cal.temperature_ == pytest.approx(temperature, rel=0.02)


def test_recovers_known_temperature_binary_and_multilabel():
    binary = make_miscalibrated_binary(50_000, temperature=3.0, random_state=0)
    cal = TemperatureScaling().fit(binary.logits, binary.labels)
    assert cal.task_ == "binary"
    assert cal.temperature_ == pytest.approx(3.0, rel=0.02)

    multi = make_miscalibrated_multilabel(20_000, 5, temperature=0.7, random_state=0)
    cal = TemperatureScaling().fit(multi.logits, multi.labels)
    assert cal.task_ == "multilabel"
    assert cal.temperature_ == pytest.approx(0.7, rel=0.02)


def test_binary_and_multilabel_optimum_matches_scalar_minimiser():
    binary = make_miscalibrated_binary(5_000, temperature=2.0, random_state=1)
    z, y = binary.logits, binary.labels
    ref = minimize_scalar(
        lambda t: sigmoid_nll(z, y, np.exp(t)),
        bounds=(-3, 3),
        method="bounded",
        options={"xatol": 1e-12},
    )
    cal = TemperatureScaling().fit(z, y)
    assert np.log(cal.temperature_) == pytest.approx(ref.x, abs=1e-6)

    multi = make_miscalibrated_multilabel(3_000, 4, temperature=1.5, random_state=1)
    ref = minimize_scalar(
        lambda t: sigmoid_nll(multi.logits, multi.labels, np.exp(t)),
        bounds=(-3, 3),
        method="bounded",
        options={"xatol": 1e-12},
    )
    cal = TemperatureScaling().fit(multi.logits, multi.labels)
    assert np.log(cal.temperature_) == pytest.approx(ref.x, abs=1e-6)


def test_derivative_vanishes_at_the_fitted_temperature():
    data = make_miscalibrated(5_000, 10, temperature=1.7, random_state=3)
    cal = TemperatureScaling().fit(data.logits, data.labels)
    grad = dnll_dlog_temperature(data.logits, data.labels, cal.temperature_)
    assert abs(grad) < 1e-8


def test_large_input_takes_the_warm_started_path():
    # 40,000 x 100 is four times the warm-start budget, so the fit runs on a
    # subsample first, then a float32 pass, then float64 passes.
    data = make_miscalibrated(40_000, 100, temperature=1.3, random_state=4)
    z32 = data.logits.astype(np.float32)
    cal = TemperatureScaling().fit(z32, data.labels)
    z = z32.astype(np.float64)
    assert abs(dnll_dlog_temperature(z, data.labels, cal.temperature_)) < 1e-8
    assert cal.n_iter_ <= 4


def test_matches_scikit_learn_temperature_method(logit_model):
    data = make_miscalibrated(4_000, 6, temperature=2.2, random_state=5)
    model = logit_model(data.logits, data.labels)
    # A frozen model gives the same logits in every fold; ensemble=False makes
    # scikit-learn fit one temperature on all of them.
    sk = CalibratedClassifierCV(
        FrozenEstimator(model), method="temperature", ensemble=False
    )
    sk.fit(data.logits, data.labels)
    t_sklearn = 1.0 / sk.calibrated_classifiers_[0].calibrators[0].beta_
    cal = TemperatureScaling().fit(data.logits, data.labels)
    assert cal.temperature_ == pytest.approx(t_sklearn, rel=1e-4)


@pytest.mark.parametrize(
    "name, temperature, test_nll",
    [
        # ../shared/data/README.md: NLL-optimal T on the validation split and
        # the resulting test NLL (plain numpy reference).
        ("mukhoti_c10_resnet110_brier", 1.1714, 0.1960),
        ("mukhoti_c100_resnet110_brier", 1.0804, 1.0990),
    ],
)
def test_reproduces_reference_temperatures_on_real_logits(
    shared_data, name, temperature, test_nll
):
    data = shared_data(name)
    cal = TemperatureScaling().fit(data["val_logits"], data["val_labels"])
    assert round(cal.temperature_, 4) == temperature
    k = data["val_logits"].shape[1]
    proba = cal.predict_proba(data["test_logits"])
    assert round(log_loss(data["test_labels"], proba, labels=np.arange(k)), 4) == (
        test_nll
    )
    # The derivative test on real float32 logits, too.
    z = data["val_logits"].astype(np.float64)
    assert abs(dnll_dlog_temperature(z, data["val_labels"], cal.temperature_)) < 1e-8


@pytest.mark.parametrize("n_cols", [20, 100])
def test_float32_and_float64_give_the_same_temperature(rng, n_cols):
    # 20,000 x 100 exceeds the warm-start budget: the subsample and the float32
    # first pass run too, and must not change the answer.
    z32 = (rng.normal(size=(20_000, n_cols)) * 4).astype(np.float32)
    y = (z32 / 3 + rng.gumbel(size=z32.shape)).argmax(axis=1)
    t32 = TemperatureScaling().fit(z32, y).temperature_
    t64 = TemperatureScaling().fit(z32.astype(np.float64), y).temperature_
    assert t32 == pytest.approx(t64, rel=1e-5)
    assert t32 == pytest.approx(3.0, rel=0.05)  # and it is not T = 1


def test_accuracy_unchanged_and_validation_nll_not_increased():
    data = make_miscalibrated(10_000, 10, temperature=0.6, random_state=6)
    z, y = data.logits, data.labels
    cal = TemperatureScaling().fit(z, y)
    np.testing.assert_array_equal(cal.predict(z), z.argmax(axis=1))
    assert log_loss(y, cal.predict_proba(z)) <= log_loss(y, softmax(z, axis=1))
    # ... and it is the minimum: nudging T either way raises the NLL.
    for factor in (0.99, 1.01):
        assert softmax_nll(z, y, cal.temperature_) < softmax_nll(
            z, y, cal.temperature_ * factor
        )


def test_probabilities_and_log_probabilities_give_the_same_fit():
    data = make_miscalibrated(5_000, 5, temperature=2.0, random_state=7)
    z, y = data.logits, data.labels
    t_logits = TemperatureScaling().fit(z, y).temperature_
    t_probs = TemperatureScaling(input_type="probs").fit(softmax(z, axis=1), y)
    t_log = TemperatureScaling(input_type="log_probs").fit(log_softmax(z, axis=1), y)
    assert t_probs.temperature_ == pytest.approx(t_logits, rel=1e-9)
    assert t_log.temperature_ == pytest.approx(t_logits, rel=1e-9)
    # Binary probabilities are of the positive class.
    b = make_miscalibrated_binary(5_000, temperature=2.0, random_state=7)
    t_b = TemperatureScaling().fit(b.logits, b.labels).temperature_
    t_bp = TemperatureScaling(input_type="probs").fit(expit(b.logits), b.labels)
    assert t_bp.temperature_ == pytest.approx(t_b, rel=1e-7)


def test_probabilities_of_zero_are_floored_with_a_warning():
    p = np.array([[1.0, 0.0], [0.3, 0.7], [0.6, 0.4]])
    with pytest.warns(CalibrationWarning, match="exactly 0 or 1"):
        TemperatureScaling(input_type="probs").fit(p, [0, 1, 1])


def test_separable_data_stops_at_the_lower_bound_with_a_warning():
    z = np.array([[5.0, -5.0], [-4.0, 4.0], [3.0, -3.0], [-6.0, 6.0]])
    y = np.array([0, 1, 0, 1])
    with pytest.warns(CalibrationWarning, match="lower bound"):
        cal = TemperatureScaling().fit(z, y)
    # The bound is 1e-3 times the median within-row range of the logits, 9.
    assert cal.temperature_ == pytest.approx(1e-3 * 9)


def test_separable_binary_and_multilabel_data_stop_at_the_lower_bound():
    with pytest.warns(CalibrationWarning, match="lower bound"):
        TemperatureScaling().fit(np.array([-2.0, -1.0, 1.0, 3.0]), [0, 0, 1, 1])
    z = np.array([[-2.0, 1.0], [3.0, -1.0]])
    with pytest.warns(CalibrationWarning, match="lower bound"):
        TemperatureScaling().fit(z, np.array([[0, 1], [1, 0]]))


def test_uninformative_logits_stop_at_the_upper_bound_with_a_warning():
    # Every row has the same logits and the classes are balanced: the best
    # prediction is uniform, reached only as T -> infinity.
    z = np.tile([2.0, 0.0], (4, 1))
    y = np.array([0, 1, 0, 1])
    with pytest.warns(CalibrationWarning, match="upper bound"):
        cal = TemperatureScaling().fit(z, y)
    assert cal.temperature_ == pytest.approx(1e3 * 2)  # 1e3 times the range, 2


@pytest.mark.parametrize("scale", [1e-4, 1e4])
def test_bounds_follow_the_scale_of_the_logits(scale):
    # Logits of any scale: the bounds are relative to their spread, so a true
    # temperature of 2 * scale is found, not clipped to a fixed bound.
    data = make_miscalibrated(20_000, 5, temperature=2.0, random_state=12)
    b = make_miscalibrated_binary(20_000, temperature=2.0, random_state=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t_multi = TemperatureScaling().fit(data.logits * scale, data.labels)
        t_bin = TemperatureScaling().fit(b.logits * scale, b.labels)
    assert t_multi.temperature_ == pytest.approx(2.0 * scale, rel=0.03)
    assert t_bin.temperature_ == pytest.approx(2.0 * scale, rel=0.03)


@pytest.mark.parametrize(
    "params, error",
    [
        ({"max_iter": 0}, ValueError),
        ({"max_iter": "10"}, TypeError),
        ({"input_type": "proba"}, ValueError),
    ],
)
def test_bad_hyperparameters_fail_before_anything_is_fitted(params, error):
    data = make_miscalibrated(500, 3, temperature=2.0, random_state=13)
    cal = TemperatureScaling().fit(data.logits, data.labels)
    before = cal.temperature_
    with pytest.raises(error):
        cal.set_params(**params).fit(data.logits[:, :2], data.labels % 2)
    # The failed fit left the previous fit intact.
    assert cal.temperature_ == before and cal.n_features_in_ == 3


def test_constant_logits_leave_the_identity_with_a_warning():
    z = np.zeros((6, 3))
    y = np.array([0, 1, 2, 0, 1, 2])
    with pytest.warns(CalibrationWarning, match="does not depend on the temperature"):
        cal = TemperatureScaling().fit(z, y)
    assert cal.temperature_ == 1.0


def test_iteration_budget_exhausted_raises_convergence_warning():
    data = make_miscalibrated(2_000, 4, temperature=3.0, random_state=8)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        cal = TemperatureScaling(max_iter=1).fit(data.logits, data.labels)
    assert cal.n_iter_ == 1


def test_absent_class_keeps_its_column_without_a_warning(rng):
    # One temperature, informed by every row: an absent class (a vocabulary's
    # rare token) changes nothing about the fit, so there is nothing to say.
    z = rng.normal(size=(300, 4)) * 2
    y = z[:, :3].argmax(axis=1)  # class 3 never occurs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = TemperatureScaling().fit(z, y)
    assert cal.predict_proba(z).shape == (300, 4)
    np.testing.assert_array_equal(cal.classes_, np.arange(4))
    # The per-class maps still say it: their absent parameters stay put.
    with pytest.warns(CalibrationWarning, match=r"classes \[3\] never occur"):
        VectorScaling().fit(z, y)


def test_integer_weights_equal_repeated_rows(rng):
    data = make_miscalibrated(1_000, 4, temperature=1.5, random_state=9)
    weights = rng.integers(0, 4, size=1_000)
    weighted = TemperatureScaling().fit(data.logits, data.labels, sample_weight=weights)
    repeated = TemperatureScaling().fit(
        np.repeat(data.logits, weights, axis=0), np.repeat(data.labels, weights)
    )
    assert weighted.temperature_ == pytest.approx(repeated.temperature_, rel=1e-10)
    ref = minimize_scalar(
        lambda t: softmax_nll(data.logits, data.labels, np.exp(t), weights),
        bounds=(-3, 3),
        method="bounded",
        options={"xatol": 1e-12},
    )
    assert np.log(weighted.temperature_) == pytest.approx(ref.x, abs=1e-6)


def test_transform_keeps_the_input_layout():
    b = make_miscalibrated_binary(500, temperature=2.0, random_state=10)
    cal = TemperatureScaling().fit(b.logits, b.labels)
    T = cal.temperature_
    np.testing.assert_allclose(cal.transform(b.logits), b.logits / T, rtol=1e-15)
    assert cal.transform(b.logits[:, None]).shape == (500, 1)
    proba = cal.predict_proba(b.logits)
    np.testing.assert_allclose(proba[:, 1], expit(b.logits / T), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)

    m = make_miscalibrated(500, 3, temperature=2.0, random_state=10)
    cal = TemperatureScaling().fit(m.logits, m.labels)
    np.testing.assert_allclose(
        cal.transform(m.logits), log_softmax(m.logits / cal.temperature_, axis=1)
    )


def test_log_proba_stays_finite_where_proba_underflows():
    z = np.array([[0.0, -2000.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    cal = TemperatureScaling().fit(z, [0, 1, 0, 1])
    log_p = cal.predict_log_proba(z)
    assert np.isfinite(log_p).all()
    assert cal.predict_proba(z)[0, 1] == 0.0
    assert log_p[0, 1] == pytest.approx(-2000.0 / cal.temperature_)


def test_no_warning_on_a_regular_fit():
    data = make_miscalibrated(5_000, 10, temperature=1.2, random_state=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TemperatureScaling().fit(data.logits, data.labels)


def test_non_finite_calibrated_logits_name_the_absolute_row(monkeypatch):
    import calibrate.calibrators._base as base

    monkeypatch.setattr(
        base,
        "iter_chunks",
        lambda n, k: (slice(i, min(i + 4, n)) for i in range(0, n, 4)),
    )
    cal = TemperatureScaling()
    rng = np.random.default_rng(0)
    X = 3 * rng.normal(size=(200, 3))
    cal.fit(X, (X / 2 + rng.gumbel(size=X.shape)).argmax(axis=1))
    cal.temperature_ = 1e-300  # 1e10 / 1e-300 overflows; 0 / 1e-300 does not
    Z = np.zeros((10, 3))
    Z[7] = [1e10, 0.0, 0.0]
    with pytest.raises(ValueError, match="row 7 are not finite"):
        cal.predict_proba(Z)
