"""Trusted isolated training runs: one finetune job in a process of its own; may pickle.

The job runs in a child forked from a server that has imported torch already
(:mod:`peprkit.train._forkserver`, Linux) or in a fresh interpreter (elsewhere, or with
``PEPRKIT_ISOLATE_START=fresh``); either way it reads the pickled job from a file and
writes its pickled result to another, both in the parent's own temporary folder.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any


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


def run_isolated(job: dict[str, Any], *, grace_s: float = 30.0,
                 start: str = "auto") -> dict[str, Any]:
    """Run ``job`` in a process of its own; ``{"summary", "status"}`` as the child saw them.

    The parent's side: starts the process, forwards its output (progress bars, epoch
    lines) to this process's stdout, and returns or raises what the job did. A process
    per run keeps the memory, time and energy of one run from being coloured by the runs
    before it.

    ``start``: ``"fork"`` forks the run from a server that has imported torch and timm
    already (:mod:`peprkit.train._forkserver`; a fraction of a second per run),
    ``"fresh"`` starts a new Python interpreter (seconds per run: it imports torch and
    timm), ``"auto"`` forks where that is available (Linux) unless the environment
    variable ``PEPRKIT_ISOLATE_START=fresh`` says otherwise.

    Warnings the run raised are raised again here; an error is raised again here (with the
    child's traceback as a note). Ctrl-C interrupts the child, which keeps its finished
    epochs, and is raised again here; the child is gone when it is raised.

    Raises:
        ValueError: ``start`` is not ``"auto"``, ``"fork"`` or ``"fresh"``.
        RuntimeError: the child died without a result (e.g. killed for memory).
    """
    from peprkit._validation import check_choice
    from peprkit.train import _forkserver

    check_choice("start", start, ("auto", "fork", "fresh"))
    fork = _forkserver.available() if start == "auto" else start == "fork"
    env = job_environment(job)
    with tempfile.TemporaryDirectory(prefix="peprkit-job-") as tmp:
        job_path, result_path = Path(tmp) / "job.pkl", Path(tmp) / "result.pkl"
        job_path.write_bytes(pickle.dumps(job))
        code = None
        if fork:
            try:
                code = _forkserver.run(str(job_path), str(result_path), env, grace_s=grace_s)
            except _forkserver.ServerError as err:
                if start != "auto" or result_path.is_file():
                    raise
                warnings.warn(f"{err}; this run starts a fresh interpreter instead.",
                              RuntimeWarning, stacklevel=2)
        if code is None:
            code = _run_fresh(job_path, result_path, env, grace_s)
        if not result_path.is_file():
            what = job["finetune"].get("model") if "finetune" in job else job.get("call")
            raise RuntimeError(
                f"the worker process for {what!r} ended with exit code {code} and no result "
                "(killed for memory?); rerun to resume it, or pass isolate=False to train in "
                "this process.")
        result = pickle.loads(result_path.read_bytes())
    for category, message in result.pop("warnings", []):
        warnings.warn(message, category, stacklevel=3)
    if "error" in result:
        err = result["error"]
        if hasattr(err, "add_note"):
            err.add_note("In the worker process:\n" + result["traceback"])
        raise err
    return result


def _run_fresh(job_path: Path, result_path: Path, env: dict[str, str], grace_s: float) -> int:
    """The job in a new interpreter (``python -m peprkit.train._subprocess``)."""
    import peprkit
    from peprkit.train._forkserver import forward

    package_root = str(Path(peprkit.__file__).resolve().parents[1])
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # epoch lines arrive as they are written
    proc = subprocess.Popen(
        [sys.executable, "-m", "peprkit.train._subprocess", str(job_path), str(result_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        forward(proc.stdout.fileno())
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace_s)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        raise
    finally:
        proc.stdout.close()
    return proc.returncode


if __name__ == "__main__":
    from peprkit.train._job import run_job

    sys.exit(run_job(sys.argv[1], sys.argv[2]))
