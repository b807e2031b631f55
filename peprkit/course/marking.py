"""Manual marking: every student's answer beside the rubric, then the marks into the gradebook.

``peprkit grade manual SUBMISSIONS --lesson NN --out marking/`` (:func:`write_marking`)
writes, for each question of the master with ``manual: true``, one page
``marking/<question>.html``: the question and the master's model answer (the rubric), then
every student's answer side by side, rendered as Markdown with raw HTML shown as text
(:func:`peprkit.course._html.markdown_html`), code escaped; plus ``marking/marks.csv``
(student, lesson, question, max_points, points, comment) to fill in. An existing
``marks.csv`` keeps the marks already typed in and gains rows for new students.

``peprkit grade merge-marks marks.csv --out grades.csv`` (:func:`merge_marks`) checks every
row (points a number in 0..max_points, a student and manual question the gradebook holds,
one mark per cell; errors name the row and the column), then writes the gradebook
atomically: the row gets the points, status ``graded``, the comment as ``feedback`` (it
goes to the student) and ``marked by WHO at WHEN`` in ``detail``. Merging the same file
again changes nothing; regrading the automatic questions later keeps the marks
(:func:`peprkit.course._gradebook.merge`).
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from peprkit._util import atomic_write
from peprkit.course import _gradebook, _html
from peprkit.course._autograder import cell_source, read_master
from peprkit.course.report import MARK_PREFIX, load_book

#: Columns of ``marks.csv``.
MARK_COLUMNS = ["student", "lesson", "question", "max_points", "points", "comment"]
#: otter's placeholder in an unanswered free-text cell.
PLACEHOLDER = "_Type your answer here, replacing this text._"


def manual_questions(master: str | Path) -> list[dict]:
    """The master's manual questions: name, points, the question's text and its model
    answer (markdown/code inside ``# BEGIN SOLUTION``), in order."""
    return [{"name": q.name, "max_points": q.max_points, "prompt": list(q.prompt),
             "solution": list(q.solution)} for q in read_master(master).questions if q.manual]


def answers(notebook: dict, n_questions: int) -> list[list[tuple[str, str]]]:
    """Per manual question (in order), the student's answer cells ``(cell_type, source)``:
    the cells between otter's ``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->``
    markers tagged ``otter_answer_cell`` (else all but the question's own first cell)."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    blocks: list[list[dict]] = []
    current: list[dict] | None = None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict):
            continue
        try:
            source = cell_source(cell)
        except (KeyError, TypeError):
            continue
        if not isinstance(source, str):
            continue
        if "<!-- BEGIN QUESTION -->" in source:
            current = []
            blocks.append(current)
            continue
        if current is not None and "<!-- END QUESTION -->" in source:
            current = None
            continue
        if current is not None:
            current.append(cell)
    found = []
    for block in blocks[:n_questions]:
        tagged = [c for c in block if "otter_answer_cell" in (
            (c.get("metadata") or {}).get("tags") or [] if isinstance(c.get("metadata"), dict)
            else [])]
        found.append([(str(c.get("cell_type")), cell_source(c)) for c in (tagged or block)])
    return found + [[] for _ in range(n_questions - len(found))]


def _cells_html(cells: list[tuple[str, str]]) -> str:
    import html

    parts = []
    for kind, source in cells:
        if kind == "markdown":
            text = source.strip()
            parts.append("<p><em>(no answer)</em></p>" if text in ("", PLACEHOLDER)
                         else _html.markdown_html(text))
        else:
            parts.append(f"<pre>{html.escape(source)}</pre>")
    return "".join(parts) or "<p><em>(no answer cell found)</em></p>"


def write_marking(submissions, *, lesson: str, out: str | Path,
                  source_dir: str | Path | None = None,
                  student_pattern: str | None = None) -> list[Path]:
    """Write the marking pages and ``marks.csv`` (see the module's docstring).

    Raises:
        ValueError: unknown lesson, a lesson without manual questions, bad submissions.
    """
    from peprkit.course.authoring import find_master

    master = find_master(lesson, source_dir)
    questions = manual_questions(master)
    if not questions:
        raise ValueError(f"lesson={lesson!r}: the master {master.name} has no manual question "
                         "(manual: true in a BEGIN QUESTION cell); nothing to mark by hand.")
    subs = _gradebook.identify(_gradebook.expand_submissions(submissions), student_pattern)
    by_question: list[list[dict]] = [[] for _ in questions]
    for sub in subs:
        try:
            nb = json.loads(_gradebook.read_submission(sub.path).decode("utf-8"))
            found = answers(nb, len(questions))
        except (OSError, ValueError, RecursionError) as err:
            found = [[("raw", f"(this file could not be read: {type(err).__name__})")]] * len(
                questions)
        for i, cells in enumerate(found):
            by_question[i].append({"student": sub.student, "html": _cells_html(cells),
                                   "file": str(sub.path)})
    out = Path(out)
    written = []
    for q, rows in zip(questions, by_question, strict=True):
        page = _html.render(
            "marking.html.j2", lesson=master.stem, question=q["name"],
            max_points=q["max_points"], prompt=_cells_html(q["prompt"]),
            solution=_cells_html(q["solution"]), answers=rows,
            generator="grade manual", source=master.name)
        written.append(atomic_write(out / f"{_html.safe_name(q['name'])}.html", page))
    template = pd.DataFrame([{"student": s.student, "lesson": master.stem, "question": q["name"],
                              "max_points": q["max_points"], "points": "", "comment": ""}
                             for q in questions for s in subs], columns=MARK_COLUMNS)
    marks_path = out / "marks.csv"
    if marks_path.is_file():
        old = read_marks(marks_path)
        keys = set(zip(old["student"], old["lesson"], old["question"], strict=True))
        new = template[[k not in keys for k in zip(template["student"], template["lesson"],
                                                   template["question"], strict=True)]]
        template = pd.concat([old, new], ignore_index=True)
    written.append(atomic_write(marks_path, _gradebook.to_csv(template)))
    return written


def read_marks(path: str | Path) -> pd.DataFrame:
    """``marks.csv`` as text columns (``points`` checked by :func:`merge_marks`).

    Raises:
        ValueError: a missing or unreadable file, or one without the needed columns.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"marks={str(path)!r} does not exist; write it with `peprkit grade "
                         "manual` and fill in the points.")
    try:
        marks = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"marks={str(path)!r} is not a readable CSV ({type(err).__name__}: "
                         f"{str(err)[:200]}).") from None
    missing = [c for c in ("student", "lesson", "question", "points") if c not in marks.columns]
    if missing:
        raise ValueError(f"marks={str(path)!r} lacks the column(s) {missing}; it needs "
                         f"{MARK_COLUMNS} (write a template with `peprkit grade manual`).")
    if "comment" not in marks.columns:
        marks["comment"] = ""
    return marks


