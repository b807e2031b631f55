"""Choose a reader per component (the fallback chain) and report what this machine can measure.

Chain: GPU: NVML energy counter, else NVML power sampling, else unavailable. CPU: RAPL
package counters, else an estimate from this process's CPU time. RAM: RAPL dram counters,
else an estimate from this process's resident memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from peprkit.meter import _readers
from peprkit.meter._readers import (
    CPU_WATTS_PER_CORE,
    RAM_WATTS_PER_GB,
    UNAVAILABLE,
    CpuEstimateReader,
    RamEstimateReader,
    Reader,
    process_cpu_seconds,
    process_rss_bytes,
)
from peprkit.meter.nvml import open_nvml
from peprkit.meter.rapl import DEFAULT_ROOT, open_rapl

COMPONENTS = ("gpu", "cpu", "ram")


@dataclass(frozen=True)
class ComponentProbe:
    """What one component can do here: ``available``, the ``source`` label and the ``reason``."""

    component: str
    available: bool
    source: str
    reason: str


def open_readers(
    *,
    gpu: bool = True,
    cpu: bool = True,
    ram: bool = True,
    nvml: ModuleType | None = None,
    rapl_root: str | Path = DEFAULT_ROOT,
    cpu_watts_per_core: float = CPU_WATTS_PER_CORE,
    ram_watts_per_gb: float = RAM_WATTS_PER_GB,
    cpu_seconds: Callable[[], float] = process_cpu_seconds,
    rss_bytes: Callable[[], int | None] = process_rss_bytes,
) -> dict[str, tuple[Reader | None, str]]:
    """The first working reader per component along the fallback chain, with the reason.

    Returns:
        ``{"gpu": (reader or None, reason), "cpu": ..., "ram": ...}``.
    """
    estimates = {
        "cpu": lambda: CpuEstimateReader(
            watts_per_core=cpu_watts_per_core, cpu_seconds=cpu_seconds
        ),
        "ram": lambda: RamEstimateReader(watts_per_gb=ram_watts_per_gb, rss_bytes=rss_bytes),
    }
    explain = {
        "cpu": "estimated from this process's CPU time at {:g} W per busy core (assumption; "
               "set cpu_watts_per_core=)",
        "ram": "estimated from this process's resident memory at {:g} W per GB (assumption; "
               "set ram_watts_per_gb=)",
    }
    out: dict[str, tuple[Reader | None, str]] = {}
    out["gpu"] = open_nvml(nvml) if gpu else (None, "switched off (gpu=False)")
    for name, wanted in (("cpu", cpu), ("ram", ram)):
        if not wanted:
            out[name] = (None, f"switched off ({name}=False)")
            continue
        reader, reason = open_rapl(name, rapl_root)
        if reader is None:
            reader = estimates[name]()
            reason += "; " + explain[name].format(*reader.assumptions.values())
        out[name] = (reader, reason)
    if cpu and cpu_seconds is process_cpu_seconds and _readers._psutil() is None:
        out["cpu"] = (out["cpu"][0], out["cpu"][1] + "; psutil not installed (`pip install "
                      "psutil`): live worker processes are not counted")
    return out


@dataclass(frozen=True)
class Probe:
    """What this machine can measure, per component; ``str()`` gives a readable table."""

    components: dict[str, ComponentProbe]

    def __getitem__(self, component: str) -> ComponentProbe:
        return self.components[component]

    def to_dict(self) -> dict[str, dict]:
        return {name: vars(c).copy() for name, c in self.components.items()}

    def __str__(self) -> str:
        lines = ["peprkit meter: what this machine can measure"]
        for c in self.components.values():
            lines.append(f"  {c.component:<4} {c.source:<28} {c.reason}")
        return "\n".join(lines)


def probe(**options) -> Probe:
    """What the meter would use here, and why not the better source (no energy is metered).

    Args:
        **options: the same reader options as EnergyMeter (``nvml=``, ``rapl_root=``, ...).

    Returns:
        A ``Probe``: ``probe()["gpu"].available``, ``.source``, ``.reason``; ``print`` it.

    >>> result = probe(gpu=False, rapl_root="/nonexistent")
    >>> result["gpu"].available, result["cpu"].source
    (False, 'estimated:cpu-time')
    """
    readers = open_readers(**options)
    return Probe(
        {
            name: ComponentProbe(
                name, reader is not None, reader.source if reader else UNAVAILABLE, reason
            )
            for name, (reader, reason) in readers.items()
        }
    )
