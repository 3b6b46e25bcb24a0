"""scikit-learn behaviour of the calibrators (DESIGN.md section 3).

Two halves.  First, scikit-learn's generic estimator checks, with every check
whose generic data contradicts the logits contract listed as an expected
failure together with the reason.  Second, the properties those checks cannot
test on their data, re-tested on correctly shaped logits: one column per
class, labels drawn from ``softmax(z / 2)`` so that they relate to the logits.

Expected values come from invariants or from computations written here
(numpy softmax, scikit-learn's ``log_loss``), never from our own outputs.
"""

import functools
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from calibrate import MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling
from calibrate.calibrators import CALIBRATORS as REGISTRY

# Every registered calibrator that reads logits by default, read from the
# registry (a new method is checked without touching this file); the generic
# checks' random X are not probabilities, so a map that reads probabilities
# (Dirichlet calibration) is tested in its own module.
# The probability-space binned maps (issue 14) run these checks with their
# own expected failures in tests/test_binned_compat.py.
_BINNED = ("isotonic", "histogram", "beta", "scaling_binning")
CALIBRATORS = tuple(
    cls
    for name, cls in REGISTRY.items()
    if cls().input_type == "logits" and name not in _BINNED
)


# --------------------------------------------------------------------------
# Generic checks
# --------------------------------------------------------------------------

# Integer labels index the columns of X (DESIGN.md section 3), so generic data
# whose labels exceed its column count cannot be fitted: these checks fail on
# their data, not on the property they test, which the second half re-tests.
_LABELS_EXCEED_COLUMNS = {
    "check_estimators_overwrite_params": (
        "make_blobs data: 3 classes on 2 columns, label 2 indexes no logit column"
    ),
    "check_estimators_fit_returns_self": (
        "make_blobs data: 3 classes on 2 columns, label 2 indexes no logit column"
    ),
    "check_readonly_memmap_input": (
        "make_blobs data: 3 classes on 2 columns, label 2 indexes no logit column"
    ),
    "check_classifiers_train": (
        "make_blobs data: 3 classes on 2 columns, label 2 indexes no logit column"
    ),
    "check_sample_weights_pandas_series": (
        "labels {1, 2} on 2 columns: label 2 indexes no logit column"
    ),
    "check_sample_weights_not_an_array": (
        "labels {1, 2} on 2 columns: label 2 indexes no logit column"
    ),
    "check_sample_weights_shape": (
        "labels {1, 2} on 2 columns: label 2 indexes no logit column"
    ),
    "check_sample_weights_not_overwritten": (
        "labels {1, 2} on 2 columns: label 2 indexes no logit column"
    ),
    "check_classifier_data_not_an_array": (
        "labels {1, 2} on 2 columns: label 2 indexes no logit column"
    ),
    "check_classifiers_classes": (
        "3 string classes on 2 columns, and labels {-1, 1} that cannot index "
        "logit columns"
    ),
}

_REFUSED_BY_DESIGN = {
    "check_dtype_object": (
        "object X is refused with a TypeError by design (DESIGN.md section 10)"
    ),
    "check_complex_data": (
        "complex X is refused with a TypeError like every non-real dtype "
        "(DESIGN.md section 10); the check wants a ValueError"
    ),
    "check_fit2d_predict1d": (
        "1-D X is a column of binary scores in the logits contract, so predict "
        "reports a column-count mismatch instead of 'Reshape your data'"
    ),
}

_MULTILABEL_WIDTH = {
    f"check_classifiers_multilabel_{name}": (
        "5-label indicator y on 2 score columns: multilabel needs one column per label"
    )
    for name in (
        "representation_invariance",
        "output_format_predict",
        "output_format_predict_proba",
        "output_format_decision_function",
    )
}


def _expected_failed_checks(estimator):
    """Checks whose generic data contradicts the logits contract, with why."""
    failed = {**_LABELS_EXCEED_COLUMNS, **_REFUSED_BY_DESIGN}
    if "multilabel" in estimator._supported_tasks:
        failed.update(_MULTILABEL_WIDTH)
    if not isinstance(estimator, PlattScaling):
        failed["check_classifiers_one_label"] = (
            "y holds only label 1 on 3 columns; absent classes keep their "
            "columns and the temperature-scaling map, so predict returns the "
            "calibrated logits' argmax, not the one label seen"
        )
    if "binary" not in estimator._supported_tasks:
        failed["check_fit2d_1feature"] = (
            "one score column is a binary task, which this multiclass-only "
            "calibrator refuses"
        )
    if isinstance(estimator, (PlattScaling, VectorScaling)):
        failed["check_sample_weight_equivalence_on_dense_data"] = (
            "15 rows of 3 classes on 30 random columns: (nearly) separable, the "
            "maximum-likelihood optimum is at infinity (the scales grow without "
            "bound as tol shrinks), so weighted and repeated fits stop at "
            "different points of a flat objective (equivalence is re-tested on "
            "well-posed logits below)"
        )
    return failed


