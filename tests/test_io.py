"""Tests for calibrate.io: fitted calibrators saved as JSON and loaded back.

The reference for a round trip is the saved calibrator itself: the loaded one
must return the same bytes from every predict method, on data it was not
fitted on.  Every refusal is a ValueError whose message names the file and the
problem.
"""

import copy
import json
import os
import pickle
import stat
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

import calibrate
import calibrate.io
from calibrate import MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling
from calibrate.io import (
    FORMAT,
    FORMAT_VERSION,
    atomic_write,
    calibrator_from_dict,
    calibrator_to_dict,
    load_array,
    load_calibrator,
    save_array,
    save_calibrator,
    split_array_spec,
)

N, K = 500, 4
METHODS = ("predict_proba", "predict_log_proba", "transform", "predict")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make_data(rng, task, n=N, k=K):
    """Logits and labels drawn from sigmoid/softmax(logits / 2): informative
    labels, so every fit converges inside its bounds without warnings."""
    if task == "binary":
        z = rng.normal(size=n) * 3
        return z, (z / 2 + rng.logistic(size=n) > 0).astype(np.int64)
    z = rng.normal(size=(n, k)) * 3
    if task == "multilabel":
        return z, (z / 2 + rng.logistic(size=(n, k)) > 0).astype(np.int64)
    return z, (z / 2 + rng.gumbel(size=(n, k))).argmax(axis=1)


# (calibrator, task) pairs: every calibrator with every task it supports.
CASES = [
    (TemperatureScaling, "binary"),
    (TemperatureScaling, "multiclass"),
    (TemperatureScaling, "multilabel"),
    (VectorScaling, "multiclass"),
    (MatrixScaling, "multiclass"),
    (PlattScaling, "binary"),
    (PlattScaling, "multilabel"),
    (PlattScaling, "multiclass"),
]
CASE_IDS = [f"{cls.__name__}-{task}" for cls, task in CASES]


def assert_same_predictions(saved, loaded, X):
    for method in METHODS:
        expected, got = getattr(saved, method)(X), getattr(loaded, method)(X)
        assert got.dtype == expected.dtype, method
        assert got.shape == expected.shape, method
        assert np.array_equal(got, expected), method
        if expected.dtype.kind == "f":
            # Bit for bit, down to the sign of zeros.
            assert got.tobytes() == expected.tobytes(), method


def assert_same_state(saved, loaded):
    assert type(loaded) is type(saved)
    assert loaded.get_params() == saved.get_params()
    for key in ("task_", "n_features_in_", "n_iter_"):
        assert getattr(loaded, key) == getattr(saved, key)
    assert loaded.classes_.dtype == saved.classes_.dtype
    assert np.array_equal(loaded.classes_, saved.classes_)
    for key in type(saved)._fitted_parameters:
        expected, got = getattr(saved, key), getattr(loaded, key)
        assert type(got) is type(expected), key
        assert np.array_equal(got, expected), key


def roundtrip_file(cal, tmp_path, name="model.json"):
    path = tmp_path / name
    save_calibrator(cal, path)
    return load_calibrator(path)


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize(("cls", "task"), CASES, ids=CASE_IDS)
def test_roundtrip_is_bit_for_bit(cls, task, rng, tmp_path):
    cal = cls().fit(*make_data(rng, task))
    X_test, _ = make_data(rng, task)
    loaded = roundtrip_file(cal, tmp_path)
    assert_same_state(cal, loaded)
    assert_same_predictions(cal, loaded, X_test)
    # The pure core gives the same calibrator without a file.
    via_dict = calibrator_from_dict(json.loads(json.dumps(calibrator_to_dict(cal))))
    assert_same_predictions(cal, via_dict, X_test)


@pytest.mark.parametrize(
    ("cls", "task"), [c for c in CASES if c[1] != "multilabel"], ids=str
)
def test_roundtrip_with_string_labels(cls, task, rng, tmp_path):
    z, y = make_data(rng, task)
    names = np.array(["ant", "bee", "cat", "dog"])
    cal = cls().fit(z, names[y])
    loaded = roundtrip_file(cal, tmp_path)
    assert loaded.classes_.dtype.kind == "U"
    assert list(loaded.classes_) == list(cal.classes_)
    X_test, _ = make_data(rng, task)
    assert_same_predictions(cal, loaded, X_test)
    assert set(loaded.predict(X_test)) <= set(names)


