"""The sandbox's limits hold for every grader, its view holds no answer key, and grading
without bubblewrap is refused unless asked for.

Each test runs a small hostile program (or a learner's answer cell) in the sandbox the
grader uses (:mod:`peprkit.course._sandbox`); tests that need bubblewrap skip with the
reason where it cannot run, tests that need a root grader skip elsewhere.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from peprkit.cli import main
from peprkit.course import _confine, _sandbox

BWRAP = _sandbox.bwrap_problem()
ROOT = os.geteuid() == 0
needs_bwrap = pytest.mark.skipif(BWRAP is not None, reason=f"bubblewrap cannot run: {BWRAP}")
needs_root = pytest.mark.skipif(not ROOT, reason="the grader does not run as root here")
MODES = ["bwrap", "fallback"]


def _mode(mode: str) -> str:
    if mode == "bwrap" and BWRAP is not None:
        pytest.skip(f"bubblewrap cannot run: {BWRAP}")
    return mode


def _run(tmp_path: Path, code: str, mode: str, **limits) -> _sandbox.Outcome:
    folder = tmp_path / "submission"
    folder.mkdir()
    return _sandbox.run([sys.executable, "-c", textwrap.dedent(code)], folder, mode=mode,
                        limits=_sandbox.Limits(wall_s=60, **limits))


def _left_of(uid: int | None) -> list:
    if uid is None:
        return []
    return [p for p in psutil.process_iter(["uids"])
            if p.info["uids"] and p.info["uids"].real == uid]


FORK_BOMB = """
import os, time
n = 0
try:
    while n < 2000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as err:
    print("fork refused:", type(err).__name__)
print("forked", n, "as uid", os.getuid())
"""


@needs_root
@pytest.mark.parametrize("mode", MODES)
def test_a_fork_bomb_is_bounded_when_the_grader_is_root(tmp_path, mode):
    """Root ignores RLIMIT_NPROC: a root grader's sandboxes run as users of their own."""
    mode = _mode(mode)
    if mode == "fallback" and not _confine._python_for_others():
        pytest.skip("this Python or the kit is not readable by other users: the fallback "
                    "runs submissions as root here (missing_protections says so)")
    out = _run(tmp_path, FORK_BOMB, mode, processes=48)
    forked = int(out.output_tail.split("forked ")[1].split()[0])
    uid = int(out.output_tail.split("as uid ")[1].split()[0])
    assert "fork refused" in out.output_tail and forked < 48, out.output_tail
    assert uid != 0
    assert _left_of(_confine.sandbox_user(tmp_path / "submission")) == []


@pytest.mark.parametrize("mode", MODES)
def test_filling_the_disk_is_stopped_and_bounded(tmp_path, mode):
    mode = _mode(mode)
    out = _run(tmp_path, """
        chunk = b"x" * (1 << 20)
        n = 0
        while True:
            with open(f"fill{n}.bin", "wb") as fh:
                for _ in range(4):
                    fh.write(chunk)
            n += 1
    """, mode, disk_mb=48)
    assert out.status == "crashed" and "disk limit" in out.note, (out.status, out.note)
    used, _ = _sandbox.folder_usage(tmp_path / "submission", 10**6)
    assert used < (48 + 512) * 2**20, used / 2**20


@pytest.mark.parametrize("mode", MODES)
def test_a_flood_of_small_files_is_stopped(tmp_path, mode):
    mode = _mode(mode)
    out = _run(tmp_path, """
        import os
        for i in range(1_000_000):
            open(f"f{i}", "w").close()
    """, mode, files=300)
    assert out.status == "crashed" and "files" in out.note, (out.status, out.note)


