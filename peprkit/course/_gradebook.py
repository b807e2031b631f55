"""The gradebook: which submissions to grade, and their rows read, merged and written back.

One row per (student, lesson, question), with the submission's SHA-256 (:data:`COLUMNS`).
:func:`to_grade` decides, from the book alone, which submissions a batch grades (a pure
function): an identical file is skipped, a changed one graded again, ``retry_failed``
grades again only those with ``timeout``/``crashed`` rows. :func:`merge` replaces one
student's rows of one lesson, so another lesson adds rows and never removes any.

A gradebook is opened in spreadsheets, so nothing a submission chose (its file name, the
text of its errors) may start a formula: every text cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is prefixed with a single quote (the OWASP advice
against CSV injection, :func:`csv_safe`), student ids included (:func:`student_id`), and
text is valid UTF-8. Two files of one batch that belong to the same student are not
graded: both get ``error`` rows naming each other (:func:`duplicates`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: Columns of the gradebook, one row per (student, lesson, question). ``feedback`` is
#: safe to send to the student (the hint; never hidden tests or their inputs); ``detail``
#: is for the instructor; ``cell_errors`` counts the cells of the submission that raised,
#: ``cells_raised`` says which and with what error (``cell 12: NameError: ...``);
#: ``sandbox`` which sandbox ran it (``bwrap``, ``fallback``, ``fallback (as root)``;
#: empty when it did not run), ``wall_s`` the submission's grading wall time in seconds.
COLUMNS = ["student", "lesson", "question", "points", "max_points", "status", "feedback",
           "detail", "cell_errors", "cells_raised", "sandbox", "wall_s", "sha256",
           "submission"]
#: Columns a gradebook of an earlier version may lack (read as empty, ``wall_s`` as NaN).
_OPTIONAL = ("cells_raised", "sandbox", "wall_s")
#: First characters that make a spreadsheet read a cell as a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
#: Longest student id kept (characters).
MAX_STUDENT_CHARS = 200
#: Statuses that ``retry_failed`` grades again (the submission's code did not finish).
FAILED = ("timeout", "crashed")


@dataclass(frozen=True)
class Score:
    """One question's result: points, status, what the student may see, and the rest."""

    points: float
    status: str
    feedback: str
    detail: str = ""


@dataclass(frozen=True)
class Submission:
    """A notebook handed in: its path, the student it belongs to, its SHA-256."""

    path: Path
    student: str
    sha256: str


def expand_submissions(submissions: Iterable[str | Path]) -> list[Path]:
    """Submission notebooks: files as given, folders replaced by the ``*.ipynb`` inside.

    Raises:
        ValueError: a path that does not exist, is not a notebook, or a folder without any.
    """
    found: list[Path] = []
    for item in submissions:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
            if not inside:
                raise ValueError(
                    f"submissions: folder {str(path)!r} holds no .ipynb file; pass the "
                    "folder the notebooks were collected into, or the notebooks themselves."
                )
            found.extend(inside)
        elif not os.path.lexists(path):
            raise ValueError(
                f"submissions: {str(path)!r} does not exist; check the path (globs such as "
                "'subs/*.ipynb' are expanded by your shell)."
            )
        elif path.suffix != ".ipynb":
            raise ValueError(
                f"submissions: {str(path)!r} is not a Jupyter notebook (.ipynb); download "
                "the submission as .ipynb (File > Download > Download .ipynb in Colab)."
            )
        else:
            found.append(path)
    if not found:
        raise ValueError("submissions: no notebook given; pass one or more .ipynb files.")
    return found


def clean(text: object, limit: int = 2000) -> str:
    """Text as it may go into the gradebook: valid UTF-8 (lone surrogates and undecodable
    file-name bytes become ``?``), capped at ``limit`` characters, CSV-safe (:func:`csv_safe`).

    >>> clean("=1+1"), clean("bad \\ud800")
    ("'=1+1", 'bad ?')
    """
    from peprkit.course._exchange import clean_text

    return csv_safe(clean_text(text, limit))


def csv_safe(text: str) -> str:
    """``text`` prefixed with a single quote when a spreadsheet would read it as a formula
    (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return).

    >>> print(csv_safe('=HYPERLINK("http://x")'), csv_safe("ann"))
    '=HYPERLINK("http://x") ann
    """
    return "'" + text if text.startswith(_FORMULA) else text