@pytest.mark.parametrize(
    ("labels", "dtype"),
    [(np.array([3, 8], dtype=np.uint8), "uint8"), (np.array([False, True]), "bool")],
    ids=["uint8", "bool"],
)
def test_roundtrip_keeps_label_dtype(labels, dtype, rng, tmp_path):
    z, y = make_data(rng, "binary")
    cal = PlattScaling().fit(z, labels[y])
    assert cal.classes_.dtype == dtype
    loaded = roundtrip_file(cal, tmp_path)
    assert loaded.classes_.dtype == dtype
    assert_same_predictions(cal, loaded, z)


@pytest.mark.parametrize("cls", [TemperatureScaling, MatrixScaling, PlattScaling])
def test_roundtrip_with_dataframe_keeps_feature_names(cls, rng, tmp_path):
    z, y = make_data(rng, "multiclass")
    columns = ["p_ant", "p_bee", "p_cat", "p_dog"]
    cal = cls().fit(pd.DataFrame(z, columns=columns), y)
    loaded = roundtrip_file(cal, tmp_path)
    assert loaded.feature_names_in_.dtype == object
    assert list(loaded.feature_names_in_) == columns
    X_test = pd.DataFrame(make_data(rng, "multiclass")[0], columns=columns)
    assert_same_predictions(cal, loaded, X_test)
    # The names are enforced as they were before saving.
    renamed = X_test.rename(columns={"p_ant": "p_eel"})
    for model in (cal, loaded):
        with pytest.raises(ValueError, match="feature names"):
            model.predict_proba(renamed)


def test_roundtrip_keeps_input_type(rng, tmp_path):
    z, y = make_data(rng, "multiclass")
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    cal = TemperatureScaling(input_type="probs", max_iter=50).fit(probs, y)
    loaded = roundtrip_file(cal, tmp_path)
    assert loaded.get_params() == {"input_type": "probs", "max_iter": 50}
    assert_same_predictions(cal, loaded, probs)


def test_roundtrip_comparison_detects_one_ulp(rng):
    # The bit-for-bit check has teeth: one ulp on T changes the predictions.
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))
    doc = calibrator_to_dict(cal)
    doc["fitted"]["temperature_"] = float(np.nextafter(cal.temperature_, np.inf))
    moved = calibrator_from_dict(doc)
    X_test, _ = make_data(rng, "multiclass")
    assert not np.array_equal(moved.predict_proba(X_test), cal.predict_proba(X_test))


def test_missing_params_take_defaults(rng):
    cal = MatrixScaling(reg_lambda=0.5).fit(*make_data(rng, "multiclass"))
    doc = calibrator_to_dict(cal)
    del doc["params"]["reg_mu"]
    loaded = calibrator_from_dict(doc)
    assert loaded.reg_lambda == 0.5
    assert loaded.reg_mu == MatrixScaling().reg_mu


# ------------------------------------------------------------------ the JSON
def test_json_is_plain_and_versioned(rng, tmp_path):
    cal = MatrixScaling().fit(*make_data(rng, "multiclass"))
    path = tmp_path / "model.json"
    save_calibrator(cal, path)
    raw = path.read_bytes()
    raw.decode("ascii")  # plain text, no binary blob
    assert b"NaN" not in raw and b"Infinity" not in raw
    doc = json.loads(raw)
    assert doc["format"] == FORMAT == "calibrate.calibrator"
    assert doc["format_version"] == FORMAT_VERSION == 2
    assert doc["method"] == "matrix"
    assert doc["library_version"] == calibrate.__version__
    assert doc["class"] == "MatrixScaling"
    assert doc["params"] == cal.get_params(deep=False)
    coef = doc["fitted"]["coef_"]
    assert coef["dtype"] == "float64" and coef["shape"] == [K, K]
    assert coef["data"] == cal.coef_.tolist()
    assert doc["fitted"]["classes_"] == {
        "dtype": "int64",
        "shape": [K],
        "data": [0, 1, 2, 3],
    }


def test_load_never_unpickles(rng, tmp_path, monkeypatch):
    cal = PlattScaling().fit(*make_data(rng, "binary"))
    path = tmp_path / "model.json"
    save_calibrator(cal, path)

    def refuse(*args, **kwargs):
        raise AssertionError("pickle or np.load used while loading a calibrator")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(np, "load", refuse)
    assert load_calibrator(path).coef_ == cal.coef_


