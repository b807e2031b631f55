"""A small gradebook written straight to CSV (no grading)."""

from __future__ import annotations

import pandas as pd

from peprkit.course import _gradebook


def write_book(path, rows=None, **extra_columns):
    rows = rows or [
        ("ann", "01_x", "q1", 2.0, 2.0, "graded", "", "hidden: CANARY-1", "", ""),
        ("ann", "01_x", "q2", 0.0, 1.0, "graded", "Check the sign.", "hidden (x=7): CANARY-2",
         "1", "cell 4: NameError: name 'x' is not defined"),
        ("ann", "01_x", "essay", None, 2.0, "manual", "graded by a person", "", "1", ""),
        ("bo", "01_x", "q1", 0.0, 2.0, "timeout", "The notebook stopped at cell 3.",
         "CANARY-3 sleep", "0", ""),
        ("bo", "01_x", "q2", 0.0, 1.0, "crashed", "The notebook stopped.", "CANARY-4", "0", ""),
        ("bo", "01_x", "essay", None, 2.0, "manual", "graded by a person", "", "0", ""),
    ]
    book = pd.DataFrame([dict(zip(["student", "lesson", "question", "points", "max_points",
                                   "status", "feedback", "detail", "cell_errors",
                                   "cells_raised"], r, strict=True),
                              sha256=f"sha-{r[0]}", submission=f"subs/{r[0]}.ipynb")
                         for r in rows], columns=_gradebook.COLUMNS)
    for name, values in extra_columns.items():
        book[name] = values
    path.write_text(_gradebook.to_csv(book))
    return path
