"""peprkit.meter readers and EnergyMeter, with fake powercap trees, a fake NVML and a fake clock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from peprkit.meter import (
    CpuEstimateReader,
    EnergyMeter,
    RamEstimateReader,
    RaplReader,
    Reader,
    _readers,
    probe,
)
from peprkit.meter import rapl as rapl_module
from peprkit.meter.nvml import open_nvml, visible_handles
from peprkit.meter.rapl import find_zones, open_rapl

KWH = 3.6e6  # joules


# --- fakes -----------------------------------------------------------------------
class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_zone(root: Path, folder: str, name: str, energy_uj: int, max_uj: int = 10**12) -> Path:
    zone = root / folder
    zone.mkdir(parents=True)
    (zone / "name").write_text(f"{name}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def set_uj(zone: Path, value: int) -> None:
    (zone / "energy_uj").write_text(f"{value}\n")


class NVMLError(Exception):
    pass


class FakeGpu:
    def __init__(self, uuid, energy_mj=None, power_mw=None, name="Fake T4"):
        self.uuid, self.energy_mj, self.power_mw, self.name = uuid, energy_mj, power_mw, name
        self.broken = False


class FakeNvml:
    """Stands in for the pynvml module: the functions the meter calls, over FakeGpu objects."""

    NVMLError = NVMLError

    def __init__(self, *gpus, init_fails=False):
        self.gpus, self.init_fails = list(gpus), init_fails

    def nvmlInit(self):
        if self.init_fails:
            raise NVMLError("Driver Not Loaded")

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return self.gpus[i]

    def nvmlDeviceGetUUID(self, gpu):
        return gpu.uuid.encode()  # older pynvml returns bytes

    def nvmlDeviceGetHandleByUUID(self, uuid):
        raise NVMLError("Not Found")

    def nvmlDeviceGetName(self, gpu):
        return gpu.name

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu):
        if gpu.broken:
            raise NVMLError("GPU is lost")
        if gpu.energy_mj is None:
            raise NVMLError("Not Supported")
        return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(self, gpu):
        if gpu.broken:
            raise NVMLError("GPU is lost")
        if gpu.power_mw is None:
            raise NVMLError("Not Supported")
        return gpu.power_mw


class Counter:
    """A settable value, used as fake cpu_seconds / rss_bytes."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def fake_meter(tmp_path, clock=None, nvml=None, **kwargs) -> EnergyMeter:
    """A meter on fakes only; interval_s is long so only explicit samples happen."""
    options = dict(
        intensity_g_per_kwh=100.0, interval_s=3600, rapl_root=tmp_path / "no-powercap",
        nvml=nvml or FakeNvml(), clock=clock or FakeClock(), cpu_seconds=Counter(0.0),
        rss_bytes=Counter(1e9),
    )
    return EnergyMeter(**{**options, **kwargs})


def meter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "peprkit-meter"]


# --- RAPL --------------------------------------------------------------------------
def test_rapl_counts_package_and_dram_zones(tmp_path):
    pkg0 = make_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    pkg1 = make_zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    dram = make_zone(tmp_path, "intel-rapl:0/intel-rapl:0:2", "dram", 0)
    make_zone(tmp_path, "intel-rapl:0/intel-rapl:0:0", "core", 0)  # part of package: skipped
    make_zone(tmp_path, "intel-rapl:2", "psys", 0)  # whole platform: skipped
    zones = find_zones(tmp_path)
    assert sorted(z.name for z in zones["cpu"]) == ["intel-rapl:0", "intel-rapl:1"]
    assert [z.name for z in zones["ram"]] == ["intel-rapl:0:2"]

    clock = FakeClock()
    meter = fake_meter(tmp_path, clock, rapl_root=tmp_path).start()
    set_uj(pkg0, 3_000_000)  # +2 J
    set_uj(pkg1, 6_000_000)  # +1 J
    set_uj(dram, 500_000)  # +0.5 J
    clock.t += 1
    lap = meter.lap("one")
    total = meter.stop()
    assert lap.cpu_kwh == pytest.approx(3.0 / KWH)
    assert lap.ram_kwh == pytest.approx(0.5 / KWH)
    assert lap.sources["cpu"] == lap.sources["ram"] == "measured:rapl"
    assert total.cpu_kwh == pytest.approx(3.0 / KWH)
    assert "cpu_watts_per_core" not in total.assumptions


