"""Grade student notebooks with otter-grader, locally and without Docker.

:func:`grade` builds the lesson's autograder from its master (hidden tests included) in a
temporary folder, then runs ``otter run`` on each submission in its own process group:

- a cell that raises fails only the questions that need it (otter executes with errors
  allowed), so the other questions are still graded;
- a cell that runs longer than ``cell_timeout_s`` is interrupted by a timer cell that
  :func:`grade` puts at the top of its copy of the submission (``TimeoutError`` in that
  cell; the timer re-fires every ``cell_timeout_s`` so a test that loops is stopped too),
  and a cell that silences that timer is interrupted by the executor 30 s later;
- a submission that still runs past ``timeout_s`` is killed and scores 0 with status
  ``timeout``; an unreadable one scores 0 with status ``error``; the batch goes on.

The result is one row per submission and question (manually graded questions are listed
with empty points and status ``manual``), written atomically after every submission so an
interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from peprkit._util import atomic_write, optional_import
from peprkit.authoring import find_master, run_assign

#: Columns of the grades table, one row per submission and question.
#: ``cell_errors`` counts the cells of the submission that raised while it was graded.
COLUMNS = ["submission", "lesson", "question", "points", "max_points", "status", "message",
           "cell_errors"]

_TIMER_CELL = """\
# added by peprkit grade: interrupt any cell (or test) running longer than {limit} s
import signal as _sig


def _peprkit_timeout(signum, frame):
    raise TimeoutError("this cell ran past the grading limit of {limit} s per cell")


_sig.signal(_sig.SIGALRM, _peprkit_timeout)
_events = get_ipython().events
_events.register("pre_run_cell", lambda *_: _sig.setitimer(_sig.ITIMER_REAL, {limit}, {limit}))
_events.register("post_run_cell", lambda *_: _sig.setitimer(_sig.ITIMER_REAL, 0))"""


@dataclass(frozen=True)
class Question:
    """One graded question of a lesson: its name, worth, and whether a person grades it."""

    name: str
    max_points: float
    manual: bool


@dataclass(frozen=True)
class Autograder:
    """An otter autograder built from a master: the zip ``otter run`` takes, and the questions."""

    zip_path: Path
    questions: list[Question]


def build_autograder(master: str | Path, workdir: str | Path) -> Autograder:
    """Run ``otter assign`` on ``master`` into ``workdir`` and read its questions.

    Auto-graded questions get their points from the generated test files (hidden tests
    included); manual ones from their ``# BEGIN QUESTION`` config.
    """
    master = Path(master)
    out = run_assign(master, Path(workdir) / "assign")
    ag_dir = out / "autograder"
    zips = sorted(ag_dir.glob("*.zip"))
    if not zips:
        raise RuntimeError(f"otter assign wrote no autograder zip for {master} in {ag_dir}")
    tf = optional_import("otter.test_files", extra="instructor", package="otter-grader")
    auto = {}
    for test in sorted((ag_dir / "tests").glob("*.py")):
        parsed = tf.ExceptionTestFile.from_file(str(test))
        auto[parsed.name] = float(sum(tc.points for tc in parsed.test_cases))
    questions = []
    for name, points, manual in _question_configs(master):
        if manual:
            questions.append(Question(name, float(points or 0), True))
        elif name in auto:
            questions.append(Question(name, auto[name], False))
    return Autograder(zips[0], questions)


def _question_configs(master: Path) -> list[tuple[str, float | None, bool]]:
    """``(name, points, manual)`` from the master's ``# BEGIN QUESTION`` raw cells."""
    yaml = optional_import("yaml", extra="instructor", package="pyyaml")
    nb = json.loads(master.read_text())
    found = []
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "raw" and source.lstrip().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(source) or {}
            found.append((str(config["name"]), config.get("points"), bool(config.get("manual"))))
    return found


def expand_submissions(submissions: Iterable[str | Path]) -> list[Path]:
    """Submission notebooks: files as given, folders replaced by the ``*.ipynb`` inside.

    Raises:
        ValueError: a path that does not exist, is not a notebook, or a folder without any.
    """
    found: list[Path] = []
    for item in submissions:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
            if not inside:
                raise ValueError(
                    f"submissions: folder {str(path)!r} holds no .ipynb file; pass the "
                    "folder the notebooks were collected into, or the notebooks themselves."
                )
            found.extend(inside)
        elif not path.is_file():
            raise ValueError(
                f"submissions: {str(path)!r} does not exist; check the path (globs such as "
                "'subs/*.ipynb' are expanded by your shell)."
            )
        elif path.suffix != ".ipynb":
            raise ValueError(
                f"submissions: {str(path)!r} is not a Jupyter notebook (.ipynb); download "
                "the submission as .ipynb (File > Download > Download .ipynb in Colab)."
            )
        else:
            found.append(path)
    if not found:
        raise ValueError("submissions: no notebook given; pass one or more .ipynb files.")
    return found


