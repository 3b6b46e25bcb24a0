"""The README's commands and code run as written.

Every ```python block is executed (its asserts are the checks), every ```sh
block (the shell tour) runs in bash with ``errexit`` so each of its commands
must succeed, the ```text block shows what the tour's ``calibrate fit``
prints, the first ```bash command's Python part must print the temperature it
recovers, the test command must be the one CI runs, and the layout must not
list as present a path that does not exist.
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


def test_readme_has_python_blocks():
    assert len(PYTHON_BLOCKS) >= 1


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text()
    first_two = [lang for lang, _ in FENCE.findall(text)[:2]]
    assert first_two == ["bash", "bash"]
    install, tests = fenced_blocks("bash")[:2]
    assert install.startswith("pip install -e . && python -c ")
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
    # Files the tour writes (model.json) land in a temporary directory.
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


SHELL_BLOCKS = fenced_blocks("sh")


def test_shell_tour_runs_every_command(tmp_path):
    assert len(SHELL_BLOCKS) == 1
    (tour,) = SHELL_BLOCKS
    commands = [line for line in tour.splitlines() if line.startswith("calibrate ")]
    assert {c.split()[1] for c in commands} == {"fit", "apply", "evaluate", "plot"}
    # The interpreter running the tests, and its console scripts, come first.
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
    result = subprocess.run(
        ["bash", "-o", "errexit", "-o", "nounset", "-o", "pipefail", "-c", tour],
        cwd=tmp_path,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
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
    (shown,) = fenced_blocks("text")
    assert shown in result.stdout


def test_first_command_recovers_the_temperature(tmp_path):
    command = fenced_blocks("bash")[0].strip()
    python_part = next(
        part for part in command.split(" && ") if part.startswith("python -c ")
    )
    args = shlex.split(python_part)
    assert args[:2] == ["python", "-c"] and len(args) == 3
    result = subprocess.run(
        [sys.executable, "-c", args[2]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Issue 2: a known temperature is recovered from n = 50,000 within 2 %.
    assert float(result.stdout) == pytest.approx(2.5, rel=0.02)


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
