"""What metering costs: start+stop fixed cost, and the slowdown of a CPU workload.

Targets: start+stop under 50 ms; a ~20 s CPU workload at most 1.01x slower with
the meter than without. The workload is pure Python (it holds the GIL, so it is the case
most sensitive to the meter's sampling thread). Runs alternate (none, peprkit[, codecarbon])
round after round so that drifts in machine load hit every variant alike; the reported
slowdown is the median over rounds of (metered time / unmetered time in the same round),
for wall time and for this process's CPU time, plus the meter's added CPU relative to the
workload's (steady even when other programs load the machine). The cost of one background
reading is also timed directly.
When codecarbon is importable its ``OfflineEmissionsTracker`` is measured side by side
(it is not a dependency of the kit; ``--codecarbon-path`` appends a folder holding it to
sys.path).

    python benchmarks/meter_overhead.py                   # ~20 s workload, 3 rounds
    python benchmarks/meter_overhead.py --workload-s 2 --rounds 2   # quick look
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import statistics
import sys
import time
import warnings


def workload(n: int) -> int:
    """Pure-Python arithmetic, about ``n`` loop iterations."""
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1_000_003
    return acc


def calibrate(target_s: float) -> int:
    """Loop count that makes ``workload`` take about ``target_s`` CPU seconds here."""
    n = 200_000
    while True:
        t0 = time.process_time()
        workload(n)
        took = time.process_time() - t0
        if took > 0.5:
            return max(1, int(n * target_s / took))
        n *= 4


def peprkit_meter():
    from peprkit.meter import EnergyMeter

    return EnergyMeter(country="DK")


def codecarbon_tracker():
    from codecarbon import OfflineEmissionsTracker

    tracker = OfflineEmissionsTracker(
        country_iso_code="DNK", save_to_file=False, log_level="error",
        measure_power_secs=1, tracking_mode="process",
    )

    @contextlib.contextmanager
    def tracked():
        tracker.start()
        try:
            yield tracker
        finally:
            tracker.stop()

    return tracked()


def codecarbon_available() -> bool:
    return importlib.util.find_spec("codecarbon") is not None


def import_ms(statement: str) -> float:
    t0 = time.perf_counter()
    exec(statement, {})
    return (time.perf_counter() - t0) * 1e3


def fixed_cost_ms(make, reps: int) -> tuple[float, float, float]:
    """(first, median, max) wall milliseconds of make() + start + stop, with no work inside."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with make():
            pass
        times.append((time.perf_counter() - t0) * 1e3)
    return times[0], statistics.median(times[1:] or times), max(times)


CLOCKS = ("wall", "cpu", "added")


def slowdown(variants: dict, n: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per variant and clock, metered/unmetered ratios for each round.

    "wall": wall time; "cpu": this process's CPU time (all threads, so the meter's own
    work counts); "added": 1 + (CPU the process used beyond the workload's own thread) /
    (the workload thread's CPU), the meter's cost in isolation. On a shared machine other
    programs stretch wall time and even CPU time by tens of percent; "added" stays steady.
    """
    ratios = {name: {clock: [] for clock in CLOCKS} for name in variants}
    order = [("none", contextlib.nullcontext), *variants.items()]
    for r in range(rounds):
        times = dict.fromkeys(name for name, _ in order)  # print in a fixed order
        for name, make in order[r % len(order):] + order[: r % len(order)]:  # rotate
            w0, c0 = time.perf_counter(), time.process_time()
            with make():
                t0 = time.thread_time()
                workload(n)
                own = time.thread_time() - t0
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            times[name] = (wall, cpu, 1 + (cpu - own) / own)
        for name in variants:
            for i, clock in enumerate(CLOCKS[:2]):
                ratios[name][clock].append(times[name][i] / times["none"][i])
            ratios[name]["added"].append(times[name][2])
        line = ", ".join(f"{k} {w:.2f} s wall / {c:.2f} s cpu" for k, (w, c, _) in times.items())
        print(f"  round {r + 1}/{rounds}: {line}", flush=True)
    return ratios


def sampling_cost_ms(reps: int = 200) -> float:
    """Median milliseconds of one background reading (what the thread does each interval_s)."""
    from peprkit.meter import EnergyMeter

    meter = EnergyMeter(country="DK", interval_s=3600).start()
    costs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        meter.sample()
        costs.append((time.perf_counter() - t0) * 1e3)
    meter.stop()
    return statistics.median(costs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload-s", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--fixed-reps", type=int, default=20, help="start+stop repetitions")
    parser.add_argument("--codecarbon-path", help="folder to append to sys.path for codecarbon")
    parser.add_argument("--no-codecarbon", action="store_true", help="skip codecarbon")
    args = parser.parse_args(argv)
    if args.codecarbon_path:
        sys.path.append(args.codecarbon_path)
    warnings.simplefilter("ignore")
    logging.getLogger("codecarbon").setLevel(logging.ERROR)

    variants = {"peprkit": peprkit_meter}
    if not args.no_codecarbon and codecarbon_available():
        variants["codecarbon"] = codecarbon_tracker
    else:
        print("codecarbon not importable: measuring peprkit only")

    print("import time (once per process, not part of the fixed cost):")
    statements = {"peprkit": "from peprkit.meter import EnergyMeter"}
    if "codecarbon" in variants:
        statements["codecarbon"] = "from codecarbon import OfflineEmissionsTracker"
    for name, statement in statements.items():
        print(f"  {name:<11}{import_ms(statement):>10.0f} ms")
    print(f"fixed cost: start+stop with nothing inside, {args.fixed_reps} repetitions "
          f"(first = first use in this process)")
    print(f"  {'':<11}{'first ms':>10}{'median ms':>11}{'max ms':>9}   target < 50 ms")
    for name, make in variants.items():
        first, median, worst = fixed_cost_ms(make, args.fixed_reps)
        print(f"  {name:<11}{first:>10.1f}{median:>11.1f}{worst:>9.1f}")

    cost = sampling_cost_ms()
    print(f"peprkit sampling cost: {cost:.3f} ms per reading, every 1 s by default: at most "
          f"{1 + cost / 1000:.5f}x on a GIL-bound workload (the ratios below measure it whole)")
    print(f"load average before the workload runs: {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs (other programs add noise to every ratio)")
    n = calibrate(args.workload_s)
    print(f"workload slowdown: ~{args.workload_s:g} s pure-Python loop, {args.rounds} rounds")
    ratios = slowdown(variants, n, args.rounds)
    print(f"  {'':<11}{'clock':<6}{'median ratio':>13}   per round   (target <= 1.01)")
    for name, by_clock in ratios.items():
        for clock, values in by_clock.items():
            listed = ", ".join(f"{v:.3f}" for v in values)
            print(f"  {name:<11}{clock:<6}{statistics.median(values):>13.3f}   {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
