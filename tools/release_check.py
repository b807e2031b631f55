"""Check the kit as users get it: build, install the wheel fresh, run it (make release-check).

Steps, each timed, any failure stops with exit code 1:

1. ``python -m build``: a wheel and an sdist of this checkout into ``--dist``;
2. a fresh virtual environment (``--venv``, recreated), into which the wheel is installed,
   not editable, with its ``train`` extra and the release's pip constraints
   (``peprkit/_colab_constraints.txt``, the versions the Colab setup cell installs;
   ``--torch-index`` takes PyTorch from another index first, e.g. the CPU builds, which the
   constraints never name), then the packages that execute notebooks (nbclient, ipykernel,
   ipywidgets), which are not part of the extra;
3. from a scratch folder outside the checkout (so nothing imports the source tree):
   ``peprkit --version``, ``peprkit info``, ``peprkit demo --quick``, and lessons 01 and 03
   (their masters, i.e. the solution runs) in quick mode on a kernel of that environment.

Offline, as in CI: pretrained weights cannot be downloaded, so the demo and the lessons
get stand-in weight files (``peprkit.course.authoring.offline_env``; accuracies then mean
nothing). ``PEPRKIT_DATA_DIR`` with the real BreastMNIST is used when set.

Usage: ``python tools/release_check.py [--dist DIR] [--venv DIR] [--torch-index URL]``
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ("01", "03")
#: The versions this release is tested with, as Colab installs them (``pip -c``).
CONSTRAINTS = ROOT / runpy.run_path(str(ROOT / "peprkit" / "_release.py"))["CONSTRAINTS_FILE"]
#: What runs the notebooks in the fresh environment, as Jupyter or Colab would (ipykernel 7
#: hangs under nbclient; ipywidgets draws the lessons' sliders).
NOTEBOOK_TOOLS = ("nbclient>=0.9", "ipykernel>=6.25,<7", "ipywidgets>=8.0")

_EXECUTE = r"""
import json, sys
import nbformat
from nbclient import NotebookClient

path, kernel, expect_prefix = sys.argv[1:4]
nb = nbformat.read(path, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import peprkit, sys\nprint('RELEASE-CHECK', peprkit.__file__, sys.executable)"))
NotebookClient(nb, kernel_name=kernel, timeout=900, allow_errors=False,
               resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}
               ).execute()
