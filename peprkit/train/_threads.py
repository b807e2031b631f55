"""The CPU thread policy: how many torch threads, and how a waiting thread waits.

Two things made a CPU run's CPU time (and so its estimated energy) and its results follow
the machine's momentary load rather than the work (``benchmarks/cpu_load.py`` measures
both side by side):

- **Spinning.** torch's intra-op threads are OpenMP threads. By default a thread that
  waits for the others at the end of a parallel region spins for a while before it
  sleeps, and spinning is CPU time. Beside other busy programs the threads wait for a core
  more often and longer, so the same work was charged more CPU seconds (1.29x beside two
  busy processes). ``OMP_WAIT_POLICY=PASSIVE`` makes a waiting thread sleep; OpenMP reads
  it once, when torch is first imported, so it must be in the environment before that.
- **A load-dependent thread count.** Choosing the threads from the cores idle at the
  moment gave 1 thread on a busy machine and 2 on an idle one; the thread count changes
  the order of floating-point sums, so the same seed gave different histories.

The policy: threads = the cores this process may run on (``os.sched_getaffinity``, capped
by a cgroup CPU quota), fixed from the machine and never from the load; passive waiting.
Isolated runs (:mod:`peprkit.train._subprocess`) get both in their environment before
Python starts; in this process :func:`prefer_passive_wait` sets the variable when torch is
not yet imported, and :func:`wait_policy` reports what applies so the run record can say it.
"""

from __future__ import annotations

import math
import os
import sys

from peprkit._validation import check_number

#: The environment variable OpenMP reads, once, when torch loads its runtime.
WAIT_ENV = "OMP_WAIT_POLICY"
#: What the kit asks for: a waiting thread sleeps instead of spinning.
PASSIVE = "PASSIVE"

# OMP_WAIT_POLICY as it was when torch was first imported (None: not seen yet).
_seen_at_import: str | None = None


def machine_threads() -> int:
    """Cores this process may run on: affinity mask, capped by a cgroup v2 CPU quota.

    Depends on the machine and how the process was started, never on the momentary load.
    """
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def resolve_threads(threads: int | None) -> int:
    """``threads`` checked, or :func:`machine_threads` for None.

    Raises:
        ValueError: ``threads`` is not None or a whole number >= 1.
    """
    if threads is None:
        return machine_threads()
    return check_number("threads", threads, low=1, integer=True,
                        expect="None (the cores of this machine) or a whole number >= 1")


def child_environment(env: dict[str, str], threads: int | None) -> dict[str, str]:
    """``env`` for a fresh training process: passive OpenMP wait and fixed thread counts.

    A wait policy already set by the user is kept; the thread variables are set to the
    run's thread count (so the pool torch starts has its final size from the start).
    """
    out = dict(env)
    out.setdefault(WAIT_ENV, PASSIVE)
    n = str(resolve_threads(threads))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        out[name] = n
    return out


def prefer_passive_wait() -> None:
    """Ask OpenMP for passive waiting if torch is not imported yet (else nothing changes).

    A value the user set is kept. Called when :mod:`peprkit.train` is imported; ``import
    peprkit`` asks for the same before anything can load torch (a notebook often loads it
    through :mod:`peprkit.data` first), and the record then says what OpenMP read.
    """
    global _seen_at_import
    if "torch" in sys.modules:
        if _seen_at_import is None:
            import peprkit  # it asks for the policy on import, before torch can load

            early = peprkit._WAIT_POLICY_BEFORE_TORCH
            _seen_at_import = (early if early is not None else
                               f"{os.environ.get(WAIT_ENV, 'default')}:torch-imported-first")
        return
    os.environ.setdefault(WAIT_ENV, PASSIVE)


def wait_policy() -> str:
    """The OpenMP wait policy of this process's torch, as a label for the run record.

    ``"passive"``, ``"active"``, ``"default"`` (unset: OpenMP spins a while, then sleeps),
    with ``":torch-imported-first"`` when torch was imported before :mod:`peprkit.train`
    (the value then is the environment's at that moment, which is what OpenMP read only
    if torch had not started its threads before).
    """
    global _seen_at_import
    if _seen_at_import is None:
        _seen_at_import = os.environ.get(WAIT_ENV, "default")
    return _seen_at_import.lower()
