"""Learner self-checks, one function per graded question: ``checks.lesson01.q1(my_func)``.

A check returns None when the answer is right and raises ``AssertionError`` with a hint
that teaches (what to look at, which step is missing) when it is not; it never prints the
expected value. The otter public tests of the course call the same functions, so each
check is written once. The lesson modules load on first access:

>>> from peprkit import checks
>>> checks.lesson01.__name__
'peprkit.checks.lesson01'
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = sorted(
    m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson")
)


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