def student_id(path: str | Path, pattern: str | None = None) -> str:
    """The student a submission belongs to: its file name without ``.ipynb``, or the
    ``student`` group (else the first group) of ``pattern`` searched in the file name.

    The id is made safe for a spreadsheet: control characters become ``_``, undecodable
    bytes ``?``, it is cut at :data:`MAX_STUDENT_CHARS` characters, and one that starts
    like a formula gets a leading single quote (so ``=cmd.ipynb`` is student ``'=cmd``,
    the same on every regrade).

    >>> student_id("subs/alice_01.ipynb", r"(?P<student>[a-z]+)_\\d+")
    'alice'
    >>> student_id("subs/Bob Smith.ipynb"), student_id("subs/@bob.ipynb")
    ('Bob Smith', "'@bob")

    Raises:
        ValueError: when ``pattern`` does not match the file name, or finds an empty id.
    """
    name = Path(path).name
    if not pattern:
        found = Path(path).stem
    else:
        match = re.search(pattern, name)
        if not match:
            raise ValueError(
                f"student_pattern={pattern!r} does not match the file name {name!r}; use a "
                "regular expression with a group (?P<student>...) that every file name "
                "contains.")
        groups = match.groupdict()
        found = str(groups.get("student") or (match.group(1) if match.groups()
                                              else match.group(0)))
    found = "".join("_" if (ord(ch) < 32 or 127 <= ord(ch) < 160) else ch for ch in found)
    found = clean(found.strip(), MAX_STUDENT_CHARS)
    if not found:
        raise ValueError(
            f"student_pattern={pattern!r} finds an empty student id in the file name "
            f"{clean(name)!r}; use a pattern whose group (?P<student>...) matches at least one "
            "character, or rename the file.")
    return found


#: Largest notebook graded (bytes); a larger file scores 0 with status ``error``.
MAX_NOTEBOOK_BYTES = 100_000_000


