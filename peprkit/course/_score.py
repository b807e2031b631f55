"""Phase 2 of grading: decide the scores in a fresh process that never runs student code.

``python -m peprkit.course._score`` reads one job (JSON on stdin): the lesson's tests
(public and hidden: each test function's source, written by the instructor), the answers
a sandboxed run exported (plain data, untrusted), the parameters the grader injected,
and where that run's folder is. It imports the pristine checks and hidden tests,
rebuilds the context the tests need from the grader's own inputs and the run's artifacts
where the lesson says how (``grading_context`` in :mod:`peprkit.course.hidden`), runs
every test case here, and calls a learner's function, or runs a learner's answer cell
again (a test's ``rerun`` parameter, :mod:`peprkit.course._cells`), only through a
sandboxed worker (:mod:`peprkit.course._learner_calls`). It prints one JSON line with
the outcome of every test.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

#: Test parameter that receives the learner's answer cells (see :mod:`peprkit.course._cells`).
RERUN = "rerun"


def _hint(err: BaseException) -> str:
    """A failed test's message: a check's hint as it is, other errors with their type."""
    text = str(err).strip()
    if isinstance(err, AssertionError) and text:
        return text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def score(job: dict) -> dict[str, list[dict]]:
    """``{question: [{name, hidden, points, passed, message}, ...]}`` for one submission."""
    from peprkit.course import _sandbox
    from peprkit.course._codec import FunctionSource, Unsupported, decode
    from peprkit.course._learner_calls import RemoteCells, RemoteFunction, Worker
    from peprkit.course._secret import SEED_ENV
    from peprkit.course.hidden import lesson_hooks

    os.environ[SEED_ENV] = str(job["seed"])
    hooks = lesson_hooks(str(job["lesson"]))
    context: dict[str, Any] = {}
    hook = getattr(hooks, "grading_context", None)
    context_error = ""
    if hook is not None:
        try:
            context = hook(job.get("parameters") or {}, Path(job["run_folder"]))
        except Exception as err:  # the run left no usable artifacts: tests needing them fail
            context_error = _hint(err)
    functions: dict[str, FunctionSource] = {}
    answers: dict[str, dict[str, Any]] = {}
    for question, spec in job["questions"].items():
        decoded = {}
        for name, data in (spec.get("answers") or {}).items():
            try:
                decoded[name] = decode(data)
            except Exception as err:
                decoded[name] = Unsupported(f"unreadable ({type(err).__name__})")
            if isinstance(decoded[name], FunctionSource):
                functions.setdefault(name, decoded[name])
        answers[question] = decoded
    limits = _sandbox.Limits(**job["limits"])
    worker = Worker(functions, Path(job["worker_folder"]), mode=job["sandbox"], limits=limits,
                    call_timeout_s=job["call_timeout_s"])
    cells = [str(c) for c in job.get("cells") or []]
    out: dict[str, list[dict]] = {}
    try:
        for question, spec in job["questions"].items():
            results = []
            if spec.get("answers_error"):
                out[question] = [{"name": question, "hidden": False, "points": 0.0,
                                  "passed": False, "message": spec["answers_error"]}]
                continue
            ns = {name: (RemoteFunction(worker, name) if isinstance(v, FunctionSource) else v)
                  for name, v in answers[question].items()}
            ns.update(context)
            if context_error:  # never fall back on the notebook's values of these names
                for name in getattr(hooks, "CONTEXT", ()):
                    ns.pop(name, None)
            until = spec.get("cells_until")
            ns[RERUN] = RemoteCells(worker, cells[:until] if isinstance(until, int) else cells)
            for case in spec["tests"]:
                params = list(case["params"])
                missing = [p for p in params if p not in ns]
                entry = {"name": case["name"], "hidden": bool(case["hidden"]),
                         "points": float(case["points"]), "passed": False, "message": ""}
                if missing:
                    why = (f"the grader could not rebuild {missing} ({context_error})"
                           if context_error and any(m in getattr(hooks, "CONTEXT", ())
                                                    for m in missing)
                           else f"{', '.join(missing)} not defined when the question's check "
                                "cell ran (answer missing, or the notebook stopped before it)")
                    entry["message"] = why
                else:
                    try:
                        scope: dict[str, Any] = {}
                        exec(compile(case["source"], f"<test {case['name']}>", "exec"), scope)  # noqa: S102
                        scope[case["function"]](**{p: ns[p] for p in params})
                        entry["passed"] = True
                    except BaseException as err:  # noqa: BLE001  (a failing test)
                        entry["message"] = _hint(err)[:1000]
                results.append(entry)
            out[question] = results
    finally:
        worker.close()
    return out


def main() -> int:
    job = json.loads(sys.stdin.read())
    result = score(job)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
