"""Manual marks: every row checked, merged atomically and idempotently, kept by regrades."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("jinja2")

from _book import write_book  # noqa: E402

from peprkit.course import _gradebook, marking  # noqa: E402


def _marks(path, rows):
    pd.DataFrame(rows, columns=["student", "lesson", "question", "points", "comment"]).to_csv(
        path, index=False)
    return path


def test_marks_merge_once_and_record_who_and_when(tmp_path):
    book = write_book(tmp_path / "g.csv")
    marks = _marks(tmp_path / "m.csv", [("ann", "01_x", "essay", "1.5", "Good start."),
                                        ("bo", "01_x", "essay", "", "")])
    assert marking.merge_marks(marks, book, marked_by="kim") == {"merged": 1, "unchanged": 0,
                                                                  "blank": 1}
    first = book.read_bytes()
    assert marking.merge_marks(marks, book, marked_by="kim")["merged"] == 0
    assert book.read_bytes() == first
    row = _gradebook.read_book(book).set_index(["student", "question"]).loc[("ann", "essay")]
    assert (row["points"], row["status"], row["feedback"]) == (1.5, "graded", "Good start.")
    assert row["detail"].startswith("marked by kim at 20")


@pytest.mark.parametrize("row, match", [
    (("ann", "01_x", "essay", "3", ""), r"row 2, column 'points': '3' must be a number from 0 "
                                        "to 2"),
    (("ann", "01_x", "essay", "x", ""), "column 'points'"),
    (("zed", "01_x", "essay", "1", ""), "row 2, column 'student': 'zed'"),
    (("ann", "01_x", "q9", "1", ""), "column 'question': lesson '01_x' has no question 'q9'"),
    (("ann", "01_x", "q1", "1", ""), "graded automatically"),
    (("ann", "02_y", "essay", "1", ""), "column 'lesson'"),
])
def test_each_bad_row_is_named_and_nothing_is_written(tmp_path, row, match):
    book = write_book(tmp_path / "g.csv")
    before = book.read_bytes()
    with pytest.raises(ValueError, match=match):
        marking.merge_marks(_marks(tmp_path / "m.csv", [row]), book)
    assert book.read_bytes() == before


def test_two_marks_for_one_cell_and_another_lesson_are_refused(tmp_path):
    book = write_book(tmp_path / "g.csv")
    twice = _marks(tmp_path / "m.csv", [("ann", "01_x", "essay", "1", ""),
                                        ("ann", "01_x", "essay", "2", "")])
    with pytest.raises(ValueError, match=r"row 3: a second mark .*\(the first is row 2\)"):
        marking.merge_marks(twice, book)
    one = _marks(tmp_path / "one.csv", [("ann", "01_x", "essay", "1", "")])
    with pytest.raises(ValueError, match="for another lesson"):
        marking.merge_marks(one, book, lesson="02")


def test_a_regrade_keeps_the_mark(tmp_path):
    book = write_book(tmp_path / "g.csv")
    marking.merge_marks(_marks(tmp_path / "m.csv", [("ann", "01_x", "essay", "2", "ok")]), book)
    old = _gradebook.read_book(book)
    new = old[old["student"] == "ann"].copy()
    new.loc[new["question"] == "essay", ["points", "status", "feedback", "detail"]] = [
        None, "manual", "graded by a person", ""]
    merged = _gradebook.merge(old, new, "ann", "01_x").set_index(["student", "question"])
    assert merged.loc[("ann", "essay"), "points"] == 2.0
    assert merged.loc[("ann", "essay"), "feedback"] == "ok"


def test_student_text_is_rendered_inert():
    from peprkit.course._html import markdown_html

    out = markdown_html("<script>alert(1)</script>\n\n![x](http://e.example/t.png) "
                        "[a](javascript:alert(1)) <img src=x onerror=alert(1)>")
    assert "<script" not in out and "<img" not in out and "javascript:" not in out.split(
        "href")[-1][:20] and "e.example" not in out
