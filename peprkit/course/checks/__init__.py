"""Learner self-checks, one function per graded question: ``checks.lesson01.q1(my_func)``.

A check takes the learner's answer(s) first, then keyword context, returns None when the
answer is right and raises :class:`CheckFailed` (an ``AssertionError``) with a hint that
teaches (what to look at, which step is missing) when it is not; it never prints the
expected value, and in Jupyter or Colab it shows the hint without a traceback. The otter
public tests of the course call the same functions, so each check is written once. The
lesson modules load on first access:

>>> from peprkit import checks
>>> checks.lesson01.__name__
'peprkit.course.checks.lesson01'
"""

from __future__ import annotations

import importlib
import pkgutil

from peprkit.course.checks._common import CheckFailed

LESSONS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson"))
__all__ = ["CheckFailed", "answer_cells", *LESSONS]


def answer_cells(sources=None):
    """The ``rerun`` a hidden test takes: the learner's answer cells, run again on other
    inputs (see :mod:`peprkit.course._cells`). In a notebook, ``sources`` defaults to the
    cells run so far (the kernel's ``In``); when grading, the scorer passes its own,
    sandboxed one.

    >>> rerun = answer_cells(["x = 1", "y = x + 1"])
    >>> rerun(["y"], x=41)
    {'y': 42}
    """
    from peprkit.course._cells import CellRunner

    if sources is None:
        try:
            from IPython import get_ipython
        except ImportError:
            get_ipython = None
        shell = get_ipython() if get_ipython else None
        sources = list(shell.user_ns.get("In", [])) if shell is not None else []
    return CellRunner(sources)


def __getattr__(name: str):
    if name in LESSONS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