def _with_timer(submission: Path, dest: Path, cell_timeout_s: float) -> Path:
    """Copy ``submission`` into folder ``dest`` with the per-cell timer cell on top."""
    nbformat = optional_import("nbformat", extra="instructor")
    nb = nbformat.read(submission, as_version=4)
    if hasattr(signal, "setitimer"):
        timer = nbformat.v4.new_code_cell(_TIMER_CELL.format(limit=float(cell_timeout_s)))
        nb.cells.insert(0, timer)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "submission.ipynb"
    nbformat.write(nb, path)
    return path


@dataclass(frozen=True)
class Graded:
    """What :func:`grade_one` found: per question ``(points, status, message)``, and the
    ``"ename: evalue"`` of each cell that raised while the notebook ran."""

    scores: dict[str, tuple[float, str, str]]
    cell_errors: list[str]


def _failed(questions: Sequence[Question], status: str, message: str) -> Graded:
    return Graded({q.name: (0.0, status, message) for q in questions if not q.manual}, [])


def _cell_errors(results_pkl: Path) -> list[str]:
    """Errors raised in the cells of the notebook otter executed (from its results pickle)."""
    dill = optional_import("dill", extra="instructor")
    with open(results_pkl, "rb") as fh:
        notebook = getattr(dill.load(fh), "notebook", None)
    if notebook is None:
        return []
    return [f"{o.get('ename')}: {o.get('evalue')}" for cell in notebook.cells
            if cell.cell_type == "code" for o in cell.get("outputs", [])
            if o.get("output_type") == "error"]


def grade_one(
    submission: str | Path,
    autograder: Autograder,
    *,
    timeout_s: float = 1200.0,
    cell_timeout_s: float = 300.0,
    env: dict[str, str] | None = None,
) -> Graded:
    """Grade one notebook: points, status and message per auto-graded question.

    Never raises for a bad submission: a notebook that cannot be read, crashes otter twice
    or runs past ``timeout_s`` scores 0 on every auto-graded question with status
    ``error`` or ``timeout`` and a message saying why.
    """
    with tempfile.TemporaryDirectory(prefix="peprkit-grade-") as tmp:
        tmp = Path(tmp)
        try:
            notebook = _with_timer(Path(submission), tmp / "in", cell_timeout_s)
        except Exception as err:  # unreadable notebook: this submission only
            return _failed(autograder.questions, "error", f"not a readable notebook: {err}")
        cmd = [sys.executable, "-m", "peprkit.grading", str(cell_timeout_s), "run",
               "-a", str(autograder.zip_path), "-o", str(tmp), "--no-logo",
               "--pickle-results", str(notebook)]
        results = tmp / "results.json"
        # otter itself (not the submission) fails now and then, e.g. a kernel that does not
        # start in time on a busy machine: such a run leaves no results, so try once more
        for _attempt in range(2):
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
            try:
                log, _ = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # otter and its kernel
                proc.communicate()
                return _failed(autograder.questions, "timeout",
                               f"grading stopped after {timeout_s:g} s (whole notebook)")
            if results.is_file():
                break
        else:
            tail = "\n".join(log.strip().splitlines()[-5:])
            return _failed(autograder.questions, "error", f"otter could not grade it: {tail}")
        tests = json.loads(results.read_text()).get("tests", [])
        errors = _cell_errors(tmp / "results.pkl") if (tmp / "results.pkl").is_file() else []
    scored = {t["name"]: t for t in tests if t.get("max_score") is not None}
    out = {}
    for q in autograder.questions:
        if q.manual:
            continue
        test = scored.get(q.name)
        if test is None:
            out[q.name] = (0.0, "error", "otter returned no result for this question")
        else:
            points = float(test.get("score") or 0.0)
            message = "" if points >= q.max_points else str(test.get("output", "")).strip()
            out[q.name] = (points, "graded", message[:1000])
    return Graded(out, errors)


def _rows(submission: str, lesson: str, autograder: Autograder, result: Graded) -> list[dict]:
    rows = []
    for q in autograder.questions:
        if q.manual:
            points, status, message = None, "manual", "graded by a person"
        else:
            points, status, message = result.scores[q.name]
        rows.append({"submission": submission, "lesson": lesson, "question": q.name,
                     "points": points, "max_points": q.max_points, "status": status,
                     "message": message, "cell_errors": len(result.cell_errors)})
    return rows


