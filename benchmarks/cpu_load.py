"""Does the CPU energy estimate follow the work or the machine's load? Side by side, one run.

The same short job (resnet18 from scratch, 28 px, ``--n-train`` synthetic images, 3 epochs,
meter on, no pretrained weights) runs in a fresh Python process for every variant:

- load: ``alone``; ``busy`` beside two pure-Python spin loops (``while True: pass``);
  ``memory`` beside a process holding ``--hog-share`` of the available memory.
- threads: ``cores`` (torch threads = cores this process may run on,
  ``os.sched_getaffinity``) or ``idle`` (the kit's former automatic choice: the cores not
  busy over 0.2 s, which follows the momentary load).
- ``kit:isolated``: what ``run_sweep(isolate=True)`` does now: the worker's environment
  from ``peprkit.train._subprocess.job_environment`` and ``finetune(threads=None)``.
- OpenMP wait: ``default`` (unset, torch imported before peprkit: a thread waiting at a
  barrier spins a while before it sleeps, and the spinning is CPU time) or ``passive``
  (``OMP_WAIT_POLICY=PASSIVE`` in the environment before torch is imported: a waiting
  thread sleeps).

For each variant it prints the estimated CPU energy (CPU seconds x W per busy core, the
kit's ``estimated:cpu-time`` reading), the user and system CPU seconds, the wall time
and the thread count, then the ratio of estimated energy beside busy processes (and beside
the memory hog) to the estimate alone, per thread policy (target: within 15%, i.e.
0.87..1.15). Rounds are interleaved (``--rounds``); the median of each variant is shown.

    python benchmarks/cpu_load.py                       # about 5 min on 2 cores
    python benchmarks/cpu_load.py --rounds 1 --variants idle:default,kit:isolated
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOADS = ("alone", "busy", "memory")
VARIANTS = ("idle:default", "cores:default", "idle:passive", "cores:passive", "kit:isolated")


def _idle_cores() -> int:
    """The kit's former automatic thread count: cores minus the busy share over 0.2 s."""
    import psutil

    cores = len(os.sched_getaffinity(0))
    busy = psutil.cpu_percent(interval=0.2) / 100.0 * cores
    return max(1, min(cores, round(cores - busy)))


