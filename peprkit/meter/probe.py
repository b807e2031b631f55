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
        reader, reason = open_rapl(name, rapl_root)  # afresh each time: no restart needed
        if reader is None:
            reader = estimates[name]()
            first, *help_lines = reason.split("\n")  # the estimate follows the short reason
            reason = "\n".join([f"{first}; " + explain[name].format(
                *reader.assumptions.values()), *help_lines])
        out[name] = (reader, reason)
    if cpu and cpu_seconds is process_cpu_seconds and _readers._psutil() is None:
        first, *help_lines = out["cpu"][1].split("\n")  # the note goes on the first line
        out["cpu"] = (out["cpu"][0], "\n".join([
            f"{first}; psutil not installed (`pip install psutil`): live worker processes "
            "are not counted", *help_lines]))
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
        """One row per component; a reason's further lines (e.g. how to make RAPL readable)
        are indented below it, and shown once when two components share them."""
        lines = ["peprkit meter: what this machine can measure"]
        shown: dict[str, str] = {}
        for c in self.components.values():
            first, *more = c.reason.split("\n")
            lines.append(f"  {c.component:<4} {c.source:<28} {first}")
            details = "\n".join(more)
            if details and details in shown:
                lines.append(f"{'':7}(what to do: as for {shown[details]} above)")
            elif details:
                shown[details] = c.component
                lines.extend(f"{'':7}{line}" for line in more)
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


_SOURCE_WORDS = {
    "nvml-energy-counter": "NVML energy counter",
    "nvml-power-sampling": "NVML power readings, integrated",
    "rapl": "RAPL counters",
    "cpu-time": "CPU time x assumed watts per core",
    "ram-per-gb": "memory size x assumed watts per GB",
}


def describe_sources(result: Probe | None = None, **options) -> str:
    """A few lines saying which energy sources this session measures and which it estimates.

    What the course notebooks' setup cell prints: per component ``measured`` (with the
    instrument), ``estimated`` (with what the estimate rests on and why nothing better is
    available) or ``not metered`` (with why). Cheap: it reads no energy and imports no
    torch; ``peprkit info`` gives the full reasons and how to measure more.

    Args:
        result: a :func:`probe` result; by default ``probe(**options)`` is taken now.
        **options: reader options for :func:`probe` (``nvml=``, ``rapl_root=``, ...).

    >>> print(describe_sources(gpu=False, rapl_root="/nonexistent"))  # doctest: +ELLIPSIS
    Energy in this session (`peprkit info` says why and how to measure more):
      GPU  not metered  switched off (gpu=False)
      CPU  estimated    CPU time x assumed watts per core (no RAPL package zone under ...)
      RAM  estimated    memory size x assumed watts per GB (no RAPL dram zone under ...)
    """
    result = probe(**options) if result is None else result
    lines = ["Energy in this session (`peprkit info` says why and how to measure more):"]
    for c in result.components.values():
        kind, _, how = c.source.partition(":")
        words = " + ".join(_SOURCE_WORDS.get(part, part) for part in how.split("+"))
        why = c.reason.split("\n")[0].split("; ")[0]
        if kind == "measured":
            text = f"measured     {words}"
        elif kind == "estimated":
            text = f"estimated    {words} ({why.split(' (')[0]})"
        else:
            text = f"not metered  {why}"
        lines.append(f"  {c.component.upper():<4} {text}")
    return "\n".join(lines)