def test_rapl_wraparound(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 900_000, max_uj=1_000_000)
    reader = RaplReader("cpu", [zone])
    assert isinstance(reader, Reader)
    assert reader.read_j(0.0) == 0.0  # baseline
    set_uj(zone, 950_000)
    assert reader.read_j(0.5) == pytest.approx(0.05)
    set_uj(zone, 100_000)  # wrapped: 50_000 to the top, then 100_000
    assert reader.read_j(1.0) == pytest.approx(0.2)
    set_uj(zone, 400_000)
    assert reader.read_j(2.0) == pytest.approx(0.5)


def test_rapl_permission_denied_falls_back_to_labelled_estimate(tmp_path, monkeypatch):
    make_zone(tmp_path, "intel-rapl:0", "package-0", 1)
    make_zone(tmp_path, "intel-rapl:0:2", "dram", 1)
    real_read = rapl_module._read_int

    def denied(path):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(rapl_module, "_read_int", denied)
    reader, reason = open_rapl("cpu", tmp_path)
    assert reader is None and "permission denied" in reason and "chmod" in reason

    cpu_s, clock = Counter(10.0), FakeClock()
    meter = fake_meter(tmp_path, clock, rapl_root=tmp_path, cpu_seconds=cpu_s,
                       cpu_watts_per_core=12.0).start()
    cpu_s.value, clock.t = 12.5, clock.t + 5  # 2.5 busy core-seconds
    total = meter.stop()
    assert total.sources["cpu"] == "estimated:cpu-time"
    assert total.sources["ram"] == "estimated:ram-per-gb"
    assert total.cpu_kwh == pytest.approx(2.5 * 12.0 / KWH)
    assert total.assumptions == {"cpu_watts_per_core": 12.0, "ram_watts_per_gb": 0.375}
    assert "permission denied" in meter.reasons["cpu"]


def test_rapl_missing_domains(tmp_path):
    assert open_rapl("cpu", tmp_path / "absent")[0] is None
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0)  # package but no dram
    result = probe(nvml=FakeNvml(), rapl_root=tmp_path)
    assert result["cpu"].source == "measured:rapl"
    assert result["ram"].source == "estimated:ram-per-gb"
    assert "no RAPL dram zone" in result["ram"].reason


