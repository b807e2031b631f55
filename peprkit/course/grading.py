"""Grade student notebooks as hostile code: sandboxed runs, scores decided elsewhere.

:func:`grade` builds the lesson's tests (public and hidden) from its master with
``otter assign`` in a private temporary folder (:mod:`peprkit.course._autograder`), then
for each submission :func:`grade_one` runs:

1. **Phase 1, sandboxed** (:mod:`peprkit.course._sandbox`: bubblewrap, else a fallback
   that says what it cannot protect): a fresh folder holding only a copy of the
   notebook; the notebook's cells run once in order (:mod:`peprkit.course._runner`), with
   the grader's hidden inputs injected after the ``parameters`` cell; after each graded
   question's cells its answers are exported as plain data (JSON, CSV text, function
   source; never pickle). A cell past ``cell_timeout_s`` is interrupted; one that blocks
   the interruption, or a notebook past ``timeout_s``, is stopped with every process it
   started; answers exported before are kept.
2. **Phase 2, outside the student's code** (:mod:`peprkit.course._score`): a fresh
   process imports the pristine checks and hidden tests (:mod:`peprkit.checks`,
   :mod:`peprkit.course.hidden`), rebuilds the tests' context from the grader's own
   inputs and the run's artifacts where the lesson says how, and runs every test; a
   learner's function is called only in a separate sandboxed worker on inputs the
   grader chose. Hidden tests draw their inputs from the instructor's secret.

The gradebook (``out``, :mod:`peprkit.course._gradebook`) has one row per (student,
lesson, question) with the submission's SHA-256: an identical file is skipped, a changed
one re-graded, another lesson adds rows and never removes any, ``retry_failed`` re-runs
only submissions with ``timeout``/``crashed`` rows. It is rewritten atomically after
every submission.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from peprkit._util import atomic_write, progress_bar
from peprkit.course import _gradebook, _sandbox
from peprkit.course._autograder import Autograder, Question, build_autograder, cell_source
from peprkit.course._gradebook import (
    COLUMNS,
    FAILED,
    Score,
    expand_submissions,
    student_id,
    summary,
)
from peprkit.course.authoring import find_master
from peprkit.course.hidden import lesson_hooks

__all__ = ["COLUMNS", "FAILED", "Autograder", "Graded", "Question", "Score", "build_autograder",
           "expand_submissions", "grade", "grade_one", "lesson_hooks", "sandbox_mode",
           "student_id", "summary"]

_GRACE_S = 5.0  # a cell may overrun its timer by this much before it is stopped from outside


@dataclass
class Graded:
    """What :func:`grade_one` found: a :class:`Score` per auto-graded question, the cells
    that raised, and how the sandboxed run ended (``run_status``: ``finished``,
    ``timeout``, ``crashed``, or ``error`` for a notebook that could not be read)."""

    scores: dict[str, Score]
    cell_errors: list[str] = field(default_factory=list)
    run_status: str = "finished"
    wall_s: float = 0.0


def _failed(questions: Sequence[Question], status: str, feedback: str, detail: str = ""
            ) -> Graded:
    return Graded({q.name: Score(0.0, status, feedback, detail)
                   for q in questions if not q.manual}, [], status)


def sandbox_mode(sandbox: str = "auto") -> str:
    """``"bwrap"`` or ``"fallback"``: what the ``sandbox`` option (auto, bwrap, fallback)
    gives here.

    Raises:
        ValueError: ``bwrap`` asked for where bubblewrap cannot run, or an unknown option.
    """
    if sandbox not in ("auto", "bwrap", "fallback"):
        raise ValueError(f"sandbox={sandbox!r} is not a sandbox mode; use 'auto', 'bwrap' "
                         "or 'fallback'.")
    problem = _sandbox.bwrap_problem()
    if sandbox == "bwrap" and problem:
        raise ValueError(f"sandbox='bwrap' cannot be used here: {problem}.")
    if sandbox == "fallback" or problem:
        return "fallback"
    return "bwrap"


def _plan(nb: dict, autograder: Autograder, cell_timeout_s: float,
          parameters: Mapping[str, object]) -> dict:
    """The runner's plan: the code cells, where to inject parameters and export answers."""
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    sources, ids = [], []
    for cell in code:
        sources.append(cell_source(cell))
        ids.append(cell.get("id"))
        tags = (cell.get("metadata") or {}).get("tags") or []
        if "parameters" in tags and parameters:
            sources.append("# injected by peprkit grade\n" + "\n".join(
                f"{name} = {value!r}" for name, value in parameters.items()))
            ids.append(None)
    exports: dict[str, list] = {}
    for q in autograder.questions:
        if q.manual:
            continue
        wanted = set(autograder.cells.get(q.name, []))
        where = [i for i, cid in enumerate(ids) if cid in wanted]
        if where:
            exports.setdefault(str(max(where)), []).append([q.name,
                                                            autograder.names.get(q.name, [])])
    final = {q.name: autograder.names.get(q.name, []) for q in autograder.questions
             if not q.manual}
    return {"cells": sources, "exports": exports, "final": final,
            "cell_timeout_s": float(cell_timeout_s)}


