"""Meter any command or notebook cell: ``peprkit meter -- CMD ARGS...`` and ``%%meter``.

The command runs as a child process with the terminal's stdin, stdout and stderr; the same
readers as :class:`~peprkit.meter.EnergyMeter` meter it (NVML, RAPL, or the estimates),
and the CPU estimate counts the CPU time of the command's whole process tree: live
descendants through psutil while it runs, then the kernel's exact total for the command
and every descendant it waited for (``os.wait4``). Peak memory is the kernel's
high-water mark of the tree's largest process (``ru_maxrss`` when it exceeds the copy of
this process a child starts as, else the largest ``VmHWM`` read while it ran). A cell
(``%%meter``) is metered in the notebook's own process, like a training run.

A window shorter than a source's update period gets ``;too-short`` on its label (and
``too_short`` in the record) instead of a silent near-zero: RAPL counters update about
every millisecond, NVML's energy counter every few tens of milliseconds (0.1 s is
assumed), sampled GPU power is averaged over about a second, CPU time is counted in clock
ticks (10 ms), and the RAM estimate needs two samples inside the window.

The summary (:func:`summary`) and the CSV row (:meth:`MeteredRun.row`) use the results
schema's names and units (``train_time_s``, ``train_cpu_s``, ``energy_kwh``, ``co2_g``,
``memory_gb`` and the ``*_source`` labels; :mod:`peprkit.schema`), so ``add_pepr`` and
the plots take a file of metered commands as they take a sweep's results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from peprkit._util import append_csv_row as append_row
from peprkit.meter._readers import _psutil, is_available, process_cpu_seconds
from peprkit.meter.energy import EnergyMeter
from peprkit.meter.memory import RunMemory
from peprkit.meter.reading import COMPONENT_KWH, J_PER_KWH, Reading
from peprkit.meter.sharing import machine_cpu_seconds

#: Label suffix of a component metered over less than its source's update period.
TOO_SHORT = ";too-short"
#: Seconds between the meter's readings of a command or cell.
INTERVAL_S = 0.2
_REFRESH_S = 1.0  # descendants are listed at most this often (a scan of every process)


class CommandNotStarted(ValueError):
    """The command's program could not be started (not found, not executable)."""


def update_period_s(source: str, interval_s: float = INTERVAL_S) -> float:
    """Shortest window in which ``source`` yields a meaningful number, in seconds.

    >>> update_period_s("measured:rapl"), update_period_s("estimated:cpu-time")
    (0.001, 0.01)
    >>> update_period_s("estimated:ram-per-gb", 0.2), update_period_s("unavailable")
    (0.4, 0.0)
    """
    if not is_available(source):
        return 0.0
    if "rapl" in source:
        return 0.001
    if "nvml-power-sampling" in source:
        return max(1.0, 2 * interval_s)
    if "nvml" in source:
        return 0.1
    if source.startswith("estimated:cpu-time"):
        return 0.01
    if source.startswith("estimated:ram"):
        return 2 * interval_s
    return 0.0


def mark_too_short(reading: Reading, interval_s: float = INTERVAL_S
                   ) -> tuple[Reading, tuple[str, ...]]:
    """``reading`` with ``;too-short`` on every component label whose window was too short.

    Returns:
        The (possibly new) reading and the names of the components marked.
    """
    short = tuple(name[:-4] for name in COMPONENT_KWH
                  if reading.duration_s < update_period_s(reading.sources[name[:-4]],
                                                          interval_s))
    if not short:
        return reading, ()
    sources = {k: (v + TOO_SHORT if k in short else v) for k, v in reading.sources.items()}
    return replace(reading, sources=sources), short


@dataclass(frozen=True)
class MeteredRun:
    """One metered command or cell: the meter's reading and what the run itself reported.

    ``cpu_s`` is the CPU time of the metered processes (user + system, all cores);
    ``memory_gb`` the peak memory with ``memory_source`` saying how it was obtained;
    ``too_short`` the components whose window was shorter than their update period.
    """

    what: str
    metered: str  # "command" or "cell"
    reading: Reading
    exit_code: int
    cpu_s: float | None
    memory_gb: float | None
    memory_source: str
    too_short: tuple[str, ...]
    started_at: str

    @property
    def status(self) -> str:
        """``completed`` (exit code 0), ``interrupted`` (SIGINT) or ``failed``."""
        return {0: "completed", 130: "interrupted"}.get(self.exit_code, "failed")

    def row(self) -> dict[str, Any]:
        """The record's row: schema names and units, labels beside the numbers.

        >>> r = Reading("total", 2.0, None, 3.6e-6, None, {"gpu": "unavailable",
        ...     "cpu": "estimated:cpu-time", "ram": "unavailable"}, 100.0, "override")
        >>> run = MeteredRun("true", "command", r, 0, 0.36, 0.01, "measured:x", (), "t0")
        >>> row = run.row()
        >>> row["train_time_s"], row["energy_kwh"], row["cpu_source"], row["status"]
        (2.0, 3.6e-06, 'estimated:cpu-time', 'completed')
        """
        d = self.reading.to_dict()
        row = {"command": self.what, "metered": self.metered, "status": self.status,
               "exit_code": self.exit_code, "started_at": self.started_at,
               "train_time_s": self.reading.duration_s, "train_cpu_s": self.cpu_s}
        for col in ("energy_kwh", "gpu_kwh", "cpu_kwh", "ram_kwh", "co2_g"):
            row[col] = d[col]
        row.update(memory_gb=self.memory_gb, memory_source=self.memory_source)
        for col in ("gpu_source", "cpu_source", "ram_source", "intensity_g_per_kwh",
                    "intensity_source", "pue", "cpu_others_share", "gpu_others_share",
                    "gpu_other_processes", "shared_device"):
            row[col] = d[col]
        row["too_short"] = bool(self.too_short)
        row.update(self.reading.assumptions)
        return row


