"""Tests for ``calibrate plot``: the file holds the library's diagram."""

import io
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from calibrate import TemperatureScaling
from calibrate.cli import main
from calibrate.io import save_calibrator
from calibrate.plotting import ReliabilityComparisonDisplay, ReliabilityDisplay

pytest.importorskip("matplotlib")


def pixels(source):
    from matplotlib.image import imread

    return imread(source, format="png")


def rendered(display, dpi=150):
    buffer = io.BytesIO()
    display.figure_.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    return pixels(buffer)


@pytest.mark.parametrize("container", ["npy", "npz"])
def test_png_is_the_library_display(container, write_scores, tmp_path, capsys):
    files = write_scores("multiclass")
    args, arrays = files[container], files["arrays"]
    out = tmp_path / "diagram.png"
    argv = [
        "plot",
        args["test_scores"],
        args["test_labels"],
        "-o",
        str(out),
        "--n-bins",
        "10",
        "--strategy",
        "quantile",
        "--name",
        "resnet",
    ]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    expected = ReliabilityDisplay.from_predictions(
        arrays["test_labels"],
        arrays["test_scores"],
        input_type="logits",
        n_bins=10,
        strategy="quantile",
        name="resnet",
    )
    assert np.array_equal(pixels(str(out)), rendered(expected))
    # Different options draw a different picture: the comparison can fail.
    other = ReliabilityDisplay.from_predictions(
        arrays["test_labels"],
        arrays["test_scores"],
        input_type="logits",
        n_bins=15,
        name="resnet",
    )
    assert not np.array_equal(pixels(str(out)), rendered(other))


def test_model_draws_the_comparison(write_scores, tmp_path):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    calibrator = TemperatureScaling().fit(arrays["val_scores"], arrays["val_labels"])
    save_calibrator(calibrator, tmp_path / "model.json")
    out = tmp_path / "comparison.png"
    argv = [
        "plot",
        files["npy"]["test_scores"],
        files["npy"]["test_labels"],
        "--model",
        str(tmp_path / "model.json"),
        "-o",
        str(out),
        "--dpi",
        "60",
    ]
    assert main(argv) == 0
    expected = ReliabilityComparisonDisplay.from_calibrators(
        {"TemperatureScaling (model.json)": calibrator},
        arrays["test_scores"],
        arrays["test_labels"],
    )
    assert np.array_equal(pixels(str(out)), rendered(expected, dpi=60))


@pytest.mark.parametrize("suffix", [".svg", ".pdf", ".PNG"])
def test_format_follows_the_suffix(suffix, write_scores, tmp_path):
    args = write_scores("binary")["npy"]
    out = tmp_path / f"diagram{suffix}"
    assert main(["plot", args["test_scores"], args["test_labels"], "-o", str(out)]) == 0
    data = out.read_bytes()
    if suffix == ".svg":
        assert ET.fromstring(data).tag.endswith("svg")
    elif suffix == ".pdf":
        assert data.startswith(b"%PDF-")
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix[:3] != ".np")
    assert written == [out.name]  # and no temporary file


def test_multilabel_defaults_to_classwise(write_scores, tmp_path):
    files = write_scores("multilabel")
    args, arrays = files["npy"], files["arrays"]
    out = tmp_path / "labels.png"
    assert (
        main(
            [
                "plot",
                args["test_scores"],
                args["test_labels"],
                "-o",
                str(out),
                "--dpi",
                "50",
            ]
        )
        == 0
    )
    expected = ReliabilityDisplay.from_predictions(
        arrays["test_labels"],
        arrays["test_scores"],
        input_type="logits",
        reduction="classwise",
    )
    assert np.array_equal(pixels(str(out)), rendered(expected, dpi=50))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown suffix", "the diagram must end in .png or .svg or .pdf"),
        ("existing output", "already exists; pass --force"),
        ("classwise comparison", "classwise grids are not drawn side by side"),
        ("positive on multiclass", "reduction='positive'"),
    ],
)
def test_bad_input_exits_1_and_writes_nothing(
    case, message, write_scores, tmp_path, capsys
):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    save_calibrator(
        TemperatureScaling().fit(arrays["val_scores"], arrays["val_labels"]),
        tmp_path / "model.json",
    )
    out = tmp_path / "d.png"
    extra = []
    if case == "unknown suffix":
        out = tmp_path / "d.jpg"
    elif case == "existing output":
        out.write_bytes(b"keep")
    elif case == "classwise comparison":
        extra = ["--model", str(tmp_path / "model.json"), "--reduction", "classwise"]
    elif case == "positive on multiclass":
        extra = ["--reduction", "positive"]
    before = sorted(os.listdir(tmp_path))
    argv = [
        "plot",
        files["npy"]["test_scores"],
        files["npy"]["test_labels"],
        *extra,
        "-o",
        str(out),
    ]
    # --model with --reduction classwise is wrong whatever the data: a usage
    # error (exit 2), as in every command.
    assert main(argv) == (2 if case == "classwise comparison" else 1)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert sorted(os.listdir(tmp_path)) == before
    if case == "existing output":
        assert out.read_bytes() == b"keep"


