"""``EnergyMeter``: energy, carbon and memory of a block of code, lap by lap, offline."""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from peprkit._util import atomic_write
from peprkit._validation import check_number
from peprkit.meter._readers import (
    CPU_WATTS_PER_CORE,
    RAM_WATTS_PER_GB,
    UNAVAILABLE,
    Reader,
    _watts,
    process_cpu_seconds,
    process_rss_bytes,
)
from peprkit.meter.carbon import check_pue, resolve_intensity
from peprkit.meter.probe import COMPONENTS, open_readers
from peprkit.meter.rapl import DEFAULT_ROOT
from peprkit.meter.reading import COMPONENT_KWH, Reading, window_energy
from peprkit.meter.sharing import (
    SHARED_THRESHOLD,
    GpuMark,
    GpuSharing,
    cpu_others_share,
    shared_label,
    torch_uses_cuda,
)
from peprkit.meter.sharing import machine_cpu_seconds as _machine_cpu_seconds

if TYPE_CHECKING:
    import pandas as pd

_FLOAT_COLUMNS = (
    "duration_s", "energy_kwh", *COMPONENT_KWH, "co2_g",
    "peak_gpu_memory_gb", "peak_gpu_allocated_gb", "peak_rss_gb", "cpu_others_share",
    "gpu_others_share", "gpu_other_processes",
)


@dataclass
class _Snapshot:
    """Reader totals (J), error states and what else used the devices, at one instant."""

    time_s: float
    joules: dict[str, float | None]
    errors: dict[str, str | None]
    own_cpu_s: float | None = None
    machine_cpu_s: float | None = None
    gpu: GpuMark | None = None