def _watchdog(progress: Path, cell_timeout_s: float):
    """Stop a run whose current cell overran its timer (a cell that blocks signals)."""
    def check() -> str | None:
        if not _inside(progress, progress.parent.parent):
            return None
        try:
            with open(progress, "rb") as fh:
                fh.seek(max(0, os.path.getsize(progress) - 4096))
                last = fh.read().splitlines()[-1]
            record = json.loads(last)
        except (OSError, IndexError, ValueError, RecursionError):
            return None
        if not isinstance(record, dict) or record.get("event") != "start":
            return None
        try:
            started = float(record.get("t", time.time()))
        except (TypeError, ValueError):
            return None
        if time.time() - started > cell_timeout_s + _GRACE_S:
            return (f"cell {record.get('cell')} ran past the grading limit of "
                    f"{cell_timeout_s:g} s per cell and could not be interrupted; stopped")
        return None
    return check


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` resolves inside ``folder`` (a submission may plant symlinks)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def _progress_records(path: Path) -> list[dict]:
    records = []
    if not _inside(path, path.parent.parent):
        return records
    try:
        with open(path, "rb") as fh:
            for line in fh.read(5_000_000).splitlines():
                try:
                    records.append(json.loads(line))
                except (ValueError, RecursionError):
                    continue
    except OSError:
        pass
    return [r for r in records if isinstance(r, dict)]


def _read_answers(folder: Path, question: str) -> tuple[dict | None, str]:
    """Exported answers of ``question`` (after its cells, else at the end), or why not."""
    from peprkit.course._codec import MAX_EXPORT_BYTES

    for path in (folder / "answers" / f"{question}.json",
                 folder / "answers" / "final" / f"{question}.json"):
        if not _inside(path, folder) or not path.is_file():
            continue
        with open(path, "rb") as fh:
            raw = fh.read(MAX_EXPORT_BYTES + 1)
        if len(raw) > MAX_EXPORT_BYTES:
            return None, "the answers of this question are too large to grade"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None, "the answers exported for this question are not valid JSON"
        if not isinstance(data, dict):
            return None, "the answers exported for this question are not valid"
        return data, ""
    return None, ""


def grade_one(
    submission: str | Path,
    autograder: Autograder,
    *,
    timeout_s: float = 1200.0,
    cell_timeout_s: float = 300.0,
    env: Mapping[str, str] | None = None,
    sandbox: str = "auto",
    seed: str = "",
    parameters: Mapping[str, object] | None = None,
    memory_gb: float = 16.0,
) -> Graded:
    """Grade one notebook: a :class:`Score` per auto-graded question.

    Never raises for a bad submission: an unreadable notebook scores 0 with status
    ``error``; questions not answered when the run timed out or crashed score 0 with
    status ``timeout`` or ``crashed``; answered ones keep their points. ``sandbox`` is the
    option of :func:`grade` (auto, bwrap, fallback).
    """
    mode = sandbox_mode(sandbox)
    limits = _sandbox.Limits(wall_s=float(timeout_s), cpu_s=max(60.0, 4 * float(timeout_s)),
                             memory_gb=float(memory_gb))
    with tempfile.TemporaryDirectory(prefix="peprkit-grade-") as tmp:
        tmp = Path(tmp)
        work = tmp / "submission"
        (work / ".grading").mkdir(parents=True)
        try:
            nb = json.loads(Path(submission).read_text(encoding="utf-8"))
            if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                raise ValueError("no list of cells")
            plan = _plan(nb, autograder, cell_timeout_s, parameters or {})
            code = [c for c in nb["cells"] if c.get("cell_type") == "code"]
            sources = [cell_source(c) for c in code]
            ids = [c.get("id") for c in code]
        except (ValueError, UnicodeDecodeError, OSError, TypeError, KeyError) as err:
            return _failed(autograder.questions, "error", "not a readable notebook: "
                           f"{type(err).__name__}: {str(err)[:200]}")
        (work / "submission.ipynb").write_bytes(Path(submission).read_bytes())
        (work / ".grading" / "plan.json").write_text(json.dumps(plan))
        outcome = _sandbox.run(
            [sys.executable, "-m", "peprkit.course._runner", ".grading/plan.json"], work,
            mode=mode, limits=limits, env=dict(env or {}),
            watchdog=_watchdog(work / ".grading" / "progress.jsonl", cell_timeout_s))
        records = _progress_records(work / ".grading" / "progress.jsonl")
        errors = [r.get("error", "") for r in records if r.get("event") == "end"
                  and not r.get("ok")]
        finished = any(r.get("event") == "done" for r in records)
        run_status = "finished" if finished and outcome.status == "finished" else (
            "timeout" if outcome.status == "timeout" else "crashed")
        reached = max((r["cell"] for r in records if type(r.get("cell")) is int), default=-1)
        job_questions, stopped = {}, {}
        for q in autograder.questions:
            if q.manual:
                continue
            answers, problem = _read_answers(work / ".grading", q.name)
            if answers is None and not problem and run_status != "finished":
                why = outcome.note or ("the notebook's process died (crash, exit or out of "
                                       "memory)")
                stopped[q.name] = Score(0.0, run_status, f"The notebook stopped at cell "
                                        f"{reached + 1} before this question was answered: "
                                        f"{why}.", outcome.output_tail[-500:])
                continue
            # a rerun looks for the answer cells up to the question's last cell (when the
            # submission kept the master's cell ids), not in later cells of the notebook
            wanted = set(autograder.cells.get(q.name, []))
            last = max((i for i, cid in enumerate(ids) if cid in wanted), default=None)
            job_questions[q.name] = {"tests": autograder.tests[q.name],
                                     "answers": answers, "answers_error": problem,
                                     "cells_until": None if last is None else last + 1}
        results = _phase2(job_questions, autograder, tmp, work, sandbox=mode, limits=limits,
                          seed=seed, parameters=parameters or {}, call_timeout_s=cell_timeout_s,
                          cells=sources)
    scores = dict(stopped)
    for q in autograder.questions:
        if q.manual or q.name in scores:
            continue
        scores[q.name] = _decide(q, results.get(q.name))
    if run_status != "finished":
        for name, s in scores.items():
            if s.status == "graded":
                scores[name] = Score(s.points, s.status, s.feedback,
                                     (s.detail + f" [the notebook later stopped: {run_status}"
                                      f"{': ' + outcome.note if outcome.note else ''}]").strip())
    return Graded(scores, errors, run_status, outcome.wall_s)


def _phase2(questions: dict, autograder: Autograder, tmp: Path, work: Path, *, sandbox: str,
            limits: _sandbox.Limits, seed: str, parameters: Mapping[str, object],
            call_timeout_s: float, cells: Sequence[str] = ()) -> dict:
    """Run :mod:`peprkit.course._score` in a fresh process; its JSON result, or
    ``{question: error}`` when it could not decide."""
    if not questions:
        return {}
    job = {"lesson": autograder.lesson, "seed": seed, "questions": questions,
           "parameters": dict(parameters), "run_folder": str(work), "cells": list(cells),
           "worker_folder": str(tmp / "worker"), "sandbox": sandbox,
           "limits": asdict(limits), "call_timeout_s": float(call_timeout_s)}
    n_tests = sum(len(q["tests"]) for q in questions.values())
    budget = 120.0 + n_tests * (float(call_timeout_s) + 5.0)
    try:
        proc = subprocess.run([sys.executable, "-P", "-m", "peprkit.course._score"],
                              input=json.dumps(job), capture_output=True, text=True,
                              timeout=budget, cwd=tmp)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as err:
        tail = ""
        if isinstance(err, (ValueError, IndexError)):
            tail = (proc.stderr or "")[-800:]
        return {q: f"the scorer failed: {type(err).__name__}: {err} {tail}" for q in questions}
    return result


def _decide(question: Question, results) -> Score:
    """Points from the test outcomes: passed tests' points, and 0 when a hidden test fails
    (an answer that only fits the public cases earns nothing)."""
    if results is None:
        return Score(0.0, "graded", "No answer found for this question.")
    if isinstance(results, str):
        return Score(0.0, "error", "This question could not be graded; your instructor "
                     "will look at it.", results)
    failed = [r for r in results if not r["passed"]]
    hidden_failed = [r for r in failed if r["hidden"]]
    points = 0.0 if hidden_failed else sum(r["points"] for r in results if r["passed"])
    points = min(points, question.max_points)
    public = [r for r in failed if not r["hidden"]]
    if public:
        feedback = public[0]["message"]
    elif hidden_failed:
        feedback = ("Your answer passes the public check but not the hidden tests: make sure "
                    "it works for any input (no values copied from the notebook's output).")
    else:
        feedback = ""
    detail = "; ".join(f"{r['name']}{' (hidden)' if r['hidden'] else ''}: {r['message']}"
                       for r in failed)
    return Score(float(points), "graded", feedback[:1000], detail[:2000])


def _package_digest() -> str:
    """Hash of the grader's own source files (``peprkit/course``: scorer and hidden tests;
    ``peprkit/checks``: the checks the tests call), which a fallback sandbox cannot protect
    from a submission."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for root in (package / "course", package / "checks"):
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(package)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


_warned_lock = threading.Lock()


def grade(
    submissions: Iterable[str | Path],
    *,
    lesson: str,
    out: str | Path | None = None,
    source_dir: str | Path | None = None,
    timeout_s: float = 1200.0,
    cell_timeout_s: float = 300.0,
    quick: bool = True,
    jobs: int = 1,
    resume: bool = True,
    retry_failed: bool = False,
    student_pattern: str | None = None,
    sandbox: str = "auto",
    secret: str | None = None,
    memory_gb: float = 16.0,
    env: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Grade notebooks of one lesson into a gradebook; returns this batch's rows.

    Args:
        submissions: notebooks, or folders of notebooks.
        lesson: "01", "1" or "01_pepr_metric" (a master in ``source_dir``).
        out: gradebook CSV, updated atomically after each submission (``None``: not written).
        source_dir: folder of masters (default ``notebooks/source``; a private copy keeps
            hidden tests private).
        timeout_s: wall-clock limit for one whole submission.
        cell_timeout_s: limit for one cell of a submission, and for one call of a learner's
            function by a test.
        quick: run submissions with ``PEPRKIT_QUICK=1`` (small data, 1 epoch).
        jobs: submissions graded at the same time.
        resume: skip submissions whose identical file (same student, lesson and SHA-256)
            is already in ``out``; False regrades every submission given.
        retry_failed: grade again only the submissions with ``timeout``/``crashed`` rows.
        student_pattern: regular expression finding the student in the file name (group
            ``student``, else group 1); default: the file name without ``.ipynb``.
        sandbox: "auto" (bubblewrap when it can run, else the fallback), "bwrap" or
            "fallback".
        secret: the secret hidden-test inputs derive from (default: the instructor's,
            kept in ``grading.json`` in peprkit's config folder).
        memory_gb: address-space limit of one submission.
        env: extra environment variables for the notebooks; only the sandbox's allow-list
            reaches them (e.g. ``PEPRKIT_DATA_DIR``, ``PEPRKIT_WEIGHTS_DIR``).

    Returns:
        DataFrame with :data:`COLUMNS`, the rows of the submissions given, in their order.

    Raises:
        ValueError: unknown lesson, missing submission, bad limits, jobs or pattern, or an
            ``out`` file that is not a gradebook.
    """
    for name, value in (("timeout_s", timeout_s), ("cell_timeout_s", cell_timeout_s),
                        ("memory_gb", memory_gb)):
        if not value > 0:
            raise ValueError(f"{name}={value!r} must be a positive number, e.g. 600.")
    if int(jobs) < 1:
        raise ValueError(f"jobs={jobs!r} must be at least 1 (submissions graded at once).")
    master = find_master(lesson, source_dir)
    paths = expand_submissions(submissions)
    mode = sandbox_mode(sandbox)
    out = Path(out) if out is not None else None
    book = _gradebook.read_book(out)
    given = _gradebook.identify(paths, student_pattern)
    todo = _gradebook.to_grade(book, given, master.stem, resume=resume,
                               retry_failed=retry_failed)
    env = {"MPLBACKEND": "Agg", **(env or {})}
    if quick:
        env["PEPRKIT_QUICK"] = "1"
    if todo and mode == "fallback":
        with _warned_lock:
            lost = "\n  - ".join(_sandbox.missing_protections(mode))
            print(f"peprkit grade: WARNING: grading WITHOUT bubblewrap "
                  f"({_sandbox.bwrap_problem() or 'fallback requested'}). Not protected:\n"
                  f"  - {lost}\nGrade on Linux with bubblewrap for full isolation.",
                  file=sys.stderr)
    from peprkit.course._secret import lesson_seed, rng

    seed = lesson_seed(master.stem.split("_", 1)[0], secret)
    hooks = lesson_hooks(master.stem)
    parameters = {}
    if hooks is not None and hasattr(hooks, "grading_parameters"):
        import inspect

        draw = hooks.grading_parameters
        quick_kw = {"quick": quick} if "quick" in inspect.signature(draw).parameters else {}
        parameters = draw(rng(master.stem[:2], "parameters", seed=seed), **quick_kw)
    if todo:
        digest = _package_digest() if mode == "fallback" else ""
        with tempfile.TemporaryDirectory(prefix="peprkit-autograder-") as tmp:
            autograder = build_autograder(master, tmp)
            with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
                futures = {pool.submit(grade_one, sub.path, autograder, timeout_s=timeout_s,
                                       cell_timeout_s=cell_timeout_s, env=env, sandbox=mode,
                                       seed=seed, parameters=parameters,
                                       memory_gb=memory_gb): sub for sub in todo}
                bar = progress_bar(iterable=as_completed(futures), total=len(futures),
                                   desc="grading", unit="notebook")
                for future in bar:
                    sub, graded = futures[future], future.result()
                    rows = _gradebook.rows(sub, master.stem, autograder.questions,
                                           graded.scores, len(graded.cell_errors))
                    book = _gradebook.merge(book, rows, sub.student, master.stem)
                    if out is not None:
                        atomic_write(out, book.to_csv(index=False))
                    if digest and _package_digest() != digest:
                        raise RuntimeError(
                            "peprkit's grading files changed while grading (a submission may have "
                            f"rewritten them; last graded: {sub.path}). Reinstall peprkit, and "
                            "grade with bubblewrap so that submissions cannot write outside "
                            "their folder."
                        )
    if out is not None and not out.is_file():
        atomic_write(out, book.to_csv(index=False))
    return _gradebook.batch_rows(book, master.stem, given)