@parametrize_with_checks(
    [cls() for cls in CALIBRATORS],
    expected_failed_checks=_expected_failed_checks,
    # An expected failure that starts passing must leave the list.
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    try:
        check(estimator)
    except Exception as exc:
        if _check_name(check) not in _expected_failed_checks(estimator):
            raise
        # pytest formats the traceback of every expected failure, re-parsing
        # sklearn's 5,000-line estimator_checks.py for each frame: two thirds of
        # this file's run time. The reason is on the xfail mark; drop the frames.
        raise AssertionError(f"{type(exc).__name__}: {exc}") from None


def _check_name(check):
    while isinstance(check, functools.partial):
        check = check.func
    return check.__name__


# --------------------------------------------------------------------------
# The same properties on correctly shaped logits
# --------------------------------------------------------------------------

N_SAMPLES, N_CLASSES = 600, 4

FITTED_PARAMETERS = {
    TemperatureScaling: ("temperature_",),
    VectorScaling: ("coef_", "intercept_"),
    MatrixScaling: ("coef_", "intercept_"),
    PlattScaling: ("coef_", "intercept_"),
}

# (calibrator, task): every task each calibrator supports.
CASES = [
    (TemperatureScaling, "multiclass"),
    (TemperatureScaling, "binary"),
    (TemperatureScaling, "multilabel"),
    (VectorScaling, "multiclass"),
    (MatrixScaling, "multiclass"),
    (PlattScaling, "multiclass"),
    (PlattScaling, "binary"),
    (PlattScaling, "multilabel"),
]
CASE_IDS = [f"{cls.__name__}-{task}" for cls, task in CASES]
MULTICLASS = [cls for cls, task in CASES if task == "multiclass"]

PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba", "transform")

# The seeded generator is the ``rng`` fixture of conftest.py.


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def make_logits(rng, task, n=N_SAMPLES, k=N_CLASSES):
    """Logits of an over-confident model and labels drawn from ``z / 2``."""
    if task == "binary":
        z = rng.normal(size=n) * 3
        return z, (rng.random(n) < _sigmoid(z / 2)).astype(np.int64)
    z = rng.normal(size=(n, k)) * 3
    if task == "multilabel":
        return z, (rng.random((n, k)) < _sigmoid(z / 2)).astype(np.int64)
    cdf = np.cumsum(_softmax(z / 2), axis=1)
    y = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), k - 1)
    return z, y


def fitted_params(est):
    return {
        name: np.asarray(getattr(est, name)) for name in FITTED_PARAMETERS[type(est)]
    }


def assert_same_params(a, b, **tol):
    pa, pb = fitted_params(a), fitted_params(b)
    for name in pa:
        assert_allclose(pa[name], pb[name], err_msg=name, **tol)


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_fit_returns_self_and_clone_is_unfitted(rng, cls, task):
    X, y = make_logits(rng, task)
    est = cls()
    params_before = est.get_params()
    assert est.fit(X, y) is est
    # fit does not touch the constructor parameters.
    assert est.get_params() == params_before
    check_is_fitted(est)

    copy = clone(est)
    assert type(copy) is cls
    assert copy.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError):
        copy.predict_proba(X)


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_pickle_round_trip_predicts_identically(rng, cls, task):
    X, y = make_logits(rng, task)
    est = cls().fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    for method in PREDICT_METHODS:
        assert np.array_equal(getattr(restored, method)(X), getattr(est, method)(X))


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_pipeline_matches_bare_estimator(rng, cls, task):
    X, y = make_logits(rng, task)
    pipe = Pipeline([("cal", cls())]).fit(X, y)
    bare = cls().fit(X, y)
    assert np.array_equal(pipe.predict_proba(X), bare.predict_proba(X))
    assert np.array_equal(pipe.predict(X), bare.predict(X))


