"""Tests for the bundled examples: calibrate.datasets.load_example and its build.

The shipped files are checked against a rebuild from scratch (same split, same
models, same seeds) and against their own descriptions: the direction, the
temperature and the ECE stated in ``DESCR`` are recomputed here from the
loaded arrays.
"""

import contextlib
import doctest
import io
import re
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import calibrate.datasets._examples
from calibrate import TemperatureScaling
from calibrate.datasets import list_examples, load_example
from calibrate.datasets.build_examples import EXAMPLES, main, mlp_logits, write_npz
from calibrate.metrics import expected_calibration_error

NAMES = sorted(EXAMPLES)
KEYS = ["val_logits", "val_labels", "test_logits", "test_labels", "DESCR"]
# Stratified thirds of load_digits (1,797 rows) and load_breast_cancer (569).
SPLIT_SIZES = {"digits": (599, 599, 10), "breast_cancer": (190, 190, 2)}
# A 1e-15 relative perturbation of the training data moves the rebuilt logits
# by at most 6e-7 (the MLP; the other models by 1e-9 or less): a different BLAS
# stays well inside 1e-4, while a changed model, split or seed moves them by O(1).
LOGIT_ATOL = 1e-4
MAX_FILE_BYTES = 200_000


def shipped_path(name):
    return Path(str(files("calibrate.datasets") / "data" / f"{name}.npz"))


def read_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def fitted_temperature(data):
    ts = TemperatureScaling(input_type=data.input_type)
    return ts.fit(data.val_logits, data.val_labels).temperature_


def stated(descr):
    """Direction, temperature and test ECE (%) before/after as stated in DESCR."""
    direction = re.findall(r"\b(over|under)-confident\b", descr)
    temperature = re.search(r"\bT = ([0-9.e+-]+) ", descr)
    ece = re.search(
        r"ECE \(15 equal-width bins\) ([0-9.]+) % before temperature scaling, "
        r"([0-9.]+) % after",
        descr,
    )
    assert direction and temperature and ece, descr
    assert len(set(direction)) == 1, f"both directions stated:\n{descr}"
    return (
        f"{direction[0]}-confident",
        float(temperature.group(1)),
        float(ece.group(1)),
        float(ece.group(2)),
    )


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """Rebuild every example through the script's ``main``; about 3 s."""
    out = tmp_path_factory.mktemp("examples")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["--output-dir", str(out)])
    return out, status, stdout.getvalue()


# -- listing and loading ------------------------------------------------------


def test_list_examples_names_every_built_example_sorted():
    names = list_examples()
    assert names == NAMES
    assert names == sorted(names)
    assert len(names) >= 4


@pytest.mark.parametrize("name", NAMES)
def test_shipped_file_loads_without_pickle(name):
    path = shipped_path(name)
    assert path.stat().st_size < MAX_FILE_BYTES
    data = read_npz(path)
    assert list(data) == KEYS
    for key in ("val_logits", "test_logits"):
        assert data[key].dtype == np.float64
    for key in ("val_labels", "test_labels"):
        assert data[key].dtype == np.int64
    assert data["DESCR"].dtype.kind == "U"
    assert data["DESCR"].ndim == 0


def test_data_directory_is_small():
    total = sum(shipped_path(name).stat().st_size for name in NAMES)
    assert total < 1_000_000


@pytest.mark.parametrize("name", NAMES)
def test_load_example_fields(name):
    data = load_example(name)
    assert set(data) == {*KEYS, "name", "input_type"}
    assert data.name == name
    assert data.input_type == "logits"
    n_val, n_test, n_classes = SPLIT_SIZES[EXAMPLES[name].dataset]
    if n_classes == 2:
        assert data.val_logits.shape == (n_val,)
        assert data.test_logits.shape == (n_test,)
    else:
        assert data.val_logits.shape == (n_val, n_classes)
        assert data.test_logits.shape == (n_test, n_classes)
    assert data.val_labels.shape == (n_val,)
    assert data.test_labels.shape == (n_test,)
    for key in ("val_logits", "test_logits"):
        assert np.all(np.isfinite(data[key])), key
    for key in ("val_labels", "test_labels"):
        np.testing.assert_array_equal(np.unique(data[key]), np.arange(n_classes))
    assert isinstance(data.DESCR, str)
    assert name in data.DESCR
    assert "input_type='logits'" in data.DESCR


@pytest.mark.parametrize("name", NAMES)
def test_descr_agrees_with_the_loaded_data(name):
    data = load_example(name)
    direction, temperature, ece_before, ece_after = stated(data.DESCR)
    fitted = fitted_temperature(data)
    assert (fitted > 1) == (direction == "over-confident")
    np.testing.assert_allclose(fitted, temperature, rtol=5e-3)
    before = expected_calibration_error(
        data.test_labels, data.test_logits, input_type="logits"
    )
    after = expected_calibration_error(
        data.test_labels, data.test_logits / fitted, input_type="logits"
    )
    # DESCR rounds to 0.1 %.
    assert abs(100 * before - ece_before) <= 0.05 + 1e-9
    assert abs(100 * after - ece_after) <= 0.05 + 1e-9


@pytest.mark.parametrize("name", NAMES)
def test_every_example_is_miscalibrated_and_temperature_scaling_helps(name):
    data = load_example(name)
    temperature = fitted_temperature(data)
    before = expected_calibration_error(
        data.test_labels, data.test_logits, input_type="logits"
    )
    after = expected_calibration_error(
        data.test_labels, data.test_logits / temperature, input_type="logits"
    )
    assert before > 0.03
    assert after < before
    # Far from 1 in either direction, not a well-calibrated model's noise.
    assert abs(np.log(temperature)) > np.log(1.5)


