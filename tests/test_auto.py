"""AutoCalibration: K-fold choice with the one-standard-error rule, then a refit."""

import numpy as np
import pytest
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from calibrate import AutoCalibration, MatrixScaling, TemperatureScaling
from calibrate.datasets import load_example


def test_does_not_pick_matrix_scaling_where_it_over_fits():
    d = load_example("digits_mlp")
    auto = AutoCalibration(random_state=0).fit(d.val_logits, d.val_labels)
    assert auto.best_method_ != "matrix"
    # The fact that makes this right, computed independently: matrix scaling's
    # test NLL is twice temperature scaling's here.
    labels = np.arange(10)
    nll = {
        cls.__name__: log_loss(
            d.test_labels,
            cls().fit(d.val_logits, d.val_labels).predict_proba(d.test_logits),
            labels=labels,
        )
        for cls in (TemperatureScaling, MatrixScaling)
    }
    assert nll["MatrixScaling"] > 1.8 * nll["TemperatureScaling"]


def test_cv_results_are_the_held_out_scores_of_each_candidate():
    d = load_example("digits_logistic_regression")
    z, y = d.val_logits, d.val_labels
    auto = AutoCalibration(["temperature", "vector"], cv=3, random_state=1).fit(z, y)
    table = auto.cv_results_.set_index("method")
    folds = StratifiedKFold(3, shuffle=True, random_state=1).split(z, y)
    for i, (train, test) in enumerate(folds):
        cal = TemperatureScaling().fit(z[train], y[train])
        expected = log_loss(y[test], cal.predict_proba(z[test]), labels=np.arange(10))
        got = table.loc["temperature", f"fold_{i}"]
        assert got == pytest.approx(expected, rel=1e-9)
    scores = table.loc["vector", ["fold_0", "fold_1", "fold_2"]].to_numpy(float)
    assert table.loc["vector", "mean"] == pytest.approx(scores.mean())
    assert table.loc["vector", "std_error"] == pytest.approx(
        scores.std(ddof=1) / np.sqrt(3)
    )


def test_one_standard_error_rule_prefers_fewer_parameters():
    d = load_example("digits_logistic_regression")
    auto = AutoCalibration(random_state=0).fit(d.val_logits, d.val_labels)
    table = auto.cv_results_
    best = table.loc[table["mean"].idxmin()]
    within = table[table["mean"] <= best["mean"] + best["std_error"]]
    expected = within.sort_values(["n_parameters", "mean"]).iloc[0]["method"]
    assert auto.best_method_ == expected
    assert table.loc[table["chosen"], "method"].tolist() == [expected]
    # The refit on all rows is what predicts.
    refit = type(auto.best_estimator_)().fit(d.val_logits, d.val_labels)
    P, Q = auto.predict_proba(d.test_logits), refit.predict_proba(d.test_logits)
    np.testing.assert_allclose(P, Q, atol=1e-12)


def test_binary_candidates_come_from_the_registry():
    d = load_example("breast_cancer_svm")
    auto = AutoCalibration(random_state=0).fit(d.val_logits, d.val_labels)
    assert set(auto.cv_results_["method"]) == {"temperature", "platt"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"methods": ["nope"]}, "methods must name registered calibrators"),
        ({"methods": ["vector"]}, "do not support binary"),
        ({"cv": 1}, "cv must be an integer >= 2"),
        ({"scoring": "auc"}, "scoring must be one of"),
        ({"cv": 500}, "folds need at least 500 rows"),
    ],
)
def test_bad_settings_get_one_clear_line(kwargs, match):
    d = load_example("breast_cancer_svm")
    with pytest.raises(ValueError, match=match):
        AutoCalibration(**kwargs).fit(d.val_logits, d.val_labels)


def test_fit_command_prints_the_table_and_saves_the_choice(tmp_path, capsys):
    from calibrate.cli import main
    from calibrate.io import load_calibrator

    d = load_example("digits_mlp")
    np.save(tmp_path / "z.npy", d.val_logits)
    np.save(tmp_path / "y.npy", d.val_labels)
    model = tmp_path / "m.json"
    argv = ["fit", str(tmp_path / "z.npy"), str(tmp_path / "y.npy"), "--method"]
    assert main([*argv, "auto", "--param", "random_state=0", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "one-standard-error rule" in out and "chosen: temperature" in out
    saved = load_calibrator(model)
    direct = AutoCalibration(random_state=0).fit(d.val_logits, d.val_labels)
    assert type(saved) is type(direct.best_estimator_)
    np.testing.assert_allclose(
        saved.predict_proba(d.test_logits),
        direct.predict_proba(d.test_logits),
        atol=1e-12,
    )


def test_report_adds_auto_as_a_method_with_its_choice_and_table():
    from calibrate.report import build_report

    d = load_example("digits_mlp")
    report = build_report(
        (d.val_logits, d.val_labels),
        (d.test_logits, d.test_labels),
        methods=["temperature", "auto"],
        n_bootstrap=20,
        random_state=0,
    )
    choice = report.diagnostics["auto"]["choice"]
    direct = AutoCalibration(random_state=0).fit(d.val_logits, d.val_labels)
    assert choice["chosen"] == direct.best_method_
    means = {r["method"]: r["mean"] for r in choice["cv_results"]}
    table = direct.cv_results_
    expected = dict(zip(table["method"], table["mean"], strict=True))
    assert means == pytest.approx(expected, rel=1e-12)
    from calibrate.report._render import render_html

    assert f"chose {direct.best_method_}" in render_html(report)
