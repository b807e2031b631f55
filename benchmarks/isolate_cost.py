"""What ``run_sweep(..., isolate=True)`` costs per run, and what it buys, side by side.

Isolated runs start one of two ways (``peprkit.train._subprocess.run_isolated``):
``fresh``, a new Python interpreter per run that imports torch and timm (the old way), and
``fork``, a fork of a server process that imported them once (``peprkit.train._forkserver``,
the default on Linux). Measured in this one run, on this machine:

1. **Start of a run** (``[start]``): an isolated job that only imports what a run needs
   (``_forkserver.preload``), ``--starts`` times each way, interleaved; the median seconds
   per job. This is the overhead isolation adds to every run. With ``--busy N``, N
   busy-looping processes run meanwhile (a loaded machine, e.g. other workers).
2. **Whole sweeps** (``[time]``): the same small sweep in this process
   (``isolate=False``) and isolated both ways; wall seconds per run, and the extra seconds
   per run over in-process.
3. **Memory** (``[memory_gb]``): each model's ``memory_gb`` when it runs first and when it
   runs after the others, per mode: isolation (and the kit's peak-increase definition of
   ``memory_gb``, taken in the forked child from its own resident memory at the start)
   should make the two agree, and forked runs should read like fresh ones.
4. **Noise** (``[noise]``): ``--repeats`` identical forked sweeps; the spread of their
   readings is the measurement's own noise, the floor below which no order effect can be
   told apart.

    python benchmarks/isolate_cost.py                  # 2 models x 2 orders, 1 epoch
    python benchmarks/isolate_cost.py --busy 2         # starts measured beside 2 busy cores
    python benchmarks/isolate_cost.py --n-train 2000   # longer runs: a smaller share
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

MODES = {"in-process": (False, None), "fresh": (True, "fresh"), "fork": (True, "fork")}


@contextmanager
def _start_method(start: str | None):
    """Make ``run_sweep``'s isolated runs start ``start``-wise (``PEPRKIT_ISOLATE_START``)."""
    import os

    from peprkit.train import _forkserver

    before = os.environ.get(_forkserver.START_ENV)
    if start is not None:
        os.environ[_forkserver.START_ENV] = start
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_forkserver.START_ENV, None)
        else:
            os.environ[_forkserver.START_ENV] = before


def _sweep(models, data, folder: Path, *, mode: str, tag: str):
    from peprkit.sweep import run_sweep

    isolate, start = MODES[mode]
    started = time.perf_counter()
    with _start_method(start):
        table = run_sweep(models, data, epochs=1, out=folder / f"{tag}.csv",
                          pretrained=(False,), quiet=True, isolate=isolate, batch_size=32,
                          threads=1, country="DK")
    return table.set_index("model"), (time.perf_counter() - started) / len(models)


def start_seconds(starts: int) -> dict[str, list[float]]:
    """Seconds per isolated job that only imports what a run needs, each way, interleaved."""
    from peprkit.train._subprocess import run_isolated

    job = {"call": "peprkit.train._forkserver:preload"}
    run_isolated(job, start="fork")  # the server's own start is paid once, not per run
    times: dict[str, list[float]] = {"fresh": [], "fork": []}
    for _ in range(starts):
        for start in times:
            began = time.perf_counter()
            run_isolated(job, start=start)
            times[start].append(time.perf_counter() - began)
    return times


@contextmanager
def _busy(n: int):
    """``n`` processes spinning on a core each, for the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "lcnet_050"])
    parser.add_argument("--n-train", type=int, default=256, help="training images")
    parser.add_argument("--starts", type=int, default=5, help="jobs per way for [start]")
    parser.add_argument("--busy", type=int, default=0,
                        help="busy processes beside the [start] measurement")
    parser.add_argument("--repeats", type=int, default=2,
                        help="extra identical forked sweeps for the noise floor")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from peprkit.data import load_npz, make_synthetic
    from peprkit.train import _threads

    models = list(args.models)
    print(f"machine: {_threads.machine_threads()} cores for torch; python {sys.version.split()[0]}")
    with _busy(args.busy):
        times = start_seconds(args.starts)
    fresh, fork = (statistics.median(times[k]) for k in ("fresh", "fork"))
    print(f"[start] per isolated run, median of {args.starts}, {args.busy} busy process(es) "
          f"beside: fresh interpreter {fresh:.2f} s (min {min(times['fresh']):.2f}), fork "
          f"{fork:.3f} s (min {min(times['fork']):.3f}); {fresh / fork:.0f}x less")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = load_npz(make_synthetic(folder / "syn.npz", n_classes=2, n_train=args.n_train,
                                       n_val=64, n_test=64))
        print(f"data: {data!r}; models: {models}")
        rows = {}
        for order in ("forward", "reversed"):  # modes interleaved: load drifts alike
            for mode in MODES:
                names = models if order == "forward" else models[::-1]
                rows[mode, order] = _sweep(names, data, folder, mode=mode, tag=f"{mode}_{order}")
        per_run = {m: sum(rows[m, o][1] for o in ("forward", "reversed")) / 2 for m in MODES}
        for mode in MODES:
            extra = per_run[mode] - per_run["in-process"]
            print(f"[time] {mode:10s}: {per_run[mode]:6.2f} s per run"
                  + (f" (+{extra:.2f} s over in-process)" if mode != "in-process" else ""))
        print("[memory_gb] model: first / after the others (spread), per mode")
        for mode in MODES:
            for name in models:
                first = "forward" if name == models[0] else "reversed"
                later = "reversed" if first == "forward" else "forward"
                a = float(rows[mode, first][0].loc[name, "memory_gb"])
                b = float(rows[mode, later][0].loc[name, "memory_gb"])
                print(f"  {mode:10s} {name:14s} {a:.3f} / {b:.3f} GB "
                      f"({abs(a - b) / max(a, b, 1e-12):.1%})")
        same = [rows["fork", "forward"][0], rows["fresh", "forward"][0]] + [
            _sweep(models, data, folder, mode="fork", tag=f"repeat{k}")[0]
            for k in range(args.repeats)]
        print(f"[noise] memory_gb of {len(same)} identical isolated sweeps (fork, fresh, "
              f"{args.repeats} x fork): min / max (spread)")
        for name in models:
            values = [float(t.loc[name, "memory_gb"]) for t in same]
            low, high = min(values), max(values)
            print(f"  {name:14s} {low:.3f} / {high:.3f} GB ({(high - low) / max(high, 1e-12):.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