def test_name_reaches_the_comparison(write_scores, tmp_path):
    files = write_scores("multiclass")
    arrays = files["arrays"]
    calibrator = TemperatureScaling().fit(arrays["val_scores"], arrays["val_labels"])
    save_calibrator(calibrator, tmp_path / "model.json")
    out = tmp_path / "named.png"
    argv = [
        "plot",
        files["npy"]["test_scores"],
        files["npy"]["test_labels"],
        "--model",
        str(tmp_path / "model.json"),
        "--name",
        "temperature",
        "-o",
        str(out),
        "--dpi",
        "40",
    ]
    assert main(argv) == 0
    expected = ReliabilityComparisonDisplay.from_calibrators(
        {"temperature": calibrator}, arrays["test_scores"], arrays["test_labels"]
    )
    assert np.array_equal(pixels(str(out)), rendered(expected, dpi=40))


def test_multilabel_with_a_model_says_what_to_do(write_scores, tmp_path, capsys):
    from calibrate import PlattScaling

    files = write_scores("multilabel")
    arrays = files["arrays"]
    save_calibrator(
        PlattScaling().fit(arrays["val_scores"], arrays["val_labels"]),
        tmp_path / "model.json",
    )
    argv = [
        "plot",
        files["npy"]["test_scores"],
        files["npy"]["test_labels"],
        "--model",
        str(tmp_path / "model.json"),
        "-o",
        str(tmp_path / "p.png"),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "multilabel data have no top-label diagram" in err
    # The suggested commands keep the model's input type and ask for classwise.
    assert "--input-type logits --reduction classwise -o before.png" in err
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("dpi", ["0", "inf", "nan", "-3", "lots"])
def test_bad_dpi_is_a_usage_error_naming_the_option(
    dpi, write_scores, tmp_path, capsys
):
    # Before: --dpi inf reached matplotlib ("cannot convert float NaN").
    files = write_scores("multiclass")["npy"]
    argv = ["plot", files["test_scores"], files["test_labels"], "--dpi", dpi]
    assert main([*argv, "-o", str(tmp_path / "d.png")]) == 2
    assert "argument --dpi" in capsys.readouterr().err
    assert not (tmp_path / "d.png").exists()


def test_kind_smooth_is_the_library_smooth_display(write_scores, tmp_path, capsys):
    files = write_scores("multiclass", n=1000)
    args, arrays = files["npy"], files["arrays"]
    out = tmp_path / "smooth.png"
    argv = ["plot", args["test_scores"], args["test_labels"], "--kind", "smooth"]
    assert main([*argv, "-o", str(out)]) == 0
    expected = ReliabilityDisplay.from_predictions(
        arrays["test_labels"], arrays["test_scores"], input_type="logits", kind="smooth"
    )
    assert np.array_equal(pixels(str(out)), rendered(expected))
    binned = ReliabilityDisplay.from_predictions(
        arrays["test_labels"], arrays["test_scores"], input_type="logits"
    )
    assert not np.array_equal(pixels(str(out)), rendered(binned))
    # one smoothed curve: not beside a model, not of a classwise grid
    code = main([*argv, "--reduction", "classwise", "-o", str(tmp_path / "cw.png")])
    assert code == 1
    assert "--kind smooth draws one smoothed curve" in capsys.readouterr().err
    assert not (tmp_path / "cw.png").exists()
