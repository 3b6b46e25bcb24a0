"""A calibrator written outside the package works everywhere once registered.

The test calibrator is a probability-space lookup table: the predicted class
(argmax of the scores) indexes a row of class frequencies learned on the
validation set, so a class never seen with a given argmax has probability
exactly 0.  Every number checked below is computed by hand from the arrays
(counts and logs), independently of the library.
"""

import json
import warnings

import numpy as np
import pytest

import calibrate.calibrators as calibrators
from calibrate import TemperatureScaling
from calibrate.calibrators import CALIBRATORS, BaseCalibrator, register
from calibrate.cli import main
from calibrate.io import calibrator_from_dict, load_calibrator, save_calibrator
from calibrate.report import load_metrics

K = 3


class ArgmaxLookup(BaseCalibrator):
    """Probability row per predicted class: weighted class frequencies."""

    _supported_tasks = ("multiclass",)
    _report_default_tasks = ()
    _help = "lookup table of class frequencies per predicted class (test only)"
    _fitted_parameters = ("table_", "seen_")
    _scalar_parameters = ()

    def __init__(self, *, input_type="logits"):
        self.input_type = input_type

    def _fit(self, Z, y, w):
        k = Z.shape[1]
        top = np.argmax(Z, axis=1)
        table = np.zeros((k, k))
        np.add.at(table, (top, y), w)
        totals = table.sum(axis=1, keepdims=True)
        # A predicted class never seen falls back to the overall frequencies.
        overall = np.bincount(y, weights=w, minlength=k)
        table = np.where(totals > 0, table / np.where(totals > 0, totals, 1), overall)
        self.table_ = table
        # Per predicted class, the classes seen with it: any length (a list of
        # arrays, to exercise the generic model-file shapes).
        self.seen_ = [np.flatnonzero(row).astype(np.float64) for row in table]

    def _calibrated_log_proba(self, Zc):
        with np.errstate(divide="ignore"):
            return np.log(self.table_)[np.argmax(Zc, axis=1)]

    def _parameter_shapes(self):
        k = self.n_features_in_
        return {"table_": (k, k), "seen_": [(None,)] * k}


@pytest.fixture
def lookup():
    """Register ArgmaxLookup as "lookup" for one test, then remove it."""
    register("lookup", ArgmaxLookup)
    try:
        yield ArgmaxLookup
    finally:
        calibrators.unregister("lookup")
    assert "lookup" not in CALIBRATORS


def make_data(rng, n, *, impossible_test_row):
    """Scores whose argmax-0 rows never have label 2 on validation."""
    Z = rng.normal(size=(n, K)) * 2
    y = rng.integers(0, K, size=n)
    top = np.argmax(Z, axis=1)
    y[(top == 0) & (y == 2)] = 1  # class 2 never follows a predicted 0
    Zt = rng.normal(size=(n, K)) * 2
    yt = rng.integers(0, K, size=n)
    topt = np.argmax(Zt, axis=1)
    yt[(topt == 0) & (yt == 2)] = 0
    if impossible_test_row:
        i = int(np.flatnonzero(topt == 0)[0])
        yt[i] = 2
    return Z, y, Zt, yt


def hand_table(Z, y):
    top = np.argmax(Z, axis=1)
    table = np.zeros((K, K))
    for a in range(K):
        for c in range(K):
            table[a, c] = np.sum((top == a) & (y == c)) / np.sum(top == a)
    return table


def hand_nll(table, Zt, yt):
    p = table[np.argmax(Zt, axis=1), yt]
    with np.errstate(divide="ignore"):
        return float(np.mean(-np.log(p)))


def write(tmp_path, **arrays):
    paths = {}
    for key, value in arrays.items():
        np.save(tmp_path / f"{key}.npy", value)
        paths[key] = str(tmp_path / f"{key}.npy")
    return paths


def test_register_rejects_bad_entries(lookup):
    with pytest.raises(ValueError, match="lookup"):
        register("lookup", ArgmaxLookup)  # already registered
    register("lookup", ArgmaxLookup, replace=True)
    with pytest.raises((TypeError, ValueError)):
        register("not a calibrator", int)


