"""`peprkit grade` on a tiny lesson: isolation per question, timeouts, gradebook, bad input."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

from _course_fixtures import (  # noqa: E402
    manual_question,
    question,
    with_answers,
    write_master,
)
from _sandboxes import grading_sandbox  # noqa: E402

from peprkit.cli import main  # noqa: E402
from peprkit.course import _gradebook, _sandbox, _score, authoring, grading  # noqa: E402

V4 = nbformat.v4
SECRET = "tests-secret"


def _tiny_master(path):
    """A three-question lesson (one manual) in the course's master format."""
    return write_master(
        path, "Tiny lesson",
        question("q1", 2, "def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n"
                 "    # END SOLUTION",
                 "def test_q1(double):\n    assert double(2) == 4\n\n\ntest_q1(double)",
                 "# HIDDEN\ndef test_q1_hidden(double):\n    assert double(5) == 10\n\n\n"
                 "test_q1_hidden(double)"),
        question("q2", 1, "value = 6 * 7  # SOLUTION",
                 "def test_q2(value):\n    assert value == 42\n\n\ntest_q2(value)"),
        question("q3", 1, "def count(n):\n    return len(range(n))  # SOLUTION",
                 "def test_q3(count):\n    assert count(3) == 3\n\n\ntest_q3(count)"),
        manual_question("essay", 3, "Why?", "Because."))