def child(args) -> int:
    """One job in this (fresh) process; prints one JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    policy = args.child
    if policy != "kit":
        import torch  # noqa: F401  (before peprkit.train: the environment decides the wait)
    threads = {"idle": _idle_cores, "cores": lambda: len(os.sched_getaffinity(0)),
               "kit": lambda: None}[policy]()
    import psutil

    from peprkit.data import load_npz, make_synthetic
    from peprkit.train import finetune

    with tempfile.TemporaryDirectory() as tmp:
        data = load_npz(make_synthetic(Path(tmp) / "syn.npz", n_classes=2, n_channels=1,
                                       size=28, n_train=args.n_train, n_val=64, n_test=64))
        proc = psutil.Process()
        before = proc.cpu_times()
        ctx0 = proc.num_ctx_switches()
        run = finetune("resnet18", data, epochs=args.epochs, pretrained=False, quiet=True,
                       threads=threads, seed=0, recipe="finetune")
        after = proc.cpu_times()
        ctx1 = proc.num_ctx_switches()
    last = run.history.iloc[-1]
    print(json.dumps({
        "threads": int(run.summary["threads"].iloc[0]), "cpu_kwh": float(last["cpu_kwh"]),
        "cpu_source": last["cpu_source"],
        "time_s": float(last["time_s"]), "train_cpu_s": float(last["train_cpu_s"]),
        "user_s": after.user - before.user, "system_s": after.system - before.system,
        "involuntary_ctx": ctx1.involuntary - ctx0.involuntary,
        "voluntary_ctx": ctx1.voluntary - ctx0.voluntary,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: active)"),
        "test_acc": float(last["test_acc"])}))
    return 0


def _spinners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _hog(share: float) -> list[subprocess.Popen]:
    """A process that fills ``share`` of the available memory, touches it and sleeps."""
    import psutil

    nbytes = int(psutil.virtual_memory().available * share)
    code = (f"import time, sys\nb = bytearray({nbytes})\n"
            "for i in range(0, len(b), 4096): b[i] = 1\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush()\ntime.sleep(3600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # wait until the memory is held
    return [proc]


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()


def _run_variant(variant: str, load: str, args) -> dict:
    policy, wait = variant.split(":")
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("OMP_WAIT_POLICY", None)
    if policy == "kit":
        from peprkit.train._subprocess import job_environment

        env = job_environment({"finetune": {"threads": None}})
    else:
        if wait == "passive":
            env["OMP_WAIT_POLICY"] = "PASSIVE"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    others = (_spinners(2) if load == "busy" else _hog(args.hog_share) if load == "memory"
              else [])
    try:
        if others:
            time.sleep(0.5)  # let the load show in the momentary CPU reading
        out = subprocess.run(
            [sys.executable, __file__, "--child", policy, "--n-train", str(args.n_train),
             "--epochs", str(args.epochs)],
            env=env, capture_output=True, text=True, check=True)
    finally:
        _stop(others)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("idle", "cores", "kit"), help=argparse.SUPPRESS)
    parser.add_argument("--n-train", type=int, default=300, help="training images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--loads", default=",".join(LOADS))
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="threads:wait pairs, threads in {idle, cores}, wait in "
                             "{default, passive}, or kit:isolated")
    parser.add_argument("--hog-share", type=float, default=0.6,
                        help="share of available memory the hog holds")
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    loads, variants = args.loads.split(","), args.variants.split(",")
    for name, values, known in (("--loads", loads, LOADS), ("--variants", variants, VARIANTS)):
        bad = [v for v in values if v not in known]
        if bad:
            raise ValueError(f"{name}={bad!r}: choose from {', '.join(known)}.")
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min) on "
          f"{len(os.sched_getaffinity(0))} cores; job: resnet18 from scratch, 28 px, "
          f"{args.n_train} synthetic images, {args.epochs} epochs, meter on")
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for variant in variants:
            for load in loads:
                results.setdefault((variant, load), []).append(
                    _run_variant(variant, load, args))
    print(f"\n{'threads:wait':14} {'load':7} {'thr':>3} {'cpu_kwh':>10} {'cpu_s':>7} "
          f"{'user_s':>7} {'sys_s':>6} {'wall_s':>7} {'invol_ctx':>9}  (median of "
          f"{args.rounds}; cpu_kwh [{_first(results)['cpu_source']}])")
    med = {}
    for (variant, load), runs in results.items():
        m = {k: statistics.median(r[k] for r in runs)
             for k in ("threads", "cpu_kwh", "train_cpu_s", "user_s", "system_s", "time_s",
                       "involuntary_ctx")}
        med[variant, load] = m
        print(f"{variant:14} {load:7} {m['threads']:>3.0f} {m['cpu_kwh']:>10.3g} "
              f"{m['train_cpu_s']:>7.1f} {m['user_s']:>7.1f} {m['system_s']:>6.2f} "
              f"{m['time_s']:>7.1f} {m['involuntary_ctx']:>9.0f}")
    print("\nestimated CPU energy ratio to 'alone' (target 0.87..1.15) and wall time ratio:")
    for variant in variants:
        alone = med.get((variant, "alone"))
        if alone is None:
            continue
        parts = [f"{load}: energy {med[variant, load]['cpu_kwh'] / alone['cpu_kwh']:.2f}x, "
                 f"wall {med[variant, load]['time_s'] / alone['time_s']:.2f}x"
                 for load in loads if load != "alone" and (variant, load) in med]
        print(f"  {variant:14} " + "; ".join(parts))
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    return 0


def _first(results):
    return next(iter(results.values()))[0]


if __name__ == "__main__":
    raise SystemExit(main())
