"""Explicit labels of the score columns: classes= and --classes."""

import numpy as np
import pytest

from calibrate import PlattScaling, TemperatureScaling, VectorScaling
from calibrate.cli import main
from calibrate.io import load_calibrator, save_calibrator


def data(rng, k=3, n=400):
    z = rng.normal(size=(n, k)) * 2
    return z, np.argmax(z / 1.5 + rng.gumbel(size=z.shape), axis=1)


@pytest.mark.parametrize("labels", [[3, 1, 2], [1, 2, 3], ["c", "a", "b"]])
@pytest.mark.parametrize("cls", [TemperatureScaling, VectorScaling])
def test_labels_map_to_columns_by_position(rng, labels, cls):
    z, index = data(rng)
    labels = np.array(labels)
    explicit = cls().fit(z, labels[index], classes=labels)
    reference = cls().fit(z, index)  # the same columns, labelled 0, 1, 2
    np.testing.assert_array_equal(explicit.classes_, labels)
    np.testing.assert_allclose(explicit.predict_proba(z), reference.predict_proba(z))
    np.testing.assert_array_equal(explicit.predict(z), labels[reference.predict(z)])


def test_binary_classes_name_the_negative_then_the_positive_label(rng):
    s = rng.normal(size=300) * 2
    y01 = (rng.random(300) < 1 / (1 + np.exp(-s / 2))).astype(int)
    names = np.array(["spam", "ham"])  # column 0 means "ham" is positive
    explicit = PlattScaling().fit(s, names[y01], classes=names)
    reference = PlattScaling().fit(s, y01)
    np.testing.assert_array_equal(explicit.classes_, names)
    np.testing.assert_allclose(explicit.predict_proba(s), reference.predict_proba(s))


@pytest.mark.parametrize(
    "classes, match",
    [
        ([1, 2, 2], r"classes holds duplicates: \[2\]"),
        ([1, 2], r"one label per column of X \(3\)"),
        ([1, 2, 4], "y holds 3, which is not in classes"),
    ],
)
def test_bad_classes_get_one_clear_line(rng, classes, match):
    z, index = data(rng)
    with pytest.raises(ValueError, match=match):
        TemperatureScaling().fit(z, np.array([3, 1, 2])[index], classes=classes)


def test_json_keeps_the_classes(rng, tmp_path):
    z, index = data(rng)
    labels = np.array([30, 10, 20])
    cal = TemperatureScaling().fit(z, labels[index], classes=labels)
    save_calibrator(cal, tmp_path / "m.json")
    loaded = load_calibrator(tmp_path / "m.json")
    np.testing.assert_array_equal(loaded.classes_, labels)
    np.testing.assert_array_equal(loaded.predict(z), cal.predict(z))


def test_cli_fit_takes_classes_and_evaluate_reads_labels_through_the_model(
    rng, tmp_path, capsys
):
    z, index = data(rng)
    labels = np.array([3, 1, 2])
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", labels[index])
    np.save(tmp_path / "c.npy", labels)
    model = tmp_path / "m.json"
    files = [str(tmp_path / "z.npy"), str(tmp_path / "y.npy")]
    assert (
        main(["fit", *files, "--classes", str(tmp_path / "c.npy"), "-o", str(model)])
        == 0
    )
    cal = load_calibrator(model)
    np.testing.assert_array_equal(cal.classes_, labels)
    reference = TemperatureScaling().fit(z, index)
    assert cal.temperature_ == pytest.approx(reference.temperature_, rel=1e-12)
    capsys.readouterr()
    assert main(["evaluate", *files, "--model", str(model), "--json"]) == 0
    # Without --classes the labels 3 cannot index 3 columns: refused.
    assert main(["fit", *files, "-o", str(tmp_path / "m2.json")]) == 1
