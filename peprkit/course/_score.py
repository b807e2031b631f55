"""Phase 2 of grading: decide the scores in a fresh process that never runs student code.

``python -m peprkit.course._score MEMORY_GB`` reads one job (JSON on stdin): the lesson's
tests (public and hidden: each test function's source, written by the instructor), the
parameters the grader injected, where the sandboxed run's folder is, and how many seconds
it may take. It reads the answers that run exported (plain data, untrusted) itself,
through :mod:`peprkit.course._exchange` and capped (:func:`read_answers`), imports the
pristine checks and hidden tests, rebuilds the context the tests need from the grader's
own inputs and the run's artifacts where the lesson says how (``grading_context`` in
:mod:`peprkit.course.hidden`), runs every test case here, and calls a learner's function,
or runs a learner's answer cell again (a test's ``rerun`` parameter,
:mod:`peprkit.course._cells`), only through a sandboxed worker
(:mod:`peprkit.course._learner_calls`).

Every public test of every question runs before any hidden test, so that nothing a
learner's code could have seen of the hidden tests' drawn inputs reaches a public test's
message (the feedback). It prints one JSON line per question as soon as that question is
decided, so that a submission whose time runs out keeps the questions decided before;
then ``{"done": true}``, or ``{"stopped": "time"}``. The process limits its own address
space (:data:`MEMORY_GB`). :func:`run_scorer` is the grader's side.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from peprkit.checks._common import ByHand
from peprkit.course import _exchange
from peprkit.course._codec import MAX_EXPORT_BYTES

#: Test parameter that receives the learner's answer cells (see :mod:`peprkit.course._cells`).
RERUN = "rerun"
#: Address-space limit of the scoring process (GB): parsing untrusted answers cannot
#: take the instructor's memory.
MEMORY_GB = 4.0
#: Most bytes of exported answers one submission's scorer reads, all questions together.
MAX_ANSWERS_BYTES = 3 * MAX_EXPORT_BYTES
#: Seconds the grader waits past a scorer's budget before it stops it.
GRACE_S = 5.0


def _hint(err: BaseException) -> str:
    """A failed test's message: a check's hint as it is, other errors with their type."""
    try:
        text = str(err).strip()
    except Exception:  # noqa: BLE001
        text = ""
    if isinstance(err, AssertionError) and text:
        return text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _answer_paths(question: str) -> list[str]:
    return [f".grading/answers/{question}.json", f".grading/answers/final/{question}.json"]


def find_answers(run_folder: Path, question: str) -> bool:
    """Whether the run exported something for ``question`` (a file, or something planted
    in its place, which :func:`read_answers` then refuses)."""
    return any(_exchange.present(p, root=run_folder) for p in _answer_paths(question))


def read_answers(run_folder: Path, question: str, limit: int = MAX_EXPORT_BYTES
                 ) -> tuple[dict | None, str, int]:
    """Exported answers of ``question`` (after its cells, else at the end of the run),
    why they cannot be read ('' when they can, or when there are none), and their size.

    Read without following links, capped at ``limit`` bytes before parsing.
    """
    for relative in _answer_paths(question):
        try:
            raw = _exchange.read_bytes(relative, min(limit, MAX_EXPORT_BYTES), root=run_folder)
        except _exchange.Refused as err:
            if err.errno == errno.ENOENT:
                continue
            if err.errno == errno.EFBIG:
                return None, "the answers of this question are too large to grade", 0
            return None, ("the answers exported for this question are not a plain file "
                          "(a link or a special file was put in their place)"), 0
        except OSError:
            return None, "the answers exported for this question cannot be read", 0
        try:
            data = _exchange.parse_json(raw, "the answers exported for this question")
        except ValueError as err:
            message = str(err) if "valid JSON" not in str(err) else \
                "the answers exported for this question are not valid JSON"
            return None, message, len(raw)
        if not isinstance(data, dict):
            return None, "the answers exported for this question are not valid", len(raw)
        return data, "", len(raw)
    return None, "", 0


def _answers(job: dict) -> tuple[dict, dict, dict]:
    """Decoded answers and read problems by question, and the learner's functions."""
    from peprkit.course._codec import FunctionSource, Unsupported, decode

    folder = Path(job["run_folder"])
    answers: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    functions: dict[str, FunctionSource] = {}
    left = MAX_ANSWERS_BYTES
    for question in job["questions"]:
        try:
            data, problem, size = read_answers(folder, question, max(0, left))
        except MemoryError:
            data, problem, size = None, "the answers of this question are too large to grade", 0
        left -= size
        if problem:
            problems[question] = problem
        decoded = {}
        for name, value in (data or {}).items():
            try:
                decoded[name] = decode(value)
            except Exception as err:  # noqa: BLE001  (MemoryError, RecursionError, bad data)
                decoded[name] = Unsupported(f"unreadable ({type(err).__name__})")
            if isinstance(decoded[name], FunctionSource):
                functions.setdefault(name, decoded[name])
        answers[question] = decoded
    return answers, problems, functions


