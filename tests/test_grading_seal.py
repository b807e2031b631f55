"""Grading sealed for real: a hostile corpus graded in few batches, one class per notebook.

Each attack class gets a notebook of its own, and an honest notebook graded right after it
in the same batch must score full marks. The classes: the worker's exchange swapped for
links (the files they point to must stay unchanged), answers and folders planted as links,
a FIFO for the progress file, JSON nested 100,000 deep, wrong types in the notebook, lone
surrogates in errors and in a file name, calls that sleep just under the per-call limit
(the submission keeps to ``timeout_s`` and keeps the questions decided before), drawn
inputs leaked through an error message (feedback never carries them, two students draw
differently, a copy of the leaked numbers scores nothing), a table too wide to rebuild,
spreadsheet formulas in file names, and two files of one student. Nothing outside the
sandboxes changes: the test folder's tree is compared before and after.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

from _course_fixtures import question, with_answers, write_master  # noqa: E402

from peprkit.course import (  # noqa: E402
    _codec,
    _exchange,
    _gradebook,
    _sandbox,
    _score,
    _secret,
    authoring,
    grading,
)

V4 = nbformat.v4
SECRET = "seal-tests"
TIMEOUT_S = 20
CELL_TIMEOUT_S = 4
BWRAP = _sandbox.bwrap_problem()
needs_bwrap = pytest.mark.skipif(BWRAP is not None, reason=f"bubblewrap cannot run: {BWRAP}")
FULL = {"q1": 2.0, "q2": 1.0, "q3": 1.0}


def _master(path: Path) -> Path:
    """Three questions; hidden tests draw their inputs from the grading secret."""
    return write_master(
        path, "Seal lesson",
        question("q1", 2, "def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n"
                 "    # END SOLUTION",
                 "def test_q1(double):\n    assert double(2) == 4\n\n\ntest_q1(double)",
                 "# HIDDEN\ndef test_q1_hidden(double):\n"
                 "    from peprkit.course._secret import rng\n\n"
                 "    for x in rng('01', 'q1').integers(10**6, 10**9, size=3):\n"
                 "        assert double(int(x)) == 2 * int(x)\n\n\n"
                 "test_q1_hidden(double)"),
        question("q2", 1, "value = 6 * 7  # SOLUTION",
                 "def test_q2(value):\n    assert value == 42\n\n\ntest_q2(value)",
                 "# HIDDEN\ndef test_q2_hidden(rerun):\n"
                 "    assert rerun(['value'])['value'] == 42\n\n\n"
                 "test_q2_hidden(None)"),
        question("q3", 1, "def count(n):\n    return len(range(n))  # SOLUTION",
                 "def test_q3(count):\n    assert count(3) == 3\n\n\ntest_q3(count)",
                 "# HIDDEN\ndef test_q3_hidden(count):\n"
                 "    from peprkit.course._secret import rng\n\n"
                 "    for n in rng('01', 'q3').integers(10**6, 10**9, size=10):\n"
                 "        assert count(int(n)) == int(n)\n\n\n"
                 "test_q3_hidden(count)"))


def _with(solution: Path, path: Path, replace: dict | None = None, after: dict | None = None
          ) -> Path:
    """The solutions notebook with answer cells replaced (``{name: source}``) and cells
    inserted after the answer cell of a name (``{name: source}``)."""
    return with_answers(solution, path, ("double", "value", "count"), replace=replace,
                        after=after)


def _tree(root: Path, skip: tuple[str, ...]) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): kind and content hash."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if rel.startswith(skip):
                continue
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[rel] = "dir"
    return found


def _corpus(root: Path, solution: Path, mode: str, only: tuple[str, ...] = ()
            ) -> tuple[list[Path], dict]:
    """The batch: each hostile notebook (those named ``only``, default all) followed by
    an honest one."""
    subs = root / f"subs-{mode}"
    canary = root / "canary"
    canary.mkdir(exist_ok=True)
    (canary / "target.txt").write_text("untouched")
    fake = root / "fake_answers"
    (fake / "final").mkdir(parents=True, exist_ok=True)
    (fake / "q2.json").write_text(json.dumps({"value": 42}))
    (fake / "final" / "q2.json").write_text(json.dumps({"value": 42}))
    target = str(canary / "target.txt")
    hostile: dict[str, Path] = {}
    # (a) the worker's exchange: every entry of its folder becomes a link to a file of the
    # instructor's, then the worker dies, so the scorer restarts it
    swap = ("import os\n"
            "def double(x):\n"
            "    for name in ['functions.json', '.home', 'spec.json', *os.listdir('.')]:\n"
            "        try:\n"
            "            if os.path.isdir(name) and not os.path.islink(name):\n"
            "                os.rename(name, name + '.old')\n"
            "            elif os.path.lexists(name):\n"
            "                os.remove(name)\n"
            f"            os.symlink({target!r}, name)\n"
            "        except OSError:\n"
            "            pass\n"
            "    os._exit(1)")
    hostile["swaps_worker_files"] = _with(solution, subs / "swaps_worker_files.ipynb",
                                          replace={"double": swap})
    # (b) the progress file becomes a FIFO: the grader must never block on it
    fifo = ("import os\nos.remove('.grading/progress.jsonl')\n"
            "os.mkfifo('.grading/progress.jsonl')")
    hostile["fifo_progress"] = _with(solution, subs / "fifo_progress.ipynb",
                                     after={"double": fifo})
    # (b) 100,000 levels of nesting, in the notebook's JSON
    deep = root / f"deep-{mode}" / "deep_json.ipynb"
    deep.parent.mkdir(exist_ok=True)
    deep.write_text('{"cells": [{"cell_type": "code", "source": "x = 1", "metadata": '
                    + '{"a": ' * 100_000 + "1" + "}" * 100_000
                    + '}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    hostile["deep_json"] = deep
    # (b) wrong types: cells a string, metadata a list, tags a string, a source object
    odd = root / f"odd-{mode}"
    odd.mkdir(exist_ok=True)
    (odd / "cells_string.ipynb").write_text(json.dumps({"cells": "abc", "nbformat": 4}))
    hostile["cells_string"] = odd / "cells_string.ipynb"
    nb = json.loads(solution.read_text())
    for cell in nb["cells"]:
        cell["metadata"] = [] if cell["cell_type"] == "code" else {"tags": "parameters"}
    nb["cells"].insert(0, "not a cell")
    nb["cells"].insert(1, {"cell_type": "code", "source": "y = 1", "id": 5,
                           "metadata": {"tags": [1, None, "parameters"]}})
    (odd / "metadata_list.ipynb").write_text(json.dumps(nb))
    hostile["metadata_list"] = odd / "metadata_list.ipynb"
    nb = json.loads(solution.read_text())
    nb["cells"].append({"cell_type": "code", "source": {"a": 1}, "metadata": {}})
    (odd / "source_object.ipynb").write_text(json.dumps(nb))
    hostile["source_object"] = odd / "source_object.ipynb"
    # (b) lone surrogates: in a cell's error, in a function's error, in the file name
    surrogate = 'raise ValueError("bad \\ud800 text =1+1")'
    name = os.fsdecode(b"surrogate_\xff")
    hostile[name] = _with(solution, subs / f"{name}.ipynb", after={"value": surrogate})
    # (c) calls that sleep just under the per-call limit, many of them
    slow = f"import time\ndef count(n):\n    time.sleep({CELL_TIMEOUT_S - 0.6})\n    return n"
    hostile["slow_calls"] = _with(solution, subs / "slow_calls.ipynb", replace={"count": slow})
    # (d) drawn inputs recorded by one call and raised in the error of another
    record = "SEEN = []\ndef double(x):\n    SEEN.append(x)\n    return 2 * x"
    leak = "def count(n):\n    raise ValueError('LEAK' + ','.join(str(v) for v in SEEN))"
    for student in ("leak_a", "leak_b"):
        hostile[student] = _with(solution, subs / f"{student}.ipynb",
                                 replace={"double": record, "count": leak})
    # (f) a table of 500,000 columns (5 MB of CSV): never rebuilt by the scorer
    wide = ("import json\nheader = ','.join(str(i) for i in range(500_000))\n"
            "table = {'__dataframe__': header + '\\n' + '0,' * 499_999 + '0\\n'}\n"
            "with open('.grading/answers/q2.json', 'w') as fh:\n"
            "    json.dump({'value': table}, fh)")
    hostile["wide_table"] = _with(solution, subs / "wide_table.ipynb", after={"value": wide})
    # (e) a spreadsheet formula as file name
    formula = '=HYPERLINK("evil.example?x","click")'
    hostile[formula] = _with(solution, subs / f"{formula}.ipynb")
    # (e) two files of one student
    for folder in ("dir1", "dir2"):
        hostile[f"{folder}/carol"] = _with(solution, root / f"{mode}-{folder}" / "carol.ipynb",
                                           replace={"value": f"value = 42  # {folder}"})
    # (a) answers and the .grading folder planted as links (bubblewrap only: the fallback
    # lets the notebook itself write through them)
    if mode == "bwrap":
        plant = ("import os, shutil\nshutil.rmtree('.grading/answers')\n"
                 f"os.symlink({str(fake)!r}, '.grading/answers')\nvalue = 0")
        hostile["links_answers"] = _with(solution, subs / "links_answers.ipynb",
                                         replace={"value": plant})
    paths = []
    for key, path in hostile.items():
        if only and not key.startswith(only):
            continue
        paths.append(path)
        safe = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_") or "x"
        paths.append(_with(solution, subs / f"honest_after_{safe}.ipynb"))
    return paths, {"canary": canary, "fake": fake}


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    root = tmp_path_factory.mktemp("seal")
    master = _master(root / "source" / "01_seal.ipynb")
    out = authoring.run_assign(master, root / "assign")
    return root, out / "autograder" / master.name


def _batch(lesson, mode: str, only: tuple[str, ...] = ()) -> dict:
    root, solution = lesson
    paths, extra = _corpus(root, solution, mode, only)
    out = root / f"grades-{mode}.csv"
    before = _tree(root, skip=(out.name,))
    walls: dict[str, float] = {}
    real = grading.grade_one

    def timed(path, *args, **kwargs):
        start = time.monotonic()
        try:
            return real(path, *args, **kwargs)
        finally:
            walls[Path(path).stem] = time.monotonic() - start

    grading.grade_one = timed
    try:
        start = time.monotonic()
        grades = grading.grade(paths, lesson="01", source_dir=root / "source", out=out,
                               timeout_s=TIMEOUT_S, cell_timeout_s=CELL_TIMEOUT_S,
                               secret=SECRET, sandbox=mode, jobs=1)
        elapsed = time.monotonic() - start
    finally:
        grading.grade_one = real
    after = _tree(root, skip=(out.name,))
    return {"grades": grades, "out": out, "paths": paths, "walls": walls, "elapsed": elapsed,
            "changed": {k for k in before.keys() | after.keys()
                        if before.get(k) != after.get(k)}, **extra}


@pytest.fixture(scope="module")
def batch(lesson):
    """The whole corpus, with bubblewrap where it runs (else with the fallback)."""
    mode = "bwrap" if BWRAP is None else "fallback"
    return {"mode": mode, **_batch(lesson, mode)}


#: The classes whose claim holds under the fallback too, graded there as well when the
#: main batch ran with bubblewrap.
FALLBACK_CLASSES = ("swaps_worker_files", "fifo_progress")


@pytest.fixture(scope="module")
def fallback_batch(lesson, batch):
    if batch["mode"] == "fallback":
        return batch
    return {"mode": "fallback", **_batch(lesson, "fallback", FALLBACK_CLASSES)}


def _rows(grades, student):
    return grades[grades["student"] == student].set_index("question")


def _points(grades, student):
    return _rows(grades, student)["points"].to_dict()


@pytest.mark.parametrize("which", ["batch", "fallback_batch"])
def test_every_honest_notebook_after_a_hostile_one_scores_full_marks(which, request):
    batch = request.getfixturevalue(which)
    g = batch["grades"]
    honest = sorted(s for s in set(g["student"]) if s.startswith("honest_after_"))
    assert len(honest) == len(batch["paths"]) // 2 >= len(FALLBACK_CLASSES)
    for student in honest:
        assert _points(g, student) == FULL, (student, _rows(g, student)[["status", "detail"]])
        assert set(_rows(g, student)["status"]) == {"graded"}
    assert not g.duplicated(["student", "question", "submission"]).any()


@pytest.mark.parametrize("which", ["batch", "fallback_batch"])
def test_the_worker_exchange_swapped_for_links_writes_nothing_outside(which, request):
    batch = request.getfixturevalue(which)
    g = batch["grades"]
    assert (batch["canary"] / "target.txt").read_text() == "untouched"
    assert batch["changed"] == set(), batch["changed"]
    rows = _rows(g, "swaps_worker_files")
    assert rows.loc["q1", "points"] == 0 and "crashed the process" in rows.loc["q1", "detail"]
    assert rows.loc["q2", "points"] == 1 and rows.loc["q3", "points"] == 1


@needs_bwrap
def test_answers_planted_as_links_are_refused(batch):
    if batch["mode"] != "bwrap":
        pytest.skip("the fallback lets a notebook write through its own links")
    rows = _rows(batch["grades"], "links_answers")
    assert (rows["points"] == 0).all()
    assert "not a plain file" in rows.loc["q2", "detail"] + rows.loc["q2", "feedback"]


@pytest.mark.parametrize("which", ["batch", "fallback_batch"])
def test_a_fifo_progress_file_never_blocks_the_grader(which, request):
    batch = request.getfixturevalue(which)
    rows = _rows(batch["grades"], "fifo_progress")
    assert rows.loc["q1", "points"] == 2
    assert set(rows.loc[["q2", "q3"], "status"]) == {"timeout"}
    assert "progress file" in rows.loc["q2", "feedback"]
    assert batch["walls"]["fifo_progress"] < TIMEOUT_S


def test_deep_nesting_and_wrong_types_become_error_rows(batch):
    g = batch["grades"]
    for student in ("deep_json", "cells_string", "source_object"):
        rows = _rows(g, student)
        assert set(rows["status"]) == {"error"} and (rows["points"] == 0).all(), student
        assert rows.iloc[0]["feedback"].startswith("not a readable notebook"), student
    assert "nested too deep" in _rows(g, "deep_json").iloc[0]["feedback"]
    assert "not a list" in _rows(g, "cells_string").iloc[0]["feedback"]
    assert _points(g, "metadata_list") == FULL


def test_lone_surrogates_are_replaced_and_the_book_is_written(batch):
    g = batch["grades"]
    rows = _rows(g, "surrogate_?")
    assert _points(g, "surrogate_?") == FULL
    assert rows.iloc[0]["cell_errors"] == 1
    assert re.fullmatch(r"cell \d+: ValueError: bad \? text =1\+1", rows.iloc[0]["cells_raised"])
    text = batch["out"].read_bytes().decode("utf-8")  # strict: valid UTF-8
    assert "bad ? text" in text and "\ud800" not in text


def test_calls_under_the_limit_keep_to_the_submission_time_and_decided_points(batch):
    rows = _rows(batch["grades"], "slow_calls")
    assert rows.loc["q1", "points"] == 2 and rows.loc["q2", "points"] == 1
    assert rows.loc["q3", "status"] == "timeout" and rows.loc["q3", "points"] == 0
    assert "ran out of time" in rows.loc["q3", "feedback"]
    # the run and the scoring together: timeout_s, plus the scorer's grace and clean-up
    assert batch["walls"]["slow_calls"] < TIMEOUT_S + _score.GRACE_S + 5, batch["walls"]


def _leaked(grades, student) -> set[str]:
    detail = _rows(grades, student).loc["q3", "detail"]
    return {v for v in re.findall(r"\d+", detail.split("(hidden)", 1)[-1]) if len(v) >= 7}


def test_drawn_inputs_never_reach_feedback_and_differ_between_students(batch):
    g = batch["grades"]
    leaked = {s: _leaked(g, s) for s in ("leak_a", "leak_b")}
    assert all(len(v) == 3 for v in leaked.values()), leaked  # q1's three draws
    assert not leaked["leak_a"] & leaked["leak_b"], "two students drew the same inputs"
    feedback = " ".join(g["feedback"])
    for values in leaked.values():
        assert not any(v in feedback for v in values)
    assert _rows(g, "leak_a").loc["q3", "feedback"].endswith("LEAK2")  # public: only q1's 2


def test_a_table_too_wide_is_not_rebuilt(batch):
    rows = _rows(batch["grades"], "wide_table")
    assert rows.loc["q2", "points"] < 1 and rows.loc["q1", "points"] == 2
    assert "columns" in rows.loc["q2", "detail"]


def test_formulas_in_file_names_are_neutralised(batch):
    g = batch["grades"]
    student = '\'=HYPERLINK("evil.example?x","click")'
    assert _points(g, student) == FULL
    with open(batch["out"], newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for column, value in row.items():
                assert not value.startswith(("=", "+", "@", "\t", "\r")), (column, value)
                assert not value.startswith("-") or column in ("points", "max_points")


def test_two_files_of_one_student_are_both_errors_naming_each_other(batch):
    rows = batch["grades"][batch["grades"]["student"] == "carol"]
    assert len(rows) == 6 and set(rows["status"]) == {"error"}
    for path in set(rows["submission"]):
        other = next(p for p in set(rows["submission"]) if p != path)
        assert (rows[rows["submission"] == path]["feedback"].str.contains(other,
                                                                          regex=False)).all()


def test_the_batch_leaves_no_process(batch):
    left = [p for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], [p.cmdline() for p in left]


def test_leaked_numbers_copied_score_nothing_and_a_changed_file_draws_again(batch, lesson):
    root, solution = lesson
    g = batch["grades"]
    leaked = sorted(int(v) for v in _leaked(g, "leak_a"))
    table = {2: 4, **{v: 2 * v for v in leaked}}
    subs = root / f"copy-{batch['mode']}"
    copy = _with(solution, subs / "copycat.ipynb",
                 replace={"double": f"def double(x):\n    return {table!r}[x]"})
    leak_a = next(p for p in batch["paths"] if p.stem == "leak_a")
    changed = subs / "leak_a.ipynb"
    changed.write_bytes(leak_a.read_bytes().replace(b"SEEN = []", b"SEEN = []  # v2"))
    again = grading.grade([copy, changed], lesson="01", source_dir=root / "source",
                          timeout_s=TIMEOUT_S, cell_timeout_s=CELL_TIMEOUT_S, secret=SECRET,
                          sandbox=batch["mode"])
    assert _points(again, "copycat")["q1"] == 0
    assert "KeyError" in _rows(again, "copycat").loc["q1", "detail"]
    assert not _leaked(again, "leak_a") & set(map(str, leaked)), "a changed file drew the same"


def test_submission_seeds_depend_on_student_and_file():
    seed = _secret.lesson_seed("01", SECRET)
    seeds = {_secret.submission_seed(seed, s, h) for s in ("ann", "bob") for h in ("1", "2")}
    assert len(seeds) == 4
    assert _secret.submission_seed(seed, "ann", "1") == _secret.submission_seed(seed, "ann", "1")


def test_exchange_refuses_links_fifos_and_large_files(tmp_path):
    root = tmp_path / "run"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.txt").write_text("fine")
    (tmp_path / "outside.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "linked").symlink_to(root / "sub")
    os.mkfifo(root / "fifo")
    assert _exchange.read_bytes("sub/ok.txt", 10, root=root) == b"fine"
    for bad in ("link.txt", "linked/ok.txt", "fifo", "../outside.txt", "/etc/passwd"):
        with pytest.raises(_exchange.Refused):
            _exchange.read_bytes(bad, 10, root=root)
        assert not _exchange.is_file(bad, root=root)
    with pytest.raises(_exchange.Refused, match="larger than 3 bytes"):
        _exchange.read_bytes("sub/ok.txt", 3, root=root)
    assert _exchange.read_tail("sub/ok.txt", 2, root=root) == b"ne"
    assert _exchange.subfolders(".", root=root) == ["sub"]
    assert _exchange.present("fifo", root=root) and _exchange.present("linked/ok.txt", root=root)
    assert not _exchange.present("sub/missing.txt", root=root)
    with pytest.raises(_exchange.Refused):
        _exchange.read_bytes(root / "fifo", 10)  # without root: the file itself


def test_decoding_refuses_tables_and_arrays_that_would_blow_memory():
    wide = {"__dataframe__": ",".join(str(i) for i in range(500_001)) + "\n"}
    start = time.monotonic()
    assert isinstance(_codec.decode(wide), _codec.Unsupported)
    assert time.monotonic() - start < 1
    tall = {"__series__": "i,v\n" + "0,1\n" * 1_100_000}
    assert isinstance(_codec.decode(tall), _codec.Unsupported)
    huge = {"__ndarray__": ["a"], "dtype": "<U100000000"}
    assert isinstance(_codec.decode(huge), _codec.Unsupported)
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    assert "too deep" in repr(_codec.decode(deep))


def test_the_scorer_limits_its_own_memory():
    import subprocess
    import sys

    code = ("from peprkit.course._score import _limit_memory\n_limit_memory(0.5)\n"
            "try:\n    bytearray(2**30)\nexcept MemoryError:\n    print('capped')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "capped", out.stderr


def test_student_ids_are_csv_safe_and_old_books_still_read(tmp_path):
    assert _gradebook.student_id("subs/+cmd.ipynb") == "'+cmd"
    assert _gradebook.student_id("subs/a\tb.ipynb") == "a_b"
    assert _gradebook.student_id(os.fsdecode(b"x\xff.ipynb")) == "x?"
    with pytest.raises(ValueError, match="finds an empty student id"):
        _gradebook.student_id("subs/_x.ipynb", r"_(?P<student>[a-z]*)x")
    old = tmp_path / "old.csv"
    columns = [c for c in _gradebook.COLUMNS if c != "cells_raised"]
    pd.DataFrame([dict.fromkeys(columns, "1")]).to_csv(old, index=False)
    book = _gradebook.read_book(old)
    assert list(book.columns) == _gradebook.COLUMNS and book["cells_raised"].tolist() == [""]