@needs_bwrap
def test_bubblewrap_gives_small_private_tmp_and_a_read_only_root(tmp_path):
    out = _run(tmp_path, """
        import errno
        for path in ("/tmp/big", "/dev/shm/big"):
            try:
                with open(path, "wb") as fh:
                    for _ in range(64):
                        fh.write(b"x" * (1 << 20))
                print(path, "unbounded")
            except OSError as err:
                print(path, errno.errorcode[err.errno])
        for path in ("/big", "/dev/big", "/usr/big"):
            try:
                open(path, "w").close()
                print(path, "written")
            except OSError as err:
                print(path, errno.errorcode[err.errno])
    """, "bwrap", tmp_mb=16)
    assert "/tmp/big ENOSPC" in out.output_tail and "/dev/shm/big ENOSPC" in out.output_tail
    assert out.output_tail.count("EROFS") == 3, out.output_tail


@needs_root
@pytest.mark.parametrize("mode", MODES)
def test_a_hidden_non_dumpable_daemon_dies_with_its_submission(tmp_path, mode):
    """A daemon that leaves the process tree and the session, keeps its environment and
    marks itself non-dumpable (its token unreadable) is found by its own user."""
    mode = _mode(mode)
    if mode == "fallback" and not _confine._python_for_others():
        pytest.skip("this Python or the kit is not readable by other users: the fallback "
                    "runs submissions as root here (missing_protections says so)")
    canary = tmp_path / "canary"
    canary.mkdir(mode=0o777)
    daemon = (f"import ctypes, time\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
              f"time.sleep(4)\nopen({str(canary / 'late')!r}, 'w').write('x')\n")
    out = _run(tmp_path, f"""
        import subprocess, sys
        spawn = ("import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
                 + repr({daemon!r}) + "], start_new_session=True)")
        subprocess.run([sys.executable, "-c", spawn])
        print("spawned")
    """, mode)
    assert "spawned" in out.output_tail, out.output_tail
    import time

    time.sleep(6)
    assert not (canary / "late").exists(), "a hidden daemon outlived its submission"
    assert _left_of(_confine.sandbox_user(tmp_path / "submission")) == []


@needs_root
def test_the_fallback_as_root_cannot_touch_the_graders_private_files(tmp_path):
    if not _confine._python_for_others():
        pytest.skip("this Python or the kit is not readable by other users: the fallback "
                    "runs submissions as root here (missing_protections says so)")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "grading.json").write_text('{"grading_secret": "s3cret"}')
    shared = tmp_path / "shared.csv"
    shared.write_text("original")
    out = _run(tmp_path, f"""
        for path, how in (({str(private / 'grading.json')!r}, "r"), ({str(shared)!r}, "a")):
            try:
                open(path, how)
                print(path, "open")
            except OSError as err:
                print(path, type(err).__name__)
    """, "fallback")
    assert out.output_tail.count("PermissionError") == 2, out.output_tail
    assert shared.read_text() == "original"


@needs_bwrap
@pytest.mark.parametrize("role", ["runner", "worker"])
def test_the_sandbox_view_holds_no_answer_key(tmp_path, role):
    """Hidden tests are never visible; a learner-call worker (hidden reruns) does not see
    the lessons' checks, which compute the answers; the notebook's run does."""
    import subprocess

    folder = tmp_path / "w"
    (folder / ".home").mkdir(parents=True)
    code = textwrap.dedent("""
        import importlib
        for name in ("peprkit.checks.lesson03", "peprkit.checks.lesson07",
                     "peprkit.course.hidden.lesson01", "peprkit.course._cells"):
            try:
                importlib.import_module(name)
                print(name, "imported")
            except ImportError:
                print(name, "missing")
    """)
    env = _sandbox.sandbox_env(None, f"{_sandbox.INSIDE}/.home")
    cmd, popen_env, cwd = _sandbox.command([sys.executable, "-c", code], folder, mode="bwrap",
                                           env=env, role=role)
    out = subprocess.run(cmd, env=popen_env, cwd=cwd, capture_output=True, text=True,
                         timeout=120, preexec_fn=_sandbox._set_limits(_sandbox.Limits()))
    seen = dict(line.split() for line in out.stdout.splitlines())
    assert seen["peprkit.course.hidden.lesson01"] == "missing"
    assert seen["peprkit.course._cells"] == "imported"
    checks = "missing" if role == "worker" else "imported"
    assert seen["peprkit.checks.lesson03"] == seen["peprkit.checks.lesson07"] == checks


