"""Checks that need a real GPU, in one short run (about a minute on a lent GPU machine).

Each section is a function ``section(args) -> list[Row]`` run in order by ``main()``; add a
section by writing such a function and appending it to ``SECTIONS``. A global watchdog
(``--timeout-s``) dumps the stack and exits if anything hangs.

Meter section: a ``--load-s`` (default 30 s) fp16 matmul load, metered at once by
the default EnergyMeter (NVML energy counter), by meters whose GPU reader samples power
(``interval_s`` 1.0 and 0.1), and by the raw NVML counter read around them. Targets: the
meter's GPU energy within 2% of the raw counter delta; start+stop under 50 ms. The
power-sampling figures are reported against the counter on the same load.

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

if __name__ == "__main__":
    sys.exit(main())
