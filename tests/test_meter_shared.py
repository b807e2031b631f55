"""What else used the device in a metered window: CPU and GPU shares, labels, add_pepr's column."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pandas as pd
import pytest
from test_meter import Counter, FakeClock, FakeGpu, FakeNvml, NVMLError, fake_meter, make_zone

from peprkit import add_pepr
from peprkit._synthetic import number_source
from peprkit.meter import EnergyMeter, is_available
from peprkit.meter.sharing import (
    GpuSharing,
    busy_neighbour,
    cpu_others_share,
    is_shared,
    machine_cpu_seconds,
    shared_label,
)

OTHER = 4_000_001  # a process id that is not in this process tree


class SharedNvml(FakeNvml):
    """A FakeNvml that also lists compute processes and their utilisation samples."""

    def __init__(self, *gpus, util_supported=True):
        super().__init__(*gpus)
        self.pids: list[int] = []
        self.samples: list[tuple[int, int]] = []  # (pid, smUtil) since the last call
        self.util_supported = util_supported
        self._stamp = 0

    def nvmlDeviceGetComputeRunningProcesses(self, gpu):
        return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 20) for pid in self.pids]

    def nvmlDeviceGetProcessUtilization(self, gpu, last_seen):
        if not self.util_supported:
            raise _error(3, "Not Supported")
        if not self.samples:
            raise _error(6, "Not Found")
        out = []
        for pid, util in self.samples:
            self._stamp += 1
            out.append(SimpleNamespace(pid=pid, smUtil=util, memUtil=0, timeStamp=self._stamp))
        self.samples = []
        return out


def _error(value: int, text: str) -> NVMLError:
    err = NVMLError(text)
    err.value = value
    return err


def rapl_meter(tmp_path, own, machine, **kwargs) -> EnergyMeter:
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    make_zone(tmp_path, "intel-rapl:0:2", "dram", 0)
    return fake_meter(tmp_path, rapl_root=tmp_path, cpu_seconds=own,
                      machine_cpu_seconds=machine, **kwargs)


# --- CPU: the machine's CPU time against this process tree's --------------------------------
def test_rapl_window_used_by_others_says_shared_and_keeps_its_prefix(tmp_path):
    own, machine, clock = Counter(10.0), Counter(100.0), FakeClock()
    meter = rapl_meter(tmp_path, own, machine, clock=clock).start()
    own.value, machine.value, clock.t = 11.0, 104.0, clock.t + 2  # others: 3 of 4 s
    lap1 = meter.lap("busy machine")
    own.value, machine.value, clock.t = 13.0, 106.2, clock.t + 2  # others: 0.2 of 2.2 s
    lap2 = meter.lap("quiet machine")
    total = meter.stop()
    assert lap1.cpu_others_share == pytest.approx(0.75)
    assert lap1.sources["cpu"] == "measured:rapl;shared=75%"
    assert lap1.sources["ram"] == "measured:rapl;shared=75%"  # DRAM counts the whole machine
    assert lap1.shared_device
    assert lap2.cpu_others_share == pytest.approx(0.2 / 2.2)
    assert lap2.sources["cpu"] == "measured:rapl" and not lap2.shared_device
    assert total.cpu_others_share == pytest.approx(3.2 / 6.2)
    assert total.sources["cpu"] == "measured:rapl;shared=52%"
    for label in (lap1.sources["cpu"], total.sources["ram"]):  # existing readers of labels
        assert is_available(label) and label.startswith("measured")


def test_threshold_is_a_keyword_and_is_checked(tmp_path):
    own, machine = Counter(0.0), Counter(0.0)
    meter = rapl_meter(tmp_path, own, machine, shared_threshold=0.8).start()
    own.value, machine.value = 1.0, 4.0
    total = meter.stop()
    assert total.cpu_others_share == pytest.approx(0.75)
    assert total.sources["cpu"] == "measured:rapl"
    with pytest.raises(ValueError, match=r"shared_threshold=1.5 must be a number"):
        fake_meter(tmp_path, shared_threshold=1.5)


def test_cpu_estimate_records_the_share_but_its_label_stays(tmp_path):
    own, machine = Counter(0.0), Counter(0.0)
    meter = fake_meter(tmp_path, cpu_seconds=own, machine_cpu_seconds=machine).start()
    own.value, machine.value = 1.0, 5.0
    total = meter.stop()
    assert total.cpu_others_share == pytest.approx(0.8)
    assert total.sources["cpu"] == "estimated:cpu-time"  # others' work is not in it
    assert not total.shared_device
    row = total.to_dict()
    assert row["cpu_others_share"] == pytest.approx(0.8) and row["shared_device"] is False


def test_fake_process_time_is_never_compared_with_the_real_machine(tmp_path):
    meter = fake_meter(tmp_path).start()  # fake cpu_seconds, no machine function given
    assert meter.stop().cpu_others_share is None


def test_share_rules():
    assert cpu_others_share(3.0, 2.0) == 0.0  # own above machine (tick rounding): none
    assert cpu_others_share(None, 2.0) is None and cpu_others_share(0.0, 0.05) is None
    assert shared_label("unavailable:rapl-error", 0.9) == "unavailable:rapl-error"
    assert shared_label("partial:rapl-error", 0.9) == "partial:rapl-error;shared=90%"
    assert shared_label("measured:rapl", 0.2) == "measured:rapl;shared=20%"
    assert is_shared("measured:rapl;shared=unknown") and not is_shared(None)
    value = machine_cpu_seconds()
    assert value is None or value > 0


# --- GPU: other processes with a context, their share of utilisation ------------------------
def gpu_meter(tmp_path, nvml, clock=None, **kwargs) -> EnergyMeter:
    return fake_meter(tmp_path, clock, nvml=nvml, uses_cuda=lambda: False, **kwargs)


def test_gpu_other_process_share_of_utilisation(tmp_path):
    nvml = SharedNvml(FakeGpu("GPU-a", energy_mj=0))
    nvml.pids = [os.getpid()]
    nvml.samples = [(os.getpid(), 99)]  # before the start: not counted
    meter = gpu_meter(tmp_path, nvml).start()
    nvml.samples = [(os.getpid(), 40)]
    lap1 = meter.lap("alone")
    nvml.pids = [os.getpid(), OTHER]
    meter.sample()
    nvml.samples = [(os.getpid(), 30), (OTHER, 90)]
    lap2 = meter.lap("with a neighbour")
    total = meter.stop()
    assert (lap1.gpu_others_share, lap1.gpu_other_processes) == (0.0, 0)
    assert lap1.sources["gpu"] == "measured:nvml-energy-counter"
    assert lap2.gpu_other_processes == 1
    assert lap2.gpu_others_share == pytest.approx(0.75)
    assert lap2.sources["gpu"] == "measured:nvml-energy-counter;shared=75%"
    assert total.gpu_others_share == pytest.approx(90 / 160)
    assert total.shared_device and total.sources["cpu"] == "estimated:cpu-time"


def test_gpu_utilisation_not_supported_is_unknown_not_zero(tmp_path):
    nvml = SharedNvml(FakeGpu("GPU-a", energy_mj=0), util_supported=False)
    nvml.pids = [os.getpid(), OTHER]
    meter = gpu_meter(tmp_path, nvml).start()
    total = meter.stop()
    assert total.gpu_others_share is None and total.gpu_other_processes == 1
    assert total.sources["gpu"] == "measured:nvml-energy-counter;shared=unknown"


def test_gpu_without_process_listing_records_nothing(tmp_path):
    meter = gpu_meter(tmp_path, FakeNvml(FakeGpu("GPU-a", energy_mj=0))).start()
    total = meter.stop()  # the stand-in has no process functions, like an old driver
    assert total.gpu_other_processes is None and total.gpu_others_share is None
    assert total.sources["gpu"] == "measured:nvml-energy-counter"


def test_gpu_listing_from_another_pid_namespace_counts_all_but_one():
    nvml = SharedNvml(FakeGpu("GPU-a"))
    nvml.pids = [OTHER, OTHER + 1]  # host ids: neither is this process, which uses CUDA
    sharing = GpuSharing(nvml, nvml.gpus, uses_cuda=lambda: True)
    start = sharing.mark()
    nvml.samples = [(OTHER, 50), (OTHER + 1, 50)]
    assert sharing.window(start, sharing.mark()) == (None, 1)


def test_laps_frame_and_add_pepr_carry_the_flag(tmp_path):
    own, machine = Counter(0.0), Counter(0.0)
    meter = rapl_meter(tmp_path, own, machine).start()
    own.value, machine.value = 1.0, 1.1
    meter.lap("alone")
    own.value, machine.value = 1.5, 3.1
    meter.lap("beside a neighbour")
    meter.stop()
    frame = meter.laps_frame()
    assert frame["shared_device"].tolist() == [False, True]
    assert frame["cpu_others_share"].dtype == float
    runs = pd.DataFrame({"model": ["a", "b", "c"], "test_acc": [0.8, 0.9, 0.7],
                         "energy_kwh": [1.0, 2.0, 3.0],
                         "cpu_source": ["measured:rapl", "measured:rapl;shared=40%",
                                        "estimated:cpu-time"],
                         "gpu_source": ["unavailable", "unavailable", "unavailable"]})
    scored = add_pepr(runs, performance="test_acc", resources={"e": "energy_kwh"})
    assert scored["shared_device"].tolist() == [False, True, False]
    assert number_source(runs.iloc[1:2], "energy_kwh") == "measured"
    flagged = add_pepr(runs.drop(columns=["cpu_source", "gpu_source"]).assign(
        shared_device=[True, False, False]), performance="test_acc",
        resources={"e": "energy_kwh"})
    assert flagged["shared_device"].tolist() == [True, False, False]
    plain = add_pepr(runs[["model", "test_acc", "energy_kwh"]], performance="test_acc",
                     resources={"e": "energy_kwh"})
    assert "shared_device" not in plain.columns


# --- one real window beside a busy process ---------------------------------------------------
def test_a_busy_second_process_is_recorded(tmp_path):
    psutil = pytest.importorskip("psutil")
    with busy_neighbour(seconds_max=30) as pid:
        assert pid not in {p.pid for p in psutil.Process().children(recursive=True)}
        time.sleep(0.3)  # let it start burning
        with EnergyMeter(intensity_g_per_kwh=100, gpu=False, rapl_root=tmp_path / "none",
                         interval_s=0.5) as meter:
            time.sleep(2.0)  # light work here; the neighbour burns a core
    share = meter.total.cpu_others_share
    assert share is not None and share > 0.2, meter.total
    assert meter.total.sources["cpu"] == "estimated:cpu-time"  # an estimate stays unshared

