"""The reader interface shared by every energy source, and the two estimating readers.

A reader measures one component (``"gpu"``, ``"cpu"`` or ``"ram"``). The meter calls
``read_j(now_s)`` at start, every ``interval_s`` on its thread, and at each lap; it returns
the joules used since the reader's first call (that first call returns 0.0 and sets the
baseline). ``source`` is the label reported beside the number. When the hardware fails
part-way, the reader sets ``error`` to a short reason and keeps returning the last good
total, so the meter can label the window ``partial:<reason>`` and later ones
``unavailable:<reason>``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from peprkit._validation import check_number

#: Label of a component that could not be measured at all (its value is None, never 0).
UNAVAILABLE = "unavailable"

#: Default assumed power of one fully busy CPU core, in watts (see CpuEstimateReader).
CPU_WATTS_PER_CORE = 10.0
#: Default assumed power per GB of resident memory, in watts (see RamEstimateReader).
RAM_WATTS_PER_GB = 0.375


@runtime_checkable
class Reader(Protocol):
    """What the meter needs from an energy source."""

    component: str  # "gpu" | "cpu" | "ram"
    source: str  # e.g. "measured:rapl", "estimated:cpu-time"
    error: str | None  # None while healthy, else a short reason such as "nvml-error"

    def read_j(self, now_s: float) -> float:
        """Joules used since the first call (the first call returns 0.0)."""
        ...


# Estimating readers also carry ``assumptions``, e.g. {"cpu_watts_per_core": 10.0}, which
# the meter copies into every Reading. A reader may say ``whole_device = True`` (it counts
# other processes' work too, like RAPL and NVML) or False (only this process tree, like the
# estimates); without the attribute, "measured" sources count as whole-device. The meter
# labels a whole-device window ``;shared=...`` when others used the device (meter.sharing).


def is_available(label: str) -> bool:
    """True for labels of a number that exists (measured, estimated or partial).

    >>> is_available("measured:rapl"), is_available("unavailable:nvml-error")
    (True, False)
    """
    return not label.startswith(UNAVAILABLE)


def _psutil():
    try:
        import psutil
    except ImportError:  # optional: os.times and /proc are used instead
        return None
    return psutil


class _ProcessCpuSeconds:
    """CPU seconds (user + system) used by this process and its child processes.

    With psutil, live children (e.g. DataLoader workers) count as well as finished ones;
    the list of children is refreshed every ``refresh_s`` seconds (listing them scans
    every process on the machine, too slow for each tick), and a child's whole CPU time
    counts once it is seen. Without psutil, only finished children that were waited for
    count (``os.times``).
    """

    refresh_s = 10.0

    def __init__(self) -> None:
        self._proc = None
        self._children: list = []
        self._listed_at = float("-inf")

    def __call__(self) -> float:
        psutil = _psutil()
        if psutil is None:
            t = os.times()
            return t.user + t.system + t.children_user + t.children_system
        if self._proc is None or self._proc.pid != os.getpid():
            self._proc, self._listed_at = psutil.Process(), float("-inf")
        if time.monotonic() - self._listed_at >= self.refresh_s:
            self._children = self._proc.children(recursive=True)
            self._listed_at = time.monotonic()
        t = self._proc.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in list(self._children):
            try:
                c = child.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                self._children.remove(child)
                continue
            total += c.user + c.system
        return total


process_cpu_seconds = _ProcessCpuSeconds()


def process_rss_bytes() -> int | None:
    """Resident memory of this process in bytes (psutil, else /proc), None when unknown."""
    psutil = _psutil()
    if psutil is not None:
        return int(psutil.Process().memory_info().rss)
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Trapezoid:
    """Energy from power samples by the trapezoid rule: ``E += (p0 + p1) / 2 * (t1 - t0)``.

    >>> trap = Trapezoid()
    >>> trap.add(0.0, 100.0), trap.add(2.0, 200.0)
    (0.0, 300.0)
    """

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None  # (time_s, power_w)
        self.joules = 0.0

    def add(self, now_s: float, power_w: float) -> float:
        if self._last is not None:
            t0, p0 = self._last
            self.joules += (p0 + power_w) / 2 * (now_s - t0)
        self._last = (now_s, power_w)
        return self.joules


def _watts(name: str, value: float) -> float:
    return check_number(name, value, low=0, strict=True, hint="(watts)")


class CpuEstimateReader:
    """CPU energy estimated from this process's CPU time: ``E = cpu_seconds * watts_per_core``.

    A core that is busy for one second counts ``watts_per_core`` joules. The default,
    10 W per busy core, is an assumption, not a measurement: it is roughly a CPU's rated
    power (TDP) divided by its cores for common chips (a 15 W 4-core laptop chip gives
    about 4 W, a 65 W 6-core desktop chip about 11 W, a 205 W 28-core server chip about
    7 W), rounded towards the upper middle because a lone busy core runs above its share
    of TDP. Idle power of the rest of the machine is not counted. Set
    ``cpu_watts_per_core=`` on EnergyMeter when you know your chip.

    The label ``estimated:cpu-time`` names the assumption: energy follows this process's
    CPU seconds. CPU seconds follow the work only if waiting threads do not spin: with
    OpenMP's default (active) waiting, torch's threads that wait for a core held by
    another program burn CPU time, and the same job was charged 1.29x beside two busy
    processes. :mod:`peprkit.train` therefore runs with ``OMP_WAIT_POLICY=PASSIVE`` and a
    thread count fixed from the machine (``benchmarks/cpu_load.py`` measures the ratio).

    Args:
        watts_per_core: assumed power of one fully busy core, in W.
        cpu_seconds: function returning this process's CPU seconds (injectable).

    Raises:
        ValueError: ``watts_per_core`` not > 0.

    >>> clock = iter([0.0, 3.0])
    >>> reader = CpuEstimateReader(watts_per_core=10, cpu_seconds=lambda: next(clock))
    >>> reader.read_j(0.0), reader.read_j(1.0)
    (0.0, 30.0)
    """

    component = "cpu"
    source = "estimated:cpu-time"
    error = None
    whole_device = False

    def __init__(
        self,
        *,
        watts_per_core: float = CPU_WATTS_PER_CORE,
        cpu_seconds: Callable[[], float] = process_cpu_seconds,
    ) -> None:
        self.watts_per_core = _watts("cpu_watts_per_core", watts_per_core)
        self.assumptions = {"cpu_watts_per_core": self.watts_per_core}
        self._cpu_seconds = cpu_seconds
        self._start: float | None = None
        self._busy_s = 0.0

    def read_j(self, now_s: float) -> float:
        value = self._cpu_seconds()
        if self._start is None:
            self._start = value
        # children that exit move between counters; never let the total run backwards
        self._busy_s = max(self._busy_s, value - self._start)
        return self._busy_s * self.watts_per_core


class RamEstimateReader:
    """RAM energy estimated from resident memory: ``E = integral of rss_gb(t) * watts_per_gb``.

    The default 0.375 W per GB is an assumption (3 W per 8 GB module, the figure
    codecarbon also uses for DRAM); memory power depends on the module type and on
    traffic, so treat it as an order of magnitude. RSS is sampled at each meter tick and
    integrated with the trapezoid rule. Set ``ram_watts_per_gb=`` on EnergyMeter to change it.

    Args:
        watts_per_gb: assumed power per GB (1e9 bytes) of resident memory, in W.
        rss_bytes: function returning this process's resident bytes (injectable).

    Raises:
        ValueError: ``watts_per_gb`` not > 0.

    >>> reader = RamEstimateReader(watts_per_gb=1.0, rss_bytes=lambda: 2e9)
    >>> reader.read_j(0.0), reader.read_j(10.0)
    (0.0, 20.0)
    """

    component = "ram"
    source = "estimated:ram-per-gb"
    whole_device = False

    def __init__(
        self,
        *,
        watts_per_gb: float = RAM_WATTS_PER_GB,
        rss_bytes: Callable[[], int | None] = process_rss_bytes,
    ) -> None:
        self.watts_per_gb = _watts("ram_watts_per_gb", watts_per_gb)
        self.assumptions = {"ram_watts_per_gb": self.watts_per_gb}
        self._rss_bytes = rss_bytes
        self._trapezoid = Trapezoid()
        self.error: str | None = None

    def read_j(self, now_s: float) -> float:
        rss = None if self.error else self._rss_bytes()
        if rss is None:
            self.error = "rss-unreadable"
            return self._trapezoid.joules
        return self._trapezoid.add(now_s, rss / 1e9 * self.watts_per_gb)
