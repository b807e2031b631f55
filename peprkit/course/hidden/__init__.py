"""Hidden tests and grading hooks, one module per lesson: ``hidden.lesson03.hidden_q1(rerun)``.

Teacher code (learners never need it): each ``lessonNN`` module holds the hidden tests of
that lesson's auto-graded questions (``hidden_qK``: inputs drawn at grading time from the
instructor's secret) and the hooks :func:`lesson_hooks` finds for the grader
(``GRADED_LESSON``, ``CONTEXT``, ``grading_parameters``, ``grading_context``). The
learner's self-checks they build on live in :mod:`peprkit.checks`. A master's ``# HIDDEN``
test cells call them, and pass the learner's answer cells as :func:`answer_cells`:

>>> from peprkit.course import hidden
>>> hidden.lesson01.__name__
'peprkit.course.hidden.lesson01'
"""

from __future__ import annotations

import importlib
import pkgutil

LESSONS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson"))
__all__ = ["answer_cells", "lesson_hooks", *LESSONS]


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


def lesson_hooks(stem: str):
    """The hidden module of lesson ``stem`` when it declares grading hooks for exactly that
    master (``GRADED_LESSON``): ``grading_parameters(rng)`` (inputs injected after the
    ``parameters`` cell) and ``grading_context(parameters, folder)`` (the tests' context,
    rebuilt by the grader instead of read from the notebook); else None.
    ``grading_parameters`` may take a keyword ``quick`` (whether the batch runs quick).

    >>> lesson_hooks("01_pepr_metric").CONTEXT
    ('table', 'MODEL', 'DROP', 'BUDGET_KWH')
    >>> lesson_hooks("01_renamed") is None
    True
    """
    try:
        module = importlib.import_module(f"{__name__}.lesson{stem[:2]}")
    except ImportError:
        return None
    return module if getattr(module, "GRADED_LESSON", None) == stem else None


def __getattr__(name: str):
    if name in LESSONS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