def test_pickle_file_is_refused(rng, tmp_path):
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))
    path = tmp_path / "model.json"
    path.write_bytes(pickle.dumps(cal))
    with pytest.raises(ValueError, match="not UTF-8|not a valid JSON"):
        load_calibrator(path)


# ------------------------------------------------------------------ refusals
@pytest.fixture(scope="module")
def docs():
    """Valid documents to tamper with (each test mutates a deep copy).

    Module-scoped, so with its own generator: the fits run once.
    """
    rng = np.random.default_rng(0)
    z, y = make_data(rng, "multiclass")
    return {
        "temperature": calibrator_to_dict(TemperatureScaling().fit(z, y)),
        "matrix": calibrator_to_dict(MatrixScaling().fit(z, y)),
        "platt": calibrator_to_dict(PlattScaling().fit(*make_data(rng, "binary"))),
        "frame": calibrator_to_dict(
            VectorScaling().fit(pd.DataFrame(z, columns=list("abcd")), y)
        ),
    }


def text_of(doc):
    return json.dumps(doc, indent=2)


def set_in(path, value):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return doc

    return mutate


def drop(path):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return doc

    return mutate


def raw_temperature(token):
    # Write a literal token in place of the number, as a hand edit would.
    def mutate(doc):
        value = doc["fitted"]["temperature_"]
        text = text_of(doc)
        assert repr(value) in text
        return text.replace(repr(value), token)

    return mutate


def matrix_coef(shape, data):
    return set_in(
        ("fitted", "coef_"), {"dtype": "float64", "shape": shape, "data": data}
    )


