"""What ``run_sweep(..., isolate=True)`` costs per run, and what it buys, side by side.

The same small sweep runs twice on the same data: every run in this process
(``isolate=False``) and every run in a fresh worker process (``isolate=True``). For each
it prints the wall seconds per run (the whole ``run_sweep`` call divided by the runs) and
the extra seconds per run that isolation costs (starting Python, importing torch and
timm, loading the pickled data). It then prints each model's ``memory_gb`` when it runs
first and when it runs after the others, in both modes: isolation (and the kit's
peak-increase definition of ``memory_gb``) should make the two agree. Last, it repeats
the isolated sweep with identical settings ``--repeats`` times: the spread of those readings
is the measurement's own noise (the C allocator's layout differs between fresh processes),
the floor below which no order effect can be told apart.

    python benchmarks/isolate_cost.py                  # 2 models x 2 orders, 1 epoch
    python benchmarks/isolate_cost.py --n-train 2000   # longer runs: a smaller share
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def _sweep(models, data, folder: Path, *, isolate: bool, tag: str):
    from peprkit.sweep import run_sweep

    started = time.perf_counter()
    table = run_sweep(models, data, epochs=1, out=folder / f"{tag}.csv", pretrained=(False,),
                      quiet=True, isolate=isolate, batch_size=32, threads=1,
                      country="DK")
    return table, (time.perf_counter() - started) / len(models)


def worker_start_s(repeats: int = 3) -> float:
    """Seconds to start a bare Python that imports what a worker needs (best of ``repeats``)."""
    import subprocess
    import sys

    code = "import torch, timm, peprkit.train, peprkit.data"
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "lcnet_050"])
    parser.add_argument("--n-train", type=int, default=256, help="training images")
    parser.add_argument("--repeats", type=int, default=3,
                        help="extra identical isolated sweeps for the noise floor")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from peprkit.data import load_npz, make_synthetic

    models = list(args.models)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = load_npz(make_synthetic(folder / "syn.npz", n_classes=2, n_train=args.n_train,
                                       n_val=64, n_test=64))
        print(f"data: {data!r}; models: {models}")
        rows = {}
        for isolate in (False, True):
            for order in ("forward", "reversed"):
                names = models if order == "forward" else models[::-1]
                table, per_run = _sweep(names, data, folder, isolate=isolate,
                                        tag=f"{isolate}_{order}")
                rows[isolate, order] = (table.set_index("model"), per_run)
        for isolate in (False, True):
            per_run = [rows[isolate, o][1] for o in ("forward", "reversed")]
            label = "isolated  " if isolate else "in-process"
            print(f"[time] {label}: {sum(per_run) / 2:6.2f} s per run "
                  f"(forward {per_run[0]:.2f}, reversed {per_run[1]:.2f})")
        cost = (sum(rows[True, o][1] for o in ("forward", "reversed"))
                - sum(rows[False, o][1] for o in ("forward", "reversed"))) / 2
        print(f"[cost] isolation adds {cost:.2f} s per run; a bare worker start (Python + "
              f"torch + timm imports) takes {worker_start_s():.2f} s")
        print("[memory_gb] model: first / after the others (spread), per mode")
        for isolate in (False, True):
            for name in models:
                first = "forward" if name == models[0] else "reversed"
                later = "reversed" if first == "forward" else "forward"
                a = float(rows[isolate, first][0].loc[name, "memory_gb"])
                b = float(rows[isolate, later][0].loc[name, "memory_gb"])
                label = "isolated  " if isolate else "in-process"
                print(f"  {label} {name:14s} {a:.3f} / {b:.3f} GB "
                      f"({abs(a - b) / max(a, b, 1e-12):.1%})")
        same = [rows[True, "forward"][0]] + [
            _sweep(models, data, folder, isolate=True, tag=f"repeat{k}")[0].set_index("model")
            for k in range(args.repeats)]
        print(f"[noise] memory_gb of {len(same)} identical isolated sweeps: min / max (spread)")
        for name in models:
            values = [float(t.loc[name, "memory_gb"]) for t in same]
            low, high = min(values), max(values)
            print(f"  {name:14s} {low:.3f} / {high:.3f} GB ({(high - low) / max(high, 1e-12):.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
