"""Checks that need a real GPU, in one short run (about a minute on a lent GPU machine).

Each section is a function ``section(args) -> list[Row]`` run in order by ``main()``; add a
section by writing such a function and appending it to ``SECTIONS``. A global watchdog
(``--timeout-s``) dumps the stack and exits if anything hangs.

Shared section: a second CUDA process (not a child of this one) runs a matmul load while
this one meters light work: the meter must list it (``gpu_other_processes`` >= 1) and label
the GPU reading ``;shared=...``; the energy counter's update period is measured (commands
shorter than 0.1 s are labelled too short) and a CUDA command is metered through
``meter_command``.

Meter section: a ``--load-s`` (default 30 s) fp16 matmul load, metered at once by
the default EnergyMeter (NVML energy counter), by meters whose GPU reader samples power
(``interval_s`` 1.0 and 0.1), and by the raw NVML counter read around them. Targets: the
meter's GPU energy within 2% of the raw counter delta; start+stop under 50 ms. The
power-sampling figures are reported against the counter on the same load.

Forecast section: a 4-epoch resnet18 run's forecast after epoch 1 against its totals (GPU
energy labelled measured), a run limited to 2.5x its first epoch's energy stops
``over_budget`` within the limit, and an isolated run forked from the server (which
imported torch but never touched CUDA) trains on CUDA.

    python benchmarks/gpu_check.py               # all sections
    python benchmarks/gpu_check.py --load-s 10   # shorter load
"""

from __future__ import annotations

import argparse
import faulthandler
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass


@dataclass
class Row:
    """One printed line: what was measured, its value, the target and whether it was met."""

    name: str
    value: str
    target: str = ""
    ok: bool | None = None


def _table(title: str, rows: list[Row]) -> None:
    print(f"\n== {title}")
    width = max(len(r.name) for r in rows) + 2
    for r in rows:
        flag = {True: "ok", False: "MISS", None: ""}[r.ok]
        print(f"  {r.name:<{width}}{r.value:>24}   {r.target:<18}{flag}")


def _matmul_load(seconds: float) -> int:
    """Run fp16 matmuls on the current CUDA device for ``seconds``; return the count."""
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
        count += 20
    return count


def meter_section(args) -> list[Row]:
    """GPU energy: meter (counter) and power sampling vs the raw NVML counter; fixed cost."""
    import torch

    from peprkit.meter import EnergyMeter, NvmlReader, probe
    from peprkit.meter.nvml import POWER

    if not torch.cuda.is_available():
        return [Row("CUDA", "not available", "a GPU", False)]
    print(probe())
    torch.ones(1, device="cuda")  # CUDA context outside the timed part
    rows = []

    def make(**kw):
        return EnergyMeter(intensity_g_per_kwh=100, **kw)

    # fixed cost, first use then repeated
    costs = []
    for _ in range(args.fixed_reps):
        t0 = time.perf_counter()
        with make():
            pass
        costs.append((time.perf_counter() - t0) * 1e3)
    rows.append(Row("start+stop first use", f"{costs[0]:.1f} ms", "< 50 ms", costs[0] < 50))
    median = statistics.median(costs[1:] or costs)
    rows.append(Row("start+stop median", f"{median:.1f} ms", "< 50 ms", median < 50))

    probe_meter = make().start()  # only to learn the GPU reader the chain picks
    reader = probe_meter.readers["gpu"]
    probe_meter.stop()
    if reader is None:
        return [*rows, Row("GPU reader", probe_meter.reasons["gpu"], "available", False)]
    nvml = reader.nvml
    handles = [h for h, _ in reader.devices]
    sampling = {
        interval: make(gpu_reader=NvmlReader(nvml, [(h, POWER) for h in handles]),
                       cpu=False, ram=False, interval_s=interval).start()
        for interval in (1.0, 0.1)
    }
    raw0 = [nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in handles]
    main_meter = make().start()
    t0 = time.perf_counter()
    n = _matmul_load(args.load_s)
    wall = time.perf_counter() - t0
    total = main_meter.stop()
    raw1 = [nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in handles]
    totals = {interval: m.stop() for interval, m in sampling.items()}

    raw_kwh = sum(e1 - e0 for e0, e1 in zip(raw0, raw1, strict=True)) / 1000 / 3.6e6
    print(f"\nload: {n} matmuls 8192^2 fp16 in {wall:.1f} s; meter total: {total}")
    rows.append(Row("raw NVML counter", f"{raw_kwh * 3.6e6:.1f} J", ""))
    rows.append(Row("avg GPU power (raw)", f"{raw_kwh * 3.6e6 / wall:.1f} W", ""))
    ratio = total.gpu_kwh / raw_kwh
    rows.append(Row(f"meter / raw [{total.sources['gpu']}]", f"{ratio:.4f}", "0.98-1.02",
                    0.98 <= ratio <= 1.02))
    for interval, reading in totals.items():
        r = reading.gpu_kwh / raw_kwh
        rows.append(Row(f"power sampling {interval:g} s / raw", f"{r:.4f}", "report"))
    peak = total.peak_gpu_memory_gb
    rows.append(Row("peak GPU memory (torch)", f"{peak:.2f} GB" if peak else "None", "~0.4 GB"))
    rows.append(Row("GPU memory source", total.sources["gpu_memory"], ""))
    return rows