# (id, base document, mutation returning a dict or the file's text, message)
REFUSALS = [
    (
        "truncated",
        "temperature",
        lambda d: text_of(d)[: len(text_of(d)) // 2],
        "not a valid JSON document.*truncated",
    ),
    ("empty", "temperature", lambda d: "", "not a valid JSON document"),
    (
        "not-json",
        "temperature",
        lambda d: "temperature: 1.5\n",
        "not a valid JSON document",
    ),
    ("not-utf8", "temperature", lambda d: b"\x80\x04\x95 binary", "not UTF-8"),
    (
        "array-top-level",
        "temperature",
        lambda d: "[1, 2, 3]",
        "top level is an array, not a JSON object",
    ),
    (
        "deep-nesting",
        "temperature",
        lambda d: "[" * 100_000,
        "nested too deeply|not a valid JSON",
    ),
    (
        "duplicate-key",
        "temperature",
        lambda d: text_of(d).replace('"class":', '"class": "Evil", "class":'),
        "repeats the key 'class'",
    ),
    ("format-missing", "temperature", drop(("format",)), "no 'format' field"),
    (
        "format-wrong",
        "temperature",
        set_in(("format",), "sklearn.pickle"),
        "'format' is 'sklearn.pickle', expected 'calibrate.calibrator'",
    ),
    (
        "version-999",
        "temperature",
        set_in(("format_version",), 999),
        r"format_version 999 is newer .* supports \(2\).*Upgrade",
    ),
    (
        "version-string",
        "temperature",
        set_in(("format_version",), "1"),
        "format_version must be an integer; got '1'",
    ),
    (
        "version-bool",
        "temperature",
        set_in(("format_version",), True),
        "format_version must be an integer",
    ),
    (
        "version-0",
        "temperature",
        set_in(("format_version",), 0),
        "format_version 0 is not a valid version",
    ),
    (
        "library-version-missing",
        "temperature",
        drop(("library_version",)),
        "missing 'library_version'",
    ),
    (
        "top-level-extra",
        "temperature",
        set_in(("payload",), "x"),
        "unexpected 'payload'",
    ),
    (
        "class-evil",
        "temperature",
        set_in(("class",), "Evil"),
        "unknown calibrator class .Evil.* known classes: .*MatrixScaling",
    ),
    (
        "class-os-system",
        "temperature",
        set_in(("class",), "os.system"),
        "unknown calibrator class 'os.system'",
    ),
    (
        "class-base",
        "temperature",
        set_in(("class",), "BaseCalibrator"),
        "unknown calibrator class 'BaseCalibrator'",
    ),
    (
        "class-not-string",
        "temperature",
        set_in(("class",), ["TemperatureScaling"]),
        "unknown calibrator class",
    ),
    (
        "params-unknown",
        "temperature",
        set_in(("params", "evil"), 1),
        "TemperatureScaling has no parameter 'evil'; its parameters are input_type",
    ),
    (
        "params-not-object",
        "temperature",
        set_in(("params",), ["logits"]),
        "'params' must be a JSON object; got an array",
    ),
    (
        "params-wrong-kind",
        "temperature",
        set_in(("params", "max_iter"), "100"),
        "parameter 'max_iter' of TemperatureScaling must be a number; got '100'",
    ),
    (
        "params-bool-for-number",
        "matrix",
        set_in(("params", "reg_lambda"), True),
        "parameter 'reg_lambda' of MatrixScaling must be a number",
    ),
    (
        "params-nested",
        "temperature",
        set_in(("params", "max_iter"), {"a": 1}),
        "parameter 'max_iter'",
    ),
    (
        "input-type",
        "temperature",
        set_in(("params", "input_type"), "pickle"),
        "parameter 'input_type' must be one of .*got 'pickle'",
    ),
    (
        "fitted-not-object",
        "temperature",
        set_in(("fitted",), None),
        "'fitted' must be a JSON object; got null",
    ),
    (
        "fitted-missing",
        "temperature",
        drop(("fitted", "temperature_")),
        "'fitted' of TemperatureScaling has missing 'temperature_'",
    ),
    (
        "fitted-missing-classes",
        "matrix",
        drop(("fitted", "classes_")),
        "missing 'classes_'",
    ),
    (
        "fitted-extra",
        "temperature",
        set_in(("fitted", "__reduce__"), "os.system"),
        "unexpected '__reduce__'",
    ),
    (
        "fitted-foreign-parameter",
        "temperature",
        set_in(("fitted", "coef_"), 1.0),
        "unexpected 'coef_'",
    ),
    (
        "task-unknown",
        "temperature",
        set_in(("fitted", "task_"), "regression"),
        "task_ must be one of .*got 'regression'",
    ),
    (
        "task-unsupported",
        "matrix",
        set_in(("fitted", "task_"), "multilabel"),
        "MatrixScaling supports multiclass input; task_ is 'multilabel'",
    ),
    (
        "n-features-negative",
        "temperature",
        set_in(("fitted", "n_features_in_"), -4),
        "n_features_in_ must be a non-negative integer; got -4",
    ),
    (
        "n-features-float",
        "temperature",
        set_in(("fitted", "n_features_in_"), 4.0),
        "n_features_in_ must be a non-negative integer; got 4.0",
    ),
    (
        "n-features-task",
        "platt",
        set_in(("fitted", "n_features_in_"), 3),
        "n_features_in_=3 does not fit task_='binary'",
    ),
    (
        "n-iter-negative",
        "temperature",
        set_in(("fitted", "n_iter_"), -1),
        "n_iter_ must be a non-negative integer; got -1",
    ),
    (
        "n-iter-string",
        "temperature",
        set_in(("fitted", "n_iter_"), "3"),
        "n_iter_ must be a non-negative integer",
    ),
    (
        "coef-wrong-shape",
        "matrix",
        matrix_coef([4, 3], [[1.0] * 3] * 4),
        r"coef_ has shape \(4, 3\), but a MatrixScaling .* needs \(4, 4\)",
    ),
    (
        "coef-wrong-ndim",
        "matrix",
        matrix_coef([16], [1.0] * 16),
        "coef_ shape must be a list of 2 non-negative integers; got \\[16\\]",
    ),
    (
        "coef-data-not-shape",
        "matrix",
        matrix_coef([4, 4], [[1.0] * 4] * 3),
        r"coef_ data do not match the declared shape \[4, 4\]",
    ),
    (
        "coef-ragged",
        "matrix",
        matrix_coef([4, 4], [[1.0] * 4] * 3 + [[1.0] * 5]),
        r"at \[3\] expected a list of length 4, got length 5",
    ),
    (
        "coef-dtype-object",
        "matrix",
        lambda d: set_in(("fitted", "coef_", "dtype"), "object")(d),
        "coef_ has dtype 'object'; allowed: float64",
    ),
    (
        "coef-dtype-int",
        "matrix",
        lambda d: set_in(("fitted", "coef_", "dtype"), "int64")(d),
        "coef_ has dtype 'int64'; allowed: float64",
    ),
    (
        "coef-nan-string",
        "matrix",
        lambda d: set_in(("fitted", "coef_", "data", 1, 2), "NaN")(d),
        r"coef_ data\[1, 2\] is 'NaN'; expected a number",
    ),
    (
        "coef-bool",
        "matrix",
        lambda d: set_in(("fitted", "coef_", "data", 0, 0), True)(d),
        r"coef_ data\[0, 0\] is True; expected a number",
    ),
    (
        "coef-overflow",
        "matrix",
        lambda d: set_in(("fitted", "coef_", "data", 0, 0), 10**400)(d),
        "expected a finite number",
    ),
    (
        "coef-entry-not-object",
        "matrix",
        set_in(("fitted", "coef_"), [1.0] * 16),
        "coef_ must be an array entry",
    ),
    (
        "coef-entry-extra-key",
        "matrix",
        lambda d: set_in(("fitted", "coef_", "order"), "F")(d),
        "coef_ has unexpected 'order'",
    ),
    (
        "temperature-negative",
        "temperature",
        set_in(("fitted", "temperature_"), -1.5),
        "temperature_ must be > 0; got -1.5",
    ),
    (
        "temperature-zero",
        "temperature",
        set_in(("fitted", "temperature_"), 0.0),
        "temperature_ must be > 0",
    ),
    (
        "temperature-nan-string",
        "temperature",
        set_in(("fitted", "temperature_"), "NaN"),
        "temperature_ must be a number; got 'NaN'",
    ),
    (
        "temperature-array",
        "temperature",
        set_in(("fitted", "temperature_"), [1.5]),
        "temperature_ must be a number",
    ),
    (
        "temperature-nan-token",
        "temperature",
        raw_temperature("NaN"),
        "contains NaN; a saved calibrator holds finite numbers only",
    ),
    (
        "temperature-infinity-token",
        "temperature",
        raw_temperature("-Infinity"),
        "contains -Infinity",
    ),
    (
        "temperature-1e999",
        "temperature",
        raw_temperature("1e999"),
        "temperature_ is inf, not a finite number",
    ),
    (
        "platt-coef-array",
        "platt",
        set_in(("fitted", "coef_"), {"dtype": "float64", "shape": [1], "data": [1.0]}),
        "coef_ must be a number",
    ),
    (
        "classes-too-short",
        "temperature",
        set_in(
            ("fitted", "classes_"), {"dtype": "int64", "shape": [3], "data": [0, 1, 2]}
        ),
        "classes_ has 3 labels, but a multiclass calibrator .*=4 has 4",
    ),
    (
        "classes-binary-length",
        "platt",
        set_in(("fitted", "classes_"), {"dtype": "int64", "shape": [1], "data": [1]}),
        "classes_ has 1 labels, but a binary calibrator .* has 2",
    ),
    (
        "classes-repeated",
        "temperature",
        set_in(
            ("fitted", "classes_"),
            {"dtype": "str", "shape": [4], "data": ["a", "b", "a", "c"]},
        ),
        "classes_ repeats the label 'a'",
    ),
    (
        # A float label that is not a whole number is no class (issue 19):
        # it was loaded and applied to integer labels without complaint.
        "classes-fractional-float",
        "temperature",
        set_in(
            ("fitted", "classes_"),
            {"dtype": "float64", "shape": [4], "data": [0.0, 1.0, 3.5, 4.0]},
        ),
        "classes_ holds 3.5, which is not a class label",
    ),
    (
        "classes-object",
        "temperature",
        lambda d: set_in(("fitted", "classes_", "dtype"), "object")(d),
        "classes_ has dtype 'object'; allowed: bool, int8",
    ),
    (
        "classes-int-out-of-range",
        "temperature",
        set_in(
            ("fitted", "classes_"),
            {"dtype": "uint8", "shape": [4], "data": [0, 1, 2, 300]},
        ),
        r"classes_ data\[3\] is 300; outside the range of uint8",
    ),
    (
        "classes-float-for-int",
        "temperature",
        lambda d: set_in(("fitted", "classes_", "data", 0), 0.0)(d),
        r"classes_ data\[0\] is 0.0; expected an integer",
    ),
    (
        "feature-names-length",
        "frame",
        lambda d: set_in(
            ("fitted", "feature_names_in_"),
            {"dtype": "str", "shape": [3], "data": ["a", "b", "c"]},
        )(d),
        "feature_names_in_ has 3 names but n_features_in_ is 4",
    ),
    (
        "feature-names-not-str",
        "frame",
        lambda d: set_in(("fitted", "feature_names_in_", "data", 0), 1)(d),
        r"feature_names_in_ data\[0\] is 1; expected a string",
    ),
]


def apply(mutation, doc):
    return mutation(copy.deepcopy(doc))


@pytest.mark.parametrize(
    ("base", "mutation", "match"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_load_refuses_malformed_file(base, mutation, match, docs, tmp_path):
    content = apply(mutation, docs[base])
    path = tmp_path / "tampered.json"
    if isinstance(content, dict):
        content = text_of(content)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as excinfo:
        load_calibrator(path)
    assert str(excinfo.value).startswith(f"{path}: ")


# Refusals that only exist in a file's text (not JSON, or JSON constants).
TEXT_ONLY = {
    "truncated",
    "empty",
    "not-json",
    "not-utf8",
    "array-top-level",
    "deep-nesting",
    "duplicate-key",
    "temperature-nan-token",
    "temperature-infinity-token",
    "temperature-1e999",
}
DICT_REFUSALS = [r for r in REFUSALS if r[0] not in TEXT_ONLY]


@pytest.mark.parametrize(
    ("base", "mutation", "match"),
    [r[1:] for r in DICT_REFUSALS],
    ids=[r[0] for r in DICT_REFUSALS],
)
def test_from_dict_refuses_malformed_document(base, mutation, match, docs):
    content = apply(mutation, docs[base])
    assert isinstance(content, dict)
    with pytest.raises(ValueError, match=match) as excinfo:
        calibrator_from_dict(content, source="report.json#/calibrators/0")
    assert str(excinfo.value).startswith("report.json#/calibrators/0: ")


def test_from_dict_refuses_non_finite_python_floats(docs):
    doc = copy.deepcopy(docs["matrix"])
    doc["fitted"]["coef_"]["data"][0][0] = float("nan")
    with pytest.raises(ValueError, match=r"<dict>: coef_ data\[0, 0\] is nan"):
        calibrator_from_dict(doc)
    doc = copy.deepcopy(docs["matrix"])
    doc["params"]["tol"] = float("inf")
    with pytest.raises(ValueError, match="parameter 'tol' is inf"):
        calibrator_from_dict(doc)


def test_refusal_cases_are_valid_before_tampering(docs):
    # Each base document loads, so every refusal above is due to its mutation.
    for doc in docs.values():
        calibrator_from_dict(json.loads(text_of(doc)))


def test_load_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_calibrator(tmp_path / "absent.json")


# ------------------------------------------------------------------ saving
def test_save_unfitted_raises_not_fitted(tmp_path):
    with pytest.raises(NotFittedError):
        save_calibrator(TemperatureScaling(), tmp_path / "model.json")
    with pytest.raises(NotFittedError):
        calibrator_to_dict(VectorScaling())
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_unregistered_class(rng, tmp_path):
    class MyScaling(TemperatureScaling):
        pass

    cal = MyScaling().fit(*make_data(rng, "multiclass"))
    with pytest.raises(TypeError, match="Only the registered calibrators"):
        save_calibrator(cal, tmp_path / "model.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_save_refuses_non_finite_parameters(value, rng, tmp_path):
    cal = VectorScaling().fit(*make_data(rng, "multiclass"))
    cal.intercept_[2] = value
    with pytest.raises(ValueError, match="VectorScaling.intercept_ contains NaN"):
        save_calibrator(cal, tmp_path / "model.json")
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))
    cal.temperature_ = float(value)
    with pytest.raises(ValueError, match="temperature_ is .*only finite numbers"):
        save_calibrator(cal, tmp_path / "model.json")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_parameter_of_wrong_shape(rng, tmp_path):
    cal = MatrixScaling().fit(*make_data(rng, "multiclass"))
    cal.coef_ = cal.coef_[:, :3]
    with pytest.raises(ValueError, match=r"MatrixScaling.coef_ has shape \(4, 3\)"):
        save_calibrator(cal, tmp_path / "model.json")


def test_save_accepts_str_and_pathlike(rng, tmp_path):
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))
    save_calibrator(cal, str(tmp_path / "a.json"))
    save_calibrator(cal, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert load_calibrator(str(tmp_path / "b.json")).temperature_ == cal.temperature_


def test_save_refuses_to_overwrite(rng, tmp_path):
    path = tmp_path / "model.json"
    path.write_text("original\n")
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))
    with pytest.raises(FileExistsError, match="overwrite=True") as excinfo:
        save_calibrator(cal, path)
    assert str(path) in str(excinfo.value)
    assert path.read_text() == "original\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]

    save_calibrator(cal, path, overwrite=True)
    assert load_calibrator(path).temperature_ == cal.temperature_
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_save_into_missing_directory_raises(rng, tmp_path):
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))
    with pytest.raises(FileNotFoundError):
        save_calibrator(cal, tmp_path / "absent" / "model.json")


