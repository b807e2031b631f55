"""Energy, carbon and memory metering that says how every number was obtained, offline.

``EnergyMeter`` meters a block of code lap by lap; ``meter_command`` a whole command
(``peprkit meter -- CMD``, ``%%meter`` in a notebook); ``probe()`` says what this machine can
measure and why not; the carbon helpers turn kWh into gCO2eq from a shipped table. Every
window records what else used the device (:mod:`peprkit.meter.sharing`).
Readers (NVML, RAPL, estimates) share one small interface (``Reader``) and can be
injected. Nothing heavy is imported here: pynvml, psutil and pandas load when used, and
torch is only consulted when the program has already imported it.
"""

from peprkit.meter._readers import (
    CPU_WATTS_PER_CORE,
    RAM_WATTS_PER_GB,
    UNAVAILABLE,
    CpuEstimateReader,
    RamEstimateReader,
    Reader,
    is_available,
)
from peprkit.meter.carbon import (
    GridIntensity,
    carbon_table,
    co2_g,
    lookup_country,
    resolve_intensity,
)
from peprkit.meter.command import MeteredRun, meter_command
from peprkit.meter.energy import EnergyMeter
from peprkit.meter.memory import RunMemory
from peprkit.meter.nvml import NvmlReader
from peprkit.meter.probe import ComponentProbe, Probe, probe
from peprkit.meter.rapl import RaplReader
from peprkit.meter.reading import Reading
from peprkit.meter.sharing import SHARED_THRESHOLD

__all__ = [
    "CPU_WATTS_PER_CORE",
    "RAM_WATTS_PER_GB",
    "SHARED_THRESHOLD",
    "UNAVAILABLE",
    "ComponentProbe",
    "CpuEstimateReader",
    "EnergyMeter",
    "GridIntensity",
    "MeteredRun",
    "NvmlReader",
    "Probe",
    "RamEstimateReader",
    "RaplReader",
    "Reader",
    "Reading",
    "RunMemory",
    "carbon_table",
    "co2_g",
    "is_available",
    "lookup_country",
    "meter_command",
    "probe",
    "resolve_intensity",
]
