"""Deprecated location of :mod:`peprkit.course.grading` (kept for one release)."""

from __future__ import annotations

import warnings

from peprkit.course import grading as _new

warnings.warn(
    "peprkit.grading moved to peprkit.course.grading; the old module path will be removed in "
    "the next release.",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str):
    return getattr(_new, name)
