"""History rows and the summary row of a run (columns: :mod:`peprkit.schema`).

Running totals (time, energy, CO2) come from the meter's laps
(:meth:`peprkit.meter.EnergyMeter.laps_frame`), added to the totals stored in a checkpoint
when a run resumes. CPU seconds are the process's (with its child processes); memory is
the run's own peak (:class:`peprkit.meter.RunMemory` on a CPU, torch's peak reserved CUDA
memory on a GPU).
"""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, Any

from peprkit.meter._readers import process_cpu_seconds
from peprkit.schema import SUMMARY_COLUMNS
from peprkit.train._forecast import run_forecast

if TYPE_CHECKING:
    import pandas as pd

    from peprkit.meter import EnergyMeter, RunMemory

_TOTALS = ("time_s", "energy_kwh", "gpu_kwh", "cpu_kwh", "ram_kwh", "co2_g")
_LAP_TOTALS = {"time_s": "duration_s_cum", "energy_kwh": "energy_kwh_cum",
               "gpu_kwh": "gpu_kwh_cum", "cpu_kwh": "cpu_kwh_cum", "ram_kwh": "ram_kwh_cum",
               "co2_g": "co2_g_cum"}
METER_OFF = "unavailable:meter-off"


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


class Recorder:
    """Turns meter laps into the resource columns of history rows.

    Args:
        meter: a started meter, or None (energy columns NaN, labelled ``meter-off``).
        memory: the run's CPU memory tracker (started before the model was built).
        device_type: ``"cuda"`` or ``"cpu"``.
        base: the last stored history row when resuming (its totals are added).
    """

    def __init__(self, meter: EnergyMeter | None, memory: RunMemory, device_type: str,
                 base: dict[str, Any]) -> None:
        self.meter, self.memory, self.device_type, self.base = meter, memory, device_type, base
        self._clock0 = time.perf_counter()
        self._cpu0 = process_cpu_seconds()
        if meter is None and device_type == "cuda":  # the meter resets them otherwise
            sys.modules["torch"].cuda.reset_peak_memory_stats()

    def lap(self, label: str) -> dict[str, Any]:
        """Close one lap; the cumulative resource columns after it."""
        base = self.base
        if self.meter is not None:
            self.meter.lap(label)
            frame = self.meter.laps_frame()
            last = frame.iloc[-1]
            run = {col: float(last[cum]) for col, cum in _LAP_TOTALS.items()}
            sources = {f"{c}_source": str(last[f"{c}_source"]) for c in ("gpu", "cpu", "ram")}
            gpu_peak = frame["peak_gpu_memory_gb"].max()
        else:
            run = {col: math.nan for col in _TOTALS}
            run["time_s"] = time.perf_counter() - self._clock0
            sources = {f"{c}_source": METER_OFF for c in ("gpu", "cpu", "ram")}
            gpu_peak = _torch_cuda_peak()
        row = {col: _float(base.get(col, 0.0)) + run[col] for col in _TOTALS}
        memory, source = self._memory(gpu_peak)
        row["memory_gb"] = max((v for v in (_float(base.get("memory_gb")), memory) if v == v),
                               default=math.nan)
        row["memory_source"] = source
        row.update(sources)
        row["train_cpu_s"] = (_float(base.get("train_cpu_s", 0.0))
                              + process_cpu_seconds() - self._cpu0)
        return row

    def _memory(self, gpu_peak: float) -> tuple[float, str]:
        if self.device_type == "cuda":
            if gpu_peak == gpu_peak and gpu_peak is not None:
                return float(gpu_peak), "gpu:measured:torch-max-memory-reserved"
            return math.nan, "gpu:unavailable"
        peak = self.memory.peak_gb()
        return _float(peak), f"process-rss-increase:{self.memory.source}"


def _torch_cuda_peak() -> float:
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return math.nan
    return cuda.max_memory_reserved() / 1e9


def summary(history: pd.DataFrame, meta: dict[str, Any], best_epoch: int | None
            ) -> pd.DataFrame:
    """The run's row: settings, the kept epoch's accuracies, the resources actually spent.

    The kept epoch is ``best_epoch`` (early stopping restored its weights) or the last one;
    time, CPU time, energy and CO2 are the totals over every epoch run, memory the peak;
    ``forecast_*`` the whole run's forecast made after epoch 1
    (:func:`peprkit.train._forecast.run_forecast`).
    """
    import pandas as pd

    if history.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    last = history.iloc[-1]
    kept = last if best_epoch is None else history[history["epoch"] == best_epoch].iloc[0]
    row = {**meta, "epochs_run": int(last["epoch"]), "train_time_s": float(last["time_s"]),
           "memory_gb": float(history["memory_gb"].max())}
    for col in ("test_acc", "test_auc", "test_balanced_acc", "val_acc", "majority_acc"):
        row[col] = kept[col]
    for col in ("energy_kwh", "co2_g", "train_cpu_s", "memory_source", "gpu_source",
                "cpu_source", "ram_source"):
        row[col] = last[col]
    row.update(run_forecast(history, int(meta["epochs"])))  # scaled from epoch 1, labelled
    return pd.DataFrame([{col: row.get(col) for col in SUMMARY_COLUMNS}])
