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
2. **Phase 2, outside the student's code** (:mod:`peprkit.course._score`): a fresh,
   memory-capped process reads the exported answers itself, imports the pristine checks
   and hidden tests (:mod:`peprkit.checks`, :mod:`peprkit.course.hidden`), rebuilds the
   tests' context from the grader's own inputs and the run's artifacts where the lesson
   says how, and runs every test, public ones first; a learner's function is called
   only in a separate sandboxed worker on inputs the grader chose. It gets what is left
   of ``timeout_s`` (at least :data:`SCORING_FLOOR_S`); questions decided in time keep
   their points.

Nothing the sandbox can write is trusted: the unsandboxed side reads the run's folder
only through :mod:`peprkit.course._exchange` (no links, no FIFOs, capped) and never
writes into it once the sandbox started; text from a submission is cleaned (valid
UTF-8, capped) before it is stored. Each submission draws its own inputs (parameters and
hidden tests) from the instructor's secret, the student and the file's SHA-256
(:func:`peprkit.course._secret.submission_seed`). No submission stops the batch: any
failure on one becomes its ``error`` rows.

The gradebook (``out``, :mod:`peprkit.course._gradebook`) has one row per (student,
lesson, question) with the submission's SHA-256: an identical file is skipped, a changed
one re-graded, another lesson adds rows and never removes any, ``retry_failed`` re-runs
only submissions with ``timeout``/``crashed`` rows. It is rewritten atomically after
every submission, CSV-safe; two files of one student in a batch both get ``error`` rows.
"""

from __future__ import annotations

import errno
import hashlib
import json
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
from peprkit.course import _exchange, _gradebook, _sandbox, _score
from peprkit.course._autograder import Autograder, CodeCell, Question, build_autograder, code_cells
from peprkit.course._exchange import clean_text
from peprkit.course._gradebook import (
    COLUMNS,
    FAILED,
    Score,
    Submission,
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
#: Seconds scoring always gets, even when the notebook's run used all of ``timeout_s``: a
#: submission takes at most ``timeout_s`` + this + the scorer's grace (5 s) to grade.
SCORING_FLOOR_S = 15.0
_PROGRESS = ".grading/progress.jsonl"
_MAX_PROGRESS_BYTES = 1_000_000  # the runner writes ~200 bytes per cell


@dataclass
class Graded:
    """What :func:`grade_one` found: a :class:`Score` per auto-graded question, the cells
    that raised (``"cell N: Type: message"``, N counting the notebook's code cells from 1),
    and how the sandboxed run ended (``run_status``: ``finished``, ``timeout``,
    ``crashed``, or ``error`` for a notebook that could not be read or graded), its wall
    time in seconds and the sandbox that ran it (:func:`peprkit.course._sandbox.describe`;
    empty when it did not run)."""

    scores: dict[str, Score]
    cell_errors: list[str] = field(default_factory=list)
    run_status: str = "finished"
    wall_s: float = 0.0
    sandbox: str = ""


def _failed(questions: Sequence[Question], status: str, feedback: str, detail: str = ""
            ) -> Graded:
    feedback, detail = clean_text(feedback, 1000), clean_text(detail, 2000)
    return Graded({q.name: Score(0.0, status, feedback, detail)
                   for q in questions if not q.manual}, [], status)


def sandbox_mode(sandbox: str = "auto") -> str:
    """``"bwrap"`` or ``"fallback"``: what the ``sandbox`` option (auto, bwrap, fallback)
    gives here (:func:`peprkit.course._sandbox.choose`).

    Raises:
        SandboxRefused: (a ValueError) bubblewrap cannot run here and ``fallback`` was not
            asked for; the message says how to install it.
        ValueError: an unknown option.
    """
    return _sandbox.choose(sandbox)


def _plan(cells: Sequence[CodeCell], autograder: Autograder, cell_timeout_s: float,
          parameters: Mapping[str, object]) -> dict:
    """The runner's plan: the code cells, where to inject parameters and export answers;
    ``origin`` gives each planned cell's number among the notebook's code cells (1-based;
    None for the injected one)."""
    sources, ids, origin = [], [], []
    for number, cell in enumerate(cells, start=1):
        sources.append(cell.source)
        ids.append(cell.id)
        origin.append(number)
        if "parameters" in cell.tags and parameters:
            sources.append("# injected by peprkit grade\n" + "\n".join(
                f"{name} = {value!r}" for name, value in parameters.items()))
            ids.append(None)
            origin.append(None)
    exports: dict[str, list] = {}
    for q in autograder.questions:
        if q.manual:
            continue
        wanted = set(autograder.cells.get(q.name, []))
        where = [i for i, cid in enumerate(ids) if cid is not None and cid in wanted]
        if where:
            exports.setdefault(str(max(where)), []).append([q.name,
                                                            autograder.names.get(q.name, [])])
    final = {q.name: autograder.names.get(q.name, []) for q in autograder.questions
             if not q.manual}
    return {"cells": sources, "exports": exports, "final": final,
            "cell_timeout_s": float(cell_timeout_s), "origin": origin}


def _watchdog(work: Path, cell_timeout_s: float):
    """Stop a run whose current cell overran its timer (a cell that blocks signals), timed
    by the grader's own clock, or whose progress file was replaced by something that is
    not a plain file (a link, a FIFO). The file is read through :mod:`._exchange`."""
    seen = {"last": b"", "since": time.monotonic()}

    def check() -> str | None:
        try:
            tail = _exchange.read_tail(_PROGRESS, 4096, root=work)
        except _exchange.Refused as err:
            if err.errno == errno.ENOENT:
                return None
            return ("the notebook replaced the grader's progress file with something that "
                    "is not a plain file; stopped")
        except OSError:
            return None
        lines = tail.splitlines()
        last = lines[-1] if lines else b""
        if last != seen["last"]:
            seen["last"], seen["since"] = last, time.monotonic()
            return None
        try:
            record = json.loads(last)
        except (ValueError, RecursionError):
            return None
        if not isinstance(record, dict) or record.get("event") != "start":
            return None
        if time.monotonic() - seen["since"] > cell_timeout_s + _GRACE_S:
            return (f"a cell ran past the grading limit of {cell_timeout_s:g} s per cell "
                    "and could not be interrupted; stopped")
        return None
    return check


def _progress_records(work: Path) -> list[dict]:
    """The run's progress records (untrusted: the end of the file, plain records only)."""
    try:
        raw = _exchange.read_tail(_PROGRESS, _MAX_PROGRESS_BYTES, root=work)
    except OSError:
        return []
    records = []
    for line in raw.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and record.get("event") in ("start", "end", "done"):
            cell = record.get("cell")
            records.append({"event": record["event"],
                            "cell": cell if type(cell) is int else None,
                            "ok": record.get("ok") is True,
                            "error": clean_text(record.get("error", ""), 300)})
    return records


def _cells_raised(records: list[dict], origin: Sequence[int | None]) -> list[str]:
    """``"cell N: Type: message"`` for each cell that raised, N among the code cells."""
    found = []
    for r in records:
        if r["event"] != "end" or r["ok"] or r["cell"] is None:
            continue
        if 0 <= r["cell"] < len(origin):
            where = origin[r["cell"]]
            name = f"cell {where}" if where is not None else "the injected parameters"
            found.append(f"{name}: {r['error'] or 'error'}")
    return found


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
    ``error``, and so does any failure of the grader on it; questions not answered when
    the run timed out or crashed score 0 with status ``timeout`` or ``crashed``; answered
    ones keep their points. The run and the scoring together take ``timeout_s`` (scoring
    gets at least :data:`SCORING_FLOOR_S`); questions not decided by then score 0 with
    status ``timeout``. ``seed`` is the submission's seed of hidden inputs, ``sandbox``
    the option of :func:`grade` (auto, bwrap, fallback).
    """
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="peprkit-grade-",
                                         ignore_cleanup_errors=True) as tmp:
            graded = _grade_in(Path(tmp), Path(submission), autograder, start=start,
                               timeout_s=float(timeout_s), cell_timeout_s=cell_timeout_s,
                               env=env, sandbox=sandbox, seed=seed,
                               parameters=parameters or {}, memory_gb=memory_gb)
    except Exception as err:  # noqa: BLE001  (RecursionError, MemoryError, ...: never the batch)
        graded = _failed(autograder.questions, "error", "This notebook could not be graded; "
                         "your instructor will look at it.",
                         f"the grader failed on this submission: {type(err).__name__}: {err}")
    graded.wall_s = time.monotonic() - start
    return graded


def _read_notebook(path: Path) -> tuple[bytes, list[CodeCell]]:
    """The bytes and code cells of a submission.

    Raises:
        ValueError: not a readable notebook (the reason, without the file's content).
    """
    try:
        raw = _gradebook.read_submission(path)
    except OSError as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None
    try:
        nb = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError("RecursionError: the notebook's JSON is nested too deep") from None
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError
        raise ValueError(f"{type(err).__name__}: {str(err)[:200]}") from None
    try:
        return raw, code_cells(nb)
    except ValueError as err:
        raise ValueError(f"ValueError: {err}") from None


def _grade_in(tmp: Path, submission: Path, autograder: Autograder, *, start: float,
              timeout_s: float, cell_timeout_s: float, env, sandbox: str, seed: str,
              parameters: Mapping[str, object], memory_gb: float) -> Graded:
    mode = sandbox_mode(sandbox)
    limits = _sandbox.Limits(wall_s=timeout_s, cpu_s=max(60.0, 4 * timeout_s),
                             memory_gb=float(memory_gb))
    work = tmp / "submission"
    (work / ".grading").mkdir(parents=True)
    try:
        raw, cells = _read_notebook(submission)
        plan = _plan(cells, autograder, cell_timeout_s, parameters)
    except ValueError as err:
        return _failed(autograder.questions, "error", f"not a readable notebook: {err}")
    (work / "submission.ipynb").write_bytes(raw)
    (work / ".grading" / "plan.json").write_text(json.dumps(plan))
    # nothing is written into `work` from here on: the sandbox may write it
    outcome = _sandbox.run(
        [sys.executable, "-m", "peprkit.course._runner", ".grading/plan.json"], work,
        mode=mode, limits=limits, env=dict(env or {}),
        watchdog=_watchdog(work, cell_timeout_s))
    records = _progress_records(work)
    errors = _cells_raised(records, plan["origin"])
    finished = any(r["event"] == "done" for r in records)
    run_status = "finished" if finished and outcome.status == "finished" else (
        "timeout" if outcome.status == "timeout" else "crashed")
    reached = max((r["cell"] for r in records if r["cell"] is not None
                   and 0 <= r["cell"] < len(plan["origin"])), default=-1)
    where = next((n for n in reversed(plan["origin"][:reached + 1]) if n is not None), 0)
    note = clean_text(outcome.note, 300)
    job_questions, scores = {}, {}
    ids = [c.id for c in cells]
    for q in autograder.questions:
        if q.manual:
            continue
        if run_status != "finished" and not _score.find_answers(work, q.name):
            why = note or "the notebook's process died (crash, exit or out of memory)"
            at = f" at cell {where}" if where else ""
            scores[q.name] = Score(0.0, run_status, f"The notebook stopped{at} before this "
                                   f"question was answered: {why}.",
                                   clean_text(outcome.output_tail[-500:], 500))
            continue
        # a rerun looks for the answer cells up to the question's last cell (when the
        # submission kept the master's cell ids), not in later cells of the notebook
        wanted = set(autograder.cells.get(q.name, []))
        last = max((i for i, cid in enumerate(ids) if cid is not None and cid in wanted),
                   default=None)
        job_questions[q.name] = {"tests": autograder.tests[q.name],
                                 "cells_until": None if last is None else last + 1}
    results, stopped = {}, ""
    if job_questions:
        job = {"lesson": autograder.lesson, "seed": seed, "questions": job_questions,
               "parameters": dict(parameters), "run_folder": str(work),
               "cells": [c.source for c in cells], "worker_folder": str(tmp / "worker"),
               "sandbox": mode, "limits": asdict(limits),
               "call_timeout_s": float(cell_timeout_s)}
        budget = max(timeout_s - (time.monotonic() - start), SCORING_FLOOR_S)
        results, stopped = _score.run_scorer(job, budget_s=budget, cwd=tmp)
    for q in autograder.questions:
        if q.manual or q.name in scores:
            continue
        if q.name in results:
            scores[q.name] = _decide(q, results[q.name])
        elif stopped == "timeout":
            scores[q.name] = Score(0.0, "timeout", "Grading ran out of time (the limit for "
                                   f"one notebook is {timeout_s:g} s) before this question "
                                   "was decided.", "the scorer was stopped by the "
                                   "submission's time limit")
        else:
            scores[q.name] = _decide(q, stopped or "the scorer gave no result")
    if run_status != "finished":
        for name, s in scores.items():
            if s.status == "graded":
                scores[name] = Score(s.points, s.status, s.feedback,
                                     (s.detail + f" [the notebook later stopped: {run_status}"
                                      f"{': ' + note if note else ''}]").strip())
    return Graded(scores, errors, run_status, outcome.wall_s, _sandbox.describe(mode))


def _decide(question: Question, results) -> Score:
    """Points from the test outcomes: passed tests' points, and 0 when a hidden test fails
    (an answer that only fits the public cases earns nothing). Feedback is a public test's
    message (run before any hidden test saw a drawn input), a hidden test's
    :class:`~peprkit.checks.ByHand` message (it names only the kit's function), or the
    kit's hint; other messages of hidden tests stay in ``detail``."""
    if results is None:
        return Score(0.0, "graded", "No answer found for this question.")
    if isinstance(results, str) or not isinstance(results, list):
        return Score(0.0, "error", "This question could not be graded; your instructor "
                     "will look at it.", clean_text(results, 2000))
    results = [r for r in results if isinstance(r, dict)]
    failed = [r for r in results if not r.get("passed")]
    hidden_failed = [r for r in failed if r.get("hidden")]
    points = 0.0 if hidden_failed else sum(float(r.get("points", 0.0)) for r in results
                                           if r.get("passed"))
    points = min(points, question.max_points)
    public = [r for r in failed if not r.get("hidden")]
    by_hand = [r["by_hand"] for r in hidden_failed if isinstance(r.get("by_hand"), str)]
    if public:
        feedback = str(public[0].get("message", ""))
    elif by_hand:
        feedback = by_hand[0]
    elif hidden_failed:
        feedback = ("Your answer passes the public check but not the hidden tests: make sure "
                    "it works for any input (no values copied from the notebook's output).")
    else:
        feedback = ""
    detail = "; ".join(f"{r.get('name')}{' (hidden)' if r.get('hidden') else ''}: "
                       f"{r.get('message')}" for r in failed)
    return Score(float(points), "graded", clean_text(feedback, 1000), clean_text(detail, 2000))


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
        timeout_s: wall-clock limit for one whole submission, its run and its scoring
            together (scoring always gets :data:`SCORING_FLOOR_S`, so one submission takes
            at most ``timeout_s`` + 20 s).
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
            kept in ``grading.json`` in peprkit's config folder), with the student and
            the file's SHA-256: each submission draws its own.
        memory_gb: address-space limit of one submission.
        env: extra environment variables for the notebooks; only the sandbox's allow-list
            reaches them (e.g. ``PEPRKIT_DATA_DIR``, ``PEPRKIT_WEIGHTS_DIR``).

    Returns:
        DataFrame with :data:`COLUMNS`, the rows of the submissions given, in their order
        (a file that cannot be read or graded gets ``error`` rows; so do two files of the
        same student, naming each other).

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
    env = {"MPLBACKEND": "Agg", "PEPRKIT_FIGURES": "off", **(env or {})}
    if quick:
        env["PEPRKIT_QUICK"] = "1"
    if todo and mode == "fallback":
        with _warned_lock:
            lost = "\n  - ".join(_sandbox.missing_protections(mode))
            print(f"peprkit grade: WARNING: grading WITHOUT bubblewrap "
                  f"({_sandbox.bwrap_problem() or 'fallback requested'}). Not protected:\n"
                  f"  - {lost}\nGrade on Linux with bubblewrap for full isolation.",
                  file=sys.stderr)
    from peprkit.course._secret import lesson_seed

    seed = lesson_seed(master.stem.split("_", 1)[0], secret)
    doubled = _gradebook.duplicates(given)
    todo = [sub for sub in todo if sub.path not in doubled]
    if todo or doubled:
        digest = _package_digest() if mode == "fallback" else ""
        options = {"timeout_s": timeout_s, "cell_timeout_s": cell_timeout_s, "env": env,
                   "sandbox": mode, "memory_gb": memory_gb, "quick": quick}
        with tempfile.TemporaryDirectory(prefix="peprkit-autograder-") as tmp:
            autograder = build_autograder(master, tmp)
            if doubled:
                book = _duplicate_rows(book, [s for s in given if s.path in doubled], doubled,
                                       master.stem, autograder)
                if out is not None:
                    atomic_write(out, _gradebook.to_csv(book))
            with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
                futures = {pool.submit(_grade_submission, sub, autograder, master.stem, seed,
                                       **options): sub for sub in todo}
                bar = progress_bar(iterable=as_completed(futures), total=len(futures),
                                   desc="grading", unit="notebook")
                for future in bar:
                    sub = futures[future]
                    rows = _rows_of(sub, master.stem, autograder, future)
                    book = _gradebook.merge(book, rows, sub.student, master.stem)
                    if out is not None:
                        atomic_write(out, _gradebook.to_csv(book))
                    if digest and _package_digest() != digest:
                        raise RuntimeError(
                            "peprkit's grading files changed while grading (a submission may have "
                            f"rewritten them; last graded: {sub.path}). Reinstall peprkit, and "
                            "grade with bubblewrap so that submissions cannot write outside "
                            "their folder."
                        )
    if out is not None and not out.is_file():
        atomic_write(out, _gradebook.to_csv(book))
    return _gradebook.batch_rows(book, master.stem, given)


def _grade_submission(sub: Submission, autograder: Autograder, lesson: str, seed: str, *,
                      quick: bool, **options) -> Graded:
    """:func:`grade_one` with the submission's own draws: parameters and hidden inputs
    from the lesson's seed, the student and the file's SHA-256."""
    from peprkit.course._secret import rng, submission_seed

    mine = submission_seed(seed, sub.student, sub.sha256)
    hooks = lesson_hooks(lesson)
    parameters = {}
    if hooks is not None and hasattr(hooks, "grading_parameters"):
        import inspect

        draw = hooks.grading_parameters
        quick_kw = {"quick": quick} if "quick" in inspect.signature(draw).parameters else {}
        parameters = draw(rng(lesson[:2], "parameters", seed=mine), **quick_kw)
    return grade_one(sub.path, autograder, seed=mine, parameters=parameters, **options)


def _rows_of(sub: Submission, lesson: str, autograder: Autograder, future) -> pd.DataFrame:
    """The gradebook rows of a graded submission; ``error`` rows when grading it failed
    in any way (no submission stops the batch)."""
    try:
        graded = future.result()
        return _gradebook.rows(sub, lesson, autograder.questions, graded.scores,
                               len(graded.cell_errors), "; ".join(graded.cell_errors),
                               graded.sandbox, graded.wall_s)
    except Exception as err:  # noqa: BLE001
        failed = _failed(autograder.questions, "error", "This notebook could not be graded; "
                         "your instructor will look at it.",
                         f"the grader failed on this submission: {type(err).__name__}: {err}")
        return _gradebook.rows(sub, lesson, autograder.questions, failed.scores, 0)


def _duplicate_rows(book: pd.DataFrame, twins: Sequence[Submission],
                    doubled: Mapping[Path, list[Path]], lesson: str,
                    autograder: Autograder) -> pd.DataFrame:
    """``book`` with ``error`` rows for files of one batch that belong to one student:
    none is graded, each names the others (rename one, or use ``student_pattern``)."""
    by_student: dict[str, list[pd.DataFrame]] = {}
    for sub in twins:
        others = ", ".join(str(p) for p in doubled[sub.path])
        why = (f"Several files of this batch belong to student {sub.student!r}: this one "
               f"({sub.path}) and {others}. None was graded; hand in one file, or ask your "
               "instructor to tell the files apart (--student-pattern).")
        failed = _failed(autograder.questions, "error", why, why)
        by_student.setdefault(sub.student, []).append(
            _gradebook.rows(sub, lesson, autograder.questions, failed.scores, 0))
    for student, parts in by_student.items():
        book = _gradebook.merge(book, pd.concat(parts, ignore_index=True), student, lesson)
    return book

