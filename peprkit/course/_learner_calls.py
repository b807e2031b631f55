"""Untrusted learner calls, run INSIDE a sandbox and answered in JSON only (never unpickles).

``python -m peprkit.course._learner_calls`` reads the learner's functions (as source, see
:class:`peprkit.course._codec.FunctionSource`) from the FIRST line of its stdin, then
answers one request per line, ``{"name": ..., "args": [...], "kwargs": {...}}`` or
``{"cells": ...}`` (plain data), with one line ``{"result": ...}`` or ``{"error": "Type:
message"}`` on its protocol stream. Anything the learner's code prints is discarded. A
request's optional ``"refuse": [kit function names]`` runs it under
:func:`peprkit.checks._byhand.refusing` (those functions raise ``ByHand`` while it runs).

:class:`RemoteFunction` and :class:`RemoteCells` are the scorer's side: callables that
send their arguments to such a worker and give back the decoded result, so the process
deciding a score never runs the learner's code. The scorer never writes into a folder a
worker could write: each start of the worker gets a fresh folder, made before the
sandbox starts, and the functions travel over the pipe. A call is limited by the
per-call limit and by what is left of the submission's time (``deadline``): a call cut
by the deadline raises :class:`OutOfTime`, so that the question stays undecided instead
of failing.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any

from peprkit.course._codec import MAX_EXPORT_BYTES, FunctionSource, decode, encode
from peprkit.course._exchange import clean_text, parse_json

#: Largest reply line the scorer reads from a worker (bytes).
MAX_REPLY_BYTES = MAX_EXPORT_BYTES


class StudentCodeError(Exception):
    """The learner's function raised (or timed out) while the grader called it."""


class OutOfTime(BaseException):
    """The submission's time ran out during a call: the question is not decided. A
    ``BaseException``, so that a test's ``except Exception`` does not swallow it."""


def _describe(err: BaseException) -> str:
    """``"Type: message"`` of an exception whose ``__str__`` may itself raise."""
    try:
        text = str(err)
    except BaseException:  # noqa: BLE001  (a learner's exception class)
        text = "<message could not be read>"
    return f"{type(err).__name__}: {text}"


def _define(functions: dict[str, dict]) -> dict[str, Any]:
    import importlib

    ns: dict[str, Any] = {"__name__": "__learner__"}
    for spec in functions.values():
        for alias, module in spec.get("modules", {}).items():
            try:
                ns[alias] = importlib.import_module(module)
            except ImportError:
                pass
        for name, value in spec.get("values", {}).items():
            ns.setdefault(name, decode(value))
    for spec in functions.values():
        for helper in spec.get("helpers", {}).values():
            try:
                exec(compile(helper, "<learner helper>", "exec"), ns)  # noqa: S102
            except Exception:  # a helper that fails to define fails the call that needs it
                pass
    for name, spec in functions.items():
        try:
            exec(compile(spec["source"], f"<learner {name}>", "exec"), ns)  # noqa: S102
        except Exception as err:
            ns[f"__error_{name}"] = _describe(err)
    return ns


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        functions = json.loads(sys.stdin.readline())
    except ValueError:
        functions = {}
    ns = _define(functions if isinstance(functions, dict) else {})
    for line in sys.stdin:
        try:
            request = json.loads(line)
            refuse = [str(n) for n in request.get("refuse") or []]
            if refuse:
                from peprkit.checks._byhand import refusing

                with refusing(refuse):
                    reply = _answer(request, ns)
            else:
                reply = _answer(request, ns)
        except BaseException as err:  # noqa: BLE001  (the learner's code may raise anything)
            reply = {"error": _describe(err)[:500]}
        proto.write(_reply(reply) + "\n")
        proto.flush()
    return 0


def _answer(request: dict, ns: dict[str, Any]) -> dict:
    """The reply to one request (the learner's code raising is the caller's to catch)."""
    if "cells" in request:
        from peprkit.course._cells import run_cells

        result = run_cells(request["cells"], decode(request["inputs"]), request["outputs"],
                           preamble=request["preamble"])
        return {"result": encode(result)}
    name = request["name"]
    func = ns.get(name)
    if not callable(func):
        reason = ns.get(f"__error_{name}", f"{name} is not defined")
        return {"error": f"could not define {name}: {reason}"}
    return {"result": encode(func(*decode(request["args"]), **decode(request["kwargs"])))}


def _reply(reply: dict) -> str:
    try:
        return json.dumps(reply, allow_nan=False)
    except (TypeError, ValueError) as err:
        return json.dumps({"error": f"the result is not plain data: {err}"[:500]})


