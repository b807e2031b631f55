"""The gradebook on its own (no notebook runs): which submissions a batch grades, and how
a batch's rows merge into the book."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from peprkit.course._autograder import Question
from peprkit.course._gradebook import (
    COLUMNS,
    Score,
    Submission,
    batch_rows,
    csv_safe,
    duplicates,
    identify,
    merge,
    read_book,
    rows,
    to_csv,
    to_grade,
)

QUESTIONS = [Question("q1", 2.0, False), Question("essay", 3.0, True)]


def _sub(student: str, sha: str) -> Submission:
    return Submission(Path(f"{student}.ipynb"), student, sha)


def _rows(student: str, sha: str, lesson: str = "01_x", status: str = "graded") -> pd.DataFrame:
    return rows(_sub(student, sha), lesson, QUESTIONS, {"q1": Score(2.0, status, "")}, 0)


def _book(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def _chosen(book, subs, lesson="01_x", **options):
    return [s.student for s in to_grade(book, subs, lesson, **options)]


def test_an_empty_book_grades_everything():
    subs = [_sub("ann", "a1"), _sub("bob", "b1")]
    assert _chosen(_book(), subs) == ["ann", "bob"]
    assert _chosen(_book(), subs, retry_failed=True) == ["ann", "bob"]


def test_identical_files_are_skipped_and_changed_ones_graded_again():
    book = _book(_rows("ann", "a1"), _rows("bob", "b1"))
    assert _chosen(book, [_sub("ann", "a1"), _sub("bob", "b2")]) == ["bob"]


def test_restart_grades_every_file_given():
    book = _book(_rows("ann", "a1"))
    assert _chosen(book, [_sub("ann", "a1")], resume=False) == ["ann"]


def test_retry_failed_grades_only_timeouts_crashes_and_new_students():
    book = _book(_rows("ann", "a1"), _rows("bob", "b1", status="timeout"),
                 _rows("cy", "c1", status="crashed"), _rows("di", "d1", status="error"))
    subs = [_sub(s, f"{s[0]}1") for s in ("ann", "bob", "cy", "di", "ed")]
    assert _chosen(book, subs, retry_failed=True) == ["bob", "cy", "ed"]
    # a changed file is not retried: retry_failed looks at statuses only
    assert _chosen(book, [_sub("ann", "a2")], retry_failed=True) == []


def test_rows_of_another_lesson_never_count():
    book = _book(_rows("ann", "a1", lesson="07_y"), _rows("bob", "b1", lesson="07_y",
                                                          status="timeout"))
    subs = [_sub("ann", "a1"), _sub("bob", "b1")]
    assert _chosen(book, subs) == ["ann", "bob"]
    assert _chosen(book, subs, lesson="07_y") == []
    assert _chosen(book, subs, lesson="07_y", retry_failed=True) == ["bob"]


def test_the_choice_reads_nothing_from_disk():
    subs = [Submission(Path("/nowhere/ann.ipynb"), "ann", "a1")]
    assert to_grade(_book(), subs, "01_x") == subs


def test_rows_merge_replace_one_student_and_lesson_and_keep_the_rest():
    book = _book(_rows("ann", "a1"), _rows("ann", "a1", lesson="07_y"), _rows("bob", "b1"))
    new = _rows("ann", "a2")
    merged = merge(book, new, "ann", "01_x")
    assert len(merged) == len(book) and not merged.duplicated(["student", "lesson",
                                                               "question"]).any()
    mine = merged[(merged["student"] == "ann") & (merged["lesson"] == "01_x")]
    assert set(mine["sha256"]) == {"a2"}
    assert set(merged[merged["lesson"] == "07_y"]["sha256"]) == {"a1"}
    assert merge(_book(), new, "ann", "01_x").equals(new)


def test_manual_questions_get_a_row_without_points():
    got = _rows("ann", "a1").set_index("question")
    assert list(_rows("ann", "a1").columns) == COLUMNS
    assert got.loc["essay", "status"] == "manual" and pd.isna(got.loc["essay", "points"])
    assert got.loc["q1", "points"] == 2.0 and got.loc["essay", "max_points"] == 3.0


def test_batch_rows_follow_the_order_given(tmp_path):
    book = _book(_rows("ann", "a1"), _rows("bob", "b1"), _rows("cy", "c1"))
    order = [_sub("cy", "c1"), _sub("ann", "a1")]
    assert list(dict.fromkeys(batch_rows(book, "01_x", order)["student"])) == ["cy", "ann"]


def test_identify_hashes_each_file_and_finds_its_student(tmp_path):
    a = tmp_path / "ann_hw.ipynb"
    a.write_text("{}")
    (sub,) = identify([a], r"(?P<student>[a-z]+)_hw")
    assert sub.student == "ann" and len(sub.sha256) == 64 and sub.path == a


def test_a_book_round_trips_through_csv(tmp_path):
    out = tmp_path / "book.csv"
    assert read_book(out).empty and list(read_book(out).columns) == COLUMNS
    _book(_rows("ann", "a1")).to_csv(out, index=False)
    back = read_book(out)
    assert list(back.columns) == COLUMNS and back["lesson"].tolist() == ["01_x", "01_x"]
    out.write_text("submission,points\na.ipynb,1\n")
    with pytest.raises(ValueError, match="is not a peprkit gradebook"):
        read_book(out)


def test_two_files_of_one_student_are_duplicates_and_one_file_twice_is_not(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "carol.ipynb").write_text(folder)
    (tmp_path / "ann.ipynb").write_text("x")
    ann = tmp_path / "ann.ipynb"
    subs = identify([tmp_path / "a" / "carol.ipynb", tmp_path / "b" / "carol.ipynb", ann,
                     tmp_path / "a" / ".." / "ann.ipynb"])
    assert [s.student for s in subs] == ["carol", "carol", "ann"]  # ann's file once
    doubled = duplicates(subs)
    assert doubled == {tmp_path / "a" / "carol.ipynb": [tmp_path / "b" / "carol.ipynb"],
                       tmp_path / "b" / "carol.ipynb": [tmp_path / "a" / "carol.ipynb"]}


def test_every_text_cell_written_is_csv_safe_and_cells_raised_is_kept(tmp_path):
    sub = Submission(Path("=cmd.ipynb"), "'=cmd", "aa")
    new = rows(sub, "01_x", QUESTIONS, {"q1": Score(1.0, "graded", "+1 hint", "@x")}, 2,
               "cell 3: NameError: x; cell 5: -1")
    text = to_csv(_book(new, _rows("ann", "a1")))
    out = tmp_path / "book.csv"
    out.write_text(text)
    back = read_book(out).set_index(["student", "question"])
    assert back.loc[("'=cmd", "q1"), "feedback"] == "'+1 hint"
    assert back.loc[("'=cmd", "q1"), "detail"] == "'@x"
    assert back.loc[("'=cmd", "q1"), "submission"] == "'=cmd.ipynb"
    assert back.loc[("'=cmd", "q1"), "cells_raised"] == "cell 3: NameError: x; cell 5: -1"
    assert back.loc[("ann", "q1"), "cells_raised"] == ""
    assert csv_safe("\tx") == "'\tx" and csv_safe("'=x") == "'=x"


def test_sandbox_and_wall_time_are_recorded_and_older_books_still_read(tmp_path):
    new = rows(_sub("ann", "a1"), "01_x", QUESTIONS, {"q1": Score(2.0, "graded", "")}, 0,
               "", "fallback (as root)", 12.345)
    out = tmp_path / "book.csv"
    out.write_text(to_csv(_book(new, _rows("bob", "b1"))))
    back = read_book(out).set_index(["student", "question"])
    assert back.loc[("ann", "q1"), "sandbox"] == "fallback (as root)"
    assert back.loc[("ann", "essay"), "wall_s"] == pytest.approx(12.35)
    assert back.loc[("bob", "q1"), "sandbox"] == "" and pd.isna(back.loc[("bob", "q1"), "wall_s"])
    old = pd.read_csv(out).drop(columns=["cells_raised", "sandbox", "wall_s"])
    old.to_csv(out, index=False)
    back = read_book(out)
    assert list(back.columns) == COLUMNS
    assert (back["sandbox"] == "").all() and back["wall_s"].isna().all()
    assert (back["cells_raised"] == "").all()
