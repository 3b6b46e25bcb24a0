"""Build the wheel, install it in a fresh virtual environment, run the CLI.

`cli/` and `datasets/` sit at the top of the repository but must install as
`calibrate.cli` and `calibrate.datasets` (DESIGN.md section 2): a top-level
`datasets` in site-packages would shadow Hugging Face's.  The editable install
used for development hides mistakes here, so these tests look at the real
wheel.  Building fetches setuptools from PyPI (build isolation).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

import calibrate
from calibrate.datasets import list_examples, load_example

REPO = Path(__file__).resolve().parents[1]
VERSION = calibrate.__version__
DIST_INFO = f"calibrate-{VERSION}.dist-info"
# Not part of a source tree: build output, caches and the CI virtual
# environment.  Copying without them means a stale build/ cannot leak into the
# wheel and the build writes nothing into the checkout.
IGNORED = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
)
# What `import calibrate` needs at run time, provided by the outer environment.
RUNTIME_MODULES = ("numpy", "scipy", "sklearn", "joblib", "threadpoolctl")
# pip and the build take 10-40 s with a warm cache; this bounds a hung network.
TIMEOUT = 900


def run(args, **kwargs):
    """Run a command, returning the completed process (never raising on status)."""
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        **kwargs,
    )


def isolated_env():
    """Environment variables that cannot point the venv back at the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}
    }
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    source = tmp_path_factory.mktemp("source") / "calibrate"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*IGNORED))
    out = tmp_path_factory.mktemp("wheelhouse")
    result = run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", out],
        cwd=source,
    )
    assert result.returncode == 0, f"building the wheel failed:\n{result.stderr}"
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv_python(wheel, tmp_path_factory):
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False, symlinks=os.name != "nt")
    bindir = root / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")

    result = run(
        [sys.executable, "-m", "pip", "--python", python, "install"]
        + ["--no-deps", "--no-index", wheel],
        env=isolated_env(),
    )
    assert result.returncode == 0, f"installing the wheel failed:\n{result.stderr}"

    # Make the outer environment's dependencies importable.  A plain path line
    # in a .pth file adds the directory to sys.path but does not run the .pth
    # files inside it, so an editable `calibrate` there stays invisible; the
    # venv's own site-packages comes first on sys.path in any case.
    site = Path(
        run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=root,
            env=isolated_env(),
        ).stdout.strip()
    )
    dirs = sorted(
        {
            str(Path(importlib.util.find_spec(name).origin).parent.parent)
            for name in RUNTIME_MODULES
        }
    )
    (site / "_outer_dependencies.pth").write_text("\n".join(dirs) + "\n")
    return python


def test_wheel_holds_only_the_calibrate_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"calibrate", DIST_INFO}, sorted(tops)
    for required in (
        "calibrate/__init__.py",
        "calibrate/binning.py",
        "calibrate/cli/__init__.py",
        "calibrate/cli/__main__.py",
        "calibrate/datasets/__init__.py",
        "calibrate/datasets/_synthetic.py",
    ):
        assert required in names
    # Every module of the source tree ships: a subpackage missing from the
    # explicit list in pyproject.toml would silently drop out of the wheel.
    sources = [
        ("calibrate/" + str(path.relative_to(REPO / "calibrate")), path)
        for path in (REPO / "calibrate").rglob("*.py")
    ] + [
        (f"calibrate/{top}/" + str(path.relative_to(REPO / top)), path)
        for top in ("cli", "datasets")
        for path in (REPO / top).rglob("*.py")
    ]
    missing = [name for name, _ in sources if name not in names]
    assert not missing, missing
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]


def test_wheel_ships_the_bundled_examples(wheel):
    # Package data: without `[tool.setuptools.package-data]` the .npz files
    # stay in the checkout and load_example works only in an editable install.
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in list_examples():
            member = f"calibrate/datasets/data/{name}.npz"
            assert member in names, member
            source = REPO / "datasets" / "data" / f"{name}.npz"
            assert zf.read(member) == source.read_bytes(), member
        assert "calibrate/datasets/build_examples.py" in names


def test_wheel_declares_the_console_script(wheel):
    with zipfile.ZipFile(wheel) as zf:
        entry_points = zf.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "[console_scripts]" in entry_points
    assert "calibrate = calibrate.cli:main" in entry_points


def test_venv_site_packages_holds_only_calibrate(venv_python):
    result = run(
        [venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        cwd=venv_python.parent,
        env=isolated_env(),
    )
    site = Path(result.stdout.strip())
    entries = {p.name for p in site.iterdir()} - {"__pycache__"}
    assert entries == {"calibrate", DIST_INFO, "_outer_dependencies.pth"}


def test_installed_calibrate_is_imported_from_the_venv(venv_python, tmp_path):
    code = (
        "import calibrate, calibrate.cli, calibrate.datasets, calibrate.metrics;"
        "import calibrate.binning;"
        "print(calibrate.__file__);"
        "print(calibrate.cli.__file__);"
        "print(calibrate.datasets.__file__);"
        "print(calibrate.__version__)"
    )
    result = run([venv_python, "-c", code], cwd=tmp_path, env=isolated_env())
    assert result.returncode == 0, result.stderr
    *files, version = result.stdout.split()
    venv_root = venv_python.parent.parent.resolve()
    for file in files:
        assert Path(file).resolve().is_relative_to(venv_root), file
        assert not Path(file).resolve().is_relative_to(REPO), file
    assert version == VERSION


def test_installed_console_script_prints_the_version(venv_python, tmp_path):
    script = venv_python.parent / ("calibrate.exe" if os.name == "nt" else "calibrate")
    assert script.exists()
    result = run([script, "--version"], cwd=tmp_path, env=isolated_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"calibrate {VERSION}"


def test_installed_examples_load_from_the_venv(venv_python, tmp_path):
    # The venv's package data, not the checkout's: names, where the files are,
    # and a fingerprint of each example to compare with the source tree's.
    code = textwrap.dedent(
        """
        import json
        from importlib.resources import files
        from calibrate.datasets import list_examples, load_example
        found = {}
        for name in list_examples():
            data = load_example(name)
            found[name] = [list(data.test_logits.shape), int(data.test_labels.sum())]
        data_dir = str(files("calibrate.datasets") / "data")
        print(json.dumps({"data": data_dir, "names": list_examples(), "shapes": found}))
        """
    )
    result = run([venv_python, "-c", code], cwd=tmp_path, env=isolated_env())
    assert result.returncode == 0, result.stderr
    installed = json.loads(result.stdout)
    data_dir = Path(installed["data"]).resolve()
    assert data_dir.is_relative_to(venv_python.parent.parent.resolve())
    assert not data_dir.is_relative_to(REPO)
    assert installed["names"] == list_examples()
    for name in list_examples():
        data = load_example(name)
        assert installed["shapes"][name] == [
            list(data.test_logits.shape),
            int(data.test_labels.sum()),
        ]
