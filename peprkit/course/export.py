"""The gradebook out to a learning platform, a late policy, and grading in shards.

``peprkit grade export grades.csv --format canvas|moodle|wide --out lms.csv``
(:func:`export`): one row per student, one column per lesson (points: automatic questions
plus merged manual marks; a manual question not marked yet counts nothing).

- ``canvas``: ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
  lesson named ``Lesson <lesson>`` (Canvas creates an assignment for a column it does not
  know; rename the columns to the existing assignments' ``Name (id)`` headers of a Canvas
  export to update those instead).
- ``moodle``: ``Email address, ID number, Full name``, then one column per lesson; map
  the identifier column and the grade items in Moodle's CSV import.
- ``wide``: ``student``, one column per lesson, ``total``.

``--roster roster.csv`` (columns ``student`` (the kit's id), and any of ``name``,
``email``, ``sis_id``, ``login_id``, ``lms_id``, ``section``) fills the platform's
identifiers. Students graded but not on the roster, and roster students without grades,
are listed (``<out>.unmatched.csv`` and on the terminal); the roster's students all get a
row (empty grades for those without), graded students without an identifier are left out
of canvas/moodle files only and listed. A student id twice in the roster is an error.

Late work: ``--deadline`` (one ISO time, or ``LESSON=TIME`` per lesson) with
``--submitted-at times.csv`` (student, lesson, submitted_at) or, without it, each
submitted file's modification time (labelled ``file mtime`` in the log) applies
``--late-penalty`` (e.g. ``10%/day``: each started day late costs 10 % of the points)
up to ``--late-cap`` (e.g. ``50%``). Every changed row is written to ``<out>.late.csv``.

Shards: :func:`shard_of` chooses a stable, balanced share of the submissions for grading
job ``I/N``; :func:`merge_books` combines the gradebooks of the shards.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from peprkit._util import atomic_write
from peprkit.course import _gradebook
from peprkit.course.report import load_book, status_word

FORMATS = ("canvas", "moodle", "wide")
ROSTER_COLUMNS = ("name", "email", "sis_id", "login_id", "lms_id", "section")


def totals(book: pd.DataFrame) -> pd.DataFrame:
    """Points per student and lesson: automatic questions and merged manual marks."""
    counted = book[[status_word(r) != "manual" for _, r in book.iterrows()]].copy()
    counted["points"] = counted["points"].fillna(0.0)
    table = counted.pivot_table(index="student", columns="lesson", values="points",
                                aggfunc="sum", sort=False)
    everyone = list(dict.fromkeys(book["student"]))
    lessons = sorted(dict.fromkeys(book["lesson"]))
    return table.reindex(index=everyone, columns=lessons)


def read_roster(path: str | Path) -> pd.DataFrame:
    """The roster, one row per kit student id.

    Raises:
        ValueError: missing file, no ``student`` column, an empty or duplicated id.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"roster={str(path)!r} does not exist; pass a CSV with a 'student' "
                         f"column (the kit's ids) and any of {list(ROSTER_COLUMNS)}.")
    roster = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "student" not in roster.columns:
        raise ValueError(f"roster={str(path)!r} has no 'student' column (it has "
                         f"{list(roster.columns)}); add one with the ids the gradebook uses.")
    roster["student"] = roster["student"].str.strip()
    empty = roster.index[roster["student"] == ""]
    if len(empty):
        raise ValueError(f"roster={str(path)!r}: row {int(empty[0]) + 2}, column 'student' is "
                         "empty; give every row the student's id.")
    twice = roster[roster["student"].duplicated(keep=False)]
    if not twice.empty:
        first = twice.iloc[0]["student"]
        rows = [int(i) + 2 for i in twice.index[twice["student"] == first]]
        raise ValueError(f"roster={str(path)!r}: student id {first!r} appears on rows {rows}; "
                         "each student must appear once (merge or fix the rows).")
    for column in ROSTER_COLUMNS:
        if column not in roster.columns:
            roster[column] = ""
    return roster.set_index("student")


def parse_percent(text: str, argument: str, *, per_day: bool = False) -> float:
    """``"10%/day"`` or ``"10%"`` (or ``0.1``) as a fraction.

    >>> parse_percent("10%/day", "late_penalty", per_day=True), parse_percent("50%", "late_cap")
    (0.1, 0.5)
    """
    match = re.fullmatch(r"\s*([0-9.]+)\s*(%?)\s*(/\s*day)?\s*", str(text))
    value = None
    if match and (match.group(3) is None or per_day):
        try:
            value = float(match.group(1)) / (100 if match.group(2) else 1)
        except ValueError:
            value = None
    if value is None or not 0 <= value <= 1:
        example = "10%/day" if per_day else "50%"
        raise ValueError(f"{argument}={text!r} is not a share from 0 to 100 %; write e.g. "
                         f"{example}.")
    return value