def score(job: dict, emit=None) -> dict[str, list[dict]]:
    """``{question: [{name, hidden, points, passed, message}, ...]}`` of the questions
    decided; ``emit(question, results)`` is called as each one is."""
    from peprkit.course import _sandbox
    from peprkit.course._codec import FunctionSource, Unsupported
    from peprkit.course._learner_calls import OutOfTime, RemoteCells, RemoteFunction, Worker
    from peprkit.course._secret import SEED_ENV
    from peprkit.course.hidden import lesson_hooks

    start = time.monotonic()
    deadline = start + float(job.get("budget_s") or float("inf"))
    os.environ[SEED_ENV] = str(job["seed"])
    hooks = lesson_hooks(str(job["lesson"]))
    context: dict[str, Any] = {}
    hook = getattr(hooks, "grading_context", None)
    context_error = ""
    if hook is not None:
        try:
            context = hook(job.get("parameters") or {}, Path(job["run_folder"]))
        except Exception as err:  # noqa: BLE001  (the run left no usable artifacts)
            context_error = _exchange.clean_text(_hint(err), 500)
    answers, problems, functions = _answers(job)
    worker = Worker(functions, Path(job["worker_folder"]), mode=job["sandbox"],
                    limits=_sandbox.Limits(**job["limits"]),
                    call_timeout_s=job["call_timeout_s"], deadline=deadline,
                    token=str(job.get("token") or ""))
    cells = [str(c) for c in job.get("cells") or []]
    contextual = set(getattr(hooks, "CONTEXT", ()))
    out: dict[str, list[dict]] = {}
    found: dict[str, dict[int, dict]] = {q: {} for q in job["questions"]}

    def decide(question: str, results: list[dict]) -> None:
        out[question] = results
        if emit is not None:
            emit(question, results)

    def namespace(question: str, spec: dict) -> dict[str, Any]:
        ns = {name: (RemoteFunction(worker, name) if isinstance(v, FunctionSource) else v)
              for name, v in answers[question].items()}
        ns.update(context)
        if context_error:  # never fall back on the notebook's values of these names
            for name in contextual:
                ns.pop(name, None)
        until = spec.get("cells_until")
        ns[RERUN] = RemoteCells(worker, cells[:until] if isinstance(until, int) else cells)
        return ns

    def run_case(case: dict, ns: dict[str, Any]) -> dict:
        params = list(case["params"])
        missing = [p for p in params if p not in ns]
        entry = {"name": case["name"], "hidden": bool(case["hidden"]),
                 "points": float(case["points"]), "passed": False, "message": ""}
        if missing:
            entry["message"] = (
                f"the grader could not rebuild {missing} ({context_error})"
                if context_error and any(m in contextual for m in missing)
                else f"{', '.join(missing)} not defined when the question's check cell ran "
                     "(answer missing, or the notebook stopped before it)")
            return entry
        try:
            scope: dict[str, Any] = {}
            exec(compile(case["source"], f"<test {case['name']}>", "exec"), scope)  # noqa: S102
            scope[case["function"]](**{p: ns[p] for p in params})
            entry["passed"] = True
        except (OutOfTime, SystemExit, KeyboardInterrupt):
            raise
        except BaseException as err:  # noqa: BLE001  (a failing test)
            unread = "".join(f" [{p} could not be read: {ns[p].what}]" for p in params
                             if isinstance(ns[p], Unsupported))
            entry["message"] = _exchange.clean_text(_hint(err) + unread, 1000)
            if isinstance(err, ByHand):  # names only the kit's function: safe as feedback
                entry["by_hand"] = _exchange.clean_text(str(err), 1000)
        return entry

    try:
        for hidden in (False, True):  # every public test before any hidden one
            for question, spec in job["questions"].items():
                if question in out:
                    continue
                if problems.get(question):
                    decide(question, [{"name": question, "hidden": False, "points": 0.0,
                                       "passed": False, "message": problems[question]}])
                    continue
                ns = namespace(question, spec)
                for i, case in enumerate(spec["tests"]):
                    if bool(case["hidden"]) == hidden:
                        found[question][i] = run_case(case, ns)
                        if worker.out_of_time:
                            raise OutOfTime("the submission's time ran out")
                if hidden or not any(c["hidden"] for c in spec["tests"]):
                    decide(question, [found[question][i] for i in sorted(found[question])])
                if time.monotonic() > deadline:
                    raise OutOfTime("the submission's time ran out")
    except OutOfTime:
        pass
    finally:
        worker.close()
    return out