# --- a command's process tree ----------------------------------------------------------
class _Tree:
    """CPU seconds and resident bytes of a child process and its descendants."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.final_cpu_s: float | None = None
        self.final_peak_bytes: int | None = None
        self.sampled_peak_bytes: int | None = None  # largest per-process VmHWM seen
        self._members: list = []
        self._listed_at = float("-inf")
        self._last_cpu_s = 0.0
        self._gpu_checked: dict[int, tuple[bool, float]] = {}  # pid -> (maps it, when)

    def attach(self, pid: int) -> None:
        self.pid = pid

    def _processes(self) -> list:
        psutil = _psutil()
        if psutil is None or self.pid is None or self.final_cpu_s is not None:
            return []
        if time.monotonic() - self._listed_at >= _REFRESH_S:
            try:
                root = psutil.Process(self.pid)
                self._members = [root, *root.children(recursive=True)]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                self._members = []
            self._listed_at = time.monotonic()
        return self._members

    def cpu_seconds(self) -> float:
        """Live tree CPU time while it runs; the kernel's total once it was waited for."""
        if self.final_cpu_s is not None:
            return self.final_cpu_s
        psutil = _psutil()
        total = 0.0
        for proc in self._processes():
            try:
                t = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            total += t.user + t.system + t.children_user + t.children_system
        self._last_cpu_s = max(self._last_cpu_s, total)
        return self._last_cpu_s

    def rss_bytes(self) -> int:
        """Resident bytes of the tree's processes (0 before it starts and after it ends).

        Each process's kernel peak (``VmHWM``, since its exec) is noted on the way.
        """
        psutil = _psutil()
        total = 0
        for proc in self._processes():
            try:
                total += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            peak = _peak_bytes(proc.pid)
            if peak is not None:
                self.sampled_peak_bytes = max(self.sampled_peak_bytes or 0, peak)
        return total

    def uses_gpu(self) -> bool:
        """Whether a process of the tree has an NVIDIA device mapped (True when unknown)."""
        pids = [p.pid for p in self._processes()] or ([self.pid] if self.pid else [])
        for pid in pids:
            maps, when = self._gpu_checked.get(pid, (False, float("-inf")))
            if not maps and time.monotonic() - when >= 5.0:  # CUDA may start later
                try:
                    maps = "/dev/nvidia" in Path(f"/proc/{pid}/maps").read_text()
                except OSError:
                    return True
                self._gpu_checked[pid] = (maps, time.monotonic())
            if maps:
                return True
        return False

    def finish(self, rusage: Any | None) -> None:
        if rusage is not None:
            self.final_cpu_s = max(self._last_cpu_s, rusage.ru_utime + rusage.ru_stime)
            scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB
            self.final_peak_bytes = int(rusage.ru_maxrss) * scale
        else:
            self.final_cpu_s = self._last_cpu_s


def _peak_bytes(pid: int | str) -> int | None:
    """The kernel's peak resident memory of a process (``VmHWM``), None where unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _own_peak_bytes() -> int | None:
    """This process's peak resident memory: what a child's ``ru_maxrss`` starts from."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _wait(proc: subprocess.Popen) -> tuple[int, Any | None]:
    """Wait for ``proc``; its exit code (128 + N for signal N) and resource usage."""
    while True:
        try:
            if hasattr(os, "wait4"):
                _, status, usage = os.wait4(proc.pid, 0)
                code = os.waitstatus_to_exitcode(status)
                proc.returncode = code
            else:  # pragma: no cover - Windows
                code, usage = proc.wait(), None
            return (128 - code if code < 0 else code), usage
        except KeyboardInterrupt:
            continue  # the command got the signal too: report what it does with it


