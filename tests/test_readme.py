"""The README's commands and code run as written.

Every ```python block is executed (its asserts are the checks), every ```sh
block (the shell tour) runs in bash with ``errexit`` so each of its commands
must succeed, the ```text block shows what the tour's ``calibrate fit``
prints, the first ```bash command must write the report of a bundled example,
the test command must be the one CI runs, the examples table must state what
the examples measure, the reports in ``reports/`` must hold what the code
computes, and the layout must not list as present a path that does not exist.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fenced_blocks(language):
    return [
        body for lang, body in FENCE.findall(README.read_text()) if lang == language
    ]


PYTHON_BLOCKS = fenced_blocks("python")


def exec_block(code):
    """Run one ```python block; a metric it registers is forgotten after it."""
    from calibrate.metrics import METRICS

    saved = dict(METRICS)
    try:
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    finally:
        METRICS.clear()
        METRICS.update(saved)


def test_readme_has_python_blocks():
    assert len(PYTHON_BLOCKS) >= 1


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text()
    first_two = [lang for lang, _ in FENCE.findall(text)[:2]]
    assert first_two == ["bash", "bash"]
    install, tests = fenced_blocks("bash")[:2]
    assert install.startswith("pip install -e . && calibrate report --example ")
    assert tests.strip() == 'pip install -e ".[test]" && pytest'


def test_ci_runs_the_readme_test_command():
    test_command = fenced_blocks("bash")[1].strip()
    script = (REPO / ".ci" / "run").read_text().splitlines()
    commands = [line for line in script if line.strip() and not line.startswith("#")]
    # Last, so that its status (a failed install or a failed test) is the
    # script's exit status.
    assert commands[-1] == test_command


@pytest.mark.parametrize(
    "code", PYTHON_BLOCKS, ids=[f"block{i}" for i in range(len(PYTHON_BLOCKS))]
)
def test_python_block_runs(code, tmp_path, monkeypatch):
    # Files the tour writes (temperature.json) land in a temporary directory.
    monkeypatch.chdir(tmp_path)
    exec_block(code)


SHELL_BLOCKS = fenced_blocks("sh")


def run_shell_tour(folder):
    (tour,) = SHELL_BLOCKS
    return subprocess.run(
        ["bash", "-o", "errexit", "-o", "nounset", "-o", "pipefail", "-c", tour],
        cwd=folder,
        env={**os.environ, "PATH": _console_path()},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_shell_tour_runs_every_command(tmp_path):
    assert len(SHELL_BLOCKS) == 1
    (tour,) = SHELL_BLOCKS
    commands = [line for line in tour.splitlines() if line.startswith("calibrate ")]
    assert {c.split()[1] for c in commands} == {"fit", "apply", "evaluate", "plot"}
    result = run_shell_tour(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""

    # What the tour says each command writes is there.
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["metrics"]["nll"]["after"] < metrics["metrics"]["nll"]["before"]
    probs = np.load(tmp_path / "test_probs.npy")
    assert probs.shape == (20_000, 10)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (tmp_path / "diagram.png").read_bytes().startswith(b"\x89PNG")
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["class"] == "MatrixScaling"  # the last fit replaced it (--force)
    assert model["params"]["reg_lambda"] == 0.01

    # The output shown in the README is what the first fit printed.
    (shown,) = [b for b in fenced_blocks("text") if "fitted TemperatureScaling" in b]
    assert shown in result.stdout


def test_the_tours_run_one_after_the_other_in_one_folder(tmp_path, monkeypatch):
    # A reader who follows the README runs its Python and shell blocks in
    # the order they come, in one folder: no file of one may stop another
    # (the shell tour's first fit refuses an existing model.json, as it
    # should, and the Python tour used to save one).
    monkeypatch.chdir(tmp_path)
    blocks = [(lang, body) for lang, body in FENCE.findall(README.read_text())]
    ran = []
    for lang, body in blocks:
        if lang == "python":
            exec_block(body)
        elif lang == "sh":
            result = run_shell_tour(tmp_path)
            assert result.returncode == 0, result.stderr
            assert result.stderr == ""
        else:
            continue
        ran.append(lang)
    # The shell tour comes after Python blocks that write files here.
    assert "sh" in ran and ran.index("sh") > 0
    assert "temperature.json" in os.listdir(tmp_path)


def _console_path():
    # The interpreter running the tests, and its console scripts, come first.
    return os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])


def test_first_command_writes_the_report_of_a_bundled_example(tmp_path):
    from calibrate.datasets import load_example
    from calibrate.metrics import METRICS
    from calibrate.report import REPORT_SCHEMA, load_metrics

    command = fenced_blocks("bash")[0].strip()
    install, report_command = command.split(" && ")
    assert install == "pip install -e ."
    args = shlex.split(report_command)
    assert args[:3] == ["calibrate", "report", "--example"]
    result = subprocess.run(
        args,
        cwd=tmp_path,
        env={**os.environ, "PATH": _console_path()},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = tmp_path / args[args.index("-o") + 1]
    # What the README says it writes, and that the report reads as stated.
    html = (output / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/svg+xml;base64," in html
    assert (output / "README.md").read_text().startswith("# Calibration report")
    document = json.loads((output / "report.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(document, REPORT_SCHEMA)
    data = load_example(args[3])
    nll = METRICS["nll"](data.test_labels, data.test_logits, input_type="logits")
    table = load_metrics(output / "report.json")
    assert table.loc["uncalibrated", ("nll", "value")] == pytest.approx(nll, rel=1e-12)
    assert list(table.index) == ["uncalibrated", "temperature", "vector", "matrix"]
    # "an over-confident neural network", as the README introduces it.
    assert "over-confident" in document["summary"]["direction"]
    assert document["summary"]["best"] in result.stdout


def test_examples_table_states_what_the_examples_measure():
    from calibrate import TemperatureScaling
    from calibrate.datasets import list_examples, load_example
    from calibrate.metrics import expected_calibration_error

    text = README.read_text()
    rows = re.findall(
        r"^\| `(\w+)` \|.*\| (\d+) / (\d+) \| (over|under)-confident \| "
        r"([\d.]+) \| ([\d.]+) % → ([\d.]+) % \|$",
        text,
        re.MULTILINE,
    )
    assert sorted(r[0] for r in rows) == list_examples()
    for name, n_val, n_test, direction, temperature, before, after in rows:
        data = load_example(name)
        assert (len(data.val_labels), len(data.test_labels)) == (
            int(n_val),
            int(n_test),
        )
        ts = TemperatureScaling().fit(data.val_logits, data.val_labels)
        assert f"{ts.temperature_:.3g}" == temperature
        assert (ts.temperature_ > 1) == (direction == "over")
        ece = [
            expected_calibration_error(data.test_labels, s, input_type="logits")
            for s in (data.test_logits, ts.transform(data.test_logits))
        ]
        assert [f"{100 * e:.1f}" for e in ece] == [before, after]


@pytest.mark.parametrize("name", sorted(os.listdir(REPO / "reports")))
def test_shipped_reports_hold_what_the_code_computes(name):
    """reports/ is what `calibrate report --example all -o reports` writes now."""
    from calibrate.datasets import list_examples, load_example
    from calibrate.report import build_report, load_metrics

    assert sorted(os.listdir(REPO / "reports")) == list_examples()
    folder = REPO / "reports" / name
    shipped = load_metrics(folder / "report.json")
    document = json.loads((folder / "report.json").read_text())
    assert {"report.html", "README.md", "metrics.png"} <= set(os.listdir(folder))
    data = load_example(name)
    meta = document["metadata"]
    report = build_report(
        (data.val_logits, data.val_labels),
        (data.test_logits, data.test_labels),
        n_bins=meta["n_bins"],
        n_bootstrap=meta["n_bootstrap"],
        confidence_level=meta["confidence_level"],
        random_state=meta["seed"],
    )
    # The CLI's defaults, as the documented command uses them.
    assert (meta["seed"], meta["n_bootstrap"], meta["n_bins"]) == (0, 1000, 15)
    # The tolerance the fits guarantee across CPUs and BLAS kernels: vector,
    # matrix and Platt scaling stop on the gradient norm, and their fitted
    # metrics agree to 1e-7 relative (tests/test_reproducible_fits.py).  A
    # "change" column is the difference of two values of order 0.01-1, each
    # reproduced to 1e-7 relative, so its error is absolute (seen: 1.9e-9 on
    # a change of 0.0014 between OpenBLAS kernels), hence the atol.
    np.testing.assert_allclose(
        report.metrics.to_numpy(), shipped.to_numpy(), rtol=1e-7, atol=1e-8
    )
    assert list(report.metrics.index) == list(shipped.index)
    # The pages say what the JSON says (the verdict is computed, not typed).
    assert document["summary"]["best"] == report.best["sentence"]
    assert document["summary"]["direction"] == report.direction()
    page = (folder / "report.html").read_text().replace("\u00a0", " ")
    markdown = (folder / "README.md").read_text()
    for sentence in (report.best["sentence"], report.direction()):
        assert sentence in page
        assert sentence.replace("[", "\\[").replace("]", "\\]") in markdown


def layout_entries():
    """Paths listed in the README's layout block, with their descriptions."""
    layout = next(b for b in fenced_blocks("") if "pyproject.toml" in b)
    entries, parent = [], ""
    for line in layout.splitlines():
        name, _, description = line.strip().partition(" ")
        if not line.startswith(" "):
            parent = name if name.endswith("/") else ""
            path = name
        else:
            path = parent + name
        entries.append((path, description.strip()))
    return entries


def test_layout_lists_only_existing_paths_as_present():
    entries = layout_entries()
    present = [path for path, description in entries if "(coming)" not in description]
    assert "calibrate/calibrators/" in present and "cli/" in present
    missing = [path for path in present if not (REPO / path).exists()]
    assert not missing, f"README layout lists missing paths: {missing}"
