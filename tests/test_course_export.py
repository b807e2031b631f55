"""LMS export, roster matching, late policy, shards and merged gradebooks."""

from __future__ import annotations

import os

import pandas as pd
import pytest

pytest.importorskip("jinja2")

from _book import write_book  # noqa: E402

from peprkit.course import export as ex  # noqa: E402


def test_wide_export_one_row_per_student(tmp_path):
    done = ex.export(write_book(tmp_path / "g.csv"), out=tmp_path / "w.csv")
    wide = pd.read_csv(tmp_path / "w.csv")
    assert list(wide.columns) == ["student", "Lesson 01_x", "total"] and done["rows"] == 2
    assert dict(zip(wide["student"], wide["total"], strict=True)) == {"ann": 2.0, "bo": 0.0}


def test_moodle_export_lists_unmatched_students_on_both_sides(tmp_path):
    (tmp_path / "r.csv").write_text("student,name,email,sis_id\nann,Ann,a@x,1\nzoe,Zoe,z@x,3\n")
    done = ex.export(write_book(tmp_path / "g.csv"), out=tmp_path / "m.csv", format="moodle",
                     roster=tmp_path / "r.csv")
    got = pd.read_csv(tmp_path / "m.csv")
    assert list(got.columns) == ["Email address", "ID number", "Full name", "Lesson 01_x"]
    assert list(got["Email address"]) == ["a@x", "z@x"]
    assert {(u["student"], u["problem"]) for u in done["unmatched"]} == {
        ("bo", "graded, not on the roster"), ("zoe", "on the roster, no grades")}
    assert len(pd.read_csv(tmp_path / "m.unmatched.csv")) == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"format": "blackboard"}, "format='blackboard'"),
    ({"format": "canvas"}, "needs roster"),
    ({"deadline": "tomorrow"}, "deadline='tomorrow'"),
    ({"deadline": "2025-01-01", "late_penalty": "ten"}, "late_penalty='ten'"),
    ({"deadline": "2025-01-01", "late_cap": "150%"}, "late_cap='150%'"),
    ({"deadline": "07=2025-01-01"}, "lesson '07'"),
])
def test_bad_options_name_the_argument(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.export(write_book(tmp_path / "g.csv"), out=tmp_path / "o.csv", **kwargs)


def test_duplicate_roster_ids_are_an_error(tmp_path):
    (tmp_path / "r.csv").write_text("student,name\nann,A\nbo,B\nann,C\n")
    with pytest.raises(ValueError, match=r"'ann' appears on rows \[2, 4\]"):
        ex.read_roster(tmp_path / "r.csv")


def test_late_penalty_from_file_times_is_labelled_and_capped(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, days in (("ann", 2.5), ("bo", -1)):
        path = subs / f"{name}.ipynb"
        path.write_text("{}")
        stamp = pd.Timestamp("2025-03-01T00:00Z").timestamp() + days * 86400
        os.utime(path, (stamp, stamp))
    book = write_book(tmp_path / "g.csv")
    g = pd.read_csv(book)
    g["submission"] = [str(subs / f"{s}.ipynb") for s in g["student"]]
    g.to_csv(book, index=False)
    done = ex.export(book, out=tmp_path / "w.csv", deadline="01=2025-03-01T00:00Z",
                     late_penalty="10%/day", late_cap="20%")
    log = done["late"]
    assert list(log["student"]) == ["ann"] and log.iloc[0]["time_from"] == "file mtime"
    assert (log.iloc[0]["days_late"], log.iloc[0]["penalty"]) == (3, 0.2)
    assert log.iloc[0]["points_after"] == pytest.approx(1.6)
    assert pd.read_csv(tmp_path / "w.late.csv").shape[0] == 1


def test_shards_are_balanced_stable_and_cover_everything():
    items = [(f"0{i % 3}", f"{i * 7919 % 1000:04d}") for i in range(100)]
    shares = [ex.shard_of(items, i, 4) for i in range(4)]
    assert sorted(sum(shares, [])) == list(range(100))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert shares == [ex.shard_of(items, i, 4) for i in range(4)]
    with pytest.raises(ValueError, match="shard=4/4"):
        ex.shard_of(items, 4, 4)


def test_merging_shard_books_loses_nothing_and_is_idempotent(tmp_path):
    full = pd.read_csv(write_book(tmp_path / "all.csv"), dtype=str, keep_default_na=False)
    full[full["student"] == "ann"].to_csv(tmp_path / "a.csv", index=False)
    full[full["student"] == "bo"].to_csv(tmp_path / "b.csv", index=False)
    merged = ex.merge_books([tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "a.csv"],
                            tmp_path / "out.csv")
    assert len(merged) == len(full)
    first = (tmp_path / "out.csv").read_bytes()
    ex.merge_books([tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == first
    other = full[full["student"] == "ann"].copy()
    other["sha256"] = "another-file"
    other.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match="graded from different files"):
        ex.merge_books([tmp_path / "a.csv", tmp_path / "c.csv"], tmp_path / "x.csv")


def test_auto_jobs_fits_cores_and_memory():
    assert ex.auto_jobs(4, cores=16, available_gb=64) == 8
    assert ex.auto_jobs(16, cores=2, available_gb=8) == 1 and ex.auto_jobs() >= 1
