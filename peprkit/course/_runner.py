"""Phase 1 of grading, run INSIDE the sandbox: execute a notebook, export its answers.

``python -m peprkit.course._runner plan.json`` (working folder: the submission's sandbox
folder) runs the notebook's code cells in order in one IPython shell (no Jupyter kernel:
nothing to start, nothing left behind), a failing cell costing only itself. A cell
running past ``cell_timeout_s`` is interrupted by a timer; a cell that blocks the timer
is stopped from outside by the grader, which keeps the answers already exported.

After each cell listed in the plan the answers of its question (the variables its tests
take) are written as plain data to ``.grading/answers/<question>.json``; at the end every
question is exported again to ``.grading/answers/final/``. ``.grading/progress.jsonl``
says which cell runs (the grader's watchdog reads it). Everything written here is
untrusted: the scorer treats it as data from the student.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from peprkit.course._codec import encode

OUT = Path(".grading")


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, allow_nan=False))
    os.replace(tmp, path)


def _progress(**record) -> None:
    with open(OUT / "progress.jsonl", "a") as fh:
        fh.write(json.dumps({**record, "t": time.time()}) + "\n")


def _export(ns: dict, question: str, names: list[str], folder: Path) -> None:
    data = {}
    for name in names:
        if name in ns:
            try:
                data[name] = encode(ns[name])
            except Exception as err:  # an answer that cannot be read is reported, not fatal
                data[name] = {"__unsupported__": f"{type(err).__name__}: {err}"[:200]}
    try:
        _write_json(folder / f"{question}.json", data)
    except (OSError, ValueError) as err:
        print(f"[grading] could not export {question}: {err}", file=sys.stderr)


def _describe(err: BaseException | None) -> str:
    """``"Type: message"`` of a cell's error (a learner's ``__str__`` may itself raise)."""
    if err is None:
        return "error"
    try:
        text = str(err)
    except BaseException:  # noqa: BLE001
        text = "<message could not be read>"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _timeout(limit: float):
    def handler(signum, frame):
        raise TimeoutError(f"this cell ran past the grading limit of {limit:g} s per cell")
    return handler


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    cells: list[str] = plan["cells"]
    exports: dict[str, list] = plan["exports"]  # str(cell index) -> [[question, names]]
    final: dict[str, list[str]] = plan["final"]
    limit = float(plan["cell_timeout_s"])
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    ns = shell.user_ns
    answers = OUT / "answers"
    for i, source in enumerate(cells):
        _progress(cell=i, event="start")
        signal.signal(signal.SIGALRM, _timeout(limit))
        signal.setitimer(signal.ITIMER_REAL, limit)  # once: the error display must not be cut
        try:
            result = shell.run_cell(source, store_history=True, silent=False)
            ok = result.success
            error = None if ok else _describe(result.error_in_exec or result.error_before_exec)
        except BaseException as err:  # noqa: BLE001  (SystemExit, KeyboardInterrupt, ...)
            ok, error = False, _describe(err)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        _progress(cell=i, event="end", ok=bool(ok), error=(error or "")[:300])
        for question, names in exports.get(str(i), []):
            _export(ns, question, names, answers)
    for question, names in final.items():
        _export(ns, question, names, answers / "final")
    _progress(event="done")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