def _check(marks: pd.DataFrame, book: pd.DataFrame, lesson: str | None,
           path: str) -> list[tuple[int, float, str]]:
    """``(book index, points, comment)`` per filled-in mark, or ValueError listing every
    bad row (row numbers as a spreadsheet shows them: the header is row 1)."""
    problems, found, seen = [], [], {}
    lessons = list(dict.fromkeys(book["lesson"]))
    for i, m in marks.iterrows():
        row = int(i) + 2
        where = f"marks={path!r}: row {row}"
        student, les, question = (str(m[c]).strip() for c in ("student", "lesson", "question"))
        text = str(m["points"]).strip()
        if lesson is not None and les != lesson:
            problems.append(f"{where}, column 'lesson': {les!r} is not the lesson being "
                            f"merged ({lesson!r}); this marks file is for another lesson.")
            continue
        if les not in lessons:
            problems.append(f"{where}, column 'lesson': the gradebook has no lesson {les!r} "
                            f"(it holds {lessons}).")
            continue
        key = (student, les, question)
        if key in seen:
            problems.append(f"{where}: a second mark for student {student!r}, question "
                            f"{question!r} (the first is row {seen[key]}); keep one.")
            continue
        seen[key] = row
        mine = book[(book["lesson"] == les) & (book["student"] == student)]
        if mine.empty:
            problems.append(f"{where}, column 'student': {student!r} has no rows of lesson "
                            f"{les!r} in the gradebook; grade the notebook first.")
            continue
        cell = mine[mine["question"] == question]
        if cell.empty:
            problems.append(f"{where}, column 'question': lesson {les!r} has no question "
                            f"{question!r} (it has {list(mine['question'])}).")
            continue
        target = cell.iloc[0]
        if target["status"] != "manual" and not str(target["detail"]).startswith(MARK_PREFIX):
            problems.append(f"{where}, column 'question': {question!r} is graded "
                            "automatically, not by hand; remove the row.")
            continue
        if not text:
            continue  # not marked yet
        try:
            points = float(text)
        except ValueError:
            points = float("nan")
        top = float(target["max_points"])
        if not 0 <= points <= top:
            problems.append(f"{where}, column 'points': {text!r} must be a number from 0 to "
                            f"{top:g} (the question's points).")
            continue
        found.append((cell.index[0], points, str(m["comment"]).strip()))
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(f"{len(problems)} problem(s) in the marks, nothing merged:\n  "
                         f"{shown}{more}")
    return found


def merge_marks(marks: str | Path, gradebook: str | Path, *, lesson: str | None = None,
                marked_by: str | None = None, now: datetime | None = None) -> dict:
    """Merge filled-in marks into ``gradebook`` (see the module's docstring).

    Args:
        marks: the marks CSV (``peprkit grade manual`` writes the template).
        gradebook: the gradebook CSV, rewritten atomically.
        lesson: when given, every row of ``marks`` must be of this lesson (name as in the
            gradebook, e.g. ``01_pepr_metric``, or its number).
        marked_by: who marked (default: the account's user name).

    Returns:
        ``{"merged": n, "unchanged": n, "blank": n}``.

    Raises:
        ValueError: any bad row (nothing is written then), a missing gradebook.
    """
    book = load_book(gradebook, "out")
    table = read_marks(marks)
    if lesson is not None:
        known = list(dict.fromkeys(book["lesson"]))
        match = [name for name in known if name == lesson or name.split("_", 1)[0] ==
                 str(lesson).zfill(2)]
        lesson = match[0] if match else str(lesson)
    found = _check(table, book, lesson, str(marks))
    who = _gradebook.clean(marked_by or _user(), 100)
    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    merged = unchanged = 0
    for index, points, comment in found:
        feedback = _gradebook.clean(comment or "Marked by your instructor.", 1000)
        old = book.loc[index]
        if (str(old["detail"]).startswith(MARK_PREFIX) and float(old["points"]) == points
                and old["feedback"] == feedback):
            unchanged += 1
            continue
        book.loc[index, ["points", "status", "feedback", "detail"]] = [
            points, "graded", feedback,
            f"{MARK_PREFIX}{who} at {when} (file sha256 {str(old['sha256'])[:12]})"]
        merged += 1
    if merged:
        atomic_write(gradebook, _gradebook.to_csv(book[_gradebook.COLUMNS]))
    return {"merged": merged, "unchanged": unchanged,
            "blank": int(len(table) - merged - unchanged)}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001  (no user name in a container)
        return "instructor"
