"""CI checks of the graded course, for every master found in notebooks/source/.

Each master is executed ONCE per suite: one ``peprkit grade`` batch per lesson (quick mode)
grades its solutions notebook, which is the master's top-to-bottom run. That one run serves
the "which cell broke" report (``cells_raised``, what nbval's per-cell tests used to give),
the public and hidden tests on the solution, and the grading of the solution. The blank
student notebook is graded where it tests something the solution run does not: a lesson
that trains nothing (01) and one that trains (03); blank answers of every lesson fail every
hidden test in ``tests/test_hidden_*.py`` without running a notebook. A half-right notebook
is graded for lesson 01 (partial credit). Pretrained weights cannot be downloaded here, so
:func:`peprkit.course.authoring.offline_env` writes stand-in weight files for the quick-mode
models (``QUICK_MODELS``) and points ``PEPRKIT_WEIGHTS_DIR`` at them; real BreastMNIST is used
when ``PEPRKIT_DATA_DIR`` (or ../shared/data) has it, synthetic data otherwise.

An instructor editing one master can still run it cell by cell under nbval:
``pytest --nbval-lax notebooks/source/03_*.ipynb`` (see the root ``conftest.py``).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

from _sandboxes import grading_sandbox  # noqa: E402

from peprkit.course import _gradebook, authoring, grading  # noqa: E402
from peprkit.course._autograder import read_master  # noqa: E402

MASTERS = authoring.masters()
HALF_RIGHT_LESSON = "01"
#: Lessons whose blank notebook is graded end to end: one that trains nothing, one that trains.
BLANK_LESSONS = ("01", "03")
_GRADES: dict[str, object] = {}


@pytest.fixture(scope="session")
def course_env(tmp_path_factory, real_data_dir) -> dict[str, str]:
    """Offline quick-mode environment: stand-in weights, isolated caches, real data if any."""
    pytest.importorskip("timm")
    return authoring.offline_env(tmp_path_factory.mktemp("course"), real_data_dir)


def half_right(solution, blank):
    """The solutions notebook with the first half of its answer cells left blank."""
    nb = nbformat.read(solution, as_version=4)
    blanks = {c["id"]: c["source"] for c in nbformat.read(blank, as_version=4).cells
              if "otter_answer_cell" in c.metadata.get("tags", []) and c.cell_type == "code"}
    answers = [c for c in nb.cells if c.get("id") in blanks]
    for cell in answers[: (len(answers) + 1) // 2]:
        cell["source"] = blanks[cell["id"]]
    return nb


def _book(tmp_path_factory) -> Path:
    """The one gradebook every lesson of the session is graded into, as a course would."""
    return tmp_path_factory.getbasetemp() / "course_grades.csv"


def lesson_grades(master: Path, course_env, tmp_path_factory):
    """One grading batch per lesson (cached): the solutions, plus the blank notebook for
    :data:`BLANK_LESSONS` and a half-right one for :data:`HALF_RIGHT_LESSON` (each notebook
    costs a full quick run)."""
    if master.stem not in _GRADES:
        folder = tmp_path_factory.mktemp(master.stem)
        out = authoring.run_assign(master, folder / "assign")
        solution = shutil.copy(out / "autograder" / master.name, folder / "solution.ipynb")
        blank = shutil.copy(out / "student" / master.name, folder / "blank.ipynb")
        batch = [solution]
        if master.stem[:2] in BLANK_LESSONS:
            batch.append(blank)
        if master.stem.startswith(HALF_RIGHT_LESSON):
            nbformat.write(half_right(solution, blank), folder / "half.ipynb")
            batch.append(folder / "half.ipynb")
        _GRADES[master.stem] = grading.grade(
            batch, lesson=master.stem, source_dir=master.parent, jobs=2, env=course_env,
            timeout_s=1200, cell_timeout_s=600, resume=False, secret="course-tests",
            out=_book(tmp_path_factory), sandbox=grading_sandbox())
    return _GRADES[master.stem]


def _auto(grades, name):
    return grades[(grades["submission"].str.endswith(name)) & (grades["status"] != "manual")]


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_master_runs_clean_and_solutions_score_full_marks(master, course_env, tmp_path_factory):
    grades = lesson_grades(master, course_env, tmp_path_factory)
    solution = _auto(grades, "solution.ipynb")
    assert len(solution) > 0, f"{master.stem} has no auto-graded question"
    why = solution[["question", "status", "feedback", "detail"]].to_dict("records")
    assert (solution["status"] == "graded").all(), why
    assert (solution["points"] == solution["max_points"]).all(), why
    raised = solution["cells_raised"].fillna("").iloc[0]
    assert (solution["cell_errors"] == 0).all(), f"{master.name} raised in {raised}"


@pytest.mark.parametrize("lesson", BLANK_LESSONS)
def test_blank_student_notebook_scores_zero(lesson, course_env, tmp_path_factory):
    master = authoring.find_master(lesson)
    blank = _auto(lesson_grades(master, course_env, tmp_path_factory), "blank.ipynb")
    assert len(blank) > 0
    assert (blank["status"] == "graded").all(), blank[["question", "status", "feedback"]]
    assert (blank["points"] == 0).all(), blank[["question", "points"]]
    assert blank["feedback"].str.len().gt(0).all(), "a failed question should say why"


def test_half_right_notebook_scores_in_between(course_env, tmp_path_factory):
    master = authoring.find_master(HALF_RIGHT_LESSON)
    half = _auto(lesson_grades(master, course_env, tmp_path_factory), "half.ipynb")
    assert half["question"].nunique() >= 2
    assert 0 < half["points"].sum() < half["max_points"].sum(), half[["question", "points"]]


def test_lessons_share_one_gradebook_and_regrading_an_identical_file_is_skipped(
        course_env, tmp_path_factory):
    first, last = authoring.find_master("01"), authoring.find_master("07")
    graded = {m.stem: lesson_grades(m, course_env, tmp_path_factory) for m in (first, last)}
    book_path = _book(tmp_path_factory)
    book = _gradebook.read_book(book_path)
    key = ["student", "lesson", "question"]
    for stem, grades in graded.items():
        kept = grades.merge(book, on=key, suffixes=("", "_book"))
        assert len(kept) == len(grades), f"rows of {stem} missing from the gradebook"
        assert kept["points"].fillna(-1).eq(kept["points_book"].fillna(-1)).all()
    assert not book.duplicated(key).any()
    before = book_path.read_bytes()
    solution = graded[last.stem]["submission"].iloc[0]
    again = grading.grade([solution], lesson=last.stem, source_dir=last.parent,
                          env=course_env, secret="course-tests", out=book_path,
                          sandbox=grading_sandbox())
    assert book_path.read_bytes() == before, "an identical file was graded again"
    mine = graded[last.stem][graded[last.stem]["submission"] == solution]
    assert again[key + ["points", "sha256"]].equals(mine[key + ["points", "sha256"]]
                                                    .reset_index(drop=True))


def test_student_notebooks_match_their_masters():
    assert authoring.check() == []


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_student_notebook_follows_the_conventions(master):
    student = authoring.NOTEBOOKS_DIR / master.name
    nb = nbformat.read(student, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs committed"
    assert not any("otter" in c.source or "grader." in c.source for c in code), "otter cell"
    assert authoring.colab_url(master.stem) in nb.cells[0].source, "no Colab badge on top"
    assert "google.colab" in code[0].source and authoring.RELEASE_TAG in code[0].source
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "PEPRKIT_QUICK" in params[0].source
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Estimated time" in text and "Summary" in text
    assert any(q.manual for q in read_master(master).questions), "no manual question"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and authoring.generated_notice(master.stem) in first.source
    assert f"notebooks/source/{master.name}" in first.source and "by hand" in first.source
    assert nb.metadata[authoring.GENERATED_KEY]["from"] == f"notebooks/source/{master.name}"
    # no public test files: the check cells above replace them
    assert not (authoring.NOTEBOOKS_DIR / "tests").exists()


def test_public_tests_leave_hidden_cases_out(tmp_path):
    master = authoring.find_master("01")
    out = authoring.run_assign(master, tmp_path / "assign")
    hidden = (out / "autograder" / "tests" / "q1.py").read_text()
    public = (out / "student" / "tests" / "q1.py").read_text()
    assert "hidden=True" in hidden and "hidden=True" not in public
    student = (authoring.NOTEBOOKS_DIR / master.name).read_text()
    assert "test_q1_hidden" not in student and "hidden_q" not in student
    assert "peprkit.course" not in student and "IGNORE" not in student


def test_find_master_accepts_number_or_name_and_names_the_fix():
    master = authoring.find_master("1")
    assert authoring.find_master("01") == master == authoring.find_master(master.stem)
    with pytest.raises(ValueError, match=r"lesson='99' matches no master notebook.*use one of"):
        authoring.find_master("99")


def test_header_comes_from_one_setting(monkeypatch):
    monkeypatch.setattr(authoring, "REPO_URL", "https://github.com/someone/fork")
    monkeypatch.setattr(authoring, "RELEASE_TAG", "v9.9.9")
    sources = "\n".join(src for _, src in authoring.header_sources("01_pepr_metric"))
    assert "github/someone/fork/blob/v9.9.9/notebooks/01_pepr_metric.ipynb" in sources
    assert "git+https://github.com/someone/fork@v9.9.9" in sources
    assert "peprkit/peprkit" not in sources


def test_normalized_master_is_idempotent_and_clears_outputs():
    master = authoring.find_master("01")
    nb = nbformat.read(master, as_version=4)
    body = [c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("tags")]
    body[0]["outputs"] = [nbformat.v4.new_output("stream", text="x")]
    once = authoring.normalized_master(nb, master.stem)
    twice = authoring.normalized_master(once, master.stem)
    assert nbformat.writes(once) == nbformat.writes(twice)
    assert all(not c.get("outputs") for c in once.cells if c.cell_type == "code")
    tags = [c.metadata.get("tags", []) for c in once.cells[:4]]
    assert all(authoring.HEADER_TAG in t for t in tags)


def test_check_reports_a_hand_edited_student_notebook_and_a_stale_one(tmp_path):
    master = authoring.find_master("01")
    (tmp_path / "source").mkdir()
    shutil.copy(master, tmp_path / "source")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = json.loads((authoring.NOTEBOOKS_DIR / master.name).read_text())
    nb["cells"][-1]["source"] = ["edited by hand"]
    (notebooks / master.name).write_text(json.dumps(nb))
    (notebooks / "99_orphan.ipynb").write_text("{}")
    problems = authoring.check(tmp_path / "source", notebooks)
    assert any(p.endswith("01_pepr_metric.ipynb: differs from what its master generates")
               for p in problems), problems
    assert any("99_orphan.ipynb: student notebook without a master" in p for p in problems)
    (notebooks / master.name).unlink()
    assert any(p.endswith("01_pepr_metric.ipynb: missing")
               for p in authoring.check(tmp_path / "source", notebooks))


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_every_auto_graded_question_has_a_hidden_test(master):
    """The one home of this rule: every auto-graded question of every master has exactly one
    hidden test cell, the grader finds the lesson's hooks, and each hidden test draws its
    inputs at grading time."""
    nb = nbformat.read(master, as_version=4)
    hidden = [c.source for c in nb.cells
              if c.cell_type == "code" and c.source.startswith("# HIDDEN")]
    names = {q.name for q in read_master(master).questions if not q.manual}
    by_name = {s.split("def ", 1)[1].split("(")[0]: s for s in hidden}
    assert {f"test_{q}_hidden" for q in names} == set(by_name) and len(by_name) == len(hidden)
    hooks = grading.lesson_hooks(master.stem)
    assert hooks.__name__ == f"peprkit.course.hidden.lesson{master.stem[:2]}"
    # inputs drawn at grading time: the answer cell rerun, a hidden check drawing its own
    # inputs, or context the grader rebuilt from its injected parameters
    rebuilt = set(getattr(hooks, "CONTEXT", ()))
    for q in names:
        source = by_name[f"test_{q}_hidden"]
        params = source.split("(", 1)[1].split(")", 1)[0].replace(" ", "").split(",")
        assert "rerun" in params or ".hidden_" in source or rebuilt & set(params), source
        called = re.findall(r"hidden\.lesson(\d+)\.hidden_(q\d+)\(", source)
        assert all(c == (master.stem[:2], q) for c in called), (q, called)