def test_facts_are_read_from_the_classes(lookup):
    assert ArgmaxLookup._output_space == "probability"
    assert TemperatureScaling._output_space == "logit"
    assert calibrators.default_methods("multiclass") == tuple(
        n for n, c in CALIBRATORS.items() if "multiclass" in c._report_default_tasks
    )
    assert "lookup" not in calibrators.default_methods("multiclass")
    for cls in CALIBRATORS.values():
        assert cls._help and "\n" not in cls._help
        assert cls._output_space in ("logit", "probability")


def test_probability_zero_predicts_and_round_trips(lookup, rng, tmp_path):
    Z, y, Zt, yt = make_data(rng, 600, impossible_test_row=True)
    cal = ArgmaxLookup().fit(Z, y)
    table = hand_table(Z, y)
    np.testing.assert_allclose(cal.table_, table, rtol=1e-12)
    assert table[0, 2] == 0
    top = np.argmax(Zt, axis=1)
    proba = cal.predict_proba(Zt)
    np.testing.assert_allclose(proba, table[top], rtol=1e-12)
    log_proba = cal.predict_log_proba(Zt)
    assert np.all(log_proba[top == 0, 2] == -np.inf)
    assert np.array_equal(cal.transform(Zt), log_proba)  # log-probabilities
    assert np.array_equal(cal.predict(Zt), np.argmax(table[top], axis=1))

    save_calibrator(cal, tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["method"] == "lookup" and doc["class"] == "ArgmaxLookup"
    assert "n_iter_" not in doc["fitted"]
    loaded = load_calibrator(tmp_path / "m.json")
    assert type(loaded) is ArgmaxLookup
    assert np.array_equal(loaded.table_, cal.table_)  # exact float round trip
    for a, b in zip(loaded.seen_, cal.seen_, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(loaded.predict_log_proba(Zt), log_proba)

    # A malformed list entry is refused by the generic validation.
    bad = json.loads(json.dumps(doc))
    bad["fitted"]["seen_"] = bad["fitted"]["seen_"][:2]
    with pytest.raises(ValueError, match="seen_"):
        calibrator_from_dict(bad)
    bad = json.loads(json.dumps(doc))
    bad["fitted"]["table_"]["shape"] = [K, K - 1]
    with pytest.raises(ValueError, match="table_"):
        calibrator_from_dict(bad)


def test_unregistered_class_is_not_loaded(rng, tmp_path):
    Z, y, _, _ = make_data(rng, 300, impossible_test_row=False)
    register("lookup", ArgmaxLookup)
    try:
        save_calibrator(ArgmaxLookup().fit(Z, y), tmp_path / "m.json")
    finally:
        calibrators.unregister("lookup")
    with pytest.raises(ValueError, match="lookup"):
        load_calibrator(tmp_path / "m.json")


def test_nan_and_positive_log_proba_refused(lookup, rng):
    Z, y, Zt, _ = make_data(rng, 300, impossible_test_row=False)
    cal = ArgmaxLookup().fit(Z, y)
    cal.table_ = cal.table_.copy()
    cal.table_[np.argmax(Zt[0])] = np.nan
    with pytest.raises(ValueError, match="row 0"):
        cal.predict_proba(Zt)
    cal.table_[np.argmax(Zt[0])] = [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="sum to"):
        cal.predict_proba(Zt)


@pytest.mark.parametrize("impossible", [False, True])
def test_every_command_runs_a_registered_method(
    lookup, rng, tmp_path, capsys, impossible
):
    Z, y, Zt, yt = make_data(rng, 800, impossible_test_row=impossible)
    paths = write(tmp_path, val=Z, val_y=y, test=Zt, test_y=yt)
    table = hand_table(Z, y)
    model = str(tmp_path / "model.json")

    assert main(["fit", paths["val"], paths["val_y"], "--method", "lookup",
                 "-o", model]) == 0  # fmt: skip
    capsys.readouterr()
    fitted = load_calibrator(model)
    np.testing.assert_allclose(fitted.table_, table, rtol=1e-12)

    out = str(tmp_path / "probs.npy")
    assert main(["apply", model, paths["test"], "-o", out]) == 0
    assert np.array_equal(np.load(out), fitted.predict_proba(Zt))
    np.testing.assert_allclose(np.load(out), table[np.argmax(Zt, axis=1)])
    assert main(["apply", model, paths["test"], "-o", str(tmp_path / "l.npy"),
                 "--kind", "logits"]) != 0  # fmt: skip
    capsys.readouterr()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(["evaluate", paths["test"], paths["test_y"], "--model", model,
                       "--metrics", "nll", "--json"])  # fmt: skip
    assert status == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    after = doc["metrics"]["nll"]["after"]
    expected = hand_nll(table, Zt, yt)
    said = " ".join(str(w.message) for w in caught) + captured.err
    if impossible:
        assert expected == np.inf
        assert after in (None, "inf", "Infinity", float("inf")) or after == np.inf
        assert "probability 0" in said
    else:
        assert np.isfinite(expected)
        assert after == pytest.approx(expected, rel=1e-12)
        assert "probability 0" not in said

    png = str(tmp_path / "d.png")
    assert main(["plot", paths["test"], paths["test_y"], "--model", model,
                 "-o", png]) == 0  # fmt: skip
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    rep = tmp_path / "report"
    argv = ["report", "--val", paths["val"], paths["val_y"], "--test",
            paths["test"], paths["test_y"], "--methods", "temperature,lookup",
            "--n-bootstrap", "10", "--format", "json", "-o", str(rep)]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    capsys.readouterr()
    table = load_metrics(rep / "report.json")
    assert list(table.index) == ["uncalibrated", "temperature", "lookup"]
    nll = table.loc["lookup", ("nll", "value")]
    if impossible:
        assert np.isnan(nll) or nll == np.inf  # JSON has no infinity
    else:
        assert nll == pytest.approx(expected, rel=1e-12)


def test_report_defaults_and_nested_parameters_read_the_registry(lookup):
    from calibrate.io import calibrator_to_dict
    from calibrate.report import DEFAULT_METHODS

    class DefaultLookup(ArgmaxLookup):
        _report_default_tasks = ("multiclass",)

    register("lookup", DefaultLookup, replace=True)
    assert calibrators.default_methods("multiclass")[-1] == "lookup"
    assert DEFAULT_METHODS["multiclass"][-1] == "lookup"
    assert "lookup" not in DEFAULT_METHODS["binary"]

    # Constructor parameters may be lists and (unfitted) calibrators.
    class Wrapped(ArgmaxLookup):
        def __init__(self, *, input_type="logits", base=None, weights=None):
            self.input_type = input_type
            self.base = base
            self.weights = weights

    register("wrapped", Wrapped)
    try:
        Z = np.eye(K) * 2
        cal = Wrapped(base=TemperatureScaling(max_iter=7), weights=[1, 2.5]).fit(
            Z, np.arange(K)
        )
        doc = json.loads(json.dumps(calibrator_to_dict(cal)))
        assert doc["params"]["weights"] == [1, 2.5]
        assert doc["params"]["base"] == {
            "calibrator": {
                "method": "temperature",
                "class": "TemperatureScaling",
                "params": {"input_type": "logits", "max_iter": 7},
            }
        }
        copy = calibrator_from_dict(doc)
        assert type(copy.base) is TemperatureScaling and copy.base.max_iter == 7
        assert copy.weights == [1, 2.5]
        assert np.array_equal(copy.predict_proba(Z), cal.predict_proba(Z))
    finally:
        calibrators.unregister("wrapped")


def test_version_1_file_still_loads(rng):
    # A file as the format-1 writer produced it (before the registry name was
    # stored): the class is resolved by its name among the registered classes.
    v1 = {
        "format": "calibrate.calibrator",
        "format_version": 1,
        "library_version": "0.1.0",
        "class": "TemperatureScaling",
        "params": {"input_type": "logits", "max_iter": 100},
        "fitted": {
            "classes_": {"dtype": "int64", "shape": [3], "data": [0, 1, 2]},
            "n_features_in_": 3,
            "n_iter_": 2,
            "task_": "multiclass",
            "temperature_": 1.8731529271457152,
        },
    }
    cal = calibrator_from_dict(json.loads(json.dumps(v1)))
    assert type(cal) is TemperatureScaling
    assert cal.temperature_ == 1.8731529271457152
    Z = rng.normal(size=(5, 3))
    expected = Z / 1.8731529271457152
    expected = expected - np.log(np.exp(expected).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(cal.predict_log_proba(Z), expected, rtol=1e-12)
