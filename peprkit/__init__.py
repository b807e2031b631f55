"""peprkit: performance per resource unit (PePR) for fine-tuning small image models.

``import peprkit`` is light (numpy only): the metric functions are re-exported
here; the heavier modules (``plot``, ``meter``, ``data``, ``models``, ``train``,
``sweep``, ``widgets``, ``checks``, ``bundle``, ``paper``, ``conclude``, ``demo``) load on
first attribute access.
"""

from __future__ import annotations

import importlib

from peprkit._release import __version__
from peprkit.metric import (
    add_pepr,
    chance_adjusted,
    compare_sizes,
    normalize,
    pareto_front,
    pepr,
    pepr_curve,
    pepr_optimum,
)

_SUBMODULES = (
    "bundle", "checks", "conclude", "data", "demo", "meter", "models", "paper", "plot", "pool",
    "schema", "sweep", "train", "widgets",
)

__all__ = [
    "__version__",
    "add_pepr",
    "chance_adjusted",
    "compare_sizes",
    "normalize",
    "pareto_front",
    "pepr",
    "pepr_curve",
    "pepr_optimum",
    *_SUBMODULES,
]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"peprkit.{name}")
    raise AttributeError(f"module 'peprkit' has no attribute {name!r}")