def _time(text: str, argument: str) -> datetime:
    try:
        when = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{argument}={text!r} is not a date and time; write ISO 8601, e.g. "
                         "2025-03-01T23:59+01:00.") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def deadlines(values: list[str] | str | None, lessons: list[str]) -> dict[str, datetime]:
    """``{lesson: deadline}`` from ``TIME`` (every lesson) or ``LESSON=TIME`` items
    (lesson as in the gradebook, or its number)."""
    found: dict[str, datetime] = {}
    for item in [values] if isinstance(values, str) else (values or []):
        name, sep, when = str(item).rpartition("=")
        if not sep:
            for lesson in lessons:
                found.setdefault(lesson, _time(when, "deadline"))
            continue
        match = [x for x in lessons if x == name or x.split("_", 1)[0] == name.zfill(2)]
        if not match:
            raise ValueError(f"deadline={item!r} names lesson {name!r}, which the gradebook "
                             f"does not hold ({lessons}).")
        found[match[0]] = _time(when, "deadline")
    return found


def submitted_times(book: pd.DataFrame, times: str | Path | None
                    ) -> dict[tuple[str, str], tuple[datetime, str]]:
    """``{(student, lesson): (time, where from)}``: from ``times`` (student, lesson,
    submitted_at), else the submitted file's modification time (``file mtime``)."""
    found = {}
    if times is not None:
        path = Path(times)
        if not path.is_file():
            raise ValueError(f"submitted_at={str(path)!r} does not exist; pass a CSV with "
                             "student, lesson, submitted_at.")
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {"student", "lesson", "submitted_at"} - set(table.columns)
        if missing:
            raise ValueError(f"submitted_at={str(path)!r} lacks the column(s) "
                             f"{sorted(missing)}.")
        lessons = list(dict.fromkeys(book["lesson"]))
        for i, r in table.iterrows():
            lesson = next((x for x in lessons if x == r["lesson"] or
                           x.split("_", 1)[0] == str(r["lesson"]).zfill(2)), r["lesson"])
            found[(r["student"], lesson)] = (
                _time(r["submitted_at"], f"submitted_at row {int(i) + 2}"), path.name)
        return found
    for (student, lesson), rows in book.groupby(["student", "lesson"], sort=False):
        path = str(rows["submission"].iloc[0]).lstrip("'")
        try:
            stamp = os.stat(path).st_mtime
        except OSError:
            continue
        found[(student, lesson)] = (datetime.fromtimestamp(stamp, timezone.utc), "file mtime")
    return found


def apply_late(table: pd.DataFrame, due: dict[str, datetime], times: dict, *,
               penalty: float, cap: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table with late points reduced, one log row per changed cell)``: each started
    day after the deadline costs ``penalty`` of the points, at most ``cap``."""
    table = table.copy()
    log = []
    for (student, lesson), (when, origin) in times.items():
        if lesson not in due or student not in table.index or lesson not in table.columns:
            continue
        late_s = (when - due[lesson]).total_seconds()
        before = table.loc[student, lesson]
        if late_s <= 0 or pd.isna(before):
            continue
        days = math.ceil(late_s / 86400)
        share = min(cap, days * penalty)
        after = round(float(before) * (1 - share), 4)
        table.loc[student, lesson] = after
        log.append({"student": student, "lesson": lesson, "submitted_at": when.isoformat(),
                    "time_from": origin, "deadline": due[lesson].isoformat(),
                    "days_late": days, "penalty": share, "points_before": float(before),
                    "points_after": after})
    return table, pd.DataFrame(log, columns=["student", "lesson", "submitted_at", "time_from",
                                             "deadline", "days_late", "penalty",
                                             "points_before", "points_after"])


def export(gradebook: str | Path, *, out: str | Path, format: str = "wide",
           roster: str | Path | None = None, deadline: list[str] | str | None = None,
           submitted_at: str | Path | None = None, late_penalty: str = "10%/day",
           late_cap: str = "100%") -> dict:
    """Write the platform's CSV (see the module's docstring); returns what was written and
    who was unmatched or penalised.

    Raises:
        ValueError: unknown format, malformed gradebook or roster, bad late options.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not one of {list(FORMATS)}.")
    if format != "wide" and roster is None:
        raise ValueError(f"format={format!r} needs roster=...: the platform matches rows by "
                         "its own ids (a CSV with student, name, email, sis_id ...).")
    if submitted_at is not None and not deadline:
        raise ValueError("submitted_at=... needs deadline=... (when the work was due).")
    book = load_book(gradebook)
    table = totals(book)
    lessons = list(table.columns)
    out = Path(out)
    log = pd.DataFrame()
    if deadline:
        due = deadlines(deadline, lessons)
        table, log = apply_late(table, due, submitted_times(book, submitted_at),
                                penalty=parse_percent(late_penalty, "late_penalty",
                                                      per_day=True),
                                cap=parse_percent(late_cap, "late_cap"))
        atomic_write(out.with_suffix(".late.csv"), _gradebook.to_csv(log))
    people = read_roster(roster) if roster is not None else None
    graded = list(table.index)
    unmatched = []
    if people is not None:
        unmatched += [{"student": s, "problem": "graded, not on the roster"}
                      for s in graded if s not in people.index]
        unmatched += [{"student": s, "problem": "on the roster, no grades"}
                      for s in people.index if s not in table.index]
        everyone = list(people.index) + [s for s in graded if s not in people.index]
        table = table.reindex(everyone)
    names = {lesson: f"Lesson {lesson}" for lesson in lessons}
    rows = []
    for student, points in table.iterrows():
        grades = {names[x]: ("" if pd.isna(points[x]) else round(float(points[x]), 4))
                  for x in lessons}
        info = people.loc[student] if people is not None and student in people.index else None
        if format == "wide":
            total = sum(v for v in grades.values() if v != "")
            rows.append({"student": student, **grades, "total": round(total, 4)})
        elif info is None:
            continue  # listed in unmatched
        elif format == "canvas":
            rows.append({"Student": info["name"], "ID": info["lms_id"],
                         "SIS User ID": info["sis_id"], "SIS Login ID": info["login_id"],
                         "Section": info["section"], **grades})
        else:
            rows.append({"Email address": info["email"], "ID number": info["sis_id"],
                         "Full name": info["name"], **grades})
    frame = pd.DataFrame(rows)
    atomic_write(out, _gradebook.to_csv(frame))
    if people is not None:
        atomic_write(out.with_suffix(".unmatched.csv"),
                     _gradebook.to_csv(pd.DataFrame(unmatched, columns=["student", "problem"])))
    return {"out": out, "rows": len(frame), "unmatched": unmatched, "late": log}


