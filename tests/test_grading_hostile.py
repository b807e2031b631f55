"""Hostile submissions of lesson 01 graded in ONE batch with honest ones.

Honest scores must be exact, every cheat must score 0 on the questions it targets, the
batch must end in time and leave no process behind. Assertions that only bubblewrap can
make true (hiding files outside the submission's folder) are skipped, with the reason,
where bubblewrap cannot run.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

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
QUESTIONS = ["q1", "q2", "q3", "q4"]


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
    return root, source, books, canary


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
    start = time.monotonic()
    try:
        grades = grading.grade([books[n] for n in names], lesson="01", source_dir=source,
                               out=root / "grades.csv", timeout_s=TIMEOUT_S,
                               cell_timeout_s=CELL_TIMEOUT_S, jobs=2, secret="hostile-tests")
    finally:
        os.environ.pop(SECRET_ENV, None)
    elapsed = time.monotonic() - start
    time.sleep(8)  # the detached process would write its late canary by now
    return {"grades": grades, "elapsed": elapsed, "n": len(names), "canary": canary,
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
