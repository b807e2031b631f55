"""The child's side of an isolated run: read the pickled job, run it, write the result.

Runs in a fresh interpreter (``python -m peprkit.train._subprocess JOB RESULT``) or in a
child forked from :mod:`peprkit.train._forkserver`; the parent's side is
:func:`peprkit.train._subprocess.run_isolated`.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

from peprkit._util import atomic_write


def run_job(job_path: str, result_path: str) -> int:
    """Run the job in ``job_path``, write its result to ``result_path``; the exit code (0).

    Reads the pickled job (finetune's arguments, plus how to build its meter; or a
    ``"call"``: ``"module:function"`` with ``"args"`` and ``"kwargs"``), runs it, and
    writes ``RESULT`` (pickled: the run's summary and status, or the call's ``value``; the
    warnings it raised, or the error; and ``pid`` and ``torch_threads``, the threads
    torch had at the end). Both files are written by the parent in its own temporary
    folder: this is trusted code exchanging trusted data, unlike the sandboxed learner
    calls of :mod:`peprkit.course`, which exchange JSON only.
    """
    job = pickle.loads(Path(job_path).read_bytes())
    result: dict[str, Any]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = _call(job) if "call" in job else _finetune(job)
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
    torch = sys.modules.get("torch")
    result["pid"] = os.getpid()
    result["torch_threads"] = torch.get_num_threads() if torch is not None else None
    atomic_write(result_path, pickle.dumps(result))
    return 0


def _finetune(job: dict[str, Any]) -> dict[str, Any]:
    from peprkit.train import finetune

    options = dict(job["finetune"])
    if job.get("meter", True) is True:
        from peprkit.meter import EnergyMeter

        options["meter"] = EnergyMeter(country=job.get("country"))
    else:
        options["meter"] = False
    run = finetune(**options)
    return {"summary": run.summary, "status": run.status}


def _call(job: dict[str, Any]) -> dict[str, Any]:
    import importlib

    module, _, name = str(job["call"]).partition(":")
    function = importlib.import_module(module)
    for part in name.split("."):
        function = getattr(function, part)
    value = function(*job.get("args", ()), **job.get("kwargs", {}))
    return {"value": value, "status": "completed"}