def test_rapl_error_mid_run_is_partial(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    meter = fake_meter(tmp_path, rapl_root=tmp_path).start()
    set_uj(zone, 2_000_000)
    meter.sample()
    (zone / "energy_uj").unlink()
    lap = meter.lap("broken")
    assert lap.sources["cpu"] == "partial:rapl-error"
    assert lap.cpu_kwh == pytest.approx(2.0 / KWH)
    assert meter.stop(label="after").cpu_kwh == pytest.approx(2.0 / KWH)
    assert meter.laps[-1].cpu_kwh is None
    assert meter.laps[-1].sources["cpu"] == "unavailable:rapl-error"


# --- NVML --------------------------------------------------------------------------
def test_gpu_energy_counter(tmp_path):
    gpu = FakeGpu("GPU-aaa", energy_mj=5_000_000, power_mw=70_000)
    clock = FakeClock()
    meter = fake_meter(tmp_path, clock, nvml=FakeNvml(gpu)).start()
    gpu.energy_mj += 36_000  # 36 J
    clock.t += 2
    total = meter.stop()
    assert total.sources["gpu"] == "measured:nvml-energy-counter"
    assert total.gpu_kwh == pytest.approx(36.0 / KWH)
    assert total.energy_kwh == pytest.approx(total.gpu_kwh + total.cpu_kwh + total.ram_kwh)


def test_gpu_power_sampling_with_fake_clock_is_exact(tmp_path):
    gpu = FakeGpu("GPU-old", energy_mj=None, power_mw=100_000)  # 100 W, no counter
    clock = FakeClock(0.0)
    meter = fake_meter(tmp_path, clock, nvml=FakeNvml(gpu)).start()
    clock.t = 5.0
    meter.sample()  # 100 W for 5 s
    gpu.power_mw = 300_000
    clock.t = 10.0
    lap = meter.lap("first")  # 100 -> 300 W over 5 s: 1000 J
    clock.t = 20.0
    total = meter.stop()  # 300 W for 10 s: 3000 J
    assert meter.laps[0].sources["gpu"] == "measured:nvml-power-sampling"
    assert lap.gpu_kwh * KWH == pytest.approx(500.0 + 1000.0)
    assert total.gpu_kwh * KWH == pytest.approx(1500.0 + 3000.0)
    assert total.duration_s == 20.0


def test_gpu_mixed_devices_label_both_modes(tmp_path):
    nvml = FakeNvml(FakeGpu("GPU-a", energy_mj=0), FakeGpu("GPU-b", power_mw=1000))
    reader, reason = open_nvml(nvml, visible=None)
    assert reader.source == "measured:nvml-energy-counter+nvml-power-sampling"
    assert "power sampling" in reason


def test_nvml_error_mid_run_labels_reading_and_run_goes_on(tmp_path):
    gpu = FakeGpu("GPU-x", energy_mj=0)
    cpu_s, clock = Counter(0.0), FakeClock()
    meter = fake_meter(tmp_path, clock, nvml=FakeNvml(gpu), cpu_seconds=cpu_s).start()
    gpu.energy_mj = 7_200_000  # 7200 J = 0.002 kWh
    lap1 = meter.lap("epoch 1")
    gpu.energy_mj += 3_600_000
    meter.sample()
    gpu.broken = True
    cpu_s.value = 1.0
    lap2 = meter.lap("epoch 2")
    cpu_s.value = 2.0
    lap3 = meter.lap("epoch 3")
    total = meter.stop()
    assert lap1.sources["gpu"] == "measured:nvml-energy-counter"
    assert lap2.sources["gpu"] == "partial:nvml-error"
    assert lap2.gpu_kwh == pytest.approx(0.001)
    assert lap3.sources["gpu"] == "unavailable:nvml-error" and lap3.gpu_kwh is None
    assert lap3.cpu_kwh == pytest.approx(10.0 / KWH)  # the CPU kept being metered
    assert lap3.energy_kwh == pytest.approx(lap3.cpu_kwh + lap3.ram_kwh)
    assert total.sources["gpu"] == "partial:nvml-error"
    assert total.gpu_kwh == pytest.approx(0.003)
    frame = meter.laps_frame()
    assert frame["gpu_kwh"].isna().tolist() == [False, False, True]
    assert frame["gpu_kwh_cum"].isna().tolist() == [False, False, True]
    assert frame["energy_kwh_cum"].iloc[-1] == pytest.approx(frame["energy_kwh"].sum())


def test_no_gpu_is_unavailable_never_zero(tmp_path):
    for nvml in (FakeNvml(), FakeNvml(FakeGpu("GPU-a"), init_fails=True)):
        meter = fake_meter(tmp_path, nvml=nvml)
        with meter:
            meter.lap("only")
        assert meter.total.gpu_kwh is None
        assert meter.total.sources["gpu"] == "unavailable"
        assert meter.total.energy_kwh == pytest.approx(meter.total.ram_kwh + meter.total.cpu_kwh)
        assert meter.laps_frame()["gpu_kwh"].isna().all()
    assert "Driver Not Loaded" in meter.reasons["gpu"]
    assert probe(nvml=FakeNvml(FakeGpu("GPU-a"))).components["gpu"].available is False


def test_gpu_switched_off_and_nothing_available(tmp_path):
    meter = fake_meter(tmp_path, gpu=False, cpu=False, ram=False)
    with meter:
        pass
    assert meter.total.energy_kwh is None and meter.total.co2_g is None
    assert set(meter.total.sources[c] for c in ("gpu", "cpu", "ram")) == {"unavailable"}
    assert meter.reasons["gpu"] == "switched off (gpu=False)"


def test_cuda_visible_devices_indices_and_uuids():
    gpus = [FakeGpu(f"GPU-{c}{c}{c}-{i}") for i, c in enumerate("abc")]
    nvml = FakeNvml(*gpus)
    assert visible_handles(nvml, None) == gpus
    assert visible_handles(nvml, "2,0") == [gpus[2], gpus[0]]
    assert visible_handles(nvml, "GPU-bbb-1") == [gpus[1]]
    assert visible_handles(nvml, "ccc") == [gpus[2]]  # UUID prefix without GPU-
    assert visible_handles(nvml, "1,7,0") == [gpus[1]]  # CUDA stops at an invalid entry
    assert visible_handles(nvml, "") == []
    assert visible_handles(nvml, "-1") == []


def test_cuda_visible_devices_mig_uuid_counts_parent_gpu():
    parent, mig = FakeGpu("GPU-parent", energy_mj=0), object()
    nvml = FakeNvml(FakeGpu("GPU-other"), parent)
    nvml.nvmlDeviceGetHandleByUUID = lambda uuid: mig if uuid == "MIG-123" else 1 / 0
    nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle = lambda h: parent if h is mig else None
    assert visible_handles(nvml, "MIG-123") == [parent]


def test_cuda_visible_devices_from_environment(monkeypatch):
    gpus = [FakeGpu("GPU-a", energy_mj=0), FakeGpu("GPU-b", energy_mj=0)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    reader, _ = open_nvml(FakeNvml(*gpus))
    assert [h for h, _ in reader.devices] == [gpus[1]]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert open_nvml(FakeNvml(*gpus))[0] is None


# --- estimates, clock, memory -------------------------------------------------------
def test_estimates_are_power_times_time(tmp_path):
    cpu_s, rss, clock = Counter(3.0), Counter(2e9), FakeClock(0.0)
    meter = fake_meter(tmp_path, clock, cpu_seconds=cpu_s, rss_bytes=rss,
                       ram_watts_per_gb=0.5).start()
    clock.t, cpu_s.value = 10.0, 8.0  # 5 core-seconds at 10 W = 50 J
    meter.sample()  # 2 GB at 0.5 W/GB = 1 W for 10 s = 10 J
    rss.value, clock.t = 4e9, 20.0  # 1 W -> 2 W over 10 s = 15 J
    total = meter.stop()
    assert total.cpu_kwh * KWH == pytest.approx(50.0)
    assert total.ram_kwh * KWH == pytest.approx(25.0)
    assert total.peak_rss_gb == pytest.approx(4.0)
    assert total.sources["rss"] == "measured:rss-sampled"
    assert total.co2_g == pytest.approx(75.0 / KWH * 100.0)


def test_without_psutil_falls_back_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(_readers, "_psutil", lambda: None)
    t = os.times()
    expected = t.user + t.system + t.children_user + t.children_system
    assert _readers.process_cpu_seconds() == pytest.approx(expected, abs=0.05)
    assert _readers.process_rss_bytes() > 1_000_000
    assert "`pip install psutil`" in probe(gpu=False, rapl_root=tmp_path)["cpu"].reason


def test_injected_readers_are_used(tmp_path):
    class Constant:
        component, source, error = "gpu", "measured:test", None

        def read_j(self, now_s):
            return now_s * 2.0

    clock = FakeClock(0.0)
    meter = fake_meter(tmp_path, clock, gpu_reader=Constant()).start()
    clock.t = 1800.0
    total = meter.stop()
    assert total.gpu_kwh == pytest.approx(1.0e-3)
    assert total.sources["gpu"] == "measured:test" and meter.reasons["gpu"] == "given"


def test_peak_gpu_memory_from_torch_when_cuda_in_use(tmp_path, monkeypatch):
    peaks = iter([(1e9, 5e8), (3e9, 2e9), (2e9, 1e9)])  # per window: (reserved, allocated)
    current = {}

    def reset():
        current.update(zip(("reserved", "allocated"), next(peaks, (0, 0)), strict=True))

    cuda = SimpleNamespace(
        is_initialized=lambda: True, reset_peak_memory_stats=reset,
        max_memory_reserved=lambda: current["reserved"],
        max_memory_allocated=lambda: current["allocated"],
    )
    reset()
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    meter = fake_meter(tmp_path).start()  # start resets: window 1 sees (3e9, 2e9)
    lap = meter.lap("a")
    total = meter.stop()  # window 2 sees (2e9, 1e9)
    assert lap.peak_gpu_memory_gb == 3.0 and lap.peak_gpu_allocated_gb == 2.0
    assert total.peak_gpu_memory_gb == 3.0
    assert total.sources["gpu_memory"] == "measured:torch-max-memory-reserved"


def test_no_cuda_means_gpu_memory_unavailable(tmp_path, monkeypatch):
    cuda = SimpleNamespace(is_initialized=lambda: False)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    with fake_meter(tmp_path) as meter:
        pass
    assert meter.total.peak_gpu_memory_gb is None
    assert meter.total.sources["gpu_memory"] == "unavailable"


# --- laps, log, threads ---------------------------------------------------------------
def test_laps_frame_and_csv_log(tmp_path):
    cpu_s, clock = Counter(0.0), FakeClock(0.0)
    log = tmp_path / "logs" / "meter.csv"
    meter = fake_meter(tmp_path, clock, cpu_seconds=cpu_s, log_path=log).start()
    for epoch in (1, 2, 3):
        cpu_s.value += 360.0  # 3600 J per epoch
        clock.t += 60.0
        meter.lap(f"epoch {epoch}")
        assert len(pd.read_csv(log)) == epoch  # rewritten after every lap
    meter.stop()
    frame = meter.laps_frame()
    assert frame["label"].tolist() == ["epoch 1", "epoch 2", "epoch 3"]
    assert frame["cpu_kwh_cum"].tolist() == pytest.approx([1e-3, 2e-3, 3e-3])
    assert frame["duration_s_cum"].tolist() == [60.0, 120.0, 180.0]
    assert frame["co2_g_cum"].iloc[-1] == pytest.approx(meter.total.co2_g)
    assert meter.total.duration_s == 180.0
    on_disk = pd.read_csv(log)
    assert on_disk["cpu_source"].eq("estimated:cpu-time").all()
    assert on_disk["gpu_kwh"].isna().all()
    d = meter.laps[0].to_dict()
    assert {"energy_kwh", "co2_g", "gpu_source", "cpu_source", "ram_source"} <= d.keys()


def test_exception_in_with_block_closes_lap_and_stops_thread(tmp_path):
    before = len(meter_threads())
    meter = fake_meter(tmp_path, interval_s=0.01)
    with pytest.raises(ZeroDivisionError), meter:
        assert len(meter_threads()) == before + 1
        meter.lap("epoch 1")
        1 / 0  # noqa: B018
    assert [lap.label for lap in meter.laps] == ["epoch 1", "interrupted:ZeroDivisionError"]
    assert meter.total is not None
    assert len(meter_threads()) == before


def test_keyboard_interrupt_in_with_block_stops_thread(tmp_path):
    meter = fake_meter(tmp_path, interval_s=0.01)
    with pytest.raises(KeyboardInterrupt), meter:
        raise KeyboardInterrupt
    assert meter.laps[-1].label == "interrupted:KeyboardInterrupt"
    assert not any(t.is_alive() for t in meter_threads())


def test_thread_samples_in_background(tmp_path):
    gpu = FakeGpu("GPU-p", power_mw=50_000)
    calls = []
    nvml = FakeNvml(gpu)
    real = nvml.nvmlDeviceGetPowerUsage
    nvml.nvmlDeviceGetPowerUsage = lambda h: calls.append(1) or real(h)
    meter = EnergyMeter(intensity_g_per_kwh=1, interval_s=0.005, nvml=nvml,
                        rapl_root=tmp_path).start()
    for _ in range(500):  # at most ~5 s
        if len(calls) >= 5:
            break
        threading.Event().wait(0.01)
    total = meter.stop()
    assert len(calls) >= 5
    assert total.gpu_kwh * KWH == pytest.approx(50.0 * total.duration_s, rel=1e-6)


def test_lifecycle_errors(tmp_path):
    meter = fake_meter(tmp_path)
    with pytest.raises(RuntimeError, match="start"):
        meter.lap("x")
    with pytest.raises(RuntimeError, match="start"):
        meter.stop()
    meter.start()
    with pytest.raises(RuntimeError, match="already started"):
        meter.start()
    with pytest.raises(ValueError, match="label=''"):
        meter.lap("")
    first = meter.stop()
    assert meter.stop() is first  # idempotent


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pue": 0.9}, r"pue=0.9 must be a number >= 1.0"),
        ({"interval_s": 0}, r"interval_s=0 must be a number > 0 \(seconds"),
        ({"interval_s": "fast"}, r"interval_s='fast'"),
        ({"cpu_watts_per_core": -1}, r"cpu_watts_per_core=-1 must be a number > 0"),
        ({"ram_watts_per_gb": 0}, r"ram_watts_per_gb=0 must be a number > 0"),
        ({"intensity_g_per_kwh": -5}, r"intensity_g_per_kwh=-5 must be a number >= 0"),
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fake_meter(tmp_path, **kwargs)


def test_estimate_readers_reject_bad_wattage():
    with pytest.raises(ValueError, match="cpu_watts_per_core='x'"):
        CpuEstimateReader(watts_per_core="x")
    with pytest.raises(ValueError, match="ram_watts_per_gb=-1 must be a number > 0"):
        RamEstimateReader(watts_per_gb=-1)


def test_probe_reports_reasons(tmp_path):
    result = probe(nvml=FakeNvml(FakeGpu("GPU-t4", energy_mj=1, name="Tesla T4")),
                   rapl_root=tmp_path)
    assert result["gpu"].available and result["gpu"].source == "measured:nvml-energy-counter"
    assert "Tesla T4: energy counter" in result["gpu"].reason
    assert result["cpu"].source == "estimated:cpu-time"
    text = str(result)
    assert "Tesla T4" in text and "no RAPL package zone" in text
    assert result.to_dict()["ram"]["available"] is True


def test_import_is_light():
    code = (
        "import sys, peprkit.meter; "
        "print(sorted(m for m in ('torch', 'pynvml', 'psutil') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
