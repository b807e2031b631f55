"""Learner self-checks, one function per graded question: ``checks.lesson01.q1(my_func)``.

A check takes the learner's answer(s) first, then keyword context, returns None when the
answer is right and raises :class:`CheckFailed` (an ``AssertionError``) with a hint that
teaches (what to look at, which step is missing) when it is not; it never prints the
expected value, and in Jupyter or Colab it shows the hint without a traceback. The otter
public tests of the course call the same functions, so each check is written once. The
lesson modules load on first access (``import peprkit.checks.lesson03`` works too):

>>> from peprkit import checks
>>> checks.lesson01.__name__
'peprkit.checks.lesson01'

A failed check's traceback holds none of its values (``_common.sealed``), and an exercise
that asks for a computation by hand refuses the kit's own function for it with
:class:`ByHand` (a ``CheckFailed``; ``_byhand``).

This package is learner code: it never imports the teacher tools (:mod:`peprkit.course`,
where the hidden tests and grading hooks live).
"""

from __future__ import annotations

import importlib
import pkgutil

from peprkit.checks._common import ByHand, CheckFailed

LESSONS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson"))
__all__ = ["ByHand", "CheckFailed", *LESSONS]


def __getattr__(name: str):
    if name in LESSONS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
