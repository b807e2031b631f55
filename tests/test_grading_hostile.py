"""Hostile submissions of lesson 01 graded in ONE batch with honest ones.

Honest scores must be exact, every cheat must score 0 on the questions it targets, the
batch must end in time and leave no process behind, and an honest notebook graded right
after each newer attack (``after_<attack>``) scores full marks. Assertions that only
bubblewrap can make true (hiding files outside the submission's folder, no answer key in
a hidden rerun) are skipped, with the reason, where bubblewrap cannot run; those that
need a root grader (a fork bomb as root) where the grader is not root.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

from _sandboxes import grading_sandbox  # noqa: E402

from peprkit.checks import lesson01  # noqa: E402
from peprkit.course import _sandbox, authoring, grading  # noqa: E402
from peprkit.course._autograder import read_master  # noqa: E402
from peprkit.examples import example_results  # noqa: E402
from peprkit.metric import add_pepr, normalize, pepr  # noqa: E402

TIMEOUT_S = 60
CELL_TIMEOUT_S = 10
MARK = "peprkit-hostile-marker"
SECRET_ENV = "PEPRKIT_H2_INSTRUCTOR_TOKEN"
BWRAP = _sandbox.bwrap_problem()
needs_bwrap = pytest.mark.skipif(BWRAP is not None, reason=f"bubblewrap cannot run: {BWRAP}")
ROOT = os.geteuid() == 0
QUESTIONS = ["q1", "q2", "q3", "q4"]
#: The batch's sandbox folder limit (MB): small, so that filling the disk stays cheap.
DISK_MB = 192


@dataclasses.dataclass(frozen=True)
class _BatchLimits(_sandbox.Limits):
    disk_mb: float = DISK_MB


#: Attacks added with "grading sealed for real", each followed by an honest notebook.
SEALED = ["frame_key", "reads_traceback", "by_hand_kit", "fills_disk", "hides", "reads_secret"]
if ROOT:
    SEALED.append("fork_bomb")


def _answer_cells(nb, blank_nb):
    blanks = {c["id"] for c in blank_nb.cells
              if "otter_answer_cell" in c.metadata.get("tags", []) and c.cell_type == "code"}
    return [c for c in nb.cells if c.get("id") in blanks]


def _insert_after(nb, cell_id, source):
    i = next(k for k, c in enumerate(nb.cells) if c.get("id") == cell_id)
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = f"hostile-{i}"
    nb.cells.insert(i + 1, cell)
    return nb


def _check_cell(master, question):
    return read_master(master).cells[question][-1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Build the batch: honest notebooks and one notebook per attack."""
    root = tmp_path_factory.mktemp("hostile")
    source = root / "masters"
    source.mkdir()
    master = Path(shutil.copy(authoring.find_master("01"), source))
    out = authoring.run_assign(master, root / "assign")
    solution_path = out / "autograder" / master.name
    blank_path = out / "student" / master.name
    subs = root / "subs"
    subs.mkdir()
    canary = root / "canary"
    canary.mkdir()
    sol = lambda: nbformat.read(solution_path, as_version=4)  # noqa: E731
    blank = lambda: nbformat.read(blank_path, as_version=4)  # noqa: E731
    after = {q: _check_cell(master, q) for q in QUESTIONS}
    books = {}

    def save(name, nb):
        nbformat.write(nb, subs / f"{name}.ipynb")
        books[name] = subs / f"{name}.ipynb"

    save("solution", sol())
    save("blank", blank())
    half = sol()
    originals = {c["id"]: c["source"] for c in blank().cells}
    answers = _answer_cells(half, blank())
    for cell in answers[: (len(answers) + 1) // 2]:
        cell["source"] = originals[cell["id"]]
    save("half", half)
    # a Python loop: interrupted by the cell timer, the rest of the notebook goes on
    save("loop", _insert_after(sol(), after["q2"], "while True:\n    pass"))
    # a loop holding the GIL (the timer cannot fire): stopped from outside
    save("gil", _insert_after(sol(), after["q2"], "sum(range(10**13))"))
    save("exits", _insert_after(sol(), after["q1"], "import os\nos._exit(0)"))
    # reads the master (solutions) from disk and runs its answer cells
    steal = (f"import json\nnb = json.load(open({str(master)!r}))\n"
             "for c in nb['cells']:\n"
             "    s = ''.join(c['source'])\n"
             "    if c['cell_type'] == 'code' and ('# BEGIN SOLUTION' in s or '# SOLUTION' in s):\n"
             "        exec(s.replace('# BEGIN SOLUTION', '').replace('# END SOLUTION', ''))")
    save("reads_files", _reads(blank(), after, steal))
    env_cheat = (f"import os\nif os.environ.get({SECRET_ENV!r}) == 'visible':\n"
                 "    def normalize_by_hand(v):\n"
                 "        return [(x - min(v)) / (max(v) - min(v)) for x in v]")
    save("reads_env", _insert_after(blank(), after["q1"], env_cheat))
    patch_checks = ("from peprkit import checks\nimport peprkit.checks.lesson01 as l1\n"
                    "import peprkit.course.hidden.lesson01 as h1\n"
                    "for n in ('q1', 'q2', 'q3', 'q4'):\n"
                    "    setattr(l1, n, lambda *a, **k: None)\n"
                    "for n in ('hidden_q1', 'hidden_q2'):\n"
                    "    setattr(h1, n, lambda *a, **k: None)")
    save("patches_checks", _first(blank(), patch_checks))
    patch_runner = ("import gc, json\n"
                    "def fake(ns, question, names, folder):\n"
                    "    folder.mkdir(parents=True, exist_ok=True)\n"
                    "    text = json.dumps({n: 1.0 for n in names})\n"
                    "    (folder / f'{question}.json').write_text(text)\n"
                    "for obj in gc.get_objects():  # the runner's globals: patch its export\n"
                    "    if isinstance(obj, dict) and '_export' in obj and 'main' in obj:\n"
                    "        obj['_export'] = fake")
    save("patches_runner", _first(blank(), patch_runner))
    detach = ("import subprocess, sys\n"
              f"code = 'import time; time.sleep(6); "
              f"open({str(canary / 'late')!r}, \"w\").write(\"{MARK}\")'\n"
              "subprocess.Popen([sys.executable, '-c', code, "
              f"'{MARK}'], start_new_session=True)\n"
              f"open({str(canary / 'early')!r}, 'w').write('x')")
    save("detaches", _first(sol(), detach))
    shared = (f"open({str(master)!r}, 'w').write('{{}}')\n"
              f"open({str(root / 'shared.txt')!r}, 'w').write('tampered')")
    save("rewrites_shared", _first_guarded(blank(), shared))
    save("floods", _insert_after(sol(), after["q1"], "print('x' * 50_000_000)"))
    (subs / "invalid.ipynb").write_text('{"cells": [ not json')
    books["invalid"] = subs / "invalid.ipynb"
    save("hard_coded", _hard_coded(sol()))
    private = root / "private"
    private.mkdir(mode=0o700)
    (private / "grading.json").write_text('{"grading_secret": "hostile"}')
    attacks = _sealed_attacks(sol, after, canary, private / "grading.json", root)
    for name in SEALED:
        save(name, attacks[name])
        save(f"after_{name}", sol())
    return root, source, books, canary


#: Exercise 4's answer read off the public check (its frames, while it runs).
FRAME_KEY = """import sys
from peprkit import checks
seen = {}
def tracer(frame, event, arg):
    if frame.f_code.co_name == "q4" and event == "return":
        seen.update(frame.f_locals.get("expected") or {})
    return tracer
sys.settrace(tracer)
try:
    checks.lesson01.q4(0.0, 0.0, 0.0, 0.0, table=table, model=MODEL, drop=DROP,
                       budget_kwh=BUDGET_KWH)
except AssertionError:
    pass
finally:
    sys.settrace(None)
minmax_with, minmax_without = seen["minmax_with"], seen["minmax_without"]
budget_with, budget_without = seen["budget_with"], seen["budget_without"]"""
#: The same from the failed check's traceback (``err.__traceback__``).
TRACEBACK_KEY = """from peprkit import checks
found = {}
try:
    checks.lesson01.q4(0.0, 0.0, 0.0, 0.0, table=table, model=MODEL, drop=DROP,
                       budget_kwh=BUDGET_KWH)
except AssertionError as err:
    tb = err.__traceback__
    while tb is not None:
        found.update(tb.tb_frame.f_locals.get("expected") or {})
        tb = tb.tb_next
minmax_with, minmax_without = found["minmax_with"], found["minmax_without"]
budget_with, budget_without = found["budget_with"], found["budget_without"]"""
#: Exercises 1 and 2 (by hand) answered with the kit's own functions.
BY_HAND_KIT = {
    "normalize_by_hand": "def normalize_by_hand(values):\n"
                         "    return list(peprkit.normalize(values))",
    "pepr_by_hand": "from peprkit import pepr as kit_pepr\n\n\ndef pepr_by_hand(p, r):\n"
                    "    return kit_pepr(p, r)",
}


def _replace(nb, name, source, keep=False):
    """``nb`` with the answer cell that defines or assigns ``name`` replaced by ``source``
    (with ``keep``: ``source`` put before the cell's own code)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and (f"def {name}(" in cell.source
                                         or f"\n{name} =" in f"\n{cell.source}"):
            cell.source = f"{source}\n{cell.source}" if keep else source
            return nb
    raise AssertionError(f"no answer cell for {name}")


def _sealed_attacks(sol, after, canary, secret, root):
    """The notebooks of the newer attacks (each a solution with the attack built in)."""
    hides = (f"import ctypes, time\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\ntime.sleep(6)\n"
             f"open({str(canary / 'late_hidden')!r}, 'w').write('x')\n"
             f"open({str(root / 'grades.csv')!r}, 'a').write('mallory,01_pepr_metric\\n')\n")
    daemon = ("import subprocess, sys\n"
              "spawn = ('import subprocess, sys; subprocess.Popen([sys.executable, \"-c\", '\n"
              f"         + repr({hides!r}) + ', {MARK!r}], start_new_session=True)')\n"
              "subprocess.run([sys.executable, '-c', spawn])")
    fill = ("chunk = b'x' * (1 << 20)\nn = 0\nwhile True:\n"
            "    with open(f'fill{n}.bin', 'wb') as fh:\n"
            "        for _ in range(8):\n            fh.write(chunk)\n    n += 1")
    bomb = ("import os, time\nforked = 0\ntry:\n    while forked < 5000:\n"
            "        if os.fork() == 0:\n            time.sleep(120)\n            os._exit(0)\n"
            "        forked += 1\nexcept OSError:\n    pass")
    by_hand = sol()
    for name, source in BY_HAND_KIT.items():
        _replace(by_hand, name, source)
    return {
        "frame_key": _replace(sol(), "minmax_with", FRAME_KEY),
        "reads_traceback": _replace(sol(), "minmax_with", TRACEBACK_KEY),
        "by_hand_kit": by_hand,
        "fills_disk": _insert_after(sol(), after["q1"], fill),
        "hides": _insert_after(sol(), after["q1"], daemon),
        # exercise 2's cell reads the grader's private secret first: it defines
        # pepr_by_hand (2 points) only where the secret could be read
        "reads_secret": _replace(sol(), "pepr_by_hand", f"open({str(secret)!r}).read()",
                                 keep=True),
        "fork_bomb": _insert_after(sol(), after["q1"], bomb),
    }


def _first(nb, source):
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = "hostile-first"
    nb.cells.insert(4, cell)
    return nb


def _first_guarded(nb, source):
    return _first(nb, "try:\n" + "".join(f"    {line}\n" for line in source.splitlines())
                  + "except OSError as err:\n    print('blocked:', err)")


def _reads(nb, after, steal):
    guarded = "try:\n" + "".join(f"    {line}\n" for line in steal.splitlines()) + \
        "except OSError as err:\n    print('blocked:', err)"
    for q in reversed(QUESTIONS):
        _insert_after(nb, after[q], guarded)
    return nb


def _hard_coded(nb):
    """Answers copied from a run on the default table, and lookups of the public cases."""
    table = example_results()
    scored = add_pepr(table, performance="test_acc", resources={"e": "energy_kwh"})
    by_acc = list(scored.sort_values("test_acc", ascending=False)["model"])
    by_pepr = list(scored.sort_values("pepr_e", ascending=False)["model"])
    norm = {tuple(c): [float(x) for x in normalize(c)] for c in lesson01._NORMALIZE_CASES}
    peprs = {c: float(pepr(*c)) for c in lesson01._PEPR_CASES}
    model, drop = "resnet18", table.loc[table["energy_kwh"].idxmax(), "model"]
    energy = table.set_index("model")["energy_kwh"]
    p = float(table.set_index("model").loc[model, "test_acc"])
    values = {"minmax_with": pepr(p, float(normalize(energy)[model])),
              "minmax_without": pepr(p, float(normalize(energy.drop(drop))[model])),
              "budget": pepr(p, float(energy[model] / 0.005))}
    sources = {
        "normalize_by_hand": f"def normalize_by_hand(values):\n    return {norm!r}[tuple(values)]",
        "pepr_by_hand": f"def pepr_by_hand(p, r):\n    return {peprs!r}[(p, r)]",
        "rank_by_accuracy": f"rank_by_accuracy = {by_acc!r}\nrank_by_pepr = {by_pepr!r}",
        "minmax_with": (f"minmax_with = {values['minmax_with']!r}\n"
                        f"minmax_without = {values['minmax_without']!r}\n"
                        f"budget_with = budget_without = {values['budget']!r}"),
    }
    for cell in nb.cells:
        for name, source in sources.items():
            if cell.cell_type == "code" and (f"def {name}(" in cell.source
                                             or f"\n{name} =" in f"\n{cell.source}"):
                cell.source = source
    return nb


def _batch_processes():
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(MARK in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def graded(corpus, tmp_path_factory):
    root, source, books, canary = corpus
    os.environ[SECRET_ENV] = "visible"
    master_before = (source / "01_pepr_metric.ipynb").read_bytes()
    (root / "shared.txt").write_text("original")
    names = list(books)
    peak: collections.Counter = collections.Counter()
    done = threading.Event()

    def watch() -> None:  # the most processes any sandbox's own user ran at once
        while not done.is_set():
            now = collections.Counter(
                p.info["uids"].real for p in psutil.process_iter(["uids"])
                if p.info["uids"] and _sandbox._is_sandbox_uid(p.info["uids"].real))
            for uid, count in now.items():
                peak[uid] = max(peak[uid], count)
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.monotonic()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_sandbox, "Limits", _BatchLimits)
            grades = grading.grade([books[n] for n in names], lesson="01", source_dir=source,
                                   out=root / "grades.csv", timeout_s=TIMEOUT_S,
                                   cell_timeout_s=CELL_TIMEOUT_S, jobs=2,
                                   secret="hostile-tests", sandbox=grading_sandbox())
    finally:
        os.environ.pop(SECRET_ENV, None)
        done.set()
    elapsed = time.monotonic() - start
    time.sleep(8)  # the detached process would write its late canary by now
    return {"grades": grades, "elapsed": elapsed, "n": len(names), "canary": canary,
            "peak": max(peak.values(), default=0),
            "book": pd.read_csv(root / "grades.csv"),
            "master_unchanged": (source / "01_pepr_metric.ipynb").read_bytes() == master_before,
            "shared_unchanged": (root / "shared.txt").read_text() == "original",
            "alive": _batch_processes()}


def _points(grades, student):
    rows = grades[(grades["student"] == student) & (grades["status"] != "manual")]
    return dict(zip(rows["question"], rows["points"], strict=True))


def _status(grades, student):
    rows = grades[(grades["student"] == student) & (grades["status"] != "manual")]
    return dict(zip(rows["question"], rows["status"], strict=True))


def test_honest_scores_are_exact(graded):
    g = graded["grades"]
    assert _points(g, "solution") == {"q1": 2, "q2": 2, "q3": 2, "q4": 2}
    assert _points(g, "blank") == {"q1": 0, "q2": 0, "q3": 0, "q4": 0}
    assert _points(g, "half") == {"q1": 0, "q2": 0, "q3": 2, "q4": 2}
    assert set(_status(g, "solution").values()) == {"graded"}


def test_loops_hangs_and_exits_keep_the_points_earned_before(graded):
    g = graded["grades"]
    assert _points(g, "loop") == {"q1": 2, "q2": 2, "q3": 2, "q4": 2}
    assert _points(g, "gil") == {"q1": 2, "q2": 2, "q3": 0, "q4": 0}
    assert _status(g, "gil") == {"q1": "graded", "q2": "graded", "q3": "timeout",
                                 "q4": "timeout"}
    assert _points(g, "exits")["q1"] == 2
    assert {_status(g, "exits")[q] for q in ("q2", "q3", "q4")} == {"crashed"}
    assert _points(g, "floods") == {"q1": 2, "q2": 2, "q3": 2, "q4": 2}


def test_cheats_score_zero_on_what_they_target(graded):
    g = graded["grades"]
    for cheat in ("reads_env", "patches_checks", "patches_runner", "hard_coded"):
        assert sum(_points(g, cheat).values()) == 0, (cheat, _points(g, cheat))
    invalid = _status(g, "invalid")
    assert set(invalid.values()) == {"error"} and sum(_points(g, "invalid").values()) == 0


def test_feedback_never_shows_hidden_tests(graded):
    g = graded["grades"]
    hard = g[g["student"] == "hard_coded"].set_index("question")
    assert "hidden tests" in hard.loc["q1", "feedback"]
    assert "hidden_q1" not in " ".join(g["feedback"].astype(str))


def test_the_batch_ends_in_time_and_leaves_no_process(graded):
    assert graded["elapsed"] < TIMEOUT_S + 25 * graded["n"], graded["elapsed"]
    assert graded["alive"] == []
    assert not (graded["canary"] / "late").exists(), "a detached process outlived grading"


def test_a_shared_file_rewritten_during_the_batch_changes_no_score(graded):
    g = graded["grades"]
    assert _points(g, "rewrites_shared") == {"q1": 0, "q2": 0, "q3": 0, "q4": 0}
    assert _points(g, "solution") == {"q1": 2, "q2": 2, "q3": 2, "q4": 2}


@needs_bwrap
def test_bubblewrap_hides_files_outside_the_submission_folder(graded):
    g = graded["grades"]
    assert sum(_points(g, "reads_files").values()) == 0, _points(g, "reads_files")
    assert graded["master_unchanged"], "a submission rewrote the masters"
    assert graded["shared_unchanged"], "a submission rewrote a file outside its folder"
    assert not (graded["canary"] / "early").exists(), "a submission wrote outside its folder"


def test_gradebook_rows_are_complete(graded):
    g = graded["grades"]
    assert (g.groupby("student").size() == 5).all()
    assert not g.duplicated(["student", "lesson", "question"]).any()
    assert pd.api.types.is_numeric_dtype(g["points"])


def test_honest_notebooks_after_each_attack_score_full_marks(graded):
    g = graded["grades"]
    for name in SEALED:
        assert _points(g, f"after_{name}") == {q: 2 for q in QUESTIONS}, name


@needs_bwrap
def test_the_answer_key_cannot_be_read_from_a_public_check(graded):
    """Exercise 4 read off the check's frames (a tracer) or off its traceback: the
    traceback holds none of the check's values, and the hidden rerun of the cell finds
    no checks to read (bubblewrap hides the lessons' checks from it)."""
    g = graded["grades"]
    for cheat in ("frame_key", "reads_traceback"):
        points = _points(g, cheat)
        assert points["q4"] == 0 and points["q1"] == points["q3"] == 2, (cheat, points)
    rows = g[(g["student"] == "frame_key") & (g["question"] == "q4")]
    assert "(hidden)" in rows["detail"].iloc[0] and "lesson01" in rows["detail"].iloc[0]


def test_the_kits_own_function_earns_nothing_in_a_by_hand_exercise(graded):
    g = graded["grades"]
    assert _points(g, "by_hand_kit") == {"q1": 0, "q2": 0, "q3": 2, "q4": 2}
    rows = g[g["student"] == "by_hand_kit"].set_index("question")
    for q in ("q1", "q2"):
        assert "by hand" in rows.loc[q, "detail"], rows.loc[q, "detail"]


def test_filling_the_disk_is_stopped_and_the_batch_goes_on(graded):
    g = graded["grades"]
    assert _points(g, "fills_disk")["q1"] == 2
    status = _status(g, "fills_disk")
    assert {status[q] for q in ("q2", "q3", "q4")} == {"crashed"}
    rows = g[(g["student"] == "fills_disk") & (g["question"] == "q2")]
    assert "disk limit" in rows["feedback"].iloc[0], rows["feedback"].iloc[0]


def test_a_hidden_daemon_neither_survives_nor_rewrites_the_gradebook(graded):
    if BWRAP is not None and not (ROOT and _sandbox._python_for_others()):
        pytest.skip("the fallback run as the grader's own user cannot find a daemon that "
                    "hides its environment (INSTRUCTORS.md says so)")
    assert _points(graded["grades"], "hides") == {q: 2 for q in QUESTIONS}
    assert not (graded["canary"] / "late_hidden").exists()
    assert "mallory" not in set(graded["book"]["student"])


def test_the_graders_private_secret_stays_unread(graded):
    if BWRAP is not None and not (ROOT and _sandbox._python_for_others()):
        pytest.skip("the fallback run as the grader's own user reads its files "
                    "(INSTRUCTORS.md says so)")
    assert _points(graded["grades"], "reads_secret") == {"q1": 2, "q2": 0, "q3": 2, "q4": 2}


@pytest.mark.skipif(not ROOT, reason="the grader does not run as root here")
def test_a_fork_bomb_as_root_is_bounded(graded):
    if BWRAP is not None and not _sandbox._python_for_others():
        pytest.skip("the fallback runs submissions as root here (missing_protections says so)")
    assert _points(graded["grades"], "fork_bomb")["q1"] == 2
    assert 0 < graded["peak"] <= _sandbox.Limits().processes + 8, graded["peak"]