def _limit_memory(gb: float) -> None:
    """A soft address-space limit: this process runs no learner code (the worker it starts
    sets its own limits below the hard one, which stays as it was)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = int(gb * 2**30)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on this platform
        pass


def main(argv: list[str]) -> int:
    import signal

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what a test prints never mixes with the protocol

    def stop(signum, frame):
        raise SystemExit(3)

    signal.signal(signal.SIGTERM, stop)
    _limit_memory(float(argv[0]) if argv else MEMORY_GB)
    job = json.loads(sys.stdin.read())

    def emit(question: str, results: list[dict]) -> None:
        proto.write(json.dumps({"question": question, "results": results}) + "\n")

    decided = score(job, emit)
    stopped = len(decided) < len(job["questions"])
    proto.write(json.dumps({"stopped": "time"} if stopped else {"done": True}) + "\n")
    proto.flush()
    return 0


def run_scorer(job: dict, *, budget_s: float, cwd: Path, memory_gb: float = MEMORY_GB
               ) -> tuple[dict[str, list[dict]], str]:
    """Run :mod:`peprkit.course._score` on ``job`` for at most ``budget_s`` seconds (plus
    :data:`GRACE_S`); the results of the questions it decided, and why it stopped before
    deciding all ('' when it did not): ``"timeout"``, or ``"crashed: ..."``."""
    import secrets
    import select
    import subprocess
    import threading

    from peprkit.course import _sandbox

    token = secrets.token_hex(16)
    job = {**job, "budget_s": float(budget_s), "token": token}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-P", "-m", "peprkit.course._score",
                             str(float(memory_gb))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                            start_new_session=True)
    err_tail: list[bytes] = []

    def drain_stderr() -> None:
        for chunk in iter(lambda: proc.stderr.read1(65536), b""):
            err_tail.append(chunk)
            del err_tail[:-4]

    def feed() -> None:
        try:
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
        except OSError:
            pass

    threads = [threading.Thread(target=f, daemon=True) for f in (drain_stderr, feed)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + float(budget_s) + GRACE_S
    results: dict[str, list[dict]] = {}
    buffer, ending = b"", ""
    while not ending:
        left = deadline - time.monotonic()
        if left <= 0:
            ending = "timeout"
            break
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 1 << 20)
        if not chunk:
            ending = "eof"
            break
        buffer += chunk
        while b"\n" in buffer and not ending:
            line, buffer = buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("question"), str):
                results[message["question"]] = message.get("results")
            elif isinstance(message, dict) and ("done" in message or "stopped" in message):
                ending = "done" if "done" in message else "timeout"
    if ending != "done":
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
        _sandbox.kill_all(proc.pid, set(), token)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
    for t in threads:
        t.join(timeout=2)
    for stream in (proc.stdout, proc.stderr):
        stream.close()
    if ending == "done" or len(results) == len(job["questions"]):
        return results, ""
    if ending == "timeout":
        return results, "timeout"
    tail = b"".join(err_tail).decode("utf-8", "replace")[-800:]
    return results, _exchange.clean_text(f"crashed: exit code {proc.returncode}: {tail}", 1000)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