def meter_command(argv: Sequence[str], *, country: str | None = None,
                  intensity_g_per_kwh: float | None = None, interval_s: float = INTERVAL_S,
                  **meter_options: Any) -> MeteredRun:
    """Run ``argv`` as a child process and meter its whole process tree.

    Args:
        argv: the command and its arguments, e.g. ``["python", "train.py"]``.
        country, intensity_g_per_kwh: the grid for CO2 (as in EnergyMeter).
        interval_s: seconds between readings.
        **meter_options: more EnergyMeter options (``gpu=False``, ``nvml=``, ``rapl_root=``).

    Returns:
        The :class:`MeteredRun`; its ``exit_code`` is the command's.

    Raises:
        ValueError: ``argv`` is empty, a meter option is bad, or (as
            :class:`CommandNotStarted`) the program cannot be started.

    >>> run = meter_command([sys.executable, "-c", "pass"], intensity_g_per_kwh=100,
    ...                     gpu=False, rapl_root="/none")
    >>> run.exit_code, run.reading.sources["cpu"].startswith("estimated:cpu-time")
    (0, True)
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("command=[] is empty: give the command after --, "
                         "e.g. peprkit meter -- python train.py")
    tree = _Tree()
    meter = EnergyMeter(country=country, intensity_g_per_kwh=intensity_g_per_kwh,
                        interval_s=interval_s, cpu_seconds=tree.cpu_seconds,
                        rss_bytes=tree.rss_bytes, machine_cpu_seconds=machine_cpu_seconds,
                        uses_cuda=tree.uses_gpu, **meter_options)
    started_at = _now()
    meter.start()
    inherited = _own_peak_bytes()
    try:
        try:
            proc = subprocess.Popen(argv)
        except OSError as err:
            why = err.strerror or err
            raise CommandNotStarted(f"command={argv[0]!r} could not be started ({why}); check "
                                    "the program name and that it is executable.") from None
        tree.attach(proc.pid)
        code, usage = _wait(proc)
        tree.finish(usage)
    finally:
        total = meter.stop()
    reading, short = mark_too_short(total, interval_s)
    memory, source = _command_memory(tree, inherited)
    return MeteredRun(shlex.join(argv), "command", reading, code, tree.final_cpu_s, memory,
                      source, short, started_at)


def _command_memory(tree: _Tree, inherited: int | None) -> tuple[float | None, str]:
    """Peak memory of the tree's largest process, in GB, and how it was obtained.

    A child starts life as a copy of this process, and the kernel's ``ru_maxrss`` of a
    waited-for child keeps that copy's size: it is the child's own peak only when it is
    larger than this process's peak at the start (``inherited``). Otherwise the largest
    ``VmHWM`` read while the tree ran is used (a peak in its last reading interval can
    be missed).
    """
    final = tree.final_peak_bytes
    if final is not None and inherited is not None and final > inherited:
        return final / 1e9, "measured:kernel-peak-rss"
    if tree.sampled_peak_bytes:
        return tree.sampled_peak_bytes / 1e9, "measured:kernel-peak-rss-sampled"
    return None, "unavailable:too-short" if final is not None else "unavailable"


def meter_call(run: Callable[[], bool], *, what: str = "cell", country: str | None = None,
               intensity_g_per_kwh: float | None = None, interval_s: float = INTERVAL_S,
               **meter_options: Any) -> MeteredRun:
    """Meter ``run()`` in this process (a notebook cell); it returns True on success.

    Memory is the peak increase of this process's resident memory over the call
    (:class:`~peprkit.meter.RunMemory`), or torch's peak reserved CUDA memory when the
    call used CUDA, labelled as in a training record.

    >>> run = meter_call(lambda: sum(range(1000)) > 0, intensity_g_per_kwh=100, gpu=False,
    ...                  rapl_root="/none")
    >>> run.exit_code, run.metered
    (0, 'cell')
    """
    memory = RunMemory().start()
    started_at = _now()
    cpu0 = process_cpu_seconds()
    meter = EnergyMeter(country=country, intensity_g_per_kwh=intensity_g_per_kwh,
                        interval_s=interval_s, **meter_options).start()
    ok = False
    try:
        ok = bool(run())
    finally:
        total = meter.stop()
    reading, short = mark_too_short(total, interval_s)
    if reading.peak_gpu_memory_gb is not None:
        peak, source = reading.peak_gpu_memory_gb, "gpu:measured:torch-max-memory-reserved"
    else:
        memory.sample(reading.peak_rss_gb)
        peak, source = memory.peak_gb(), f"process-rss-increase:{memory.source}"
    return MeteredRun(what, "cell", reading, 0 if ok else 1, process_cpu_seconds() - cpu0, peak,
                      source, short, started_at)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- what is shown ----------------------------------------------------------------------
def _kwh(value: float | None) -> str:
    if value is None:
        return "unavailable"
    return f"{value:.3g} kWh ({value * J_PER_KWH:.3g} J)"


def summary(run: MeteredRun, csv: str | Path | None = None) -> str:
    """One screen: time, energy per component with its label, CO2 with its grid, memory."""
    r = run.reading
    lines = [f"peprkit meter: {run.what}", f"  exit code      {run.exit_code} ({run.status})",
             f"  train_time_s   {r.duration_s:.3f} s (wall clock)"]
    if run.cpu_s is not None:
        lines.append(f"  train_cpu_s    {run.cpu_s:.3f} s (CPU time of the metered processes, "
                     "all cores)")
    lines.append(f"  energy_kwh     {_kwh(r.energy_kwh)}")
    for col in COMPONENT_KWH:
        name = col[:-4]
        lines.append(f"    {col:<12} {_kwh(getattr(r, col)):<30} [{r.sources[name]}]")
    if r.assumptions:
        assumed = ", ".join(f"{k}={v:g}" for k, v in r.assumptions.items())
        lines.append(f"    assumed      {assumed}")
    co2 = "unavailable" if r.co2_g is None else f"{r.co2_g:.3g} g CO2eq"
    lines.append(f"  co2_g          {co2} at {r.intensity_g_per_kwh:g} g/kWh "
                 f"[{r.intensity_source}] x PUE {r.pue:g}")
    mem = "unavailable" if run.memory_gb is None else f"{run.memory_gb:.3g} GB"
    lines.append(f"  memory_gb      {mem} [{run.memory_source}]")
    lines += _others(r)
    if run.too_short:
        lines.append(f"  too short      {', '.join(run.too_short)}: the run was shorter than "
                     "these sources update; meter a longer run (or a loop of it)")
    if csv is not None:
        lines.append(f"  appended to    {csv}")
    return "\n".join(lines)


def _others(r: Reading) -> list[str]:
    cpu = ("unknown" if r.cpu_others_share is None
           else f"{r.cpu_others_share:.0%} of the machine's CPU time was other processes'")
    if not is_available(r.sources["gpu"]):
        gpu = "GPU not metered"
    elif r.gpu_other_processes is None:
        gpu = "GPU processes could not be listed"
    else:
        share = "" if r.gpu_others_share is None else f", {r.gpu_others_share:.0%} of its use"
        gpu = f"{r.gpu_other_processes} other process(es) on the GPU{share}"
    lines = [f"  others (CPU)   {cpu}", f"  others (GPU)   {gpu}"]
    if r.shared_device:
        lines.append("  shared device  a whole-device label says ;shared: others' work is in it")
    return lines


# --- command line and magic options -----------------------------------------------------
def add_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options shared by ``peprkit meter`` and ``%%meter``."""
    parser.add_argument("--csv", default=None, metavar="FILE",
                        help="append one row (results-schema columns) to this CSV file")
    parser.add_argument("--country", default=None, metavar="CC",
                        help="ISO code of your grid for CO2, e.g. DK (default: world average)")
    return parser


