"""Feedback documents: what a student sees (never ``detail``) and the instructor's index."""

from __future__ import annotations

import pytest

pytest.importorskip("jinja2")

from _book import write_book  # noqa: E402

from peprkit.cli import main  # noqa: E402
from peprkit.course import report  # noqa: E402


def test_student_files_show_points_status_words_and_cell_names_never_detail(tmp_path):
    book = write_book(tmp_path / "g.csv", wall_s=[3.0, 3.0, 3.0, 61.5, 61.5, 61.5])
    written = report.write_reports(book, tmp_path / "r")
    assert {p.name for p in written.students} == {"ann.html", "ann.md", "bo.html", "bo.md"}
    for path in written.students:
        assert "CANARY" not in path.read_text(), path
    ann = (tmp_path / "r" / "01_x" / "ann.html").read_text()
    assert "Total: 2 of 5 points" in ann and "Check the sign." in ann and "cell 4" in ann
    assert "NameError" not in ann and "not marked yet" in ann
    bo = (tmp_path / "r" / "01_x" / "bo.md").read_text()
    assert "**timeout**" in bo and "**crashed**" in bo and "time limit" in bo
    index = written.index.read_text()
    assert "CANARY-3" in index and "61.5" in index and "<svg" in index
    assert "Content-Security-Policy" in index and "<script" not in index


def test_student_ids_that_are_markup_are_escaped_and_files_named_safely(tmp_path):
    rows = [("<img src=x onerror=alert(1)>", "01_x", "q1", 1.0, 1.0, "graded", "<b>hi</b>",
             "", "0", "")]
    written = report.write_reports(write_book(tmp_path / "g.csv", rows), tmp_path / "r")
    page = next(p for p in written.students if p.suffix == ".html")
    assert "/" not in page.name[:-5] and "<img" not in page.read_text()
    assert "&lt;b&gt;hi&lt;/b&gt;" in page.read_text()


@pytest.mark.parametrize("content, match", [
    (None, "does not exist"), ("a,b\n1,2\n", "not a peprkit gradebook"),
    ("\x00\xff", "gradebook")])
def test_a_missing_or_malformed_gradebook_is_refused(tmp_path, content, match):
    path = tmp_path / "g.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        report.write_reports(path, tmp_path / "r")


def test_the_cli_exits_2_with_one_line(tmp_path, capsys):
    assert main(["grade", "report", str(tmp_path / "none.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peprkit grade report: error:") and err.count("\n") == 1
