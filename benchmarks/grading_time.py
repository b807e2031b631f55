"""What grading one submission costs, and what the sandbox adds (bubblewrap vs fallback).

1. Sandbox start-up: seconds to run ``python -c "import peprkit.course._codec"`` directly,
   in the fallback sandbox and in bubblewrap (median of ``--repeat`` runs), and the
   ratios to the direct run. Each graded submission starts two sandboxed processes (the
   notebook's run and, when a question's answer is a function, the worker calling it).
2. A hidden test's rerun of an answer cell (:mod:`peprkit.course._cells`) in the sandboxed
   worker: the first rerun of a submission (which starts the worker) and each later one,
   medians of ``--repeat``, per sandbox mode.
3. Per-submission wall time of ``peprkit grade`` for lesson ``--lesson`` on three notebooks
   built from its master (solutions, blank, half-right), once per sandbox mode, side by
   side (``--no-batch`` skips it).

Usage: ``python benchmarks/grading_time.py [--lesson 01] [--repeat 5] [--no-batch]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from peprkit.course import _sandbox, authoring, grading


def startup(mode: str | None, folder: Path, repeat: int) -> float:
    argv = [sys.executable, "-c", "import peprkit.course._codec"]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        if mode is None:
            import subprocess

            subprocess.run(argv, check=True, cwd=folder)
        else:
            out = _sandbox.run(argv, folder, mode=mode, limits=_sandbox.Limits(wall_s=60))
            if out.returncode != 0:
                raise RuntimeError(f"{mode}: {out.output_tail}")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rerun(mode: str, folder: Path, repeat: int) -> tuple[float, float]:
    import pandas as pd

    from peprkit.course._learner_calls import RemoteCells, Worker

    cells = ["import pandas as pd",
             "score = history['val_acc'] / (1 + history['energy_kwh'] / REFERENCE_KWH)\n"
             "best = int(history['epoch'][score.idxmax()])"]
    history = pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.5, 0.9, 0.8],
                            "energy_kwh": [1.0, 2.0, 3.0]})
    first, later = [], []
    for i in range(repeat):
        worker = Worker({}, folder / f"worker-{mode}-{i}", mode=mode,
                        limits=_sandbox.Limits(wall_s=60), call_timeout_s=30)
        cell = RemoteCells(worker, cells)
        try:
            for times in (first, later):
                start = time.perf_counter()
                cell(["best"], history=history, REFERENCE_KWH=10.0)
                times.append(time.perf_counter() - start)
        finally:
            worker.close()
    return statistics.median(first), statistics.median(later)


def batch(lesson: str, folder: Path) -> list[Path]:
    import nbformat

    master = authoring.find_master(lesson)
    out = authoring.run_assign(master, folder / "assign")
    solution = Path(shutil.copy(out / "autograder" / master.name, folder / "solution.ipynb"))
    blank = Path(shutil.copy(out / "student" / master.name, folder / "blank.ipynb"))
    nb = nbformat.read(solution, as_version=4)
    originals = {c["id"]: c["source"] for c in nbformat.read(blank, as_version=4).cells
                 if "otter_answer_cell" in c.metadata.get("tags", []) and c.cell_type == "code"}
    answers = [c for c in nb.cells if c.get("id") in originals]
    for cell in answers[: (len(answers) + 1) // 2]:
        cell["source"] = originals[cell["id"]]
    nbformat.write(nb, folder / "half.ipynb")
    return [solution, blank, folder / "half.ipynb"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="01")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-batch", action="store_true")
    args = parser.parse_args()
    modes = ["fallback"] + (["bwrap"] if _sandbox.bwrap_problem() is None else [])
    if "bwrap" not in modes:
        print(f"bubblewrap not measured: {_sandbox.bwrap_problem()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        direct = startup(None, tmp, args.repeat)
        print(f"start-up, direct:   {direct:6.2f} s")
        for mode in modes:
            t = startup(mode, tmp, args.repeat)
            print(f"start-up, {mode:8s}: {t:6.2f} s  (x{t / direct:.2f} direct, "
                  f"+{t - direct:.2f} s)")
        for mode in modes:
            first, later = rerun(mode, tmp, args.repeat)
            print(f"rerun of an answer cell, {mode:8s}: first {first:5.2f} s (starts the "
                  f"worker), then {later * 1000:5.1f} ms each")
        if args.no_batch:
            return 0
        paths = batch(args.lesson, tmp)
        for mode in modes:
            start = time.perf_counter()
            grades = grading.grade(paths, lesson=args.lesson, sandbox=mode, resume=False,
                                   secret="benchmark")
            wall = time.perf_counter() - start
            totals = grading.summary(grades)["points"].tolist()
            print(f"grade {len(paths)} notebooks, {mode:8s}: {wall:6.1f} s = "
                  f"{wall / len(paths):5.1f} s per submission (points {totals})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
