"""The over-fitting warning fires on the bundled fits that lose on the test set."""

import numpy as np
import pytest
from sklearn.metrics import log_loss

from calibrate import (
    DirichletCalibration,
    MatrixScaling,
    TemperatureScaling,
    VectorScaling,
)
from calibrate.calibrators._diagnostics import count_parameters, overfit_warning
from calibrate.datasets import load_example


def fitted_nll(cal, X, y):
    return log_loss(y, cal.predict_proba(X), labels=np.arange(X.shape[1]))


@pytest.mark.parametrize(
    "name, cls, warns",
    [
        ("digits_mlp", MatrixScaling, True),
        ("digits_naive_bayes", MatrixScaling, True),
        ("digits_logistic_regression", MatrixScaling, False),
        ("digits_mlp", VectorScaling, False),
        ("digits_mlp", TemperatureScaling, False),
    ],
)
def test_warning_matches_what_the_test_set_shows(name, cls, warns):
    d = load_example(name)
    ts = TemperatureScaling().fit(d.val_logits, d.val_labels)
    cal = cls().fit(d.val_logits, d.val_labels)
    message = overfit_warning(
        cal,
        len(d.val_labels),
        fitted_nll(cal, d.val_logits, d.val_labels),
        fitted_nll(ts, d.val_logits, d.val_labels),
    )
    assert (message is not None) == warns
    if warns:
        # The independent fact the warning predicts: worse than temperature
        # scaling on the held-out test rows, though far better on validation.
        assert fitted_nll(cal, d.test_logits, d.test_labels) > fitted_nll(
            ts, d.test_logits, d.test_labels
        )
        assert "110 parameters for 599 validation rows" in message
        assert "\n" not in message


@pytest.mark.parametrize(
    "cal, expected",
    [
        (TemperatureScaling(), 1),
        (VectorScaling(), 8),
        (MatrixScaling(), 20),
        (DirichletCalibration(input_type="logits"), 20),
        (DirichletCalibration("diagonal", input_type="logits"), 8),
        (DirichletCalibration("fixed_diagonal", input_type="logits"), 5),
    ],
    ids=repr,
)
def test_free_parameters_are_counted(rng, cal, expected):
    z = rng.normal(size=(200, 4)) * 2
    y = rng.integers(0, 4, 200)
    cal.fit(z, y)
    assert count_parameters(cal) == expected


@pytest.mark.parametrize("method, warns", [("matrix", True), ("vector", False)])
def test_fit_command_says_so(tmp_path, capsys, method, warns):
    from calibrate.cli import main

    d = load_example("digits_mlp")
    np.save(tmp_path / "z.npy", d.val_logits)
    np.save(tmp_path / "y.npy", d.val_labels)
    argv = ["fit", str(tmp_path / "z.npy"), str(tmp_path / "y.npy")]
    status = main([*argv, "--method", method, "-o", str(tmp_path / "m.json")])
    out, err = capsys.readouterr()
    assert status == 0
    n_params = {"matrix": 110, "vector": 20}[method]
    assert f"{n_params} parameters for 599 validation rows" in out
    assert ("may be over-fitted" in err) == warns


def test_report_shows_parameter_counts_and_the_warning():
    from calibrate.report import build_report

    d = load_example("digits_mlp")
    report = build_report(
        (d.val_logits, d.val_labels),
        (d.test_logits, d.test_labels),
        methods=["temperature", "matrix"],
        n_bootstrap=20,
        random_state=0,
    )
    assert report.diagnostics["matrix"]["n_parameters"] == 110
    assert report.diagnostics["temperature"]["n_parameters"] == 1
    flagged = [
        w for w in report.diagnostics["matrix"]["warnings"] if "over-fitted" in w
    ]
    assert len(flagged) == 1
    assert not any(
        "over-fitted" in w for w in report.diagnostics["temperature"]["warnings"]
    )
    assert any("over-fitted" in w["message"] for w in report.warnings)
