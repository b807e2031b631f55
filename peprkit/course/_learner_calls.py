"""Untrusted learner calls, run INSIDE a sandbox and answered in JSON only (never unpickles).

``python -m peprkit.course._learner_calls`` reads ``functions.json`` (the learner's
functions as source, see :class:`peprkit.course._codec.FunctionSource`) from its working
folder, then answers one request per line on stdin, ``{"name": ..., "args": [...],
"kwargs": {...}}`` or ``{"cells": ...}`` (plain data), with one line ``{"result": ...}``
or ``{"error": "Type: message"}`` on its protocol stream. Anything the learner's code
prints is discarded.

:class:`RemoteFunction` and :class:`RemoteCells` are the scorer's side: callables that
send their arguments to such a worker and give back the decoded result, so the process
deciding a score never runs the learner's code.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any

from peprkit.course._codec import FunctionSource, decode, encode


class StudentCodeError(Exception):
    """The learner's function raised (or timed out) while the grader called it."""


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
            ns[f"__error_{name}"] = f"{type(err).__name__}: {err}"
    return ns


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    functions = json.loads(Path("functions.json").read_text())
    ns = _define(functions)
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if "cells" in request:
                from peprkit.course._cells import run_cells

                result = run_cells(request["cells"], decode(request["inputs"]),
                                   request["outputs"], preamble=request["preamble"])
                proto.write(_reply({"result": encode(result)}) + "\n")
                proto.flush()
                continue
            name = request["name"]
            func = ns.get(name)
            if not callable(func):
                reason = ns.get(f"__error_{name}", f"{name} is not defined")
                reply = {"error": f"could not define {name}: {reason}"}
            else:
                result = func(*decode(request["args"]), **decode(request["kwargs"]))
                reply = {"result": encode(result)}
        except BaseException as err:  # noqa: BLE001  (the learner's code may raise anything)
            reply = {"error": f"{type(err).__name__}: {err}"[:500]}
        proto.write(_reply(reply) + "\n")
        proto.flush()
    return 0


def _reply(reply: dict) -> str:
    try:
        return json.dumps(reply, allow_nan=False)
    except (TypeError, ValueError) as err:
        return json.dumps({"error": f"the result is not plain data: {err}"[:500]})


class Worker:
    """One sandboxed worker process serving calls to a submission's functions."""

    def __init__(self, functions: dict[str, FunctionSource], folder: Path, *, mode: str,
                 limits, call_timeout_s: float) -> None:
        self.functions, self.folder, self.mode = functions, Path(folder), mode
        self.limits, self.call_timeout_s = limits, float(call_timeout_s)
        self.proc = None
        self.token = ""
        self.calls = 0

    def _start(self) -> None:
        import secrets
        import subprocess

        from peprkit.course import _sandbox

        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / ".home").mkdir(exist_ok=True)
        spec = {name: {"source": f.source, "modules": f.modules, "helpers": f.helpers,
                       "values": f.values} for name, f in self.functions.items()}
        (self.folder / "functions.json").write_text(json.dumps(spec))
        home = f"{_sandbox.INSIDE}/.home" if self.mode == "bwrap" else str(self.folder / ".home")
        env = _sandbox.sandbox_env(None, home)
        self.token = secrets.token_hex(16)
        env[_sandbox._TOKEN_ENV] = self.token
        cmd, popen_env, cwd = _sandbox.command(
            [sys.executable, "-m", "peprkit.course._learner_calls"], self.folder, mode=self.mode,
            env=env)
        if self.mode == "bwrap":
            popen_env[_sandbox._TOKEN_ENV] = self.token
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=popen_env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True,
                                     preexec_fn=_sandbox._set_limits(self.limits))
        self._buffer = b""

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
                if len(self._buffer) > 50_000_000:
                    return b""
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        return self._request({"name": name, "args": encode(list(args)),
                              "kwargs": encode(dict(kwargs))})

    def run_cells(self, cells: list[str], preamble: list[str], inputs: dict[str, Any],
                  outputs: list[str]) -> dict[str, Any]:
        """The values of ``outputs`` after the learner's ``cells`` ran on ``inputs``."""
        return self._request({"cells": cells, "preamble": preamble, "inputs": encode(inputs),
                              "outputs": list(outputs)})

    def _request(self, message: dict) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.calls += 1
        request = json.dumps(message) + "\n"
        # the first call also pays for starting Python and importing the kit
        limit = self.call_timeout_s + (30.0 if self.calls == 1 else 0.0)
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
            line = self._readline(time.monotonic() + limit)
        except OSError:
            line = b""
        if line is None:
            self.close()
            raise StudentCodeError(f"TimeoutError: this call ran past the grading limit of "
                                   f"{self.call_timeout_s:g} s")
        if not line:
            self.close()
            raise StudentCodeError("the function crashed the process that ran it")
        try:
            reply = json.loads(line)
        except ValueError:
            raise StudentCodeError("the function's process answered garbage") from None
        if not isinstance(reply, dict) or ("error" not in reply and "result" not in reply):
            raise StudentCodeError("the function's process answered garbage")
        if "error" in reply:
            raise StudentCodeError(str(reply["error"]))
        return decode(reply["result"])

    def close(self) -> None:
        if self.proc is None:
            return
        from peprkit.course import _sandbox

        _sandbox.kill_all(self.proc.pid, set(), self.token)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
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

    def __repr__(self) -> str:
        return f"<learner function {self.__name__}>"


if __name__ == "__main__":
    sys.exit(main())
