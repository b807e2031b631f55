"""A simulated course, end to end: grade, mark, merge, report, export, similarity, regrade.

Twelve tiny submissions of a lesson like lesson 01 (independent correct answers, a blank
one, a half-right one, one whose cell raises, a renamed and reordered copy of another
student, a pasted master, two late ones, a hostile reflection). Each step's time is
printed (``pytest -s``).
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pandas as pd
import pytest

pytest.importorskip("otter")
pytest.importorskip("nbformat")
pytest.importorskip("jinja2")

from _course_fixtures import HOSTILE, SECRET, chromium, dump_dom, simulated_class  # noqa: E402
from _sandboxes import grading_sandbox  # noqa: E402

from peprkit.cli import main  # noqa: E402
from peprkit.course import grading  # noqa: E402
from peprkit.course.export import export  # noqa: E402
from peprkit.course.marking import merge_marks, write_marking  # noqa: E402
from peprkit.course.report import write_reports  # noqa: E402
from peprkit.course.similarity import similarity  # noqa: E402

CANARY = "CANARY-detail-7f3a"
TIMES: dict[str, float] = {}


def _timed(step, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    TIMES[step] = time.perf_counter() - start
    print(f"[course] {step}: {TIMES[step]:.1f} s")
    return result


def _grade(paths, source, out, **kw):
    return grading.grade(list(paths), lesson="01", source_dir=source, out=out, jobs=2,
                         timeout_s=60, cell_timeout_s=10, secret=SECRET,
                         sandbox=grading_sandbox(), **kw)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    source, subs = simulated_class(root)
    book = root / "grades.csv"
    _timed("grade (12 notebooks, 2 jobs)", _grade, subs.values(), source, book)
    # the instructor-only column gets a canary: it must never reach a student's file
    g = pd.read_csv(book, dtype=str, keep_default_na=False)
    g["detail"] = g["detail"] + f" {CANARY}"
    g.to_csv(book, index=False)
    marking = root / "marking"
    _timed("manual pages", write_marking, list(subs.values()), lesson="01", out=marking,
           source_dir=source)
    marks = pd.read_csv(marking / "marks.csv", dtype=str, keep_default_na=False)
    given = {"ann": ("2", "Clear and complete."), "eve": ("1.5", "Half of the argument."),
             "ivy": ("0", "<b>no</b> markup please")}
    for student, (points, comment) in given.items():
        at = marks["student"] == student
        marks.loc[at, "points"], marks.loc[at, "comment"] = points, comment
    marks.to_csv(marking / "marks.csv", index=False)
    merged = _timed("merge marks", merge_marks, marking / "marks.csv", book, lesson="01",
                    marked_by="tester")
    reports = _timed("reports", write_reports, book, root / "reports")
    (root / "roster.csv").write_text(
        "student,name,email,sis_id,lms_id,section\n" + "".join(
            f"{s},{s.title()} X,{s}@uni.example,S{i},{100 + i},A\n"
            for i, s in enumerate(sorted(set(subs) - {"leo"}) + ["zoe"])))
    (root / "times.csv").write_text(
        "student,lesson,submitted_at\n" + "".join(
            f"{s},01,2025-03-01T12:00:00Z\n" for s in subs if s not in ("gus", "hal"))
        + "gus,01,2025-03-02T13:00:00Z\nhal,01,2025-03-04T10:00:00Z\n")
    exported = _timed("export canvas", export, book, out=root / "lms.csv", format="canvas",
                      roster=root / "roster.csv", deadline="2025-03-01T23:59:00Z",
                      submitted_at=root / "times.csv", late_penalty="10%/day",
                      late_cap="25%")
    sim = _timed("similarity", similarity, list(subs.values()), lesson="01",
                 out=root / "similarity.html", source_dir=source)
    return {"root": root, "subs": subs, "book": book, "merged": merged, "reports": reports,
            "exported": exported, "sim": sim, "marking": marking}


EXPECTED = {"ann": 5.0, "bob": 0.0, "cat": 1.0, "dan": 3.0, "eve": 4.5, "gus": 3.0,
            "hal": 3.0, "ivy": 3.0, "jon": 3.0, "kim": 1.0, "leo": 3.0, "pat": 3.0}


def test_totals_after_grading_and_marking_are_exact(course):
    from peprkit.course.export import totals
    from peprkit.course.report import load_book

    table = totals(load_book(course["book"]))
    assert table["01_course"].to_dict() == EXPECTED
    assert course["merged"] == {"merged": 3, "unchanged": 0, "blank": 9}
    assert merge_marks(course["marking"] / "marks.csv", course["book"])["merged"] == 0


def test_the_canvas_export_applies_the_roster_and_the_late_policy(course):
    lms = pd.read_csv(course["root"] / "lms.csv", dtype={"ID": str})
    assert list(lms.columns[:5]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    got = dict(zip(lms["Student"], lms["Lesson 01_course"], strict=True))
    assert got["Gus X"] == pytest.approx(2.7) and got["Hal X"] == pytest.approx(2.25)
    assert got["Ann X"] == 5.0 and pd.isna(got["Zoe X"]) and "Leo X" not in got
    problems = {(u["student"], u["problem"]) for u in course["exported"]["unmatched"]}
    assert problems == {("leo", "graded, not on the roster"), ("zoe", "on the roster, no grades")}
    late = pd.read_csv(course["root"] / "lms.late.csv")
    assert sorted(late["student"]) == ["gus", "hal"] and list(late["days_late"]) in ([1, 3],
                                                                                      [3, 1])


def test_similarity_flags_the_copies_and_no_independent_pair(course):
    pairs = course["sim"].pairs
    flagged = {frozenset((a, b)) for a, b in pairs[pairs["flagged"]][["student_a", "student_b"]]
               .itertuples(index=False)}
    assert flagged == {frozenset(("dan", "eve")), frozenset(("pat", "master"))}
    csv = pd.read_csv(course["root"] / "similarity.csv")
    assert list(csv.columns[:5]) == ["student_a", "student_b", "question", "score", "shared"]


def test_no_detail_reaches_a_student_file(course):
    students = course["reports"].students
    assert len(students) == 24
    for path in students:
        assert CANARY not in path.read_text(), path


def test_the_student_report_shows_points_marks_and_cells(course):
    folder = course["root"] / "reports" / "01_course"
    ann = (folder / "ann.html").read_text()
    assert "Total: 5 of 5 points" in ann and "Clear and complete." in ann
    kim = (folder / "kim.md").read_text()
    cells = next(line for line in kim.splitlines() if line.startswith("Cells that raised"))
    assert re.search(r"cell \d+\.", cells) and "NameError" not in cells
    ivy = (folder / "ivy.html").read_text()
    assert "&lt;b&gt;no&lt;/b&gt;" in ivy and "<b>no</b>" not in ivy


def test_marking_page_escapes_the_hostile_reflection(course):
    page = (course["marking"] / "reflection.html").read_text()
    assert "<script>document" not in page and "onerror=\"document" not in page
    assert "&lt;script&gt;" in page


class _Title(HTMLParser):
    def __init__(self):
        super().__init__()
        self.title, self._in = "", False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "title"

    def handle_data(self, data):
        if self._in:
            self.title += data

    def handle_endtag(self, tag):
        self._in = False


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed "
                    "(apt-get install -y chromium)")
def test_hostile_payloads_are_inert_in_a_browser(course):
    for page, shows in ((course["marking"] / "reflection.html", "ivy"),
                        (course["root"] / "reports" / "01_course" / "ivy.html",
                         "Total: 3 of 5 points")):
        dom = dump_dom(page)
        parser = _Title()
        parser.feed(dom)
        assert "PWNED" not in parser.title, page
        assert shows in dom
        assert not re.search(r"<script>document", dom)
    assert "&lt;script&gt;" in dump_dom(course["marking"] / "reflection.html")
    assert HOSTILE.split("\n")[0] not in dump_dom(course["marking"] / "reflection.html")


def test_regrading_after_the_merge_keeps_the_manual_marks(course):
    subs = course["subs"]
    _timed("regrade 2 notebooks", _grade, [subs["ann"], subs["eve"]],
           course["root"] / "source", course["book"], resume=False)
    g = pd.read_csv(course["book"], dtype=str, keep_default_na=False)
    marks = g[g["question"] == "reflection"].set_index("student")
    assert float(marks.loc["ann", "points"]) == 2.0 and float(marks.loc["eve", "points"]) == 1.5
    assert marks.loc["ann", "detail"].startswith("marked by tester")
    assert marks.loc["bob", "status"] == "manual"


def test_the_cli_runs_the_tools_and_reports_bad_input_in_one_line(course, capsys, tmp_path):
    root = course["root"]
    assert main(["grade", "report", str(course["book"]), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "index.html").is_file()
    (tmp_path / "roster.csv").write_text("student,name\nann,A\nann,B\n")
    assert main(["grade", "export", str(course["book"]), "--format", "canvas", "--roster",
                 str(tmp_path / "roster.csv"), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "--roster" in err and "'ann' appears on rows [2, 3]" in err
    assert main(["grade", "merge-marks", str(root / "marking" / "marks.csv"), "--out",
                 str(course["book"]), "--lesson", "02"]) == 2
    assert "another lesson" in capsys.readouterr().err
    print("[course] step times:", {k: round(v, 1) for k, v in TIMES.items()})
