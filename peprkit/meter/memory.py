"""Peak memory that belongs to one run, not to what ran before it in the process.

On a CPU the resident memory (RSS) of a Python process holds everything it ever loaded:
torch itself, the dataset, and memory an earlier model freed but the allocator kept. The
same model then reads 1.0 or 1.2 GB depending on what ran before it. :class:`RunMemory`
measures instead the **peak increase** of resident memory over the memory held just
before the run built its model::

    memory_gb = (peak RSS during the run - RSS at the start) / 1e9

At the start, garbage is collected and the C allocator is asked to hand freed memory back
to the system (``malloc_trim`` on Linux), so memory an earlier run freed does not hide the
new run's allocations. The peak is Linux's exact high-water mark (``VmHWM`` of
``/proc/self/status``, reset for the run through ``/proc/self/clear_refs``); elsewhere it
is the largest RSS sampled by the meter (labelled as sampled, which can miss short peaks).
The label says which: ``measured:kernel-peak-rss`` or ``measured:rss-sampled``.
Identical runs in fresh processes still differ by a few percent (resnet18 on 28-pixel
images: 0.23 to 0.27 GB on a 2-core machine), because the C allocator's layout differs
from process to process; treat smaller differences between models as noise
(``benchmarks/isolate_cost.py`` prints the spread).
In a run forked from a server that has imported torch (isolated sweep runs on Linux,
:mod:`peprkit.train._forkserver`), the child starts holding the server's pages: its RSS,
its ``VmHWM`` and ``ru_maxrss`` all begin at the server's size. The baseline and the reset
peak above are the child's own at the run's start, so ``memory_gb`` stays the run's
increase (``ru_maxrss``, which cannot be reset, is not used).
On CUDA the kit reports torch's peak reserved memory instead (reset per run by the meter).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from pathlib import Path

from peprkit.meter._readers import UNAVAILABLE, process_rss_bytes

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
#: Label of a peak from the kernel's high-water mark.
EXACT = "measured:kernel-peak-rss"
#: Label of a peak from the meter's RSS samples.
SAMPLED = "measured:rss-sampled"


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False if not."""
    if _status_kb("VmHWM") is None:
        return False
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def release_free_memory() -> None:
    """Collect garbage and return the C allocator's free memory to the system (glibc)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name and os.name == "posix":
        try:
            libc = ctypes.CDLL(name)
            trim = getattr(libc, "malloc_trim", None)
            if trim is not None:
                trim(0)
        except OSError:
            pass


class RunMemory:
    """Peak increase of this process's resident memory since :meth:`start`, in GB.

    >>> mem = RunMemory().start()
    >>> block = bytearray(50_000_000)  # 50 MB touched
    >>> round(mem.peak_gb(), 2) >= 0.04, mem.source
    (True, 'measured:kernel-peak-rss')
    """

    def __init__(self) -> None:
        self.baseline_bytes: int | None = None
        self.source = UNAVAILABLE
        self._sampled_peak: int | None = None

    def start(self) -> RunMemory:
        """Release free memory, then take the baseline and reset the peak."""
        release_free_memory()
        self.baseline_bytes = process_rss_bytes()
        if self.baseline_bytes is None:
            self.source = UNAVAILABLE + ":rss-unreadable"
        elif _reset_high_water_mark():
            self.source = EXACT
        else:
            self.source = SAMPLED
        return self

    def sample(self, rss_peak_gb: float | None = None) -> None:
        """Fold in a sampled peak (e.g. a meter lap's ``peak_rss_gb``) for the fallback."""
        values = [v for v in (rss_peak_gb and rss_peak_gb * 1e9, process_rss_bytes()) if v]
        if values:
            self._sampled_peak = int(max([self._sampled_peak or 0, *values]))

    def peak_gb(self) -> float | None:
        """Peak RSS increase since :meth:`start` in GB (None when unavailable)."""
        if self.baseline_bytes is None:
            return None
        if self.source == EXACT:
            hwm = _status_kb("VmHWM")
            if hwm is not None:
                return max(0.0, (hwm * 1024 - self.baseline_bytes) / 1e9)
        self.sample()
        return max(0.0, ((self._sampled_peak or 0) - self.baseline_bytes) / 1e9)