def read_submission(path: Path) -> bytes:
    """A submission's bytes: a regular file (not a link, FIFO or device), at most
    :data:`MAX_NOTEBOOK_BYTES`.

    Raises:
        OSError: (:class:`peprkit.course._exchange.Refused`) when it is not.
    """
    from peprkit.course._exchange import read_bytes

    return read_bytes(path, MAX_NOTEBOOK_BYTES)


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex ('' when it cannot be read as a submission:
    grading it then reports why)."""
    try:
        return hashlib.sha256(read_submission(Path(path))).hexdigest()
    except OSError:
        return ""


def identify(paths: Sequence[Path], pattern: str | None = None) -> list[Submission]:
    """Each notebook with its student (:func:`student_id`) and SHA-256, in order; a file
    given twice (the same file by two paths) counts once."""
    seen: set[str] = set()
    found = []
    for p in paths:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            found.append(Submission(p, student_id(p, pattern), sha256(p)))
    return found


def duplicates(submissions: Sequence[Submission]) -> dict[Path, list[Path]]:
    """``{path: the other paths of the same student}`` for every student with several
    files among ``submissions`` (none of which a batch grades).

    >>> subs = [Submission(Path("a/carol.ipynb"), "carol", "1"),
    ...         Submission(Path("b/carol.ipynb"), "carol", "2"),
    ...         Submission(Path("ann.ipynb"), "ann", "3")]
    >>> {str(k): [str(p) for p in v] for k, v in duplicates(subs).items()}
    {'a/carol.ipynb': ['b/carol.ipynb'], 'b/carol.ipynb': ['a/carol.ipynb']}
    """
    by_student: dict[str, list[Path]] = {}
    for sub in submissions:
        by_student.setdefault(sub.student, []).append(sub.path)
    return {p: [o for o in paths if o != p] for paths in by_student.values()
            if len(paths) > 1 for p in paths}


def to_grade(book: pd.DataFrame, submissions: Sequence[Submission], lesson: str, *,
             resume: bool = True, retry_failed: bool = False) -> list[Submission]:
    """The submissions a batch grades, given the gradebook so far (nothing is read or run).

    - ``retry_failed``: those whose rows of ``lesson`` include a ``timeout`` or ``crashed``
      status, and those not graded yet;
    - else with ``resume``: those not graded yet, or whose file changed (another SHA-256
      than the rows of that student and lesson);
    - else (``resume=False``): all of them.

    Rows of other lessons never count.

    >>> book = pd.DataFrame({"student": ["ann"], "lesson": ["01_x"], "status": ["graded"],
    ...                      "sha256": ["aa"]})
    >>> subs = [Submission(Path("ann.ipynb"), "ann", "aa"),
    ...         Submission(Path("bo.ipynb"), "bo", "bb")]
    >>> [s.student for s in to_grade(book, subs, "01_x")]
    ['bo']
    """
    todo = []
    for sub in submissions:
        rows = book[(book["student"] == sub.student) & (book["lesson"] == lesson)]
        if retry_failed:
            if rows.empty or rows["status"].isin(FAILED).any():
                todo.append(sub)
        elif not resume or rows.empty or set(rows["sha256"]) != {sub.sha256}:
            todo.append(sub)
    return todo


def read_book(out: Path | None) -> pd.DataFrame:
    """The gradebook in ``out`` (an empty one when there is no such file yet).

    Raises:
        ValueError: ``out`` is a CSV without the gradebook's columns.
    """
    if out is None or not out.is_file():
        return pd.DataFrame(columns=COLUMNS)
    book = pd.read_csv(out, dtype={"student": str, "lesson": str, "question": str,
                                   "sha256": str, "submission": str, "feedback": str,
                                   "detail": str, "status": str, "cells_raised": str,
                                   "sandbox": str},
                       keep_default_na=False,
                       na_values={"points": [""], "max_points": [""], "wall_s": [""]})
    for name in _OPTIONAL:
        if name not in book.columns:
            book[name] = float("nan") if name == "wall_s" else ""
    missing = [c for c in COLUMNS if c not in book.columns]
    if missing:
        raise ValueError(
            f"out={str(out)!r} is not a peprkit gradebook (it lacks the column(s) {missing}); "
            "write to a new file, or move the old one away."
        )
    return book[COLUMNS].copy()


def to_csv(book: pd.DataFrame) -> str:
    """The gradebook as CSV text, every text cell CSV-safe (:func:`csv_safe`)."""
    safe = book.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(lambda v: clean(v, 10_000)
                                            if isinstance(v, str) else v)
    return safe.to_csv(index=False)


def rows(sub: Submission, lesson: str, questions: Sequence, scores: Mapping[str, Score],
         cell_errors: int, cells_raised: str = "", sandbox: str = "",
         wall_s: float | None = None) -> pd.DataFrame:
    """The gradebook rows of one graded submission: one per question of the lesson, manual
    ones with status ``manual`` and empty points; ``sandbox`` and ``wall_s`` say which
    sandbox graded it and in how many seconds (empty when it was not run). Text is
    cleaned (:func:`clean`)."""
    found = []
    for q in questions:
        s = (Score(float("nan"), "manual", "graded by a person", "") if q.manual
             else scores[q.name])
        found.append({"student": sub.student, "lesson": lesson, "question": q.name,
                      "points": None if q.manual else s.points, "max_points": q.max_points,
                      "status": s.status, "feedback": clean(s.feedback, 1000),
                      "detail": clean(s.detail, 2000), "cell_errors": int(cell_errors),
                      "cells_raised": clean(cells_raised, 1000),
                      "sandbox": clean(sandbox, 100),
                      "wall_s": float("nan") if wall_s is None else round(float(wall_s), 2),
                      "sha256": sub.sha256,
                      "submission": clean(str(sub.path), 1000)})
    return pd.DataFrame(found, columns=COLUMNS)


def merge(book: pd.DataFrame, new: pd.DataFrame, student: str, lesson: str) -> pd.DataFrame:
    """``book`` with the rows of ``student`` in ``lesson`` replaced by ``new``; a manual
    question's mark merged by :mod:`peprkit.course.marking` (``detail`` starting with
    ``marked by``) is kept over the new, unmarked ``manual`` row."""
    mine = (book["student"] == student) & (book["lesson"] == lesson)
    marked = book[mine & book["detail"].astype(str).str.startswith("marked by ")]
    if not marked.empty and not new.empty:
        new = new.copy()
        for _, old in marked.iterrows():
            at = (new["question"] == old["question"]) & (new["status"] == "manual")
            for column in ("points", "status", "feedback", "detail"):
                new.loc[at, column] = old[column]
    keep = ~mine
    return pd.concat([book[keep], new], ignore_index=True) if keep.any() else new


def batch_rows(book: pd.DataFrame, lesson: str, submissions: Sequence[Submission]
               ) -> pd.DataFrame:
    """The rows of ``lesson`` of the students in ``submissions``, in their order."""
    order = {s.student: i for i, s in enumerate(submissions)}
    mine = book[(book["lesson"] == lesson) & book["student"].isin(order)]
    return mine.sort_values("student", key=lambda s: s.map(order), kind="stable"
                            ).reset_index(drop=True)


def summary(grades: pd.DataFrame) -> pd.DataFrame:
    """Total auto-graded points per student and lesson (manual questions left out).

    >>> g = pd.DataFrame({"student": ["a", "a", "a"], "lesson": ["01"] * 3,
    ...                   "question": ["q1", "q2", "r"], "points": [1.0, 0.0, None],
    ...                   "max_points": [1.0, 2.0, 2.0], "status": ["graded", "graded", "manual"]})
    >>> summary(g)
      student lesson  points  max_points
    0       a     01     1.0         3.0
    """
    auto = grades[grades["status"] != "manual"]
    return auto.groupby(["student", "lesson"], sort=False, as_index=False)[
        ["points", "max_points"]].sum()
