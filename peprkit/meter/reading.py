"""``Reading``: the energy, carbon and memory of one metered window, each number labelled."""

from __future__ import annotations

from dataclasses import dataclass, field

from peprkit.meter._readers import UNAVAILABLE
from peprkit.meter.carbon import co2_g as _co2_g
from peprkit.meter.sharing import is_shared

J_PER_KWH = 3.6e6
COMPONENT_KWH = ("gpu_kwh", "cpu_kwh", "ram_kwh")


@dataclass(frozen=True)
class Reading:
    """One metered window (a lap or the whole run).

    ``energy_kwh`` is the sum of the components that were available (measured, estimated or
    partial); ``sources`` says which: an unavailable component is ``None`` with a label
    starting with ``"unavailable"``, never 0. ``co2_g = energy_kwh * pue * intensity_g_per_kwh``.
    ``peak_gpu_memory_gb`` is torch's ``max_memory_reserved`` (``peak_gpu_allocated_gb``
    its ``max_memory_allocated``) when CUDA is in use; ``peak_rss_gb`` the largest sampled
    resident memory of this process. GB are 1e9 bytes.

    What else used the device in the window (:mod:`peprkit.meter.sharing`):
    ``cpu_others_share`` is the fraction of the machine's CPU time used by processes
    outside this process tree, ``gpu_others_share`` other processes' fraction of the GPU
    utilisation samples, ``gpu_other_processes`` how many other processes held a compute
    context on a metered GPU (None: not known). A whole-device label (RAPL, NVML) ends in
    ``;shared=38%`` when others' share reached the meter's threshold; ``shared_device``
    says whether any label does.
    """

    label: str
    duration_s: float
    gpu_kwh: float | None
    cpu_kwh: float | None
    ram_kwh: float | None
    sources: dict[str, str]
    intensity_g_per_kwh: float
    intensity_source: str
    pue: float = 1.0
    peak_gpu_memory_gb: float | None = None
    peak_gpu_allocated_gb: float | None = None
    peak_rss_gb: float | None = None
    assumptions: dict[str, float] = field(default_factory=dict)
    cpu_others_share: float | None = None
    gpu_others_share: float | None = None
    gpu_other_processes: int | None = None

    @property
    def shared_device(self) -> bool:
        """True when a component's label says others used the device (``;shared=...``)."""
        return any(is_shared(self.sources.get(name[:-4])) for name in COMPONENT_KWH)

    @property
    def energy_kwh(self) -> float | None:
        """Sum of the available components in kWh; None when no component is available."""
        parts = [getattr(self, name) for name in COMPONENT_KWH]
        parts = [p for p in parts if p is not None]
        return sum(parts) if parts else None

    @property
    def co2_g(self) -> float | None:
        """``energy_kwh * pue * intensity_g_per_kwh`` in grams CO2eq; None without energy."""
        energy = self.energy_kwh
        if energy is None:
            return None
        return _co2_g(energy, intensity_g_per_kwh=self.intensity_g_per_kwh, pue=self.pue)

    def to_dict(self) -> dict:
        """Flat dict: numbers with units in their names, ``<component>_source`` labels beside.

        >>> r = Reading("lap", 3600.0, None, 0.01, None, {"gpu": "unavailable",
        ...     "cpu": "estimated:cpu-time", "ram": "unavailable"}, 100.0, "override")
        >>> d = r.to_dict()
        >>> d["energy_kwh"], d["co2_g"], d["gpu_kwh"], d["cpu_source"]
        (0.01, 1.0, None, 'estimated:cpu-time')
        """
        out = {
            "label": self.label,
            "duration_s": self.duration_s,
            "energy_kwh": self.energy_kwh,
            "gpu_kwh": self.gpu_kwh,
            "cpu_kwh": self.cpu_kwh,
            "ram_kwh": self.ram_kwh,
            "co2_g": self.co2_g,
            "peak_gpu_memory_gb": self.peak_gpu_memory_gb,
            "peak_gpu_allocated_gb": self.peak_gpu_allocated_gb,
            "peak_rss_gb": self.peak_rss_gb,
            "cpu_others_share": self.cpu_others_share,
            "gpu_others_share": self.gpu_others_share,
            "gpu_other_processes": self.gpu_other_processes,
            "shared_device": self.shared_device,
        }
        out.update({f"{name}_source": label for name, label in self.sources.items()})
        out.update(
            intensity_g_per_kwh=self.intensity_g_per_kwh,
            intensity_source=self.intensity_source,
            pue=self.pue,
        )
        out.update(self.assumptions)
        return out

    def __str__(self) -> str:
        def num(value, unit, fmt=".3g"):
            return f"{value:{fmt}} {unit}" if value is not None else UNAVAILABLE

        parts = ", ".join(
            f"{name[:-4]} {num(getattr(self, name), 'kWh')} [{self.sources[name[:-4]]}]"
            for name in COMPONENT_KWH
        )
        return (
            f"{self.label}: {self.duration_s:.1f} s, {num(self.energy_kwh, 'kWh')} "
            f"({parts}), {num(self.co2_g, 'g CO2eq')} at {self.intensity_g_per_kwh:g} g/kWh "
            f"x PUE {self.pue:g}"
        )


def window_energy(
    start_j: float | None, end_j: float | None, start_error: str | None,
    end_error: str | None, source: str | None,
) -> tuple[float | None, str]:
    """kWh and label of one component over one window, from reader totals at both ends.

    ``None`` source: no reader (``"unavailable"``). An error already present at the start:
    ``None`` and ``"unavailable:<error>"``. An error that appeared in the window: the energy
    up to the failure and ``"partial:<error>"``.

    >>> window_energy(0.0, 3.6e6, None, None, "measured:rapl")
    (1.0, 'measured:rapl')
    >>> window_energy(0.0, 3.6e6, None, "nvml-error", "measured:nvml-energy-counter")
    (1.0, 'partial:nvml-error')
    """
    if source is None or start_j is None or end_j is None:
        return None, UNAVAILABLE
    if start_error is not None:
        return None, f"{UNAVAILABLE}:{start_error}"
    kwh = (end_j - start_j) / J_PER_KWH
    return kwh, (f"partial:{end_error}" if end_error is not None else source)
