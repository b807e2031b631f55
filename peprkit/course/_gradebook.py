"""The gradebook: which submissions to grade, and their rows read, merged and written back.

One row per (student, lesson, question), with the submission's SHA-256 (:data:`COLUMNS`).
:func:`to_grade` decides, from the book alone, which submissions a batch grades (a pure
function): an identical file is skipped, a changed one graded again, ``retry_failed``
grades again only those with ``timeout``/``crashed`` rows. :func:`merge` replaces one
student's rows of one lesson, so another lesson adds rows and never removes any.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: Columns of the gradebook, one row per (student, lesson, question). ``feedback`` is
#: safe to send to the student (the hint; never hidden tests or their inputs); ``detail``
#: is for the instructor; ``cell_errors`` counts the cells of the submission that raised.
COLUMNS = ["student", "lesson", "question", "points", "max_points", "status", "feedback",
           "detail", "cell_errors", "sha256", "submission"]
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
        elif not path.is_file():
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


def student_id(path: str | Path, pattern: str | None = None) -> str:
    """The student a submission belongs to: its file name without ``.ipynb``, or the
    ``student`` group (else the first group) of ``pattern`` searched in the file name.

    >>> student_id("subs/alice_01.ipynb", r"(?P<student>[a-z]+)_\\d+")
    'alice'
    >>> student_id("subs/Bob Smith.ipynb")
    'Bob Smith'

    Raises:
        ValueError: when ``pattern`` does not match the file name.
    """
    name = Path(path).name
    if not pattern:
        return Path(path).stem
    match = re.search(pattern, name)
    if not match:
        raise ValueError(
            f"student_pattern={pattern!r} does not match the file name {name!r}; use a regular "
            "expression with a group (?P<student>...) that every file name contains."
        )
    groups = match.groupdict()
    return str(groups.get("student") or (match.group(1) if match.groups() else match.group(0)))


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def identify(paths: Sequence[Path], pattern: str | None = None) -> list[Submission]:
    """Each notebook with its student (:func:`student_id`) and SHA-256, in order."""
    return [Submission(p, student_id(p, pattern), sha256(p)) for p in paths]


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
                                   "detail": str, "status": str}, keep_default_na=False,
                       na_values={"points": [""], "max_points": [""]})
    missing = [c for c in COLUMNS if c not in book.columns]
    if missing:
        raise ValueError(
            f"out={str(out)!r} is not a peprkit gradebook (it lacks the column(s) {missing}); "
            "write to a new file, or move the old one away."
        )
    return book[COLUMNS]


def rows(sub: Submission, lesson: str, questions: Sequence, scores: Mapping[str, Score],
         cell_errors: int) -> pd.DataFrame:
    """The gradebook rows of one graded submission: one per question of the lesson, manual
    ones with status ``manual`` and empty points."""
    found = []
    for q in questions:
        s = (Score(float("nan"), "manual", "graded by a person", "") if q.manual
             else scores[q.name])
        found.append({"student": sub.student, "lesson": lesson, "question": q.name,
                      "points": None if q.manual else s.points, "max_points": q.max_points,
                      "status": s.status, "feedback": s.feedback, "detail": s.detail,
                      "cell_errors": int(cell_errors), "sha256": sub.sha256,
                      "submission": str(sub.path)})
    return pd.DataFrame(found, columns=COLUMNS)


def merge(book: pd.DataFrame, new: pd.DataFrame, student: str, lesson: str) -> pd.DataFrame:
    """``book`` with the rows of ``student`` in ``lesson`` replaced by ``new``."""
    keep = ~((book["student"] == student) & (book["lesson"] == lesson))
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