class Worker:
    """One sandboxed worker process serving calls to a submission's functions.

    ``folder`` is a folder of the scorer's (no sandbox writes it): each start of the
    worker runs in a new subfolder of it. ``deadline`` (``time.monotonic()``) bounds every
    call; ``token`` marks the worker's processes for :func:`peprkit.course._sandbox.kill_all`.
    """

    #: Extra seconds the first call of a fresh process may take (Python and the kit start).
    STARTUP_S = 30.0

    def __init__(self, functions: dict[str, FunctionSource], folder: Path, *, mode: str,
                 limits, call_timeout_s: float, deadline: float | None = None,
                 token: str = "") -> None:
        self.functions, self.folder, self.mode = functions, Path(folder), mode
        self.limits, self.call_timeout_s = limits, float(call_timeout_s)
        self.deadline = deadline
        self.proc = None
        self.token = token
        self.starts = 0
        self._fresh = False
        self._uid: int | None = None
        #: Set once a call was cut by the deadline (the scorer stops there).
        self.out_of_time = False

    def _start(self) -> None:
        import secrets
        import subprocess

        from peprkit.course import _sandbox

        self.starts += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        folder = self.folder / f"run{self.starts}"
        try:
            folder.mkdir()  # a new folder: nothing a sandbox wrote before is reused
            (folder / ".home").mkdir()
        except OSError as err:
            raise StudentCodeError(f"the worker could not start: {err}") from None
        spec = {name: {"source": f.source, "modules": f.modules, "helpers": f.helpers,
                       "values": f.values} for name, f in self.functions.items()}
        home = f"{_sandbox.INSIDE}/.home" if self.mode == "bwrap" else str(folder / ".home")
        env = _sandbox.sandbox_env(None, home)
        self.token = self.token or secrets.token_hex(16)
        env[_sandbox._TOKEN_ENV] = self.token
        cmd, popen_env, cwd = _sandbox.command(
            [sys.executable, "-m", "peprkit.course._learner_calls"], folder, mode=self.mode,
            env=env, role="worker", limits=self.limits)
        self._uid = _sandbox._drop_to(folder, self.mode)  # None: it runs as the grader
        if self.mode == "bwrap":
            popen_env[_sandbox._TOKEN_ENV] = self.token
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=popen_env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True,
                                     preexec_fn=_sandbox._set_limits(self.limits))
        self._buffer = b""
        self._fresh = True
        try:
            self.proc.stdin.write(json.dumps(spec).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # the first request finds the process gone

    def _readline(self, deadline: float) -> bytes | None:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    return b""
                self._buffer += chunk
                if len(self._buffer) > MAX_REPLY_BYTES:
                    return b""
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def call(self, name: str, args: tuple, kwargs: dict, refuse: tuple[str, ...] = ()
             ) -> Any:
        """The learner's function ``name`` called on plain-data ``args``, ``kwargs``;
        the kit functions ``refuse`` raise ``ByHand`` while it runs."""
        message = {"name": name, "args": encode(list(args)), "kwargs": encode(dict(kwargs))}
        if refuse:
            message["refuse"] = list(refuse)
        return self._request(message)

    def run_cells(self, cells: list[str], preamble: list[str], inputs: dict[str, Any],
                  outputs: list[str]) -> dict[str, Any]:
        """The values of ``outputs`` after the learner's ``cells`` ran on ``inputs``."""
        return self._request({"cells": cells, "preamble": preamble, "inputs": encode(inputs),
                              "outputs": list(outputs)})

    def _left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def _request(self, message: dict) -> Any:
        if self._left() <= 0:
            self.out_of_time = True
            raise OutOfTime("the submission's time ran out before this call")
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        # the first call of a process also pays for starting Python and importing the kit
        limit = self.call_timeout_s + (self.STARTUP_S if self._fresh else 0.0)
        self._fresh = False
        cut = self._left() < limit
        limit = min(limit, self._left())
        request = json.dumps(message) + "\n"
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
            line = self._readline(time.monotonic() + limit)
        except OSError:
            line = b""
        if line is None:
            self.close()
            if cut:
                self.out_of_time = True
                raise OutOfTime("the submission's time ran out during this call")
            raise StudentCodeError(f"TimeoutError: this call ran past the grading limit of "
                                   f"{self.call_timeout_s:g} s")
        if not line:
            self.close()
            raise StudentCodeError("the function crashed the process that ran it")
        try:
            reply = parse_json(line, "the reply")
        except ValueError:
            raise StudentCodeError("the function's process answered garbage") from None
        if not isinstance(reply, dict) or ("error" not in reply and "result" not in reply):
            raise StudentCodeError("the function's process answered garbage")
        if "error" in reply:
            raise StudentCodeError(clean_text(reply["error"], 500))
        return decode(reply["result"])

    def close(self) -> None:
        if self.proc is None:
            return
        from peprkit.course import _sandbox

        _sandbox.kill_all(self.proc.pid, set(), self.token, self._uid)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001, S110  (killed above; never block the scorer)
            pass
        self.proc = None


class RemoteCells:
    """The ``rerun`` of the scorer (see :class:`peprkit.course._cells.CellRunner`): finds
    the learner's answer cells here (parsing only) and runs them in the :class:`Worker`."""

    def __init__(self, worker: Worker, sources: list[str]) -> None:
        self._worker, self.sources = worker, [str(s) for s in sources]

    def __call__(self, outputs: list[str], **inputs: Any) -> dict[str, Any]:
        from peprkit.course._cells import CellError, imports, pick_cells

        cells = pick_cells(self.sources, list(outputs), given=list(inputs))
        try:
            values = self._worker.run_cells(cells, imports(self.sources, cells), inputs,
                                            list(outputs))
        except StudentCodeError as err:
            raise CellError(str(err).removeprefix("CellError: ")) from None
        if not isinstance(values, dict):
            raise CellError("the answer cell's process answered garbage")
        return values

    def __repr__(self) -> str:
        return f"<learner cells: {len(self.sources)}>"


class RemoteFunction:
    """Stands for a learner's function in the scorer; calls run in the :class:`Worker`."""

    def __init__(self, worker: Worker, name: str) -> None:
        self._worker, self.__name__ = worker, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._worker.call(self.__name__, args, kwargs)

    def refusing(self, names: list[str], *args: Any, **kwargs: Any) -> Any:
        """A call with the kit functions ``names`` refused in the worker (they raise
        ``ByHand`` there, which comes back as this call's error)."""
        return self._worker.call(self.__name__, args, kwargs, refuse=tuple(names))

    def __repr__(self) -> str:
        return f"<learner function {self.__name__}>"


if __name__ == "__main__":
    sys.exit(main())