class EnergyMeter:
    """Meter the energy, CO2 and peak memory of a block of code, with one lap per epoch.

    A background thread reads every component each ``interval_s`` (needed to integrate
    power samples and to catch counter wraparound); ``lap(label)`` closes the current window
    and opens the next. ``meter.total`` covers start to stop; ``meter.laps`` the windows
    closed by ``lap()`` (and the last, open one when the block ends with an exception or
    ``stop(label=...)`` names it).

    Each component comes from the first source that works (see ``probe()``): GPU from
    NVML's energy counter or sampled power; CPU and RAM from RAPL counters, else estimates
    (``cpu_watts_per_core`` W per busy core, default 10; ``ram_watts_per_gb`` W per GB of
    resident memory, default 0.375); every number carries its label in ``sources``.

    Each window also records what else used the devices (:mod:`peprkit.meter.sharing`):
    others' share of the machine's CPU time and of the GPU, and the other processes on
    the GPU. RAPL and NVML count the whole device, so their labels end in ``;shared=38%``
    when others' share reaches ``shared_threshold``; the estimates count only this
    process tree, so their labels stay while the share is still recorded.

    Args:
        country: ISO alpha-2 code (or name) for the grid intensity table, e.g. ``"DK"``.
        intensity_g_per_kwh: your grid's gCO2eq/kWh; overrides ``country``. With neither,
            the world average is used and a warning says how to set yours.
        pue: data-centre overhead factor (>= 1). Keep 1.0 on a laptop or Colab VM; use
            1.1-1.6 on a data-centre machine whose overhead you account for.
        gpu, cpu, ram: meter this component (False reports it as unavailable).
        interval_s: seconds between background readings (> 0).
        log_path: CSV file rewritten atomically after every lap (one row per lap).
        cpu_watts_per_core, ram_watts_per_gb: assumptions of the estimates.
        shared_threshold: others' share (0-1) from which a whole-device label says
            ``;shared=...`` (default 0.2).
        gpu_reader, cpu_reader, ram_reader: readers to use instead of the fallback chain.
        nvml: a pynvml stand-in; rapl_root: powercap folder; clock: seconds function;
        cpu_seconds, rss_bytes: process statistics functions (all for tests).
        machine_cpu_seconds: the machine's busy CPU seconds; default: the real machine's
            when ``cpu_seconds`` is the real process tree's, else no CPU share.
        uses_cuda: whether this process tree may hold a CUDA context (default: torch has
            initialised CUDA here); tells this tree apart in a container's GPU process list.

    Raises:
        ValueError: bad ``pue``, ``interval_s``, wattage, intensity, ``shared_threshold``
            or unknown ``country``.

    >>> with EnergyMeter(intensity_g_per_kwh=100, gpu=False, rapl_root="/none") as meter:
    ...     _ = sum(range(10_000))
    ...     _ = meter.lap("sum")
    >>> meter.laps[0].sources["cpu"], meter.total.co2_g >= 0
    ('estimated:cpu-time', True)
    """

    def __init__(
        self,
        *,
        country: str | None = None,
        intensity_g_per_kwh: float | None = None,
        pue: float = 1.0,
        gpu: bool = True,
        cpu: bool = True,
        ram: bool = True,
        interval_s: float = 1.0,
        log_path: str | Path | None = None,
        cpu_watts_per_core: float = CPU_WATTS_PER_CORE,
        ram_watts_per_gb: float = RAM_WATTS_PER_GB,
        gpu_reader: Reader | None = None,
        cpu_reader: Reader | None = None,
        ram_reader: Reader | None = None,
        nvml: ModuleType | None = None,
        rapl_root: str | Path = DEFAULT_ROOT,
        clock: Callable[[], float] = time.perf_counter,
        cpu_seconds: Callable[[], float] = process_cpu_seconds,
        rss_bytes: Callable[[], int | None] = process_rss_bytes,
        shared_threshold: float = SHARED_THRESHOLD,
        machine_cpu_seconds: Callable[[], float | None] | None = None,
        uses_cuda: Callable[[], bool] = torch_uses_cuda,
    ) -> None:
        self.pue = check_pue(pue)
        self.grid = resolve_intensity(country, intensity_g_per_kwh)
        self.interval_s = check_number(
            "interval_s", interval_s, low=0, strict=True, hint="(seconds between readings, e.g. 1)"
        )
        self.log_path = Path(log_path) if log_path is not None else None
        self._reader_options = dict(
            gpu=gpu, cpu=cpu, ram=ram, nvml=nvml, rapl_root=rapl_root,
            cpu_watts_per_core=_watts("cpu_watts_per_core", cpu_watts_per_core),
            ram_watts_per_gb=_watts("ram_watts_per_gb", ram_watts_per_gb),
            cpu_seconds=cpu_seconds, rss_bytes=rss_bytes,
        )
        self._injected = {"gpu": gpu_reader, "cpu": cpu_reader, "ram": ram_reader}
        self._clock = clock
        self._rss_bytes = rss_bytes
        self.shared_threshold = check_number(
            "shared_threshold", shared_threshold, low=0, high=1,
            hint="(others' share of the device, e.g. 0.2)")
        self._cpu_seconds = cpu_seconds
        if machine_cpu_seconds is None and cpu_seconds is process_cpu_seconds:
            machine_cpu_seconds = _machine_cpu_seconds  # both from the real machine
        self._machine_cpu_seconds = machine_cpu_seconds
        self._uses_cuda = uses_cuda
        self._gpu_sharing: GpuSharing | None = None
        self.readers: dict[str, Reader | None] = {}
        self.reasons: dict[str, str] = {}
        self.laps: list[Reading] = []
        self.total: Reading | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "new"
        self._thread_error: BaseException | None = None

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> EnergyMeter:
        """Open the readers, take the baseline and start the sampling thread.

        Raises:
            RuntimeError: the meter was already started (a meter runs once; make a new one).
        """
        if self._state != "new":
            raise RuntimeError("This EnergyMeter was already started; create a new one per run.")
        self._open_readers()
        _cuda_peaks(reset=True)
        self._peak_rss = None
        self._run_peaks: list[tuple[float | None, float | None, float | None]] = []
        self._first = self._window_start = self._snapshot()
        self._state = "running"
        self._thread = threading.Thread(target=self._run, name="peprkit-meter", daemon=True)
        self._thread.start()
        return self

    def lap(self, label: str) -> Reading:
        """Close the current window as a lap named ``label`` and open the next one.

        Raises:
            ValueError: ``label`` is not a non-empty string.
            RuntimeError: the meter is not running.
        """
        if not isinstance(label, str) or not label:
            raise ValueError(f"label={label!r} must be a non-empty string, e.g. 'epoch 1'.")
        if self._state != "running":
            raise RuntimeError("lap() needs a running meter: call start() or use `with`.")
        reading = self._close_window(label)
        self._write_log()
        return reading

    def stop(self, label: str | None = None) -> Reading:
        """Stop the thread, close the run and return ``meter.total``.

        Args:
            label: when given, the still-open window is also kept as a lap of that name.
        """
        if self._state != "running":
            if self.total is None:
                raise RuntimeError("stop() needs a started meter: call start() first.")
            return self.total
        self._stop.set()
        self._thread.join()
        self._state = "stopped"
        self._close_window(label or "tail", keep=label is not None)
        peaks = [max((p[i] for p in self._run_peaks if p[i] is not None), default=None)
                 for i in range(3)]
        self.total = self._reading("total", self._first, self._window_start, peaks)
        self._write_log()
        if self._thread_error is not None:
            warnings.warn(f"meter thread error (readings kept): {self._thread_error!r}",
                          RuntimeWarning, stacklevel=2)
        return self.total

    def __enter__(self) -> EnergyMeter:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(label=f"interrupted:{exc_type.__name__}" if exc_type else None)

    # --- sampling ----------------------------------------------------------------
    def sample(self) -> None:
        """Read every component now (the thread calls this every ``interval_s``)."""
        self._snapshot()

    def _sample_locked(self) -> _Snapshot:
        now = self._clock()
        joules = {name: r.read_j(now) if r else None for name, r in self.readers.items()}
        errors = {name: r.error if r else None for name, r in self.readers.items()}
        rss = self._rss_bytes()
        if rss is not None:
            self._peak_rss = max(self._peak_rss or 0, rss / 1e9)
        own = machine = gpu = None
        try:  # who else used the devices: a note beside the energy, never a stopped run
            if self._machine_cpu_seconds is not None:
                own, machine = self._cpu_seconds(), self._machine_cpu_seconds()
            if self._gpu_sharing is not None:
                gpu = self._gpu_sharing.mark()
        except Exception:  # e.g. a process vanished mid-listing
            own = machine = None
        return _Snapshot(now, joules, errors, own, machine, gpu)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample()
            except Exception as err:  # keep metering; reported at stop()
                self._thread_error = self._thread_error or err

    def _open_readers(self) -> None:
        opened = open_readers(**{
            **self._reader_options,
            **{name: False for name, r in self._injected.items() if r is not None},
        })
        for name in COMPONENTS:
            injected = self._injected[name]
            reader, reason = (injected, "given") if injected is not None else opened[name]
            self.readers[name], self.reasons[name] = reader, reason
        gpu = self.readers.get("gpu")
        if hasattr(gpu, "nvml") and hasattr(gpu, "devices"):  # an NvmlReader: list processes
            self._gpu_sharing = GpuSharing(gpu.nvml, [h for h, _ in gpu.devices],
                                           uses_cuda=self._uses_cuda)

    def _snapshot(self) -> _Snapshot:
        with self._lock:
            return self._sample_locked()

    # --- windows -----------------------------------------------------------------
    def _close_window(self, label: str, keep: bool = True) -> Reading:
        with self._lock:
            end = self._sample_locked()
            peak_rss, self._peak_rss = self._peak_rss, None
        peaks = (*_cuda_peaks(reset=True), peak_rss)
        self._run_peaks.append(peaks)
        reading = self._reading(label, self._window_start, end, peaks)
        self._window_start = end
        if keep:
            self.laps.append(reading)
        return reading

    def _reading(self, label: str, start: _Snapshot, end: _Snapshot, peaks) -> Reading:
        kwh, sources, assumptions = {}, {}, {}
        cpu_share = None
        if start.own_cpu_s is not None and end.own_cpu_s is not None:
            machine = (None if start.machine_cpu_s is None or end.machine_cpu_s is None
                       else end.machine_cpu_s - start.machine_cpu_s)
            cpu_share = cpu_others_share(end.own_cpu_s - start.own_cpu_s, machine)
        gpu_share, gpu_others = (self._gpu_sharing.window(start.gpu, end.gpu)
                                 if start.gpu is not None and end.gpu is not None
                                 else (None, None))
        for name in COMPONENTS:
            reader = self.readers.get(name)
            kwh[name], sources[name] = window_energy(
                start.joules.get(name), end.joules.get(name), start.errors.get(name),
                end.errors.get(name), reader.source if reader else None,
            )
            if reader is not None:
                assumptions.update(getattr(reader, "assumptions", {}))
                if getattr(reader, "whole_device", reader.source.startswith("measured")):
                    share, others = (gpu_share, gpu_others) if name == "gpu" else (cpu_share, 0)
                    sources[name] = shared_label(sources[name], share, self.shared_threshold,
                                                 others)
        sources["gpu_memory"] = (
            "measured:torch-max-memory-reserved" if peaks[0] is not None else UNAVAILABLE
        )
        sources["rss"] = "measured:rss-sampled" if peaks[2] is not None else UNAVAILABLE
        return Reading(
            label=label,
            duration_s=end.time_s - start.time_s,
            **{col: kwh[col[:-4]] for col in COMPONENT_KWH},
            sources=sources,
            intensity_g_per_kwh=self.grid.intensity_g_per_kwh,
            intensity_source=self.grid.label,
            pue=self.pue,
            peak_gpu_memory_gb=peaks[0],
            peak_gpu_allocated_gb=peaks[1],
            peak_rss_gb=peaks[2],
            assumptions=assumptions,
            cpu_others_share=cpu_share,
            gpu_others_share=gpu_share,
            gpu_other_processes=gpu_others,
        )

    # --- output ------------------------------------------------------------------
    def laps_frame(self) -> pd.DataFrame:
        """One row per lap (``Reading.to_dict()`` columns) plus cumulative ``*_cum`` columns.

        ``duration_s_cum``, ``energy_kwh_cum`` and ``co2_g_cum`` add up the laps; a component's
        ``<component>_kwh_cum`` becomes NaN from its first unavailable lap (the true running
        total is then unknown).
        """
        import pandas as pd

        frame = pd.DataFrame([lap.to_dict() for lap in self.laps])
        if frame.empty:
            return frame
        for col in _FLOAT_COLUMNS:
            frame[col] = frame[col].astype(float)  # None -> NaN
        for col in ("duration_s", "energy_kwh", "co2_g", *COMPONENT_KWH):
            frame[f"{col}_cum"] = frame[col].cumsum(skipna=col not in COMPONENT_KWH)
        return frame

    def _write_log(self) -> None:
        if self.log_path is not None and self.laps:
            atomic_write(self.log_path, self.laps_frame().to_csv(index=False))

    def __repr__(self) -> str:
        sources = {name: (r.source if r else UNAVAILABLE) for name, r in self.readers.items()}
        return f"EnergyMeter(state={self._state!r}, laps={len(self.laps)}, sources={sources})"


def _cuda_peaks(reset: bool) -> tuple[float | None, float | None]:
    """Torch's peak reserved and allocated CUDA memory in GB, if torch already uses CUDA.

    torch is never imported here: without it, or before CUDA is initialised, (None, None).
    """
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return None, None
    peaks = cuda.max_memory_reserved() / 1e9, cuda.max_memory_allocated() / 1e9
    if reset:
        cuda.reset_peak_memory_stats()
    return peaks
