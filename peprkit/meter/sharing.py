"""Who else used the device during a metered window: others' share of a whole-device counter.

RAPL counts the whole CPU package (and DRAM) and NVML the whole GPU board, so on a shared
server, a lab GPU or a laptop busy with a browser, a "measured" window includes other
people's work. For every window the meter therefore records:

- **CPU** (``cpu_others_share``): ``others / machine`` where ``machine`` is the CPU time of
  the whole machine over the window (all cores: user + nice + system + irq + softirq,
  from ``psutil.cpu_times`` or ``/proc/stat``) and ``others = machine - own``, ``own``
  being the CPU time of this process and its children (a child, such as a data-loader
  worker, is this tree's own work: :func:`busy_neighbour` starts a demonstration
  neighbour outside the tree). Below 0.1 s of machine CPU time (ten clock ticks) the
  share is not computed (``None``).
- **GPU** (``gpu_others_share``, ``gpu_other_processes``): processes holding a compute
  context on a metered GPU that are not this process tree
  (``nvmlDeviceGetComputeRunningProcesses``) and, where the driver supports
  ``nvmlDeviceGetProcessUtilization``, their share of the SM utilisation samples. With no
  other process the share is 0; with others but no utilisation samples it is unknown
  (``None``).

Inside a container the driver may report host process ids. When this process uses CUDA
but none of the listed ids is in its tree, one listed process is taken to be this one and
the rest to be others; their utilisation share is then unknown.

A whole-device label gets ``;shared=38%`` when others' share reaches the threshold
(``;shared=unknown`` when others held the GPU and their share is unknown); estimates
(this process's CPU time, its resident memory) exclude others' work by construction, so
their labels stay as they are while the share is still recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from peprkit.meter._readers import _psutil, is_available

#: Default share of others' use from which a whole-device label says ``;shared=...``.
SHARED_THRESHOLD = 0.2
#: Label suffix of a window that others used (followed by ``=38%`` or ``=unknown``).
SHARED = ";shared"
_MIN_MACHINE_S = 0.1  # below ten clock ticks of machine CPU time the share is noise
_NOT_FOUND = 6  # NVML_ERROR_NOT_FOUND: no utilisation sample since the timestamp


def machine_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot, all cores added (None if unknown).

    Busy is user + nice + system + irq + softirq (idle, iowait and a hypervisor's steal
    time are not; guest time is already inside user).

    >>> value = machine_cpu_seconds()
    >>> value is None or value > 0
    True
    """
    psutil = _psutil()
    if psutil is not None:
        t = psutil.cpu_times()
        return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        ticks = sum(int(v) for v in fields[1:4] + fields[6:8])  # user nice system irq softirq
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def cpu_others_share(own_s: float | None, machine_s: float | None) -> float | None:
    """Others' share of the machine's CPU time in a window: ``max(0, machine - own) / machine``.

    Args:
        own_s: CPU seconds of this process tree over the window.
        machine_s: CPU seconds of the whole machine over the window.

    Returns:
        A fraction in [0, 1], or None when either is unknown or the machine was busy for
        less than 0.1 s.

    >>> cpu_others_share(1.0, 4.0), cpu_others_share(2.0, 1.9), cpu_others_share(0.0, 0.01)
    (0.75, 0.0, None)
    """
    if own_s is None or machine_s is None or machine_s < _MIN_MACHINE_S:
        return None
    return min(1.0, max(0.0, machine_s - own_s) / machine_s)


def shared_label(label: str, share: float | None, threshold: float = SHARED_THRESHOLD,
                 other_processes: int | None = None) -> str:
    """``label`` with ``;shared=38%`` when others' ``share`` reaches ``threshold``.

    ``;shared=unknown`` when the share is unknown but ``other_processes`` > 0; an
    unavailable label never changes. The prefix stays, so ``label.startswith("measured")``
    and :func:`peprkit.meter.is_available` read it as before.

    >>> shared_label("measured:rapl", 0.381), shared_label("measured:rapl", 0.1)
    ('measured:rapl;shared=38%', 'measured:rapl')
    >>> shared_label("measured:nvml-energy-counter", None, other_processes=2)
    'measured:nvml-energy-counter;shared=unknown'
    """
    if not is_available(label):
        return label
    if share is not None and share >= threshold:
        return f"{label}{SHARED}={share:.0%}"
    if share is None and other_processes:
        return f"{label}{SHARED}=unknown"
    return label


@contextmanager
def busy_neighbour(seconds_max: float = 60.0) -> Iterator[int]:
    """Another program burning one CPU core during the block, outside this process tree.

    For demonstrations and tests of shared-machine readings. A child process would count
    as this process's own work (like a data-loader worker), so the busy process is started
    by a launcher that exits at once. It is stopped when the block ends, and stops itself
    after ``seconds_max`` seconds in any case.

    Yields:
        The busy process's id.

    >>> with busy_neighbour(seconds_max=5) as pid:
    ...     pid > 0
    True
    """
    seconds_max = float(seconds_max)
    work = (f"import time\nend = time.monotonic() + {seconds_max}\n"
            "while time.monotonic() < end: pass")
    deadline = time.monotonic() + seconds_max - 1.0  # after it, the id may be another's
    launcher = ("import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', "
                "sys.argv[1]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
                "stderr=subprocess.DEVNULL).pid)")
    done = subprocess.run([sys.executable, "-c", launcher, work], capture_output=True,
                          text=True, check=True, timeout=60)
    pid = int(done.stdout)
    try:
        yield pid
    finally:
        if time.monotonic() < deadline:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:  # already gone
                pass


