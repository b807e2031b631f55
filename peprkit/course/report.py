"""Feedback documents from a gradebook: one report per student and lesson, an index for you.

``peprkit grade report grades.csv --out reports/`` (:func:`write_reports`) writes, for
every (student, lesson) of the gradebook, ``reports/<lesson>/<student>.html`` (one
self-contained page) and ``<student>.md`` (the same as Markdown, to paste into a mail):
points per question and in total, the ``feedback`` text (safe to send), each status in
plain words, the names of the cells that raised (``cell 12``, never the error text), and
manual marks with the instructor's comment once merged (:mod:`peprkit.course.marking`).
Nothing from ``detail`` (hidden tests, drawn inputs) is ever read into a student's file.

``reports/index.html`` is for the instructor: per question the share of full marks and the
mean points (bar charts), the distribution of totals, status counts, the submissions that
timed out, crashed or could not be graded (with ``detail``), and the slowest submissions
when the gradebook has a timing column (``wall_s``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from peprkit._util import atomic_write
from peprkit.course import _gradebook, _html

#: What each status means, in words a learner understands.
STATUS_WORDS = {
    "graded": "graded automatically by the tests.",
    "marked": "marked by your instructor (their comment is in the feedback).",
    "manual": "graded by your instructor, who has not marked it yet.",
    "timeout": "your notebook ran past the grading time limit before this question was "
               "answered, so it scored 0. Make it run top to bottom in quick mode.",
    "crashed": "your notebook's process stopped (a crash, exit() or running out of memory) "
               "before this question was answered, so it scored 0.",
    "error": "the grader could not grade this (e.g. the file is not a readable notebook); "
             "your instructor will look at it.",
}
#: ``detail`` of a manual mark merged by :mod:`peprkit.course.marking` starts with this
#: (:func:`peprkit.course._gradebook.merge` keeps such rows over a regrade's).
MARK_PREFIX = "marked by "
#: Timing columns the index looks for (seconds per submission).
TIMING_COLUMNS = ("wall_s", "time_s", "grading_s")


@dataclass(frozen=True)
class Written:
    """What :func:`write_reports` wrote: the student files and the index."""

    students: list[Path]
    index: Path


def load_book(path: str | Path, argument: str = "gradebook") -> pd.DataFrame:
    """A gradebook CSV, checked: it exists and has the gradebook's columns. Extra timing
    columns (:data:`TIMING_COLUMNS`) are kept.

    Raises:
        ValueError: the file is missing, unreadable or not a gradebook (naming ``argument``).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{argument}={str(path)!r} does not exist; pass the gradebook CSV "
                         "that `peprkit grade --out` wrote.")
    try:
        book = _gradebook.read_book(path)
        extra = pd.read_csv(path, usecols=lambda c: c in TIMING_COLUMNS)
    except ValueError as err:
        raise ValueError(f"{argument}={str(path)!r}: {err}") from None
    except Exception as err:  # noqa: BLE001  (pandas parser errors, undecodable bytes)
        raise ValueError(f"{argument}={str(path)!r} is not a readable CSV gradebook "
                         f"({type(err).__name__}: {str(err)[:200]}); pass the file that "
                         "`peprkit grade --out` wrote.") from None
    for column in extra.columns:
        book[column] = pd.to_numeric(extra[column], errors="coerce")
    bad = pd.to_numeric(book["max_points"], errors="coerce").isna()
    if bad.any():
        row = int(bad.idxmax()) + 2
        raise ValueError(f"{argument}={str(path)!r}: row {row}, column 'max_points' is not "
                         "a number; fix or regrade that row.")
    book["points"] = pd.to_numeric(book["points"], errors="coerce")
    book["max_points"] = pd.to_numeric(book["max_points"])
    return book


def is_marked(row) -> bool:
    """Whether a gradebook row is a merged manual mark (:mod:`peprkit.course.marking`)."""
    return str(row["detail"]).startswith(MARK_PREFIX)


def status_word(row) -> str:
    """The status shown to the student: ``marked`` for a merged manual mark."""
    return "marked" if is_marked(row) else str(row["status"])


def cell_names(cells_raised: str) -> list[str]:
    """``["cell 12", ...]``: the cells named in a ``cells_raised`` value, without their
    errors (a traceback may run through the kit).

    >>> cell_names("cell 3: NameError: name 'x' is not defined; cell 12: ValueError: a; b")
    ['cell 3', 'cell 12']
    """
    return list(dict.fromkeys(re.findall(r"(?:^|; )(cell \d+):", str(cells_raised or ""))))


def student_view(rows: pd.DataFrame) -> dict:
    """What one student's report shows for one lesson, built from safe columns only
    (``detail`` is read only to know whether a row is a merged mark)."""
    questions, pending = [], 0
    for _, r in rows.iterrows():
        word = status_word(r)
        pending += word == "manual"
        questions.append({"question": r["question"], "points": r["points"],
                          "max_points": r["max_points"], "status": str(r["status"]),
                          "label": word, "explain": STATUS_WORDS.get(word, word),
                          "feedback": str(r["feedback"] or "")})
    counted = rows[[status_word(r) != "manual" for _, r in rows.iterrows()]]
    cells: list[str] = []
    for value in rows["cells_raised"]:
        cells += [c for c in cell_names(value) if c not in cells]
    used = {q["label"] for q in questions}
    return {"questions": questions, "pending": pending,
            "total": float(counted["points"].fillna(0).sum()),
            "max_total": float(rows["max_points"].sum()),
            "cells": cells,
            "explained": [(w, t) for w, t in STATUS_WORDS.items() if w in used]}


