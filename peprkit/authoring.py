"""Deprecated location of :mod:`peprkit.course.authoring` (kept for one release).

``python -m peprkit.authoring build|check`` still works and warns; use
``peprkit course build|check``.
"""

from __future__ import annotations

import sys
import warnings

from peprkit.course import authoring as _new

warnings.warn(
    "peprkit.authoring moved to peprkit.course.authoring (command: `peprkit course build|check`); "
    "the old module path will be removed in the next release.",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str):
    return getattr(_new, name)


if __name__ == "__main__":
    sys.exit(_new.main())