SECTIONS = [meter_section]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-s", type=float, default=30.0, help="GPU load per check")
    parser.add_argument("--fixed-reps", type=int, default=20, help="start+stop repetitions")
    parser.add_argument("--timeout-s", type=float, default=240.0, help="watchdog for all")
    args = parser.parse_args(argv)
    faulthandler.dump_traceback_later(args.timeout_s, exit=True)
    warnings.simplefilter("ignore")
    failed = 0
    for section in SECTIONS:
        t0 = time.perf_counter()
        try:
            rows = section(args)
        except Exception:
            traceback.print_exc()
            rows = [Row("section raised", "see traceback", "", False)]
        title = (section.__doc__ or section.__name__).splitlines()[0]
        _table(f"{section.__name__} ({time.perf_counter() - t0:.0f} s): {title}", rows)
        failed += sum(r.ok is False for r in rows)
    faulthandler.cancel_dump_traceback_later()
    print(f"\n{'all targets met' if not failed else f'{failed} target(s) missed'}")
    return 1 if failed else 0



def train_section(args) -> list[Row]:
    """Fine-tuning: AMP + channels_last against fp32, images/s and energy per epoch."""
    import tempfile

    import torch

    from peprkit.data import load_npz, make_synthetic
    from peprkit.train import finetune

    if not torch.cuda.is_available():
        return [Row("CUDA", "not available", "a GPU", False)]
    with tempfile.TemporaryDirectory() as tmp:
        data = load_npz(make_synthetic(f"{tmp}/syn.npz", n_classes=7, n_channels=3, size=64,
                                       n_train=4000, n_val=500, n_test=500))
    rows, speed = [], {}
    for amp in (True, False):
        run = finetune("resnet18", data, epochs=2, pretrained=False, amp=amp, quiet=True)
        h, tag = run.history, "amp" if amp else "fp32"
        speed[amp] = h["train_images_per_s"].iloc[-1]  # epoch 2: no warm-up
        epoch_kwh = h["energy_kwh"].iloc[-1] - h["energy_kwh"].iloc[-2]
        epoch_s = h["time_s"].iloc[-1] - h["time_s"].iloc[-2]
        rows.append(Row(f"{tag}: train images/s", f"{speed[amp]:,.0f}", "report"))
        rows.append(Row(f"{tag}: epoch (train+eval)", f"{epoch_s:.2f} s", "report"))
        rows.append(Row(f"{tag}: energy per epoch", f"{epoch_kwh * 3.6e6:.0f} J", "report"))
        rows.append(Row(f"{tag}: GPU energy source", h["gpu_source"].iloc[-1], "measured:*",
                        h["gpu_source"].iloc[-1].startswith("measured")))
        rows.append(Row(f"{tag}: peak memory", f"{h['memory_gb'].iloc[-1]:.2f} GB",
                        h["memory_source"].iloc[-1][:18]))
        rows.append(Row(f"{tag}: test_acc (synthetic)", f"{h['test_acc'].iloc[-1]:.3f}", "> 0.5",
                        h["test_acc"].iloc[-1] > 0.5))
    rows.append(Row("AMP / fp32 images/s", f"{speed[True] / speed[False]:.2f}x", "report"))
    return rows


SECTIONS.append(train_section)

_NEIGHBOUR = """
import time, torch
a = torch.randn(4096, 4096, device="cuda")
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    for _ in range(10):
        a @ a
    torch.cuda.synchronize()
"""


def _detached(code: str) -> int:
    """Start ``python -c code`` outside this process tree (a launcher that exits); its id."""
    import subprocess

    launcher = ("import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', "
                "sys.argv[1]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
                "stderr=subprocess.DEVNULL).pid)")
    done = subprocess.run([sys.executable, "-c", launcher, code], capture_output=True,
                          text=True, check=True, timeout=60)
    return int(done.stdout)