def student_markdown(student: str, lesson: str, view: dict) -> str:
    """The student's report as Markdown (for a mail)."""
    lines = [f"# Lesson {lesson}: your feedback", "", f"Student: {student}", "",
             f"**Total: {_html.number(view['total'])} of {_html.number(view['max_total'])} "
             "points**", ""]
    if view["pending"]:
        lines += [f"{view['pending']} question(s) are graded by your instructor and not "
                  "marked yet: the total does not include them.", ""]
    lines += ["| Question | Points | Out of | Status | Feedback |", "|---|---|---|---|---|"]
    for q in view["questions"]:
        feedback = q["feedback"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {q['question']} | {_html.number(q['points'])} | "
                     f"{_html.number(q['max_points'])} | {q['label']} | {feedback} |")
    if view["cells"]:
        lines += ["", "Cells that raised an error when the grader ran your notebook: "
                  f"{', '.join(view['cells'])}. Run it with Restart & Run All to see them."]
    lines += ["", "What the status words mean:", ""]
    lines += [f"- **{w}**: {t}" for w, t in view["explained"]]
    return "\n".join(lines) + "\n"


def lesson_summary(book: pd.DataFrame, lesson: str) -> dict:
    """The instructor's figures for one lesson (see the module's docstring)."""
    rows = book[book["lesson"] == lesson]
    questions = []
    for name, q in rows.groupby("question", sort=False):
        decided = q[[status_word(r) != "manual" for _, r in q.iterrows()]]
        full = (decided["points"].fillna(0) >= decided["max_points"] - 1e-9)
        questions.append({"question": name, "max_points": float(q["max_points"].max()),
                          "mean": float(decided["points"].fillna(0).mean())
                          if len(decided) else float("nan"),
                          "pass_rate": float(full.mean()) if len(decided) else 0.0,
                          "n": len(decided)})
    totals = []
    for student, srows in rows.groupby("student", sort=False):
        view = student_view(srows)
        totals.append({"student": student, "total": view["total"],
                       "max_total": view["max_total"]})
    max_total = max((t["max_total"] for t in totals), default=0.0)
    failed = rows[rows["status"].isin(["timeout", "crashed", "error"])]
    slowest: list[dict] = []
    timing = next((c for c in TIMING_COLUMNS if c in rows.columns), None)
    if timing is not None:
        per = rows.groupby("student", sort=False)[timing].max().dropna()
        slowest = [{"student": s, "seconds": v} for s, v in
                   per.sort_values(ascending=False).head(10).items()]
    return {
        "lesson": lesson, "n_students": len(totals), "max_total": max_total,
        "mean_total": (sum(t["total"] for t in totals) / len(totals)) if totals else 0.0,
        "questions": questions,
        "pass_svg": _html.bar_svg([q["question"] for q in questions],
                                  [q["pass_rate"] * 100 for q in questions], vmax=100,
                                  unit="%"),
        "mean_svg": _html.bar_svg([q["question"] for q in questions],
                                  [100 * q["mean"] / q["max_points"] if q["max_points"] else 0
                                   for q in questions], vmax=100, unit="%"),
        "hist_svg": _html.histogram_svg([t["total"] for t in totals], vmax=max_total or None),
        "status_counts": sorted(rows["status"].value_counts().items()),
        "failed": failed[["student", "question", "status", "detail", "submission"]
                         ].to_dict("records"),
        "slowest": slowest, "totals": totals,
    }


def write_reports(gradebook: str | Path, out: str | Path, *,
                  lessons: list[str] | None = None) -> Written:
    """Write every student's report and the instructor's index (module docstring).

    Args:
        gradebook: the gradebook CSV (``peprkit grade --out``).
        out: folder for the reports (created; files in it are replaced atomically).
        lessons: only these lessons (default: every lesson in the gradebook).

    Raises:
        ValueError: a missing or malformed gradebook, or a lesson it does not hold.
    """
    book = load_book(gradebook)
    if book.empty:
        raise ValueError(f"gradebook={str(gradebook)!r} has no rows; grade some notebooks "
                         "first.")
    known = list(dict.fromkeys(book["lesson"]))
    chosen = known if not lessons else lessons
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ValueError(f"lessons={unknown} are not in the gradebook (it holds {known}); "
                         "pass one of those.")
    out = Path(out)
    source = f"{Path(gradebook).name}"
    written: list[Path] = []
    summaries = []
    for lesson in chosen:
        rows = book[book["lesson"] == lesson]
        folder = out / _html.safe_name(lesson)
        summary = lesson_summary(book, lesson)
        reports = []
        for student, srows in rows.groupby("student", sort=False):
            view = student_view(srows)
            name = _html.safe_name(student)
            page = _html.render("report_student.html.j2", student=student, lesson=lesson,
                                generator="grade report", source=source, **view)
            written.append(atomic_write(folder / f"{name}.html", page))
            written.append(atomic_write(folder / f"{name}.md",
                                        student_markdown(student, lesson, view)))
            reports.append({"student": student, "href": f"{folder.name}/{name}.html",
                            "total": view["total"], "max_total": view["max_total"]})
        summary["reports"] = reports
        summaries.append(summary)
    index = atomic_write(out / "index.html", _html.render(
        "report_index.html.j2", lessons=summaries, generator="grade report", source=source))
    return Written(written, index)