def add_parser(sub) -> argparse.ArgumentParser:
    """``peprkit meter [--csv FILE] [--country CC] -- CMD ARGS...`` on ``sub``."""
    parser = sub.add_parser(
        "meter", help="run a command and meter its energy, CO2, time and memory",
        description="Run a command, meter its whole process tree with the same readers as "
        "the training runs (NVML, RAPL or labelled estimates), print a summary on stderr, "
        "optionally append one row to a CSV, and exit with the command's exit code.",
        epilog="Example: peprkit meter --csv runs.csv --country DK -- python train.py")
    add_options(parser)
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS",
                        help="the command to run and its arguments, after --")
    return parser


def run_cli(args: argparse.Namespace) -> int:
    """``peprkit meter``: run, print the summary on stderr, append the row; the exit code."""
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ValueError("command=[] is empty: give the command after --, "
                         "e.g. peprkit meter -- python train.py")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run = meter_command(argv, country=args.country)
        except CommandNotStarted as err:
            print(f"peprkit meter: error: {err}", file=sys.stderr)
            return 127  # the shell's code for a command that cannot be run
    report(run, args.csv, caught, file=sys.stderr)
    return run.exit_code


def report(run: MeteredRun, csv: str | None, caught: Sequence[warnings.WarningMessage] = (),
           file: Any = None) -> None:
    """Append the row to ``csv`` (when given) and print the notes and the summary."""
    if csv is not None:
        append_row(csv, run.row())
    for warning in caught:
        text = str(warning.message).replace("Set country='DK' (ISO code) or "
                                            "intensity_g_per_kwh=... on EnergyMeter",
                                            "Give --country DK (your grid's ISO code)")
        print(f"note: {text}", file=file)
    print(summary(run, csv), file=file)
