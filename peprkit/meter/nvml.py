"""GPU energy from NVIDIA's NVML (package ``nvidia-ml-py``, module ``pynvml``, imported lazily).

Per visible GPU, the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ,
Volta and newer, Colab's T4 included) is used where supported; otherwise the board power
(``nvmlDeviceGetPowerUsage``, mW) is sampled on the meter's thread and integrated with the
trapezoid rule. Visible GPUs follow ``CUDA_VISIBLE_DEVICES`` (indices, ``GPU-`` UUIDs or
their prefixes, ``MIG-`` UUIDs, which count their whole parent GPU); integer indices are
taken in NVML's PCI-bus order, which is CUDA's order when ``CUDA_DEVICE_ORDER=PCI_BUS_ID``
and on single-GPU machines.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from peprkit.meter._readers import Trapezoid

COUNTER = "nvml-energy-counter"
POWER = "nvml-power-sampling"
_loaded: tuple[ModuleType | None, str] | None = None  # (pynvml, reason) once per process


def load_nvml() -> tuple[ModuleType | None, str]:
    """Import and initialise pynvml once per process; (module, '') or (None, reason)."""
    global _loaded
    if _loaded is None:
        try:
            import pynvml
        except ImportError:
            _loaded = (None, "pynvml not installed (`pip install nvidia-ml-py`)")
        else:
            try:
                pynvml.nvmlInit()
                _loaded = (pynvml, "")
            except pynvml.NVMLError as err:
                _loaded = (None, f"NVML not usable ({err}): no NVIDIA GPU or driver")
    return _loaded


def _is_loaded(nvml: ModuleType) -> bool:
    return _loaded is not None and _loaded[0] is nvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_handles(nvml: ModuleType, spec: str | None = None) -> list[Any]:
    """NVML handles of the GPUs CUDA would use, in CUDA_VISIBLE_DEVICES order.

    Like CUDA, the list stops at the first entry that names no GPU; an empty
    ``CUDA_VISIBLE_DEVICES`` hides all GPUs.

    Args:
        nvml: the (initialised) pynvml module or a stand-in.
        spec: the CUDA_VISIBLE_DEVICES value; None reads the environment.
    """
    spec = os.environ.get("CUDA_VISIBLE_DEVICES") if spec is None else spec
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    if spec is None:
        return handles
    if not spec.strip():
        return []
    uuids = [_text(nvml.nvmlDeviceGetUUID(h)) for h in handles]
    chosen: list[Any] = []
    for token in (t.strip() for t in spec.split(",")):
        handle = _handle_for(nvml, token, handles, uuids)
        if handle is None:
            break
        if all(handle is not h for h in chosen):
            chosen.append(handle)
    return chosen


def _handle_for(nvml: ModuleType, token: str, handles: list, uuids: list[str]):
    if token.lstrip("-").isdigit():
        index = int(token)
        return handles[index] if 0 <= index < len(handles) else None
    if token.startswith("MIG-"):
        try:
            mig = nvml.nvmlDeviceGetHandleByUUID(token)
            return nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
        except nvml.NVMLError:
            return None
    prefix = token if token.startswith("GPU-") else f"GPU-{token}"
    matches = [h for h, u in zip(handles, uuids, strict=True) if u.startswith(prefix)]
    return matches[0] if len(matches) == 1 else None


class NvmlReader:
    """Energy of the visible GPUs: counter deltas where supported, integrated power elsewhere.

    ``E = sum over GPUs of (counter_mJ - counter_at_start_mJ) / 1000`` for counter GPUs and
    ``E = trapezoid integral of power_mW / 1000 over time`` for the others. An NVML error
    during the run sets ``error = "nvml-error"`` and freezes the total (the run goes on).

    Args:
        nvml: the initialised pynvml module (or a stand-in).
        devices: ``(handle, mode)`` pairs, mode ``COUNTER`` or ``POWER``.
    """

    component = "gpu"
    whole_device = True  # the board's energy, whoever used it (see meter.sharing)

    def __init__(self, nvml: ModuleType, devices: list[tuple[Any, str]]) -> None:
        self.nvml = nvml
        self.devices = list(devices)
        modes = sorted({mode for _, mode in self.devices})
        self.source = "measured:" + "+".join(modes)
        self.error: str | None = None
        self._start_mj: list[float | None] = [None] * len(self.devices)
        self._trapezoids = [Trapezoid() for _ in self.devices]
        self._joules = 0.0

    def read_j(self, now_s: float) -> float:
        if self.error is not None:
            return self._joules
        try:
            total = 0.0
            for i, (handle, mode) in enumerate(self.devices):
                if mode == COUNTER:
                    mj = float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
                    if self._start_mj[i] is None:
                        self._start_mj[i] = mj
                    total += (mj - self._start_mj[i]) / 1000
                else:
                    watts = self.nvml.nvmlDeviceGetPowerUsage(handle) / 1000
                    total += self._trapezoids[i].add(now_s, watts)
        except self.nvml.NVMLError:
            self.error = "nvml-error"
            return self._joules
        self._joules = total
        return total


def open_nvml(
    nvml: ModuleType | None = None, *, visible: str | None = None
) -> tuple[NvmlReader | None, str]:
    """An NvmlReader for the visible GPUs, or None and the reason the GPU cannot be measured.

    Args:
        nvml: a pynvml stand-in (tests); None imports and initialises pynvml once.
        visible: CUDA_VISIBLE_DEVICES value to honour; None reads the environment.

    Returns:
        ``(reader, description)`` or ``(None, reason)``.
    """
    if nvml is None:
        nvml, reason = load_nvml()
        if nvml is None:
            return None, reason
    try:
        if not _is_loaded(nvml):
            nvml.nvmlInit()
        handles = visible_handles(nvml, visible)
    except nvml.NVMLError as err:
        return None, f"NVML not usable ({err}): no NVIDIA GPU or driver"
    if not handles:
        return None, "no GPU visible (NVML found none, or CUDA_VISIBLE_DEVICES hides them)"
    devices, notes = [], []
    for handle in handles:
        name = _device_name(nvml, handle)
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            devices.append((handle, COUNTER))
            notes.append(f"{name}: energy counter")
            continue
        except nvml.NVMLError as err:
            why = f"no energy counter ({err})"
        try:
            nvml.nvmlDeviceGetPowerUsage(handle)
            devices.append((handle, POWER))
            notes.append(f"{name}: {why}, power sampling")
        except nvml.NVMLError as err:
            notes.append(f"{name}: {why}, no power reading ({err})")
    if not devices:
        return None, "; ".join(notes)
    return NvmlReader(nvml, devices), "; ".join(notes)


def _device_name(nvml: ModuleType, handle: Any) -> str:
    try:
        return _text(nvml.nvmlDeviceGetName(handle))
    except nvml.NVMLError:
        return "GPU"
