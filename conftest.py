"""Running the lessons under nbval: ``pytest --nbval-lax notebooks/source/03_*.ipynb``.

Each code cell of a master (the solution run) is one test, so a broken cell is named in
the report. Quick mode (``PEPRKIT_QUICK=1``) is the default; set ``PEPRKIT_QUICK=0`` for
a full run. Offline (``HF_HUB_OFFLINE=1``, as in ``make test``, or when the Hugging Face
hub cannot be reached) the quick-mode models get randomly initialised STAND-IN weight
files, so the lessons run but their accuracies mean nothing; with a connection the real
pretrained weights are downloaded. The environment is given to the notebook kernels only:
the unit tests collected in the same run do not see it. ``runs/`` folders that a kernel
creates beside the masters are removed at the end of the session.

This file sits at the repository root, not in notebooks/: two package-less conftest modules
would collide when ``--doctest-modules`` collects ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"
_STATE: dict = {}
# nbval runs cells with store_history=False, so a kernel's `In` stays empty; the masters'
# hidden tests rerun the answer cells they find there (hidden.answer_cells()), so an
# IPython startup file records each cell nbval runs
_RECORD_CELLS = """\
def _peprkit_record(info, _shell=get_ipython()):  # noqa: F821
    if not info.store_history:
        _shell.user_ns.setdefault("In", []).append(info.raw_cell)


get_ipython().events.register("pre_run_cell", _peprkit_record)  # noqa: F821
del _peprkit_record
"""


def _kernel_env() -> dict[str, str]:
    """Environment variables for the notebook kernels (made once per session)."""
    if "env" in _STATE:
        return _STATE["env"]
    # the masters' hidden tests draw their inputs from this seed, as when grading
    env = {"PEPRKIT_QUICK": os.environ.get("PEPRKIT_QUICK", "1"), "MPLBACKEND": "Agg",
           "PEPRKIT_GRADING_SEED": "nbval"}
    ipython_dir = tempfile.mkdtemp(prefix="peprkit-ipython-")
    _STATE["ipython"] = ipython_dir
    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-record-cells.py").write_text(_RECORD_CELLS)
    env["IPYTHONDIR"] = ipython_dir
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if not offline:
        from peprkit.models import hub_reachable

        offline = not hub_reachable()
    if offline:
        from peprkit.course.authoring import offline_env

        data = os.environ.get("PEPRKIT_DATA_DIR")
        if not data and (_SHARED_DATA / "breastmnist.npz").is_file():
            data = str(_SHARED_DATA)
        folder = tempfile.mkdtemp(prefix="peprkit-nbval-")
        _STATE["tmp"] = folder
        env.update(offline_env(folder, data))
        env["PEPRKIT_QUICK"] = os.environ.get("PEPRKIT_QUICK", "1")
    _STATE["env"] = env
    return env


def _is_notebook(item) -> bool:
    return str(getattr(item, "fspath", "")).endswith(".ipynb")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Start each notebook's kernel with the lesson environment, then restore ours."""
    if not _is_notebook(item):
        yield
        return
    folder = Path(str(item.fspath)).parent
    _STATE.setdefault("runs", {}).setdefault(folder, (folder / "runs").exists())
    saved = dict(os.environ)
    os.environ.update(_kernel_env())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def pytest_sessionfinish(session, exitstatus):
    for folder, existed in _STATE.get("runs", {}).items():
        if not existed:
            shutil.rmtree(folder / "runs", ignore_errors=True)
    for key in ("tmp", "ipython"):
        if key in _STATE:
            shutil.rmtree(_STATE[key], ignore_errors=True)