def shared_section(args) -> list[Row]:
    """Shared GPU: a second CUDA process is seen, its share recorded and the label says so."""
    import os
    import signal

    import torch

    from peprkit.meter import EnergyMeter, meter_command
    from peprkit.meter.nvml import load_nvml, visible_handles

    if not torch.cuda.is_available():
        return [Row("CUDA", "not available", "a GPU", False)]
    nvml, reason = load_nvml()
    if nvml is None:
        return [Row("NVML", reason, "usable", False)]
    handle = visible_handles(nvml)[0]
    a = torch.randn(1024, 1024, device="cuda")  # this process holds a context too
    rows: list[Row] = []

    # how often the energy counter moves (the too-short assumption for commands is 0.1 s)
    changes, last, t_end = [], nvml.nvmlDeviceGetTotalEnergyConsumption(handle), time.time() + 2
    t_last = time.perf_counter()
    while time.time() < t_end:
        a @ a
        value = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        if value != last:
            now = time.perf_counter()
            changes.append(now - t_last)
            last, t_last = value, now
    period = statistics.median(changes[1:]) * 1e3 if len(changes) > 2 else float("nan")
    rows.append(Row("energy counter update period", f"{period:.1f} ms", "<= 100 ms",
                    period <= 100))

    pid = _detached(_NEIGHBOUR.format(seconds=args.load_s + 60))
    try:
        seen = []
        for _ in range(120):  # its CUDA context takes a few seconds
            seen = [p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)]
            if len(seen) >= 2:
                break
            time.sleep(0.5)
        print(f"\nNVML compute processes: {seen}; this process {os.getpid()}, "
              f"neighbour {pid} (other ids: the driver's pid namespace differs)")
        try:
            util = nvml.nvmlDeviceGetProcessUtilization(handle, 0)
            util_note = f"{len(util)} samples, pids {sorted({u.pid for u in util})}"
        except nvml.NVMLError as err:
            util_note = f"not available ({err})"
        rows.append(Row("process utilisation", util_note[:24], "report"))
        print(f"process utilisation: {util_note}")
        with EnergyMeter(intensity_g_per_kwh=100, interval_s=0.2) as meter:
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < min(args.load_s, 10):
                a @ a  # light work of ours beside the neighbour's heavy load
                torch.cuda.synchronize()
                time.sleep(0.01)
        total = meter.total
        print(f"meter beside the neighbour: {total}")
        rows.append(Row("other GPU processes seen", str(total.gpu_other_processes), ">= 1",
                        (total.gpu_other_processes or 0) >= 1))
        share = total.gpu_others_share
        rows.append(Row("others' GPU share", "unknown" if share is None else f"{share:.0%}",
                        "report"))
        rows.append(Row("GPU label", total.sources["gpu"][-24:], ";shared=...",
                        ";shared=" in total.sources["gpu"]))
        run = meter_command([sys.executable, "-c", "import torch; x = torch.randn(2048, 2048, "
                             "device='cuda'); [x @ x for _ in range(200)]; "
                             "torch.cuda.synchronize()"], intensity_g_per_kwh=100)
        print(f"peprkit meter on a CUDA command: {run.reading}")
        rows.append(Row("command: GPU label", run.reading.sources["gpu"][-24:], "measured:*",
                        run.reading.sources["gpu"].startswith("measured")))
        rows.append(Row("command: exit code", str(run.exit_code), "0", run.exit_code == 0))
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    return rows


SECTIONS.append(shared_section)


def forecast_section(args) -> list[Row]:
    """Forecast and spend limit on CUDA; a forked isolated run that uses CUDA."""
    import tempfile

    import torch

    from peprkit.data import load_npz, make_synthetic
    from peprkit.train import finetune
    from peprkit.train._subprocess import run_isolated

    if not torch.cuda.is_available():
        return [Row("CUDA", "not available", "a GPU", False)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = load_npz(make_synthetic(f"{tmp}/syn.npz", n_classes=7, n_channels=3, size=64,
                                       n_train=4000, n_val=500, n_test=500))
        run = finetune("resnet18", data, epochs=4, pretrained=False, quiet=True,
                       run_dir=f"{tmp}/run")
        s = run.summary.iloc[0]
        for col, actual in (("time_s", "train_time_s"), ("energy_kwh", "energy_kwh")):
            err = s[f"forecast_{col}"] / s[actual] - 1
            rows.append(Row(f"forecast@epoch1 {col} error", f"{err:+.0%}", "report"))
        rows.append(Row("forecast source: gpu", s["forecast_source"].split("gpu=")[-1][:24],
                        "measured:*", "gpu=measured" in s["forecast_source"]))
        limit = 2.5 * float(run.history["energy_kwh"].iloc[0])
        cut = finetune("resnet18", data, epochs=4, pretrained=False, quiet=True,
                       run_dir=f"{tmp}/cut", max_energy_kwh=limit)
        used = float(cut.history["energy_kwh"].iloc[-1]) / limit
        rows.append(Row("max_energy_kwh=2.5 x epoch 1", f"{cut.status}, {len(cut.history)} "
                        f"ep, {used:.0%}", "over_budget, <=100%",
                        cut.status == "over_budget" and used <= 1))
        job = {"finetune": dict(model="resnet18", data=data, epochs=1, pretrained=False,
                                quiet=True, device="cuda"), "meter": True}
        forked = run_isolated(job, start="fork")
        dev = forked["summary"].iloc[0]["device"] if forked["summary"] is not None else "none"
        rows.append(Row("forked isolated run on CUDA", f"{forked['status']} on {dev}",
                        "completed on cuda", forked["status"] == "completed"
                        and str(dev).startswith("cuda")))
    return rows


SECTIONS.append(forecast_section)

if __name__ == "__main__":
    sys.exit(main())