def _write(frame: pd.DataFrame, out: Path | None) -> None:
    if out is not None:
        atomic_write(out, frame.to_csv(index=False))


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
    env: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Grade notebooks of one lesson; one row per submission and question.

    Args:
        submissions: notebooks, or folders of notebooks.
        lesson: "01", "1" or "01_pepr_metric" (a master in ``source_dir``).
        out: CSV written atomically after each submission (``None``: not written).
        source_dir: folder of masters (default ``notebooks/source``).
        timeout_s: wall-clock limit for one whole submission.
        cell_timeout_s: limit for one cell (or one test) of a submission.
        quick: run submissions with ``PEPRKIT_QUICK=1`` (small data, 1 epoch).
        jobs: submissions graded at the same time.
        resume: keep rows already in ``out`` and skip their submissions.
        env: extra environment variables for the notebooks (e.g. ``PEPRKIT_DATA_DIR``).

    Returns:
        DataFrame with :data:`COLUMNS`.

    Raises:
        ValueError: unknown lesson, missing submission, bad limits or jobs.
    """
    for name, value in (("timeout_s", timeout_s), ("cell_timeout_s", cell_timeout_s)):
        if not value > 0:
            raise ValueError(f"{name}={value!r} must be a positive number of seconds, e.g. 600.")
    if int(jobs) < 1:
        raise ValueError(f"jobs={jobs!r} must be at least 1 (submissions graded at once).")
    master = find_master(lesson, source_dir)
    paths = expand_submissions(submissions)
    out = Path(out) if out is not None else None
    done = pd.DataFrame(columns=COLUMNS)
    if resume and out is not None and out.is_file():
        done = pd.read_csv(out, dtype={"lesson": str})
        done = done[done["lesson"] == master.stem]
    todo = [p for p in paths if str(p) not in set(done["submission"])]
    env = {**os.environ, "MPLBACKEND": "Agg", **(env or {})}
    if quick:
        env["PEPRKIT_QUICK"] = "1"
    tqdm = optional_import("tqdm.auto", extra="train", package="tqdm").tqdm
    frames = [done] if not done.empty else []
    with tempfile.TemporaryDirectory(prefix="peprkit-autograder-") as tmp:
        if not todo:
            return _ordered(frames, paths, out)
        autograder = build_autograder(master, tmp)
        with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
            futures = {pool.submit(grade_one, p, autograder, timeout_s=timeout_s,
                                   cell_timeout_s=cell_timeout_s, env=env): p for p in todo}
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading",
                               unit="notebook"):
                rows = _rows(str(futures[future]), master.stem, autograder, future.result())
                frames.append(pd.DataFrame(rows, columns=COLUMNS))
                _write(pd.concat(frames, ignore_index=True), out)
    return _ordered(frames, paths, out)


def _ordered(frames: list[pd.DataFrame], paths: list[Path], out: Path | None) -> pd.DataFrame:
    """All rows, submissions in the order given (earlier ones from ``out`` last), saved."""
    order = {str(p): i for i, p in enumerate(paths)}
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    result = result.sort_values("submission", key=lambda s: s.map(order).fillna(len(order)),
                                kind="stable").reset_index(drop=True)
    _write(result, out)
    return result


def summary(grades: pd.DataFrame) -> pd.DataFrame:
    """Total auto-graded points per submission (manual questions left out).

    >>> g = pd.DataFrame({"submission": ["a", "a", "a"], "question": ["q1", "q2", "r"],
    ...                   "points": [1.0, 0.0, None], "max_points": [1.0, 2.0, 2.0],
    ...                   "status": ["graded", "graded", "manual"]})
    >>> summary(g)
      submission  points  max_points
    0          a     1.0         3.0
    """
    auto = grades[grades["status"] != "manual"]
    return auto.groupby("submission", sort=False, as_index=False)[["points", "max_points"]].sum()


def _otter_main(cell_timeout_s: str, *otter_args: str) -> None:
    """The grading subprocess: ``otter run`` with a reply timeout on every cell.

    The timer cell interrupts long cells from inside the kernel; this second limit (30 s
    later) makes the executor give up on a cell whose reply never comes (a lost kernel
    message would otherwise wait forever), record an error, and go on.
    """
    import nbconvert.preprocessors as pre
    from otter.cli import cli

    limit = int(float(cell_timeout_s)) + 30

    class _TimedExecutor(pre.ExecutePreprocessor):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.timeout, self.interrupt_on_timeout = limit, True
            self.error_on_timeout = {"ename": "TimeoutError", "traceback": [],
                                     "evalue": f"no reply from the kernel within {limit} s"}

    pre.ExecutePreprocessor = _TimedExecutor  # otter imports it when it grades
    cli.main(args=list(otter_args), prog_name="otter")


if __name__ == "__main__":
    _otter_main(*sys.argv[1:])
