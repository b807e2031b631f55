"""peprkit: performance per resource unit (PePR) for fine-tuning small image models.

``import peprkit`` is light (numpy only): the metric functions are re-exported
here; the heavier modules (``plot``, ``meter``, ``data``, ``models``, ``train``,
``sweep``, ``widgets``, ``checks``, ``bundle``, ``paper``, ``conclude``, ``demo``) load on
first attribute access.
"""

from __future__ import annotations

import importlib
import os as _os
import sys as _sys

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

#: OpenMP reads its wait policy once, when torch loads, and the kit's CPU numbers need
#: waiting threads to sleep rather than spin (see :mod:`peprkit.train._threads`). A
#: notebook often loads torch through ``peprkit.data`` before ``peprkit.train``, so the
#: policy is asked for here, before anything of ours can load torch (a value you set is
#: kept). The policy OpenMP will read, or None when torch was loaded before peprkit.
_WAIT_POLICY_BEFORE_TORCH = (None if "torch" in _sys.modules
                             else _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE"))

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


def load_ipython_extension(ipython) -> None:
    """``%load_ext peprkit`` in a notebook: adds the ``%%meter`` cell magic (meters one cell).

    Nothing is imported until the extension is loaded (IPython is never imported here).
    """
    importlib.import_module("peprkit.meter._magic").load_ipython_extension(ipython)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"peprkit.{name}")
    raise AttributeError(f"module 'peprkit' has no attribute {name!r}")