def test_atomic_write_leaves_no_temporary_file(rng, tmp_path):
    cal = MatrixScaling().fit(*make_data(rng, "multiclass"))
    save_calibrator(cal, tmp_path / "model.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_write_keeps_old_file_and_removes_temporary(
    failing, rng, tmp_path, monkeypatch
):
    path = tmp_path / "model.json"
    path.write_text("original\n")
    cal = MatrixScaling().fit(*make_data(rng, "multiclass"))
    real = getattr(os, failing)
    seen = []

    def fail(*args):
        # Fail only after the temporary file exists, as a full disk would.
        seen.append([p.name for p in tmp_path.iterdir()])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(calibrate.io.os, failing, fail)
    with pytest.raises(OSError, match="No space left"):
        save_calibrator(cal, path, overwrite=True)
    monkeypatch.setattr(calibrate.io.os, failing, real)
    assert len(seen) == 1 and len(seen[0]) == 2  # the temporary file was there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    assert path.read_text() == "original\n"


def test_failed_serialisation_writes_nothing(rng, tmp_path, monkeypatch):
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))

    def fail(*args, **kwargs):
        raise ValueError("serialisation failed")

    monkeypatch.setattr(calibrate.io.json, "dumps", fail)
    with pytest.raises(ValueError, match="serialisation failed"):
        save_calibrator(cal, tmp_path / "model.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_saved_file_has_ordinary_permissions(rng, tmp_path):
    # The temporary file must not leave the result readable by its owner only.
    cal = TemperatureScaling().fit(*make_data(rng, "multiclass"))
    save_calibrator(cal, tmp_path / "model.json")
    (tmp_path / "plain.txt").write_text("x")
    mode = stat.S_IMODE((tmp_path / "model.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)


# ------------------------------------------------------------------- arrays
def test_load_array_npy_is_memory_mapped_and_exact(tmp_path):
    values = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    np.save(tmp_path / "scores.npy", values)
    loaded = load_array(tmp_path / "scores.npy")
    assert isinstance(loaded, np.memmap) and loaded.mode == "r"
    assert loaded.dtype == np.float32 and np.array_equal(loaded, values)
    in_memory = load_array(str(tmp_path / "scores.npy"), mmap=False)
    assert not isinstance(in_memory, np.memmap)
    assert np.array_equal(in_memory, values)


def test_load_array_npz_member_and_fortran_order(tmp_path):
    labels = np.arange(7) % 3
    fortran = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.savez_compressed(tmp_path / "run.npz", labels=labels, scores=fortran)
    assert np.array_equal(load_array(f"{tmp_path}/run.npz:labels"), labels)
    assert np.array_equal(load_array(f"{tmp_path}/run.npz:scores"), fortran)
    np.save(tmp_path / "f.npy", fortran)
    assert np.array_equal(load_array(tmp_path / "f.npy"), fortran)


def test_load_array_empty_array_is_read_not_mapped(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    assert load_array(tmp_path / "empty.npy").shape == (0, 3)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("a.npy", ("a.npy", None)),
        ("a.npz:logits", ("a.npz", "logits")),
        ("A.NPZ:x", ("A.NPZ", "x")),
        ("dir:1/a.npz:k:2", ("dir:1/a.npz", "k:2")),
        ("a.npz:b.npz:k", ("a.npz:b.npz", "k")),
        ("run:3/a.npy", ("run:3/a.npy", None)),
        ("a.npz", ("a.npz", None)),
    ],
)
def test_split_array_spec(spec, expected):
    assert split_array_spec(spec) == expected


def test_split_array_spec_prefers_an_existing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd.npz:k").write_bytes(b"")
    assert split_array_spec("odd.npz:k") == ("odd.npz:k", None)


def test_load_array_refuses_object_arrays_without_unpickling(tmp_path, monkeypatch):
    np.save(tmp_path / "obj.npy", np.array([1, "a", None], dtype=object))
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with open(tmp_path / "pickle.npy", "wb") as f:
        pickle.dump({"a": 1}, f)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("pickle.loads was called")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    with pytest.raises(ValueError, match=r"obj\.npy holds an array of Python objects"):
        load_array(tmp_path / "obj.npy")
    with pytest.raises(ValueError, match=r"obj\.npz:x holds an array of Python obj"):
        load_array(f"{tmp_path}/obj.npz:x")
    with pytest.raises(ValueError, match=r"pickle\.npy is a Python pickle.*never"):
        load_array(tmp_path / "pickle.npy")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", "is not a .npy or .npz file \\(an empty file\\)"),
        (b"hello world", "is not a .npy or .npz file \\(it starts with b'hello "),
        (b"\x93NUMPY\x01\x00\x10", "not a readable .npy file"),
        (b"PK\x03\x04garbage", "not a readable .npz archive"),
    ],
)
def test_load_array_names_unreadable_files(content, pattern, tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern) as excinfo:
        load_array(path)
    assert str(path) in str(excinfo.value)


