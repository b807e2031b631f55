"""Am I ready to submit? Rerun the saved notebook as the grader will, and say what it finds.

The last cell of every student notebook calls :func:`ready_to_submit` (and
``peprkit check-submission NOTEBOOK`` does the same from a terminal). It saves nothing
and changes nothing: it copies the SAVED notebook into a temporary folder and runs its
code cells top to bottom in a fresh Python process in quick mode (``PEPRKIT_QUICK=1``, as
the grader does), each cell with the grader's per-cell limit, then prints

- which questions pass their public checks (the ``checks.lessonNN.qX(...)`` cells),
- which cells raised (``cell N`` counts the code cells from 1, as the grader's report),
- whether the run finished within the grader's time limit,
- whether the saved file holds what you ran in this session (Jupyter: the code you ran is
  compared with the saved cells; elsewhere it says it could not tell).

It works offline and needs no grading tools (a learner module: it never imports
:mod:`peprkit.course`). Inside the grader, and inside its own rerun, it does nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The grader's default limits (``peprkit grade --timeout / --cell-timeout``).
TIMEOUT_S = 1200.0
CELL_TIMEOUT_S = 300.0
_CHECK = re.compile(r"checks\.(lesson\d+)\.(\w+)\s*\(")
_SELF = "ready_to_submit("
_ENV = "PEPRKIT_SUBMIT_CHECK"


@dataclass
class Readiness:
    """What the rerun found (``ok``: every public check passed within the time limit)."""

    notebook: Path | None
    checks: dict[str, str] = field(default_factory=dict)  # question -> "pass" or the hint
    raised: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finished: bool = False
    saved: str = "could not tell"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.finished and self.checks
                    and all(v == "pass" for v in self.checks.values()))

    def __repr__(self) -> str:  # shown by Jupyter when the cell's value is displayed
        return f"Readiness(ok={self.ok})"


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) if isinstance(c.get("source"), list) else c.get("source", "")
            for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]


def _find_notebook(notebook) -> tuple[Path | None, str]:
    if notebook is not None:
        return Path(notebook), "given"
    try:
        ns = get_ipython().user_ns  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        ns = {}
    for name in ("__vsc_ipynb_file__", "__session__"):
        value = ns.get(name)
        if isinstance(value, str) and value.endswith(".ipynb") and Path(value).is_file():
            return Path(value), name
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb") and Path(session).is_file():
        return Path(session), "JPY_SESSION_NAME"
    return None, ""


def _saved_state(path: Path, cells: list[str]) -> str:
    """Whether the code run in this kernel is what the saved file holds."""
    try:
        history = list(get_ipython().user_ns.get("In", []))  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return "could not tell (not run in Jupyter: no record of what you ran)"
    saved = {c.strip() for c in cells}
    ran = [h.strip() for h in history[-40:] if h.strip() and _SELF not in h
           and "get_ipython()" not in h]
    age = time.time() - path.stat().st_mtime
    when = f"saved {age / 60:.0f} min ago" if age >= 60 else f"saved {age:.0f} s ago"
    if not ran:
        return f"could not tell ({when}; nothing run in this session yet)"
    missing = [h for h in ran if h not in saved]
    if missing:
        return (f"NOT the code you ran ({when}): {len(missing)} of the cells you ran recently "
                "differ from the saved file. Save the notebook (Ctrl+S / File > Save) and run "
                "this cell again.")
    return f"matches the code you ran in this session ({when})"


def ready_to_submit(notebook: str | os.PathLike | None = None, *,
                    timeout_s: float = TIMEOUT_S, cell_timeout_s: float = CELL_TIMEOUT_S,
                    show: bool = True) -> Readiness | None:
    """Rerun the saved notebook as the grader will and print what it finds (see the
    module's docstring); returns a :class:`Readiness` (``.ok``), or None where it does not
    run (inside the grader or its own rerun).

    Args:
        notebook: the .ipynb to check (default: the notebook this kernel runs, where
            Jupyter or VS Code says which; else pass its path).
        timeout_s: the grader's limit for the whole notebook.
        cell_timeout_s: the grader's limit for one cell.
    """
    if os.environ.get(_ENV) == "1" or Path(".grading").is_dir():
        return None
    path, _ = _find_notebook(notebook)
    if path is None or not path.is_file():
        msg = ("Could not find the saved notebook to check. Pass its path: "
               "ready_to_submit('01_pepr_metric.ipynb'). In Colab: File > Download > "
               "Download .ipynb, then run `peprkit check-submission FILE.ipynb`.")
        if path is not None:
            msg = f"{path} does not exist. " + msg
        print(msg)
        return Readiness(None, notes=[msg])
    cells = _code_cells(path)
    found = Readiness(path.resolve())
    found.saved = _saved_state(path, cells) if notebook is None else (
        "could not tell (checked the file given; save before checking)")
    with tempfile.TemporaryDirectory(prefix="peprkit-submit-check-") as tmp:
        work = Path(tmp)
        shutil.copyfile(path, work / "submission.ipynb")
        env = {**os.environ, _ENV: "1", "PEPRKIT_QUICK": "1", "MPLBACKEND": "Agg",
               "PEPRKIT_FIGURES": "off"}
        start = time.monotonic()
        try:
            proc = subprocess.Popen([sys.executable, "-m", "peprkit.checks._submit",
                                     str(cell_timeout_s)], cwd=work, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            proc.wait(timeout=timeout_s)
            found.finished = proc.returncode == 0
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            found.notes.append(f"the run passed the grader's limit of {timeout_s:g} s")
        found.seconds = time.monotonic() - start
        records = _read_records(work / "progress.jsonl")
    for number, source in enumerate(cells, start=1):
        record = records.get(number)
        for _lesson, question in _CHECK.findall(source):
            if record is None:
                found.checks[question] = "not reached (the run stopped before this cell)"
            elif record["ok"]:
                found.checks.setdefault(question, "pass")
            else:
                found.checks[question] = record["error"] or "failed"
        if record is not None and not record["ok"]:
            found.raised.append(f"cell {number}: {record['error']}")
    if show:
        print(summary(found, timeout_s))
    return found


def _read_records(path: Path) -> dict[int, dict]:
    found = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("cell"), int):
            found[record["cell"]] = {"ok": bool(record.get("ok")),
                                     "error": str(record.get("error", ""))[:300]}
    return found


def summary(found: Readiness, timeout_s: float = TIMEOUT_S) -> str:
    """The printed report."""
    lines = [f"Submission check of {found.notebook.name if found.notebook else '?'}: "
             "the saved file, rerun top to bottom in a fresh process in quick mode."]
    lines.append("Public checks:")
    for question, state in found.checks.items():
        mark = "pass" if state == "pass" else f"FAIL: {state}"
        lines.append(f"  {question}: {mark}")
    if not found.checks:
        lines.append("  (no check cell found: is this a course notebook?)")
    lines.append("Cells that raised: " + ("; ".join(found.raised) if found.raised else "none"))
    timing = (f"{found.seconds:.0f} s of the grader's {timeout_s:g} s limit"
              if found.finished else "did NOT finish: " + "; ".join(found.notes or
                                                                  ["the process stopped"]))
    lines.append(f"Time: {timing}")
    lines.append(f"Saved file: {found.saved}")
    lines.append("Ready to submit: " + ("yes" if found.ok else "not yet"))
    return "\n".join(lines)


def _run(cell_timeout_s: float) -> int:
    """In the rerun's folder: run ``submission.ipynb``'s code cells in one IPython shell,
    one progress record per cell in ``progress.jsonl`` (this cell itself is skipped)."""
    from IPython.core.interactiveshell import InteractiveShell

    cells = _code_cells(Path("submission.ipynb"))
    shell = InteractiveShell.instance()
    alarm = hasattr(signal, "SIGALRM")

    def stop(signum, frame):
        raise TimeoutError(f"this cell ran past the grader's limit of {cell_timeout_s:g} s")

    with open("progress.jsonl", "a", encoding="utf-8") as log:
        for number, source in enumerate(cells, start=1):
            if _SELF in source:
                continue
            if alarm:
                signal.signal(signal.SIGALRM, stop)
                signal.setitimer(signal.ITIMER_REAL, cell_timeout_s)
            try:
                result = shell.run_cell(source, silent=True)
                err = result.error_in_exec or result.error_before_exec
                ok = result.success
            except BaseException as exc:  # noqa: BLE001  (SystemExit in a learner's cell)
                ok, err = False, exc
            finally:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            text = "" if ok else f"{type(err).__name__}: {err}" if err else "error"
            log.write(json.dumps({"cell": number, "ok": bool(ok), "error": text[:300]}) + "\n")
            log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_run(float(sys.argv[1])))