def test_examples_cover_both_directions_and_both_tasks():
    directions, tasks = set(), set()
    for name in NAMES:
        data = load_example(name)
        directions.add("over" if fitted_temperature(data) > 1 else "under")
        tasks.add("binary" if data.val_logits.ndim == 1 else "multiclass")
    assert directions == {"over", "under"}
    assert tasks == {"binary", "multiclass"}


def test_load_example_returns_fresh_arrays():
    first = load_example("digits_mlp")
    original = first.val_logits.copy()
    first.val_logits[:] = 0.0
    first.val_labels[:] = -1
    second = load_example("digits_mlp")
    np.testing.assert_array_equal(second.val_logits, original)
    assert second.val_labels.min() == 0


def test_unknown_name_is_named_with_the_available_ones():
    with pytest.raises(ValueError) as excinfo:
        load_example("digit_mlp")
    message = str(excinfo.value)
    assert "'digit_mlp'" in message
    assert "Did you mean 'digits_mlp'?" in message
    for name in NAMES:
        assert repr(name) in message


def test_unknown_name_without_close_match_gets_no_suggestion():
    with pytest.raises(ValueError, match="'wine'") as excinfo:
        load_example("wine")
    assert "Did you mean" not in str(excinfo.value)
    assert "'digits_mlp'" in str(excinfo.value)


@pytest.mark.parametrize(
    "name", [None, 3, b"digits_mlp", Path("digits_mlp"), ["digits_mlp"]]
)
def test_name_must_be_a_string(name):
    with pytest.raises(TypeError, match="must be a string"):
        load_example(name)


def test_docstring_examples_run():
    # datasets/ installs as calibrate.datasets, outside the doctest collection
    # of calibrate/; run its examples on the installed module.
    result = doctest.testmod(
        calibrate.datasets._examples,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0


# -- the build ----------------------------------------------------------------


def test_build_reports_one_file_per_example(rebuilt):
    out, status, stdout = rebuilt
    assert status == 0
    printed = re.findall(r"^(\S+\.npz) \(", stdout, flags=re.MULTILINE)
    assert printed == [str(out / f"{name}.npz") for name in EXAMPLES]
    assert sorted(path.name for path in out.iterdir()) == [
        f"{name}.npz" for name in NAMES
    ]


@pytest.mark.parametrize("name", NAMES)
def test_rebuilt_example_matches_the_shipped_one(rebuilt, name):
    out, _, _ = rebuilt
    shipped, fresh = read_npz(shipped_path(name)), read_npz(out / f"{name}.npz")
    assert list(fresh) == list(shipped)
    for key in ("val_labels", "test_labels"):
        assert fresh[key].dtype == shipped[key].dtype
        np.testing.assert_array_equal(fresh[key], shipped[key], err_msg=key)
    for key in ("val_logits", "test_logits"):
        assert fresh[key].dtype == shipped[key].dtype
        assert fresh[key].shape == shipped[key].shape
        np.testing.assert_allclose(
            fresh[key], shipped[key], rtol=0, atol=LOGIT_ATOL, err_msg=key
        )
    # Only the measured line may differ in its last digit on another BLAS.
    fresh_lines = str(fresh["DESCR"]).splitlines()
    shipped_lines = str(shipped["DESCR"]).splitlines()
    assert fresh_lines[:-1] == shipped_lines[:-1]
    assert stated(fresh_lines[-1])[0] == stated(shipped_lines[-1])[0]
    # Where the arrays come out bit for bit equal (every example on the machine
    # that built the shipped files, and with the same library versions), the
    # files must be byte-identical: nothing else, no timestamp, goes in.
    if all(np.array_equal(fresh[key], shipped[key]) for key in KEYS):
        assert (out / f"{name}.npz").read_bytes() == shipped_path(name).read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_rewriting_the_shipped_arrays_gives_the_shipped_bytes(tmp_path, name):
    # Holds on any machine: the bytes depend on the arrays only.
    path = tmp_path / f"{name}.npz"
    write_npz(path, read_npz(shipped_path(name)))
    assert path.read_bytes() == shipped_path(name).read_bytes()


def test_write_npz_refuses_object_arrays(tmp_path):
    with pytest.raises(ValueError):
        write_npz(tmp_path / "x.npz", {"a": np.array([1, "a"], dtype=object)})


def test_mlp_logits_are_the_pre_softmax_outputs(rng):
    X = rng.normal(size=(80, 5))
    y = rng.integers(0, 3, size=80)
    model = MLPClassifier(
        hidden_layer_sizes=(8, 6), solver="lbfgs", max_iter=30, random_state=0
    )
    with warnings.catch_warnings():
        # 30 iterations are enough to get weights; convergence is irrelevant.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    logits = mlp_logits(model, X)
    assert logits.shape == (80, 3)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        shifted / shifted.sum(axis=1, keepdims=True),
        model.predict_proba(X),
        rtol=1e-10,
        atol=1e-15,
    )


def test_mlp_logits_refuse_other_activations(rng):
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 2, size=40)
    model = MLPClassifier(
        hidden_layer_sizes=(4,), activation="tanh", max_iter=20, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    with pytest.raises(ValueError, match="ReLU"):
        mlp_logits(model, X)