def test_load_array_truncated_npy(tmp_path):
    np.save(tmp_path / "full.npy", np.arange(1000.0))
    data = (tmp_path / "full.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    for mmap in (True, False):
        with pytest.raises(ValueError, match=r"cut\.npy: not a readable .npy file"):
            load_array(tmp_path / "cut.npy", mmap=mmap)


def test_load_array_npz_keys(tmp_path):
    np.savez(tmp_path / "run.npz", logits=np.zeros(3), labels=np.zeros(3))
    with pytest.raises(ValueError, match=r"holding 2 arrays \('logits', 'labels'\)"):
        load_array(tmp_path / "run.npz")
    with pytest.raises(ValueError, match=r"has no array 'probs'; it holds 'logits'"):
        load_array(f"{tmp_path}/run.npz:probs")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"one\.npy is a \.npy file holding one"):
        load_array(f"{tmp_path}/one.npz:logits".replace("one.npz", "one.npy"))


def test_load_array_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.npy: no such file"):
        load_array(tmp_path / "absent.npy")
    with pytest.raises(FileNotFoundError, match=r"absent\.npz: no such file"):
        load_array(f"{tmp_path}/absent.npz:key")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_array(tmp_path)


def test_save_array_round_trip_atomic_and_refuses_overwrite(tmp_path):
    path = tmp_path / "out.npy"
    values = np.random.default_rng(1).normal(size=(5, 3))
    save_array(path, values)
    assert np.array_equal(np.load(path, allow_pickle=False), values)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_array(path, values * 2)
    assert np.array_equal(np.load(path, allow_pickle=False), values)
    save_array(path, values * 2, overwrite=True)
    assert np.array_equal(np.load(path, allow_pickle=False), values * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]
    with pytest.raises(ValueError, match="Python objects"):
        save_array(tmp_path / "obj.npy", np.array([None], dtype=object))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]


