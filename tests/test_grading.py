"""`peprkit grade` on a tiny lesson: per-question isolation, timeouts, resume, bad input."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

from peprkit import authoring, grading  # noqa: E402
from peprkit.cli import main  # noqa: E402

V4 = nbformat.v4


def _tiny_master(path):
    """A three-question lesson (one manual) in the course's master format."""
    cells = [
        V4.new_markdown_cell("# Tiny lesson\n\nEstimated time: 1 min"),
        V4.new_raw_cell("# BEGIN QUESTION\nname: q1\npoints: 2\ncheck_cell: false"),
        V4.new_raw_cell("# BEGIN SOLUTION"),
        V4.new_code_cell("def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n"
                         "    # END SOLUTION"),
        V4.new_raw_cell("# END SOLUTION"),
        V4.new_raw_cell("# BEGIN TESTS"),
        V4.new_code_cell("def test_q1(double):\n    assert double(2) == 4\n\n\ntest_q1(double)"),
        V4.new_code_cell("# HIDDEN\ndef test_q1_hidden(double):\n    assert double(5) == 10\n\n\n"
                         "test_q1_hidden(double)"),
        V4.new_raw_cell("# END TESTS"),
        V4.new_raw_cell("# END QUESTION"),
        V4.new_raw_cell("# BEGIN QUESTION\nname: q2\npoints: 1\ncheck_cell: false"),
        V4.new_raw_cell("# BEGIN SOLUTION"),
        V4.new_code_cell("value = 6 * 7  # SOLUTION"),
        V4.new_raw_cell("# END SOLUTION"),
        V4.new_raw_cell("# BEGIN TESTS"),
        V4.new_code_cell("def test_q2(value):\n    assert value == 42\n\n\ntest_q2(value)"),
        V4.new_raw_cell("# END TESTS"),
        V4.new_raw_cell("# END QUESTION"),
        V4.new_raw_cell("# BEGIN QUESTION\nname: q3\npoints: 1\ncheck_cell: false"),
        V4.new_raw_cell("# BEGIN SOLUTION"),
        V4.new_code_cell("def count(n):\n    return len(range(n))  # SOLUTION"),
        V4.new_raw_cell("# END SOLUTION"),
        V4.new_raw_cell("# BEGIN TESTS"),
        V4.new_code_cell("def test_q3(count):\n    assert count(3) == 3\n\n\ntest_q3(count)"),
        V4.new_raw_cell("# END TESTS"),
        V4.new_raw_cell("# END QUESTION"),
        V4.new_raw_cell("# BEGIN QUESTION\nname: essay\npoints: 3\nmanual: true"),
        V4.new_markdown_cell("Why?"),
        V4.new_raw_cell("# BEGIN SOLUTION"),
        V4.new_markdown_cell("Because."),
        V4.new_raw_cell("# END SOLUTION"),
        V4.new_raw_cell("# END QUESTION"),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell{i}"
    nb = authoring.normalized_master(V4.new_notebook(cells=cells), path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _variant(solution, path, **answers):
    """The solutions notebook with the answer cells defining the given names replaced."""
    nb = nbformat.read(solution, as_version=4)
    for cell in nb.cells:
        for name, source in answers.items():
            if cell.cell_type == "code" and (f"def {name}(" in cell.source
                                             or cell.source.startswith(f"{name} =")):
                cell.source = source
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Masters folder, solutions and student notebooks of the tiny lesson."""
    root = tmp_path_factory.mktemp("tiny")
    master = _tiny_master(root / "source" / "01_tiny.ipynb")
    out = authoring.run_assign(master, root / "assign")
    return root, out / "autograder" / master.name, out / "student" / master.name


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
    grades = grading.grade(paths, lesson="01", out=out, source_dir=root / "source",
                           timeout_s=300, cell_timeout_s=3, jobs=2)
    return grades, out, paths


def _points(grades, name):
    rows = grades[grades["submission"].str.endswith(name)]
    return dict(zip(rows["question"], rows["points"], strict=True))


def test_one_row_per_submission_and_question_in_input_order(batch):
    grades, out, paths = batch
    assert list(grades.columns) == grading.COLUMNS
    assert list(dict.fromkeys(grades["submission"])) == [str(p) for p in paths]
    assert (grades.groupby("submission").size() == 4).all()
    saved = pd.read_csv(out, dtype={"lesson": str})
    assert list(saved.columns) == grading.COLUMNS and len(saved) == len(grades)


def test_solutions_and_renamed_copies_score_full_marks(batch):
    grades = batch[0]
    for name in ("good.ipynb", "renamed copy (1).ipynb"):
        points = _points(grades, name)
        assert (points["q1"], points["q2"], points["q3"]) == (2.0, 1.0, 1.0)
        rows = grades[grades["submission"].str.endswith(name)]
        assert (rows["cell_errors"] == 0).all()
        assert rows["message"].isin(["", "graded by a person"]).all()


def test_a_raising_cell_costs_only_its_question(batch):
    grades = batch[0]
    points = _points(grades, "raises.ipynb")
    assert (points["q1"], points["q2"], points["q3"]) == (0.0, 1.0, 1.0)
    row = grades[grades["submission"].str.endswith("raises.ipynb")].iloc[0]
    assert row["cell_errors"] >= 1


def test_looping_cells_and_tests_are_interrupted_and_the_rest_grades(batch):
    grades = batch[0]
    points = _points(grades, "loops.ipynb")
    assert (points["q1"], points["q2"], points["q3"]) == (2.0, 0.0, 0.0)
    rows = grades[grades["submission"].str.endswith("loops.ipynb")].set_index("question")
    assert "grading limit of 3" in rows.loc["q3", "message"]
    assert (rows.loc[["q1", "q2", "q3"], "status"] == "graded").all()


def test_a_broken_notebook_scores_zero_and_the_batch_goes_on(batch):
    grades = batch[0]
    rows = grades[grades["submission"].str.endswith("broken.ipynb")]
    rows = rows[rows["status"] != "manual"]
    assert (rows["status"] == "error").all() and (rows["points"] == 0).all(), rows
    assert rows.iloc[0]["message"].startswith("not a readable notebook")
    assert len(grades[grades["submission"].str.endswith("blank.ipynb")]) == 4  # graded after it


def test_a_cell_that_silences_the_timer_is_interrupted_by_the_executor(tiny):
    root, solution, _ = tiny
    hang = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    path = _variant(solution, root / "silences.ipynb", value=hang)
    grades = grading.grade([path], lesson="01", source_dir=root / "source", timeout_s=300,
                           cell_timeout_s=1)  # the executor gives up 31 s into the cell
    points = _points(grades, "silences.ipynb")
    assert (points["q1"], points["q2"], points["q3"]) == (2.0, 0.0, 1.0)


def test_a_notebook_that_ignores_the_cell_timer_is_killed_at_the_submission_limit(tiny):
    root, solution, _ = tiny
    hang = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    path = _variant(solution, root / "hangs.ipynb", value=hang)
    grades = grading.grade([path], lesson="01", source_dir=root / "source", timeout_s=8,
                           cell_timeout_s=2)
    auto = grades[grades["status"] != "manual"]
    assert (auto["status"] == "timeout").all() and (auto["points"] == 0).all()
    assert auto.iloc[0]["message"] == "grading stopped after 8 s (whole notebook)"


def test_blank_notebook_scores_zero_and_manual_question_is_left_to_a_person(batch):
    grades = batch[0]
    points = _points(grades, "blank.ipynb")
    assert (points["q1"], points["q2"], points["q3"]) == (0.0, 0.0, 0.0)
    essay = grades[grades["question"] == "essay"]
    assert (essay["status"] == "manual").all() and essay["points"].isna().all()
    assert (essay["max_points"] == 3).all()


def test_summary_totals_auto_graded_points(batch):
    totals = grading.summary(batch[0]).set_index("submission")["points"]
    assert totals[str(batch[2][0])] == 4.0 and totals[str(batch[2][-1])] == 0.0


def test_rerun_resumes_without_regrading(batch, tiny, monkeypatch):
    grades, out, paths = batch
    root = tiny[0]

    def fail(*args, **kwargs):
        raise AssertionError("graded again")

    monkeypatch.setattr(grading, "grade_one", fail)
    again = grading.grade(paths[:2], lesson="01", out=out, source_dir=root / "source")
    assert len(again) == len(grades)


def test_build_autograder_reads_points_and_manual_questions(tiny, tmp_path):
    root = tiny[0]
    autograder = grading.build_autograder(root / "source" / "01_tiny.ipynb", tmp_path)
    assert autograder.zip_path.is_file()
    assert autograder.questions == [
        grading.Question("q1", 2.0, False), grading.Question("q2", 1.0, False),
        grading.Question("q3", 1.0, False), grading.Question("essay", 3.0, True)]


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
        ({"timeout_s": 0}, r"timeout_s=0 must be a positive number of seconds"),
        ({"cell_timeout_s": -1}, r"cell_timeout_s=-1 must be a positive number of seconds"),
        ({"jobs": 0}, r"jobs=0 must be at least 1"),
    ],
)
def test_bad_options_raise_value_error(tiny, kwargs, match):
    root, solution, _ = tiny
    options = {"lesson": "01", "source_dir": root / "source", **kwargs}
    with pytest.raises(ValueError, match=match):
        grading.grade([solution], **options)


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope.ipynb"), "--lesson", "01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peprkit grade: error: submissions:") and "Traceback" not in err


def test_cli_passes_options_and_prints_totals(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_grade(submissions, **kwargs):
        seen.update(kwargs, submissions=submissions)
        return pd.DataFrame([
            {"submission": "a.ipynb", "lesson": "01", "question": "q1", "points": 1.0,
             "max_points": 2.0, "status": "graded", "message": "", "cell_errors": 0},
            {"submission": "b.ipynb", "lesson": "01", "question": "q1", "points": 0.0,
             "max_points": 2.0, "status": "timeout", "message": "stopped", "cell_errors": 0},
        ])

    monkeypatch.setattr(grading, "grade", fake_grade)
    code = main(["grade", "a.ipynb", "b.ipynb", "--lesson", "01", "--out", "g.csv",
                 "--cell-timeout", "5", "--jobs", "2", "--full", "--restart"])
    out, err = capsys.readouterr()
    assert code == 0 and "a.ipynb" in out and "wrote 2 rows to g.csv" in out
    assert "b.ipynb: timeout: stopped" in err
    assert seen["submissions"] == ["a.ipynb", "b.ipynb"] and seen["lesson"] == "01"
    assert seen["cell_timeout_s"] == 5 and seen["jobs"] == 2
    assert seen["quick"] is False and seen["resume"] is False and seen["out"] == "g.csv"


def test_an_otter_crash_is_retried_once(tiny, tmp_path, monkeypatch):
    """A run that leaves no results (otter failed, not the submission) is tried again."""
    root, solution, _ = tiny
    autograder = grading.build_autograder(root / "source" / "01_tiny.ipynb", tmp_path / "ag")
    real_popen = grading.subprocess.Popen
    calls = []

    def flaky_popen(cmd, **kwargs):
        calls.append(cmd)
        if len(calls) == 1:  # the first run crashes before writing results
            return real_popen([grading.sys.executable, "-c", "print('kernel died')"], **kwargs)
        return real_popen(cmd, **kwargs)

    monkeypatch.setattr(grading.subprocess, "Popen", flaky_popen)
    graded = grading.grade_one(solution, autograder, timeout_s=300, cell_timeout_s=30)
    assert len(calls) == 2
    assert {status for _, status, _ in graded.scores.values()} == {"graded"}

    calls.clear()
    monkeypatch.setattr(grading.subprocess, "Popen", lambda cmd, **kwargs: flaky_popen(
        [grading.sys.executable, "-c", "print('kernel died')"], **kwargs))
    graded = grading.grade_one(solution, autograder, timeout_s=300, cell_timeout_s=30)
    assert len(calls) == 2
    for points, status, message in graded.scores.values():
        assert (points, status) == (0.0, "error")
        assert "otter could not grade it" in message and "kernel died" in message