def test_grid_search_matrix_scaling_neg_log_loss(rng):
    X, y = make_logits(rng, "multiclass")
    grid = [1e-3, 1e-1, 10.0]
    search = GridSearchCV(
        MatrixScaling(), {"reg_lambda": grid}, scoring="neg_log_loss", cv=3
    ).fit(X, y)
    assert search.best_params_["reg_lambda"] in grid
    proba = search.best_estimator_.predict_proba(X)
    assert proba.shape == (N_SAMPLES, N_CLASSES)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)

    # The score GridSearchCV reports is scikit-learn's log loss on the held-out
    # folds (GridSearchCV splits a classifier's data with StratifiedKFold).
    best = search.best_params_["reg_lambda"]
    losses = [
        log_loss(
            y[test],
            MatrixScaling(reg_lambda=best)
            .fit(X[train], y[train])
            .predict_proba(X[test]),
            labels=np.arange(N_CLASSES),
        )
        for train, test in StratifiedKFold(3).split(X, y)
    ]
    assert_allclose(search.best_score_, -np.mean(losses), rtol=1e-12)


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_read_only_memmap_input(rng, tmp_path, cls, task):
    X, y = make_logits(rng, task)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    y_map = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert not X_map.flags.writeable

    on_disk = cls().fit(X_map, y_map)
    in_memory = cls().fit(X, y)
    assert_same_params(on_disk, in_memory, rtol=0, atol=0)
    for method in PREDICT_METHODS:
        assert np.array_equal(
            getattr(on_disk, method)(X_map), getattr(in_memory, method)(X)
        )
    # Nothing was written to the file.
    assert np.array_equal(np.load(tmp_path / "X.npy"), X)
    assert np.array_equal(np.load(tmp_path / "y.npy"), y)


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_float32_and_float64_give_the_same_fit(rng, cls, task):
    X, y = make_logits(rng, task)
    X32 = X.astype(np.float32)
    X64 = X32.astype(np.float64)  # the same values, so the same optimum
    est32 = cls().fit(X32, y)
    est64 = cls().fit(X64, y)
    rtol = 1e-5 if cls is TemperatureScaling else 1e-4
    assert_same_params(est32, est64, rtol=rtol)
    assert_allclose(est32.predict_proba(X32), est64.predict_proba(X64), rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_fit_does_not_modify_inputs(rng, cls, task, dtype):
    X, y = make_logits(rng, task)
    X = X.astype(dtype)
    sample_weight = rng.uniform(0.5, 2.0, size=len(y))
    copies = X.copy(), y.copy(), sample_weight.copy()
    cls().fit(X, y, sample_weight=sample_weight)
    for original, copy in zip((X, y, sample_weight), copies, strict=True):
        assert original.dtype == copy.dtype
        assert np.array_equal(original, copy)


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_sample_weight_none_equals_ones(rng, cls, task):
    X, y = make_logits(rng, task)
    unweighted = cls().fit(X, y, sample_weight=None)
    ones = cls().fit(X, y, sample_weight=np.ones(len(y)))
    assert_same_params(unweighted, ones, rtol=1e-12)


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_integer_weights_equal_repeated_rows(rng, cls, task):
    X, y = make_logits(rng, task)
    sample_weight = rng.integers(0, 4, size=len(y))  # zeros drop rows
    weighted = cls().fit(X, y, sample_weight=sample_weight)
    repeated = cls().fit(
        np.repeat(X, sample_weight, axis=0), np.repeat(y, sample_weight, axis=0)
    )
    assert_same_params(weighted, repeated, rtol=1e-6)


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_array_likes_fit_like_arrays(rng, cls, task):
    pd = pytest.importorskip("pandas")
    X, y = make_logits(rng, task)
    sample_weight = rng.uniform(0.5, 2.0, size=len(y))
    reference = cls().fit(X, y, sample_weight=sample_weight)
    from_lists = cls().fit(X.tolist(), y.tolist(), sample_weight=sample_weight.tolist())
    assert_same_params(from_lists, reference, rtol=0, atol=0)
    frame = pd.DataFrame(X) if X.ndim == 2 else pd.Series(X)
    target = pd.DataFrame(y) if y.ndim == 2 else pd.Series(y)
    from_pandas = cls().fit(frame, target, sample_weight=pd.Series(sample_weight))
    # A DataFrame converts to a Fortran-ordered array: sums run in another
    # order, the optimiser takes another path and stops elsewhere within its
    # tolerance, as with weighted against repeated rows.
    assert_same_params(from_pandas, reference, rtol=1e-6)
    assert_allclose(
        from_pandas.predict_proba(frame), reference.predict_proba(X), rtol=1e-6
    )


@pytest.mark.parametrize("cls", MULTICLASS)
def test_predict_with_other_column_count_raises(rng, cls):
    X, y = make_logits(rng, "multiclass")
    est = cls().fit(X, y)
    assert est.n_features_in_ == N_CLASSES
    msg = f"X has {N_CLASSES - 1} features, but {cls.__name__} is expecting"
    for method in PREDICT_METHODS:
        with pytest.raises(ValueError, match=msg):
            getattr(est, method)(X[:, 1:])


@pytest.mark.parametrize("cls", MULTICLASS)
def test_multiclass_predict_is_argmax_of_predict_proba(rng, cls):
    X, y = make_logits(rng, "multiclass")
    names = np.array(["ant", "bee", "cat", "dog"])  # sorted, so column j is names[j]
    for labels, classes in ((y, np.arange(N_CLASSES)), (names[y], names)):
        est = cls().fit(X, labels)
        assert_array_equal(est.classes_, classes)
        proba = est.predict_proba(X)
        assert proba.shape == (N_SAMPLES, N_CLASSES)
        assert_array_equal(est.predict(X), classes[np.argmax(proba, axis=1)])


@pytest.mark.parametrize("cls", [TemperatureScaling, PlattScaling])
def test_binary_predict_proba_has_two_columns(rng, cls):
    z, y = make_logits(rng, "binary")
    est = cls().fit(z, y)
    proba = est.predict_proba(z)
    assert proba.shape == (N_SAMPLES, 2)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert_array_equal(est.classes_, [0, 1])
    # Column 1 is the positive class: the fitted map, computed here.
    if cls is TemperatureScaling:
        positive = _sigmoid(z / est.temperature_)
    else:
        positive = _sigmoid(est.coef_ * z + est.intercept_)
    assert_allclose(proba[:, 1], positive, rtol=1e-12, atol=1e-15)
    assert_array_equal(est.predict(z), (positive > 0.5).astype(int))


@pytest.mark.parametrize("cls", [TemperatureScaling, PlattScaling])
def test_multilabel_outputs(rng, cls):
    Z, Y = make_logits(rng, "multilabel")
    est = cls().fit(Z, Y)
    proba = est.predict_proba(Z)
    assert proba.shape == Z.shape
    assert np.all((proba >= 0) & (proba <= 1))
    assert_array_equal(est.predict(Z), (proba > 0.5).astype(int))


@pytest.mark.parametrize("cls", MULTICLASS)
def test_softmax_of_transform_is_predict_proba(rng, cls):
    X, y = make_logits(rng, "multiclass")
    est = cls().fit(X, y)
    assert_allclose(
        _softmax(est.transform(X)), est.predict_proba(X), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_predict_log_proba_is_log_of_predict_proba(rng, cls, task):
    X, y = make_logits(rng, task)
    est = cls().fit(X, y)
    proba, log_proba = est.predict_proba(X), est.predict_log_proba(X)
    assert log_proba.shape == proba.shape
    not_tiny = proba > 1e-300
    assert_allclose(
        log_proba[not_tiny], np.log(proba[not_tiny]), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_predict_log_proba_stays_finite_where_proba_underflows(rng, task):
    # Labels drawn from the logits themselves: T comes out near 1.
    if task == "binary":
        z = rng.normal(size=N_SAMPLES) * 3
        y = (rng.random(N_SAMPLES) < _sigmoid(z)).astype(int)
        extreme = np.array([2000.0, -2000.0])
    else:
        z = rng.normal(size=(N_SAMPLES, 2)) * 3
        y = (rng.random(N_SAMPLES) < _softmax(z)[:, 1]).astype(int)
        extreme = np.array([[0.0, -2000.0], [-2000.0, 0.0]])
    est = TemperatureScaling().fit(z, y)
    T = est.temperature_
    assert 0.5 < T < 2.0  # near 1, and exp(-2000 / T) underflows float64

    proba = est.predict_proba(extreme)
    log_proba = est.predict_log_proba(extreme)
    assert np.any(proba == 0.0)  # exp(-2000 / T) underflows
    assert np.all(np.isfinite(log_proba))
    # log P of the unlikely class is -2000 / T up to log1p(exp(-2000 / T)) = 0.
    expected = np.array([[0.0, -2000.0 / T], [-2000.0 / T, 0.0]])
    if task == "binary":
        expected = expected[::-1]  # row 0 has z = +2000: class 1 is likely
    assert_allclose(log_proba, expected, rtol=1e-12, atol=1e-12)