def _variant(solution, path, **answers):
    """The solutions notebook with the answer cells defining the given names replaced."""
    return with_answers(solution, path, ("double", "value", "count"), replace=answers)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Masters folder, solutions and student notebooks of the tiny lesson."""
    root = tmp_path_factory.mktemp("tiny")
    master = _tiny_master(root / "source" / "01_tiny.ipynb")
    out = authoring.run_assign(master, root / "assign")
    return root, out / "autograder" / master.name, out / "student" / master.name


def _grade(paths, root, **kwargs):
    options = {"lesson": "01", "source_dir": root / "source", "timeout_s": 120,
               "cell_timeout_s": 3, "secret": SECRET, "sandbox": grading_sandbox(), **kwargs}
    return grading.grade(paths, **options)


@pytest.fixture(scope="module")
def batch(tiny):
    """One grading batch with good, raising, looping, broken and blank notebooks."""
    root, solution, student = tiny
    subs = root / "subs"
    subs.mkdir()
    paths = [
        _variant(solution, subs / "good.ipynb"),
        _variant(solution, subs / "renamed copy (1).ipynb"),
        _variant(solution, subs / "raises.ipynb", double="raise RuntimeError('boom')"),
        _variant(solution, subs / "loops.ipynb", value="while True:\n    pass\nvalue = 42",
                 count="def count(n):\n    while True:\n        pass"),
        subs / "broken.ipynb",
        subs / "blank.ipynb",
    ]
    paths[-2].write_text("this is not a notebook")
    paths[-1].write_bytes(student.read_bytes())
    out = root / "grades.csv"
    grades = _grade(paths, root, out=out, jobs=2)
    return grades, out, paths


def _points(grades, student):
    rows = grades[grades["student"] == student]
    return dict(zip(rows["question"], rows["points"], strict=True))


def _rows(grades, student):
    return grades[grades["student"] == student].set_index("question")


def test_one_row_per_student_and_question_in_input_order(batch):
    grades, out, paths = batch
    assert list(grades.columns) == grading.COLUMNS
    assert list(dict.fromkeys(grades["student"])) == [p.stem for p in paths]
    assert (grades.groupby("student").size() == 4).all()
    saved = pd.read_csv(out, dtype={"lesson": str})
    assert list(saved.columns) == grading.COLUMNS and len(saved) == len(grades)
    sha = grades.drop_duplicates("student").set_index("student")["sha256"]
    assert sha["good"] == _gradebook.sha256(paths[0]) and len(sha["good"]) == 64


def test_solutions_and_renamed_copies_score_full_marks(batch):
    grades = batch[0]
    for name in ("good", "renamed copy (1)"):
        points = _points(grades, name)
        assert (points["q1"], points["q2"], points["q3"]) == (2.0, 1.0, 1.0)
        rows = grades[grades["student"] == name]
        assert (rows["cell_errors"] == 0).all()
        assert rows["feedback"].isin(["", "graded by a person"]).all()


def test_a_raising_cell_costs_only_its_question(batch):
    grades = batch[0]
    points = _points(grades, "raises")
    assert (points["q1"], points["q2"], points["q3"]) == (0.0, 1.0, 1.0)
    assert _rows(grades, "raises").iloc[0]["cell_errors"] >= 1


def test_looping_cells_and_function_calls_are_interrupted_and_the_rest_grades(batch):
    grades = batch[0]
    points = _points(grades, "loops")
    assert (points["q1"], points["q2"], points["q3"]) == (2.0, 0.0, 0.0)
    rows = _rows(grades, "loops")
    assert "grading limit of 3" in rows.loc["q3", "feedback"]
    assert (rows.loc[["q1", "q2", "q3"], "status"] == "graded").all()


def test_a_broken_notebook_scores_zero_and_the_batch_goes_on(batch):
    grades = batch[0]
    rows = grades[(grades["student"] == "broken") & (grades["status"] != "manual")]
    assert (rows["status"] == "error").all() and (rows["points"] == 0).all(), rows
    assert rows.iloc[0]["feedback"].startswith("not a readable notebook")
    assert len(grades[grades["student"] == "blank"]) == 4  # graded after it


def test_blank_notebook_scores_zero_and_manual_question_is_left_to_a_person(batch):
    grades = batch[0]
    points = _points(grades, "blank")
    assert (points["q1"], points["q2"], points["q3"]) == (0.0, 0.0, 0.0)
    assert _rows(grades, "blank").loc["q2", "feedback"] != ""
    essay = grades[grades["question"] == "essay"]
    assert (essay["status"] == "manual").all() and essay["points"].isna().all()
    assert (essay["max_points"] == 3).all()


def test_hidden_test_failure_scores_zero_and_feedback_hides_it(tiny, tmp_path):
    root, solution, _ = tiny
    lookup = "def double(x):\n    return {2: 4}[x]"  # passes the public case only
    path = _variant(solution, tmp_path / "lookup.ipynb", double=lookup)
    row = _rows(_grade([path], root), "lookup").loc["q1"]
    assert row["points"] == 0 and row["status"] == "graded"
    assert "hidden" in row["feedback"] and "double(5)" not in row["feedback"]
    assert "KeyError" in row["detail"]


def test_a_cell_that_blocks_the_timer_is_stopped_and_earlier_answers_keep_points(tiny):
    root, solution, _ = tiny
    hang = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    path = _variant(solution, root / "silences.ipynb", value=hang)
    grades = _grade([path], root, cell_timeout_s=1)  # stopped 1 + 5 s into the cell
    rows = _rows(grades, "silences")
    assert rows.loc["q1", "points"] == 2.0 and rows.loc["q1", "status"] == "graded"
    assert (rows.loc[["q2", "q3"], "status"] == "timeout").all()
    assert (rows.loc[["q2", "q3"], "points"] == 0).all()
    assert "could not be interrupted" in rows.loc["q2", "feedback"]


def test_a_notebook_past_the_submission_limit_keeps_the_points_it_earned(tiny):
    root, solution, _ = tiny
    hang = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    path = _variant(solution, root / "hangs.ipynb", value=hang)
    grades = _grade([path], root, timeout_s=8, cell_timeout_s=60)
    rows = _rows(grades, "hangs")
    assert rows.loc["q1", "points"] == 2.0
    assert (rows.loc[["q2", "q3"], "status"] == "timeout").all()
    assert "stopped after 8 s (whole notebook)" in rows.loc["q2", "feedback"]


def test_a_crash_keeps_earlier_points_and_the_code_runs_once(tiny, tmp_path, monkeypatch):
    root, solution, _ = tiny
    path = _variant(solution, tmp_path / "exits.ipynb",
                    value="import os\nos._exit(3)\nvalue = 42")
    runs = []
    real_run = _sandbox.run

    def counted(argv, *args, **kwargs):
        if "peprkit.course._runner" in argv:
            runs.append(argv)
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(_sandbox, "run", counted)
    rows = _rows(_grade([path], root), "exits")
    assert len(runs) == 1, "the student's notebook must run once, never retried"
    assert rows.loc["q1", "points"] == 2.0
    assert (rows.loc[["q2", "q3"], "status"] == "crashed").all()
    assert "error" not in set(rows["status"])


def test_summary_totals_auto_graded_points(batch):
    totals = grading.summary(batch[0]).set_index("student")["points"]
    assert totals["good"] == 4.0 and totals["blank"] == 0.0


def test_regrading_identical_files_is_skipped_even_from_another_path(batch, tiny, monkeypatch,
                                                                     tmp_path):
    grades, out, paths = batch
    root = tiny[0]
    before = out.read_bytes()

    def fail(*args, **kwargs):
        raise AssertionError("graded again")

    monkeypatch.setattr(grading, "grade_one", fail)
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    copy = shutil.copy(paths[0], elsewhere / paths[0].name)
    again = _grade([copy, paths[1]], root, out=out)
    assert len(again) == 8 and out.read_bytes() == before


def test_gradebook_keeps_other_lessons_regrades_changed_files_and_retries_failed(tiny,
                                                                                tmp_path,
                                                                                monkeypatch):
    root, solution, student = tiny
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(root / "source" / "01_tiny.ipynb", source / "01_tiny.ipynb")
    shutil.copy(root / "source" / "01_tiny.ipynb", source / "07_tiny.ipynb")
    subs = tmp_path / "subs"
    subs.mkdir()
    ann = shutil.copy(student, subs / "ann_hw.ipynb")
    hang = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    bob = _variant(solution, subs / "bob_hw.ipynb", value=hang)
    out = tmp_path / "book.csv"
    options = {"out": out, "source_dir": source, "timeout_s": 60, "cell_timeout_s": 1,
               "secret": SECRET, "student_pattern": r"(?P<student>[a-z]+)_hw",
               "sandbox": grading_sandbox()}
    grading.grade([ann, bob], lesson="01", **options)
    grading.grade([ann], lesson="07", **options)
    book = pd.read_csv(out, dtype={"lesson": str})
    assert set(book["lesson"]) == {"01_tiny", "07_tiny"} and len(book) == 12
    assert set(book["student"]) == {"ann", "bob"}
    assert (book[book["student"] == "bob"]["status"] == "timeout").any()

    graded = []
    real = grading.grade_one

    def spy(path, *args, **kwargs):
        graded.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(grading, "grade_one", spy)
    grading.grade([ann, bob], lesson="01", retry_failed=True, **options)
    assert graded == ["bob_hw.ipynb"], "only submissions with timeout/crashed rows run again"

    graded.clear()
    _variant(solution, ann)  # ann hands in a new version
    again = grading.grade([ann, bob], lesson="01", **options)
    assert graded == ["ann_hw.ipynb"]
    assert _points(again, "ann")["q1"] == 2.0
    book = pd.read_csv(out, dtype={"lesson": str})
    assert len(book) == 12 and set(book["lesson"]) == {"01_tiny", "07_tiny"}
    assert book.duplicated(["student", "lesson", "question"]).sum() == 0


def test_student_pattern_must_match(tmp_path):
    assert grading.student_id(tmp_path / "x_ann.ipynb", r"x_(\w+)\.") == "ann"
    with pytest.raises(ValueError, match=r"student_pattern='\(\?P<student>z\+\)' does not match"):
        grading.student_id(tmp_path / "ann.ipynb", r"(?P<student>z+)")


def test_an_old_csv_that_is_not_a_gradebook_is_refused(tiny, tmp_path):
    root, solution, _ = tiny
    out = tmp_path / "old.csv"
    out.write_text("submission,points\na.ipynb,1\n")
    with pytest.raises(ValueError, match=r"is not a peprkit gradebook"):
        _grade([solution], root, out=out)


def test_build_autograder_reads_points_manual_questions_and_test_names(tiny, tmp_path):
    root = tiny[0]
    autograder = grading.build_autograder(root / "source" / "01_tiny.ipynb", tmp_path)
    assert autograder.questions == [
        grading.Question("q1", 2.0, False), grading.Question("q2", 1.0, False),
        grading.Question("q3", 1.0, False), grading.Question("essay", 3.0, True)]
    assert autograder.names["q1"] == ["double"]
    assert [t["hidden"] for t in autograder.tests["q1"]] == [False, True]
    assert autograder.cells["q1"] == ["cell3"]


def test_folders_expand_to_their_notebooks(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "b.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    assert grading.expand_submissions([tmp_path]) == [tmp_path / "a.ipynb", tmp_path / "b.ipynb"]


@pytest.mark.parametrize(
    ("submissions", "match"),
    [
        (["missing.ipynb"], r"submissions: 'missing.ipynb' does not exist; check the path"),
        (["notes.txt"], r"submissions: 'notes.txt' is not a Jupyter notebook \(\.ipynb\)"),
        (["empty"], r"submissions: folder 'empty' holds no \.ipynb file"),
        ([], r"submissions: no notebook given"),
    ],
)
def test_bad_submissions_raise_value_error(tmp_path, monkeypatch, submissions, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=match):
        grading.expand_submissions(submissions)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lesson": "42"}, r"lesson='42' matches no master notebook"),
        ({"timeout_s": 0}, r"timeout_s=0 must be a positive number"),
        ({"cell_timeout_s": -1}, r"cell_timeout_s=-1 must be a positive number"),
        ({"jobs": 0}, r"jobs=0 must be at least 1"),
        ({"sandbox": "docker"}, r"sandbox='docker' is not a sandbox mode"),
    ],
)
def test_bad_options_raise_value_error(tiny, kwargs, match):
    root, solution, _ = tiny
    options = {"lesson": "01", "source_dir": root / "source", **kwargs}
    with pytest.raises(ValueError, match=match):
        grading.grade([solution], **options)


def test_grade_refuses_without_bubblewrap_unless_fallback_is_asked_for(tiny, tmp_path,
                                                                        monkeypatch):
    root, solution, _ = tiny
    monkeypatch.setattr(_sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    good = shutil.copy(solution, tmp_path / "good.ipynb")
    out = tmp_path / "book.csv"
    for asked in ("auto", "bwrap"):
        with pytest.raises(_sandbox.SandboxRefused, match=rf"sandbox='{asked}': bubblewrap "
                           r"cannot run here \(bubblewrap \(bwrap\) is not installed\)") as err:
            _grade([good], root, out=out, sandbox=asked)
        assert isinstance(err.value, ValueError)
        assert "sudo apt-get install bubblewrap" in str(err.value)
        assert "sandbox='fallback'" in str(err.value)
    assert not out.exists(), "a refused batch wrote a gradebook"
    grades = _grade([good], root, out=out, sandbox="fallback")
    assert _points(grades, "good")["q1"] == 2.0
    assert (grades["sandbox"] != "bwrap").all()


def test_fallback_names_what_it_cannot_protect_once_per_batch(tiny, tmp_path, capsys):
    root, solution, student = tiny
    good = shutil.copy(solution, tmp_path / "good.ipynb")
    blank = shutil.copy(student, tmp_path / "blank.ipynb")
    grades = _grade([good, blank], root, sandbox="fallback", jobs=2)
    err = capsys.readouterr().err
    assert err.count("grading WITHOUT bubblewrap") == 1
    for lost in ("files:", "network:", "processes:"):
        assert lost in err
    assert _points(grades, "good")["q1"] == 2.0 and _points(grades, "blank")["q1"] == 0.0


def test_scrubbed_environment_keeps_only_the_allow_list(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("PEPRKIT_DATA_DIR", "/data")
    env = _sandbox.sandbox_env({"MPLBACKEND": "Agg"}, "/sandbox/.home")
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["PEPRKIT_DATA_DIR"] == "/data"
    assert env["HOME"] == "/sandbox/.home"
    assert set(env) <= set(_sandbox.ALLOWED_ENV) | {
        "HOME", "MPLCONFIGDIR", "PYTHONDONTWRITEBYTECODE", "PEPRKIT_CONFIG_DIR",
        "PEPRKIT_CACHE_DIR", "IPYTHONDIR", "OMP_NUM_THREADS"}


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope.ipynb"), "--lesson", "01",
                 "--sandbox", grading_sandbox()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peprkit grade: error: submissions:") and "Traceback" not in err


def test_cli_passes_options_and_prints_totals(tmp_path, monkeypatch, capsys):
    seen = {}

    def row(student, status, feedback):
        return {"student": student, "lesson": "01_x", "question": "q1", "points": 0.0,
                "max_points": 2.0, "status": status, "feedback": feedback, "detail": "",
                "cell_errors": 0, "sha256": "0" * 64, "submission": f"{student}.ipynb"}

    def fake_grade(submissions, **kwargs):
        seen.update(kwargs, submissions=submissions)
        return pd.DataFrame([row("a", "graded", ""), row("b", "crashed", "stopped")])

    monkeypatch.setattr(grading, "grade", fake_grade)
    code = main(["grade", "a.ipynb", "b.ipynb", "--lesson", "01", "--out", "g.csv",
                 "--cell-timeout", "5", "--jobs", "2", "--full", "--restart",
                 "--retry-failed", "--student-pattern", "(.+)", "--sandbox", "fallback"])
    out, err = capsys.readouterr()
    assert code == 0 and "wrote 2 rows to g.csv" in out
    assert "b (b.ipynb): crashed: stopped" in err
    assert seen["submissions"] == ["a.ipynb", "b.ipynb"] and seen["lesson"] == "01"
    assert seen["cell_timeout_s"] == 5 and seen["jobs"] == 2 and seen["sandbox"] == "fallback"
    assert seen["quick"] is False and seen["resume"] is False and seen["out"] == "g.csv"
    assert seen["retry_failed"] is True and seen["student_pattern"] == "(.+)"


def test_exported_answers_that_are_not_json_score_zero(tmp_path):
    folder = tmp_path / ".grading"
    (folder / "answers").mkdir(parents=True)
    (folder / "answers" / "q1.json").write_text("{not json")
    answers, problem, _ = _score.read_answers(tmp_path, "q1")
    assert answers is None and "not valid JSON" in problem
    (folder / "answers" / "q1.json").write_text(json.dumps([1, 2]))
    assert _score.read_answers(tmp_path, "q1")[0] is None
    (folder / "answers" / "q1.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deep" in _score.read_answers(tmp_path, "q1")[1]
    (folder / "answers" / "q1.json").write_text("[[]" + ",[]" * 1_100_000 + "]")
    assert "more than" in _score.read_answers(tmp_path, "q1")[1]


def test_planted_symlinks_are_not_followed_out_of_the_folder(tmp_path):
    run = tmp_path / "sub"
    folder = run / ".grading"
    (folder / "answers").mkdir(parents=True)
    outside = tmp_path / "secret.json"
    outside.write_text('{"double": 1}')
    (folder / "answers" / "q1.json").symlink_to(outside)
    answers, problem, _ = _score.read_answers(run, "q1")
    assert answers is None and "not a plain file" in problem
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "answers").mkdir(parents=True)
    (elsewhere / "answers" / "q2.json").write_text('{"value": 42}')
    shutil.rmtree(folder)
    folder.symlink_to(elsewhere)  # a linked folder is refused too
    answers, problem, _ = _score.read_answers(run, "q2")
    assert answers is None and "not a plain file" in problem


def test_codec_exports_plain_data_functions_as_source_and_objects_as_attributes():
    import types

    import numpy as np

    from peprkit.course import _codec

    def helper(x):
        return x + 1

    def answer(v):
        return np.asarray(v) * helper(1)

    run = types.SimpleNamespace(history=pd.DataFrame({"energy_kwh": [0.1, 0.2]}), epochs=2,
                                _private=1)
    data = json.loads(json.dumps(_codec.encode(
        {"f": answer, "run": run, "arr": np.arange(3), "nan": float("nan"), "e": ...})))
    back = _codec.decode(data)
    f = back["f"]
    assert isinstance(f, _codec.FunctionSource) and f.name == "answer"
    assert f.modules == {"np": "numpy"} and "def helper" in f.helpers["helper"]
    assert back["run"].history["energy_kwh"].tolist() == [0.1, 0.2]
    assert back["run"].epochs == 2 and not hasattr(back["run"], "_private")
    assert back["arr"].tolist() == [0, 1, 2] and np.isnan(back["nan"]) and back["e"] is ...
    assert "pickle" not in json.dumps(data)


def test_a_learner_function_using_imported_kit_functions_runs_in_the_worker(tmp_path,
                                                                           monkeypatch):
    from peprkit import pepr as kit_pepr
    from peprkit.course import _codec
    from peprkit.course._learner_calls import RemoteFunction, StudentCodeError, Worker
    from peprkit.metric import normalize

    def answer(performance, energy):
        return [round(float(v), 6) for v in kit_pepr(performance, normalize(energy))]

    monkeypatch.chdir(tmp_path)  # the notebook's folder (the kit is not in it)
    f = _codec.decode(json.loads(json.dumps(_codec.encode({"f": answer}))))["f"]
    assert f.helpers == {"kit_pepr": "from peprkit.metric import pepr as kit_pepr",
                         "normalize": "from peprkit.metric import normalize as normalize"}
    assert "def pepr" not in json.dumps(f.helpers)
    worker = Worker({"answer": f}, tmp_path / "worker", mode=grading_sandbox(),
                    limits=_sandbox.Limits(wall_s=120), call_timeout_s=60)
    try:
        got = RemoteFunction(worker, "answer")([0.8, 0.6], [1.0, 3.0])
        with pytest.raises(StudentCodeError, match=r"ByHand: .*pepr"):
            RemoteFunction(worker, "answer").refusing(["pepr"], [0.8, 0.6], [1.0, 3.0])
        assert RemoteFunction(worker, "answer")([0.8, 0.6], [1.0, 3.0]) == got  # only then
    finally:
        worker.close()
    assert got == answer([0.8, 0.6], [1.0, 3.0]) == [0.8, 0.3]


def test_a_hidden_by_hand_refusal_is_shown_and_other_hidden_messages_are_not():
    question = grading.Question("q1", 2.0, False)
    hint = "peprkit.normalize is the kit's own function: compute it by hand"
    results = [{"name": "q1 public", "hidden": False, "points": 1.0, "passed": True},
               {"name": "q1 hidden", "hidden": True, "points": 1.0, "passed": False,
                "message": f"ByHand: {hint}", "by_hand": hint},
               {"name": "q1 hidden 2", "hidden": True, "points": 0.0, "passed": False,
                "message": "AssertionError: x=0.8137 gave 3"}]
    score = grading._decide(question, results)
    assert score.points == 0.0 and score.feedback == hint
    assert "0.8137" not in score.feedback and "0.8137" in score.detail
    score = grading._decide(question, [r for r in results if "by_hand" not in r])
    assert "hidden tests" in score.feedback and "0.8137" not in score.feedback

