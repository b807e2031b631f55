"""Speed of the metric layer, printed side by side with its targets.

- ``import peprkit``, timed in fresh interpreters (target: under 0.5 s), next to
  ``import numpy, pandas`` for comparison (peprkit defers pandas until it is needed);
- ``add_pepr`` on 1,000,000 rows in 20 groups with four resources (target: under 1 s);
- ``pareto_front`` on the same 1,000,000 points (no target; O(n log n)).

Run: ``python benchmarks/metric_speed.py [--rows N] [--repeat K]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd

IMPORT_TARGET_S = 0.5
ADD_PEPR_TARGET_S = 1.0
RESOURCES = {"e": "energy_kwh", "c": "co2_g", "m": "memory_gb", "t": "train_time_s"}


def import_time_s(module: str, repeat: int) -> list[float]:
    """Wall time of ``import <module>`` in ``repeat`` fresh interpreters."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(repeat)
    ]


def sweep_table(rows: int, groups: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    energy = rng.uniform(0.001, 0.3, rows)
    return pd.DataFrame({
        "dataset": pd.Categorical.from_codes(rng.integers(0, groups, rows),
                                             [f"dataset_{i}" for i in range(groups)]),
        "test_acc": rng.uniform(0.4, 0.99, rows),
        "energy_kwh": energy,
        "co2_g": energy * rng.uniform(20, 600, rows),
        "memory_gb": rng.uniform(0.3, 24, rows),
        "train_time_s": energy * 3.6e3 + rng.uniform(0, 30, rows),
    })


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _row(name: str, times: list[float], target: float | None) -> str:
    best, median = min(times), statistics.median(times)
    ratio = f"{median / target:5.2f}x target ({target:g} s)" if target else "no target"
    return f"{name:<34} best {best:7.3f} s  median {median:7.3f} s  {ratio}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from peprkit.metric import add_pepr, pareto_front

    baseline = import_time_s("numpy, pandas", args.repeat)
    imports = import_time_s("peprkit", args.repeat)
    df = sweep_table(args.rows)
    add = timed(lambda: add_pepr(df, performance="test_acc", resources=RESOURCES,
                                 by="dataset"), args.repeat)
    front = timed(lambda: pareto_front(df["test_acc"], df["energy_kwh"]), args.repeat)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}; "
          f"{args.rows:,} rows in 20 groups, {args.repeat} repeats (ratio uses the median)")
    print(_row("import numpy, pandas (comparison)", baseline, IMPORT_TARGET_S))
    print(_row("import peprkit (fresh process)", imports, IMPORT_TARGET_S))
    print(_row(f"add_pepr ({len(RESOURCES)} resources)", add, ADD_PEPR_TARGET_S))
    print(_row("pareto_front", front, None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