nbformat.write(nb, path)
last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
where = last.split()
assert where[0] == "RELEASE-CHECK" and where[1].startswith(expect_prefix), last
print(json.dumps({"peprkit": where[1], "python": where[2]}))
"""


def _run(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None,
         label: str) -> tuple[float, str]:
    """Run ``cmd``; print its output when it fails; return (seconds, stdout)."""
    shown = " ".join("<script>" if "\n" in str(c) else str(c) for c in cmd)
    print(f"--- {label}: {shown}", flush=True)
    start = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-20000:], done.stderr[-20000:], sep="\n")
        raise SystemExit(f"release-check FAILED at: {label} (exit code {done.returncode})")
    return seconds, done.stdout


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.3f} MB"


def _dir_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
               ) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="where the wheel goes")
    parser.add_argument("--venv", default=str(ROOT / "build" / "release-venv"),
                        help="the fresh virtual environment (deleted and recreated)")
    parser.add_argument("--torch-index", default="",
                        help="install torch and torchvision from this index first, e.g. "
                        "https://download.pytorch.org/whl/cpu (default: the normal index)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that creates the environment")
    parser.add_argument("--reuse", action="store_true",
                        help="keep --venv if it exists (skips its creation and the [train] "
                        "install; for re-running after a fix, not for the real check)")
    args = parser.parse_args(argv)
    timings: dict[str, float] = {}
    dist, venv = Path(args.dist), Path(args.venv)

    __version__ = runpy.run_path(str(ROOT / "peprkit" / "_release.py"))["__version__"]
    for old in dist.glob(f"peprkit-{__version__}*"):
        old.unlink()
    timings["build_s"], _ = _run([sys.executable, "-m", "build", "--outdir", dist, ROOT],
                                 label="build wheel and sdist")
    wheel = dist / f"peprkit-{__version__}-py3-none-any.whl"
    sdist = dist / f"peprkit-{__version__}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(dist.iterdir())

    py = venv / "bin" / "python"
    if not py.exists() and (venv / "Scripts").is_dir():  # Windows layout
        py = venv / "Scripts" / "python.exe"
    pip = [py, "-m", "pip", "install", "--quiet"]
    if args.reuse and py.exists():
        _run([*pip, "--force-reinstall", "--no-deps", wheel], label="reinstall the wheel only")
    else:
        shutil.rmtree(venv, ignore_errors=True)
        _run([args.python, "-m", "venv", venv], label="fresh virtual environment")
        py = venv / "bin" / "python"
        if not py.exists():  # Windows layout
            py = venv / "Scripts" / "python.exe"
        pip[0] = py
        if args.torch_index:
            timings["install_torch_s"], _ = _run(
                [*pip, "torch", "torchvision", "--index-url", args.torch_index],
                label="torch from --torch-index")
        timings["install_wheel_train_s"], _ = _run(
            [*pip, "-c", CONSTRAINTS, f"{wheel}[train]"],
            label="install the wheel with [train] and the release's constraints")
        timings["venv_train_mb"] = _dir_size_mb(venv)
    timings["install_notebook_tools_s"], _ = _run([*pip, *NOTEBOOK_TOOLS],
                                                  label="notebook tools")

    scratch = Path(tempfile.mkdtemp(prefix="peprkit-release-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = f"{py.parent}{os.pathsep}{env.get('PATH', '')}"
        _, text = _run([py, "-c", (
            "import json; from peprkit.course.authoring import offline_env; "
            f"print(json.dumps(offline_env({str(scratch / 'offline')!r}, "
            f"{os.environ.get('PEPRKIT_DATA_DIR')!r})))")], env=env, cwd=scratch,
            label="stand-in weights (offline)")
        env.update(json.loads(text))
        peprkit = py.parent / "peprkit"
        _, text = _run([peprkit, "--version"], env=env, cwd=scratch, label="peprkit --version")
        assert text.strip() == f"peprkit {__version__}", text
        timings["info_s"], text = _run([peprkit, "info"], env=env, cwd=scratch,
                                       label="peprkit info")
        print(text)
        _, text = _run([py, "-c", "import peprkit; print(peprkit.__file__)"], env=env,
                       cwd=scratch, label="where peprkit is imported from")
        assert Path(text.strip()).resolve().is_relative_to(venv.resolve()), text
        timings["demo_quick_s"], text = _run(
            [peprkit, "demo", "--quick", "--quiet", "--out", scratch / "demo"], env=env,
            cwd=scratch, label="peprkit demo --quick")
        print(text)
        kernels = scratch / "jupyter" / "kernels" / "peprkit-release"
        kernels.mkdir(parents=True)
        (kernels / "kernel.json").write_text(json.dumps({
            "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "peprkit release check", "language": "python"}))
        env["JUPYTER_PATH"] = str(scratch / "jupyter")
        for lesson in LESSONS:
            master = next((ROOT / "notebooks" / "source").glob(f"{lesson}_*.ipynb"))
            target = scratch / "lessons" / master.name
            target.parent.mkdir(exist_ok=True)
            shutil.copy(master, target)
            timings[f"lesson_{lesson}_s"], text = _run(
                [py, "-c", _EXECUTE, target, "peprkit-release", str(venv.resolve())],
                env=env, cwd=target.parent, label=f"lesson {master.stem} (quick)")
            print(text.strip())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"wheel": wheel.name, "wheel_size": _mb(wheel), "sdist_size": _mb(sdist),
                      **{k: round(v, 1) for k, v in timings.items()}}, indent=1))
    print("release-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
