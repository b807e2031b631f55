"""The release as users get it: one definition, a wheel that works alone, the Colab setup cell.

The wheel is built here offline (``pip wheel --no-build-isolation``) from a copy of the
package files, installed with ``--no-deps --target`` into a scratch folder and imported
from there, outside the source tree. ``make release-check`` does the full version of this
(fresh virtual environment, ``train`` extra, demo and two lessons).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import tomllib

from peprkit import __version__, _release

ROOT = Path(__file__).resolve().parents[1]


def test_release_is_defined_once():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"] and "version" not in pyproject["project"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "peprkit._release.__version__"}
    assert _release.RELEASE_TAG == f"v{__version__}"
    assigned = re.compile(
        r"""=\s*f?["'](v?\d+\.\d+\.\d+|https://github\.com/[\w.-]+/[\w.-]+)["']""")
    for path in sorted((ROOT / "peprkit").rglob("*.py")):
        if path.name != "_release.py":
            hits = assigned.findall(path.read_text())
            assert not hits, f"{path.relative_to(ROOT)} defines {hits}: import peprkit._release"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built offline from a copy of the package files."""
    # asked in a fresh interpreter: pip's internals, imported by the bundle tests, load the
    # standard library's distutils, after which setuptools no longer imports in this process
    probe = subprocess.run([sys.executable, "-c", "import setuptools"], capture_output=True)
    if probe.returncode:
        pytest.skip("setuptools is not installed: the wheel cannot be built offline")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "peprkit", src / "peprkit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(out), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (found,) = out.glob("peprkit-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed (no dependencies) into a scratch folder: the folder."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def test_wheel_carries_the_package_data_and_the_release(wheel):
    assert wheel.name == f"peprkit-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "peprkit/meter/carbon_intensity.csv" in names and "peprkit/_release.py" in names
    assert _release.CONSTRAINTS_FILE in names  # the Colab cell reads it from a local wheel
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "benchmarks/"))]
    meta = zipfile.ZipFile(wheel).read(f"peprkit-{__version__}.dist-info/METADATA").decode()
    assert f"Version: {__version__}" in meta and "Provides-Extra: train" in meta
    assert re.search(r"Requires-Dist: torch.*extra == \"train\"", meta)
    # NVML (the GPU's energy) comes with `train`, which Colab and `make demo` install;
    # `gpu` still names it alone
    assert re.search(r"Requires-Dist: nvidia-ml-py.*extra == \"train\"", meta)
    assert re.search(r"Requires-Dist: nvidia-ml-py.*extra == \"gpu\"", meta)
    assert "[console_scripts]\npeprkit = peprkit.cli:main" in zipfile.ZipFile(wheel).read(
        f"peprkit-{__version__}.dist-info/entry_points.txt").decode()


def test_installed_wheel_works_without_the_source_tree(installed, tmp_path):
    code = (
        "import json, peprkit, peprkit.cli\n"
        "from peprkit import _paths\n"
        "from importlib.resources import files\n"
        "from peprkit.meter.carbon import carbon_table\n"
        "print(json.dumps({'file': peprkit.__file__, 'tree': str(_paths.source_tree()),\n"
        "                  'rows': len(carbon_table()), 'constraints':\n"
        "                  files('peprkit').joinpath('_colab_constraints.txt').read_text()}))\n"
        "raise SystemExit(peprkit.cli.main(['--version']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(installed)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first, version = done.stdout.strip().splitlines()
    facts = json.loads(first)
    assert Path(facts["file"]).is_relative_to(installed), facts
    assert facts["tree"] == "None" and facts["rows"] > 50, facts
    assert facts["constraints"] == (ROOT / _release.CONSTRAINTS_FILE).read_text()
    assert version == f"peprkit {__version__}"


# --- the Colab setup cell ----------------------------------------------------------------
def _setup_cell() -> str:
    from peprkit.course.authoring import header_sources

    (source,) = [src for kind, src in header_sources("01_pepr_metric")
                 if kind == "code" and "google.colab" in src and "pip" in src]
    return source


def _run_setup(monkeypatch, spec: str | None, returncodes=(0,), calls: list | None = None):
    """Execute the setup cell "in Colab" with pip replaced; returns the first pip call's
    arguments (after ``pip install -q``); ``calls`` collects every call, with the text of
    the constraints file each names (read while the cell runs)."""
    calls = [] if calls is None else calls
    codes = iter(returncodes)

    def fake_run(cmd, **kwargs):
        named = cmd[cmd.index("-c") + 1] if "-c" in cmd else None
        text = Path(named).read_text() if named and Path(named).is_file() else None
        calls.append((cmd, text))
        return types.SimpleNamespace(returncode=next(codes), stdout="pip says hello",
                                     stderr="ERROR: no such wheel")

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    if spec is None:
        monkeypatch.delenv("PEPRKIT_INSTALL_SPEC", raising=False)
    else:
        monkeypatch.setenv("PEPRKIT_INSTALL_SPEC", spec)
    exec(compile(_setup_cell(), "setup-cell", "exec"), {})
    for cmd, _ in calls:
        assert cmd[:5] == [sys.executable, "-m", "pip", "install", "-q"]
    return calls[0][0][5:]


def test_colab_setup_installs_only_what_colab_lacks_at_the_release_tag(monkeypatch, capsys):
    pytest.importorskip("torch")
    args = _run_setup(monkeypatch, None)
    # the release's tested versions as pip constraints, from the tag's copy of the file
    assert args == ["-c", _release.CONSTRAINTS_URL,
                    f"peprkit[train] @ git+{_release.REPO_URL}@{_release.RELEASE_TAG}"]
    repo = _release.REPO_URL.removeprefix("https://github.com/")
    assert _release.CONSTRAINTS_URL == (f"https://raw.githubusercontent.com/{repo}/"
                                        f"{_release.RELEASE_TAG}/{_release.CONSTRAINTS_FILE}")
    assert (ROOT / _release.CONSTRAINTS_FILE).is_file()
    out = capsys.readouterr().out
    assert f"peprkit {__version__} in Colab" in out
    assert "Runtime > Change runtime type" in out and "NO GPU" in out  # CPU here
    # then which energy sources are measured and which estimated (no GPU here)
    assert "Energy in this session" in out and "  CPU  estimated" in out
    assert "  GPU  not metered" in out
    cell = _setup_cell()
    for unwanted in ("jupyterlab", "ipykernel", "nbval", "notebooks]"):
        assert unwanted not in cell


def test_colab_setup_takes_a_wheel_a_wheelhouse_or_pip_arguments(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    # a wheel without the constraints file (or not there at all): installed without them
    assert _run_setup(monkeypatch, "/content/peprkit-1.0-py3-none-any.whl") == [
        "/content/peprkit-1.0-py3-none-any.whl[train]"]
    assert _run_setup(monkeypatch, str(tmp_path)) == [
        "--no-index", "--find-links", str(tmp_path), "peprkit[train]"]
    assert _run_setup(monkeypatch, "--index-url https://mirror.example/simple peprkit[train]") == [
        "--index-url", "https://mirror.example/simple", "peprkit[train]"]


def test_colab_setup_applies_the_constraints_inside_a_local_wheel(monkeypatch, wheel):
    pytest.importorskip("torch")
    shipped = (ROOT / _release.CONSTRAINTS_FILE).read_text()
    for spec, rest in ((str(wheel), [f"{wheel}[train]"]),
                       (f"--no-deps {wheel}", ["--no-deps", str(wheel)])):
        calls = []
        args = _run_setup(monkeypatch, spec, calls=calls)
        assert args[0] == "-c" and args[2:] == rest, args
        assert calls[0][1] == shipped  # the wheel's copy, handed to pip as a file
    # a folder of wheels fixes its own versions: no constraints, even with peprkit's wheel
    assert _run_setup(monkeypatch, str(wheel.parent)) == [
        "--no-index", "--find-links", str(wheel.parent), "peprkit[train]"]


def test_colab_constraints_never_touch_what_colab_brings():
    requirement = pytest.importorskip("packaging.requirements").Requirement
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = (ROOT / _release.CONSTRAINTS_FILE).read_text().splitlines()
    pins = [requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    train = {requirement(r).name for r in pyproject["project"]["optional-dependencies"]["train"]}
    names = [pin.name for pin in pins]
    assert {"timm", "medmnist", "tqdm", "nvidia-ml-py", "psutil"} <= set(names) <= train
    for owned in ("torch", "torchvision", "numpy", "pandas", "ipython", "matplotlib"):
        assert owned not in names
    for pin in pins:  # exact versions, but psutil (imported by Colab's running kernel)
        exact = [s for s in pin.specifier if s.operator == "=="]
        assert exact if pin.name != "psutil" else not exact, pin
    package_data = pyproject["tool"]["setuptools"]["package-data"]["peprkit"]
    assert Path(_release.CONSTRAINTS_FILE).name in package_data


def test_colab_setup_shows_pip_output_when_the_install_fails(monkeypatch, capsys):
    calls = []
    with pytest.raises(RuntimeError, match="pip could not install peprkit"):
        _run_setup(monkeypatch, None, returncodes=(1, 1), calls=calls)
    out = capsys.readouterr().out
    assert "pip says hello" in out and "ERROR: no such wheel" in out
    # first with the tested versions, then once more without them
    assert "-c" in calls[0][0] and "-c" not in calls[1][0] and len(calls) == 2
    assert "installing peprkit without them" in out


def test_colab_setup_installs_without_the_constraints_when_they_do_not_fit(monkeypatch, capsys):
    pytest.importorskip("torch")
    calls = []
    _run_setup(monkeypatch, None, returncodes=(1, 0), calls=calls)
    assert [cmd[5:] for cmd, _ in calls] == [
        ["-c", _release.CONSTRAINTS_URL, f"peprkit[train] @ git+{_release.REPO_URL}@"
         f"{_release.RELEASE_TAG}"],
        [f"peprkit[train] @ git+{_release.REPO_URL}@{_release.RELEASE_TAG}"]]
    out = capsys.readouterr().out
    assert "did not install" in out and f"peprkit {__version__} in Colab" in out


def test_notebooks_ask_colab_for_a_gpu():
    pytest.importorskip("nbformat")
    from peprkit.course.authoring import masters

    for master in masters():
        for path in (master, master.parent.parent / master.name):
            meta = json.loads(path.read_text())["metadata"]
            assert meta.get("accelerator") == "GPU", path
            assert meta.get("colab", {}).get("gpuType"), path


def test_colab_branch_runs_lesson_01_end_to_end(wheel, tmp_path, monkeypatch):
    """Lesson 01 in a kernel that believes it is in Colab: its setup cell pip-installs the
    freshly built wheel (PEPRKIT_INSTALL_SPEC), and the lesson runs on that install."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from peprkit.course.authoring import find_master, normalized_master

    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab."""\n')
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # Colab's kernel has it loaded\n")
    site = tmp_path / "site-packages"  # where "Colab" installs peprkit: empty at start
    site.mkdir()
    for key, value in {
        "PYTHONPATH": f"{site}{os.pathsep}{fake}", "IPYTHONDIR": str(tmp_path / "ipython"),
        "PEPRKIT_INSTALL_SPEC": f"--no-deps --no-index --target {site} {wheel}",
        "PEPRKIT_QUICK": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1",
    }.items():
        monkeypatch.setenv(key, value)
    master = find_master("01")  # with the header cells that `peprkit course build` writes
    nb = normalized_master(nbformat.read(master, as_version=4), master.stem)
    nb.cells.insert(3, nbformat.v4.new_code_cell(  # right after the setup cell
        "import importlib.metadata\nimport pynvml  # NVML: the GPU's energy\n"
        "print('NVML', pynvml.__name__, [r for r in importlib.metadata.requires('peprkit')"
        " if r.startswith('nvidia-ml-py')])"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import peprkit, sys\nprint('IMPORTED FROM', peprkit.__file__)"))
    work = tmp_path / "content"
    work.mkdir()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()
    text = [
        "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        for cell in nb.cells if cell.cell_type == "code"
    ]
    setup = next(t for t in text if "Installing peprkit" in t)
    assert f"peprkit {__version__} in Colab" in setup
    assert "NO GPU" in setup and "Change runtime type" in setup
    assert "did not install" not in setup  # pip took the wheel's constraints (-c) as given
    assert "Energy in this session" in setup and "  CPU  estimated" in setup
    # after the install, NVML imports, and the installed peprkit requires it with `train`;
    # (this kernel's environment has nvidia-ml-py anyway: the metadata is the proof that
    # Colab's `pip install peprkit[train]` brings it)
    nvml = next(t for t in text if t.startswith("NVML"))
    assert "NVML pynvml [" in nvml and "extra == \"train\"" in nvml, nvml
    assert f"IMPORTED FROM {site}" in text[-1], text[-1]
    assert any("Exercise 1 passed." in t for t in text)
    # what a learner saw, for the record (pytest -s shows it)
    print("\n--- lesson 01 in simulated Colab ---\n" + "\n".join(t for t in text if t))