def _clinic_cells(fits: str) -> list[str]:
    return ["import pandas as pd\nimport peprkit\nfrom peprkit import checks", fits]


@needs_bwrap
def test_a_hidden_rerun_cannot_import_the_checks_reference_computation(tmp_path):
    """Lesson 07's exercise 2 answered with the check's own helper (``within_budget``)
    passes in the learner's kernel, and fails when the grader runs the cell again."""
    from peprkit.checks import CheckFailed
    from peprkit.course._learner_calls import RemoteCells, Worker
    from peprkit.course.hidden import answer_cells, lesson07

    cheat = _clinic_cells("fits = list(checks.lesson07.within_budget(table, ENERGY_BUDGET_KWH, "
                          "MEMORY_BUDGET_GB)['model'])")
    honest = _clinic_cells("fits = list(table.loc[table.energy_kwh.le(ENERGY_BUDGET_KWH) & "
                           "table.memory_gb.le(MEMORY_BUDGET_GB), 'model'])")
    lesson07.hidden_q2(answer_cells(cheat), rng=np.random.default_rng(3))  # in the kernel
    for cells, passes in ((cheat, False), (honest, True)):
        worker = Worker({}, tmp_path / f"worker{passes}", mode="bwrap",
                        limits=_sandbox.Limits(wall_s=120), call_timeout_s=60)
        try:
            if passes:
                lesson07.hidden_q2(RemoteCells(worker, cells), rng=np.random.default_rng(3))
            else:
                with pytest.raises(CheckFailed, match="lesson07"):
                    lesson07.hidden_q2(RemoteCells(worker, cells), rng=np.random.default_rng(3))
        finally:
            worker.close()


def test_limits_are_positive_numbers():
    with pytest.raises(ValueError, match=r"disk_mb=0 is not a positive number.*Limits\("):
        _sandbox.Limits(disk_mb=0)


def test_grading_without_bubblewrap_is_refused_unless_the_fallback_is_asked(monkeypatch):
    monkeypatch.setattr(_sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    for option in ("auto", "bwrap"):
        with pytest.raises(_sandbox.SandboxRefused) as refused:
            _sandbox.choose(option)
        text = str(refused.value)
        assert isinstance(refused.value, ValueError) and f"sandbox={option!r}" in text
        assert "apt-get install bubblewrap" in text and "dnf install bubblewrap" in text
        assert "sandbox='fallback'" in text and "network:" in text and "files:" in text
    assert _sandbox.choose("fallback") == "fallback"
    with pytest.raises(ValueError, match="sandbox='docker' is not a sandbox mode"):
        _sandbox.choose("docker")


def test_peprkit_grade_refuses_without_bubblewrap_and_says_how_to_install_it(
        monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(_sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    nb = tmp_path / "ann.ipynb"
    nb.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    out = tmp_path / "grades.csv"
    assert main(["grade", str(nb), "--lesson", "01", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peprkit grade: error: --sandbox auto: bubblewrap cannot run here")
    assert "sudo apt-get install bubblewrap" in err and "sudo dnf install bubblewrap" in err
    assert "--sandbox fallback" in err and "Traceback" not in err
    assert not out.exists()


def test_peprkit_grade_with_sandbox_fallback_still_grades(monkeypatch, capsys, tmp_path):
    pytest.importorskip("otter")
    from peprkit.course import authoring

    monkeypatch.setattr(_sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    master = authoring.find_master("01")
    assign = authoring.run_assign(master, tmp_path / "assign")
    nb = tmp_path / "ann.ipynb"
    nb.write_bytes((assign / "autograder" / master.name).read_bytes())
    out = tmp_path / "grades.csv"
    assert main(["grade", str(nb), "--lesson", "01", "--out", str(out), "--sandbox",
                 "fallback", "--timeout", "120", "--cell-timeout", "30"]) == 0
    rows = pd.read_csv(out)
    auto = rows[rows["status"] != "manual"]
    assert (auto["points"] == auto["max_points"]).all(), auto[["question", "points", "detail"]]
