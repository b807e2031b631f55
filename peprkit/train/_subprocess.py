"""Trusted isolated training runs: one finetune job in a fresh Python process; may pickle."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

from peprkit._util import atomic_write


def _child(job_path: str, result_path: str) -> int:
    """The child's side: ``python -m peprkit.train._subprocess JOB RESULT``.

    Reads the pickled job (finetune's arguments, plus how to build its meter), runs it, and
    writes ``RESULT`` (pickled: the run's summary, status and the warnings it raised, or the
    error). Both files are written by the parent in its own temporary folder: this is
    trusted code exchanging trusted data, unlike the sandboxed learner calls of
    :mod:`peprkit.course`, which exchange JSON only.
    """
    job = pickle.loads(Path(job_path).read_bytes())
    result: dict[str, Any]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            from peprkit.train import finetune

            options = dict(job["finetune"])
            if job.get("meter", True) is True:
                from peprkit.meter import EnergyMeter

                options["meter"] = EnergyMeter(country=job.get("country"))
            else:
                options["meter"] = False
            run = finetune(**options)
            result = {"summary": run.summary, "status": run.status}
        except KeyboardInterrupt:
            result = {"summary": None, "status": "interrupted"}
        except BaseException as err:  # sent back to the parent, raised there
            text = traceback.format_exc()
            try:
                pickle.dumps(err)
            except Exception:
                err = RuntimeError(f"{type(err).__name__}: {err}")
            result = {"error": err, "traceback": text}
    result["warnings"] = [(w.category, str(w.message)) for w in caught
                          if isinstance(w.category, type) and issubclass(w.category, Warning)]
    atomic_write(result_path, pickle.dumps(result))
    return 0


def _forward(stream, out) -> None:
    """Copy the child's output to ``out`` as it comes (progress bars included)."""
    while True:
        chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        if not chunk:
            return
        out.write(chunk.decode(errors="replace"))
        out.flush()


def job_environment(job: dict[str, Any]) -> dict[str, str]:
    """The worker's environment: this one plus the thread policy, set before Python starts.

    ``OMP_WAIT_POLICY=PASSIVE`` (unless set already) and ``OMP_NUM_THREADS`` /
    ``MKL_NUM_THREADS`` = the run's threads (``threads`` of the job, else the machine's
    cores), so torch's thread pool starts with its final size and sleeps while it waits
    (see :mod:`peprkit.train._threads`).

    Raises:
        ValueError: the job's ``threads`` is not None or a whole number >= 1.
    """
    from peprkit.train._threads import child_environment

    return child_environment(dict(os.environ), job.get("finetune", {}).get("threads"))


def run_isolated(job: dict[str, Any], *, grace_s: float = 30.0) -> dict[str, Any]:
    """Run ``job`` in a fresh process; ``{"summary", "status"}`` as the child saw them.

    The parent's side: starts the process, forwards its output (progress bars, epoch
    lines) to this process's stdout, and returns or raises what the job did. A fresh
    process per run keeps the memory, time and energy of one run from being coloured by
    the runs before it.

    Warnings the run raised are raised again here; an error is raised again here (with the
    child's traceback as a note). Ctrl-C interrupts the child, which keeps its finished
    epochs, and is raised again here.

    Raises:
        RuntimeError: the child died without a result (e.g. killed for memory).
    """
    import peprkit

    package_root = str(Path(peprkit.__file__).resolve().parents[1])
    env = job_environment(job)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # epoch lines arrive as they are written
    with tempfile.TemporaryDirectory(prefix="peprkit-job-") as tmp:
        job_path, result_path = Path(tmp) / "job.pkl", Path(tmp) / "result.pkl"
        job_path.write_bytes(pickle.dumps(job))
        proc = subprocess.Popen(
            [sys.executable, "-m", "peprkit.train._subprocess", str(job_path), str(result_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            _forward(proc.stdout, sys.stdout)
            proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        finally:
            proc.stdout.close()
        if not result_path.is_file():
            raise RuntimeError(
                f"the worker process for {job['finetune'].get('model')!r} ended with exit code "
                f"{proc.returncode} and no result (killed for memory?); rerun to resume it, or "
                "pass isolate=False to train in this process.")
        result = pickle.loads(result_path.read_bytes())
    for category, message in result.pop("warnings", []):
        warnings.warn(message, category, stacklevel=3)
    if "error" in result:
        err = result["error"]
        if hasattr(err, "add_note"):
            err.add_note("In the worker process:\n" + result["traceback"])
        raise err
    return result


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