def test_atomic_write_rejects_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", "a"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_load_calibrator_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.json: no such file\.$"):
        load_calibrator(tmp_path / "absent.json")


def test_write_failure_names_the_destination_not_the_temporary(tmp_path, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(calibrate.io.os, "fsync", full_disk)
    with pytest.raises(OSError) as excinfo:
        save_array(tmp_path / "out.npy", np.zeros(3))
    assert excinfo.value.errno == 28
    assert excinfo.value.filename == str(tmp_path / "out.npy")
    assert ".tmp" not in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_names_the_destination(tmp_path, monkeypatch):
    def refuse(path, flags, mode=0o777):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(calibrate.io.os, "open", refuse)
    with pytest.raises(PermissionError) as excinfo:
        save_array(tmp_path / "out.npy", np.zeros(3))
    assert excinfo.value.filename == str(tmp_path / "out.npy")


def test_a_5000_digit_number_in_a_model_file_names_the_file(tmp_path):
    # Before: "Exceeds the limit (4300 digits) for integer string conversion",
    # naming no file.
    path = tmp_path / "model.json"
    path.write_text(
        '{"format": "calibrate.calibrator", "format_version": ' + "9" * 5000 + "}"
    )
    with pytest.raises(
        ValueError, match=r"model\.json: holds an integer of 5000 digits"
    ):
        load_calibrator(path)