# --- shards -------------------------------------------------------------------------------
def shard_of(items: list[tuple[str, str]], index: int, count: int) -> list[int]:
    """Positions of ``items`` (``(lesson, sha256)`` per submission) that grading job
    ``index`` of ``count`` takes: per lesson sorted by hash and dealt round-robin,
    continuing where the previous lesson stopped, so every job gets an equal share of each
    lesson (within one) and the same file always lands in the same job for the same batch.

    >>> items = [("01", "c"), ("01", "a"), ("02", "b"), ("01", "b")]
    >>> shard_of(items, 0, 2), shard_of(items, 1, 2)
    ([1, 0], [3, 2])

    Raises:
        ValueError: not ``0 <= index < count``.
    """
    if not (isinstance(count, int) and count >= 1 and isinstance(index, int)
            and 0 <= index < count):
        raise ValueError(f"shard={index}/{count} must be I/N with 0 <= I < N, e.g. 0/4.")
    mine, dealt = [], 0
    for lesson in sorted({x[0] for x in items}):
        order = sorted((i for i, x in enumerate(items) if x[0] == lesson),
                       key=lambda i: (items[i][1], i))
        for i in order:
            if dealt % count == index:
                mine.append(i)
            dealt += 1
    return mine


def merge_books(books: list[str | Path], out: str | Path) -> pd.DataFrame:
    """Combine the gradebooks of shards into ``out`` (written atomically; its own rows,
    when it exists, count as one more book): identical rows once; a (student, lesson)
    graded in two books from different files is an error naming both.

    Raises:
        ValueError: a missing or malformed book, or conflicting rows.
    """
    if not books:
        raise ValueError("books: give at least one gradebook to merge.")
    parts, origin = [], {}
    sources = [Path(b) for b in books]
    if Path(out).is_file() and Path(out).resolve() not in {p.resolve() for p in sources}:
        sources.append(Path(out))
    for path in sources:
        book = load_book(path, "books")[_gradebook.COLUMNS]
        for key, rows in book.groupby(["student", "lesson"], sort=False):
            sha = set(rows["sha256"])
            if key in origin and origin[key][1] != sha:
                raise ValueError(
                    f"books: student {key[0]!r}, lesson {key[1]!r} was graded from different "
                    f"files in {str(origin[key][0])!r} and {str(path)!r}; grade that student "
                    "in one shard only, or drop the old rows.")
            origin.setdefault(key, (path, sha))
        parts.append(book)
    merged = pd.concat(parts, ignore_index=True)
    key = ["student", "lesson", "question"]
    marked = merged["detail"].astype(str).str.startswith("marked by ")
    merged = pd.concat([merged[marked], merged[~marked]])  # a merged mark wins
    merged = merged.drop_duplicates().drop_duplicates(key, keep="first")
    merged = merged.sort_values(["lesson", "student"], kind="stable").reset_index(drop=True)
    atomic_write(out, _gradebook.to_csv(merged))
    return merged


def auto_jobs(memory_gb: float = 16.0, *, cores: int | None = None,
              available_gb: float | None = None) -> int:
    """A safe number of submissions to grade at once: one per two cores (each grading
    runs the notebook and then the scorer), and no more than fit the memory (each
    submission may take ``memory_gb``), at least 1.

    >>> auto_jobs(4, cores=16, available_gb=64), auto_jobs(16, cores=2, available_gb=8)
    (8, 1)
    """
    if cores is None:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
    if available_gb is None:
        try:
            available_gb = (os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) / 1e9
        except (ValueError, OSError, AttributeError):
            available_gb = memory_gb
    return max(1, min(cores // 2, int(available_gb // max(memory_gb, 0.1))))