def is_shared(label: Any) -> bool:
    """True for a label that says others used the device (``...;shared=...``).

    >>> is_shared("measured:rapl;shared=38%"), is_shared("estimated:cpu-time")
    (True, False)
    """
    return isinstance(label, str) and SHARED + "=" in label


class TreePids:
    """Process ids of a process and its descendants; descendants listed at most every 10 s.

    Listing descendants scans every process of the machine, so it is done only when a
    caller asks about an id that is not the root, and then reused for ``refresh_s``.

    Args:
        root: the tree's root process id (default: this process, read at each call).
    """

    refresh_s = 10.0

    def __init__(self, root: int | None = None) -> None:
        self.root = root
        self._pids: set[int] = set()
        self._listed_at = float("-inf")

    def __call__(self, candidates: Iterable[int] = ()) -> set[int]:
        root = os.getpid() if self.root is None else self.root
        candidates = set(candidates)
        if candidates <= {root}:
            return {root}
        if time.monotonic() - self._listed_at >= self.refresh_s:
            self._pids = _descendants(root)
            self._listed_at = time.monotonic()
        return {root, *self._pids}


def _descendants(root: int) -> set[int]:
    psutil = _psutil()
    if psutil is None:
        return set()
    try:
        return {p.pid for p in psutil.Process(root).children(recursive=True)}
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return set()


def torch_uses_cuda() -> bool:
    """True when this process has already initialised CUDA through torch (never imports it)."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    try:
        return bool(cuda is not None and cuda.is_initialized())
    except Exception:  # a half-imported or stand-in torch
        return False


@dataclass(frozen=True)
class GpuMark:
    """Running totals of :class:`GpuSharing` at one instant (windows are differences)."""

    tick: int
    own_util: float
    others_util: float
    unattributed_util: float
    util_ticks: int
    listing_ticks: int


class GpuSharing:
    """Samples, at each meter tick, which other processes use the metered GPUs and how much.

    Args:
        nvml: the pynvml module (or a stand-in).
        handles: the metered GPUs' handles.
        own_pids: ``own_pids(candidates) -> set of pids`` of this process tree.
        uses_cuda: whether this process tree may hold a CUDA context (for container ids).
    """

    def __init__(self, nvml: ModuleType, handles: list[Any], *,
                 own_pids: Callable[[Iterable[int]], set[int]] | None = None,
                 uses_cuda: Callable[[], bool] = torch_uses_cuda) -> None:
        self.nvml, self.handles = nvml, list(handles)
        self._own_pids = own_pids or TreePids()
        self._uses_cuda = uses_cuda
        self._util_ok = [True] * len(self.handles)
        self._last_seen = [0] * len(self.handles)  # NVML timestamps (microseconds)
        self._tick = 0
        self._totals = dict(own=0.0, others=0.0, unattributed=0.0, util_ticks=0, listing_ticks=0)
        self._seen: dict[Any, tuple[int, int]] = {}  # other process -> first, last tick
        self._started = False

    def mark(self) -> GpuMark:
        """Sample now and return the running totals (the first call only sets baselines)."""
        self._tick += 1
        listed = self._listed()
        if listed is not None:
            self._totals["listing_ticks"] += 1
            own = self._own_pids(listed) & listed
            others = listed - own
            if not own and others and self._uses_cuda():
                others = {("unidentified", pid) for pid in sorted(others)[1:]}
            for key in others:
                first, _ = self._seen.get(key, (self._tick, self._tick))
                self._seen[key] = (first, self._tick)
            self._utilisation(own, {k for k in others if isinstance(k, int)})
        self._started = True
        t = self._totals
        return GpuMark(self._tick, t["own"], t["others"], t["unattributed"], t["util_ticks"],
                       t["listing_ticks"])

    def window(self, start: GpuMark, end: GpuMark) -> tuple[float | None, int | None]:
        """Others' utilisation share and the number of other processes between two marks.

        Returns ``(None, None)`` when processes could not be listed in the window.
        """
        if end.listing_ticks == start.listing_ticks:
            return None, None
        n_others = sum(1 for first, last in self._seen.values()
                       if last >= start.tick and first <= end.tick)
        if n_others == 0:
            return 0.0, 0
        own = end.own_util - start.own_util
        others = end.others_util - start.others_util
        unknown = end.unattributed_util - start.unattributed_util
        if end.util_ticks == start.util_ticks or unknown > 0 or own + others <= 0:
            return None, n_others
        return others / (own + others), n_others

    def _listed(self) -> set[int] | None:
        pids: set[int] = set()
        try:
            for handle in self.handles:
                for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    pids.add(int(proc.pid))
        except (AttributeError, self.nvml.NVMLError):
            return None
        return pids

    def _utilisation(self, own: set[int], others: set[int]) -> None:
        counted = False
        for i, handle in enumerate(self.handles):
            if not self._util_ok[i]:
                continue
            try:
                samples = self.nvml.nvmlDeviceGetProcessUtilization(handle, self._last_seen[i])
            except AttributeError:
                self._util_ok[i] = False
                continue
            except self.nvml.NVMLError as err:
                if getattr(err, "value", None) not in (_NOT_FOUND, 0):
                    self._util_ok[i] = False  # not supported here: stop asking
                else:
                    counted = True  # supported, no sample since the last tick
                continue
            counted = True
            for sample in samples:
                self._last_seen[i] = max(self._last_seen[i], int(sample.timeStamp))
                if not self._started:
                    continue  # samples from before the meter started
                util = float(sample.smUtil)
                pid = int(sample.pid)
                key = "own" if pid in own else "others" if pid in others else "unattributed"
                self._totals[key] += util
        if counted:
            self._totals["util_ticks"] += 1
