"""Run time of every lesson in quick mode (as CI runs it) and in default mode (as a learner does).

Executes each master in notebooks/source/ top to bottom, offline, with stand-in weights from
:func:`peprkit.course.authoring.offline_env` and the real BreastMNIST when
``PEPRKIT_DATA_DIR`` or ../shared/data has it, once per mode asked for, and prints the
seconds per notebook and mode on this machine, with the quick-mode ratio to CI's 3-minute
target. A cell that raises is reported and makes the exit code 1. The lessons' "Estimated
time" lines quote the default-mode figures measured with this script on a 2-core CPU; a GPU
(Colab T4) cannot be measured here, so those figures are labelled estimates.

Usage: ``python benchmarks/notebooks_time.py [LESSON ...] [--modes quick default]``
(default: quick mode, every master). Default mode trains for real: minutes per lesson.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

try:
    from peprkit.course.authoring import find_master, masters, offline_env
except ImportError:  # before the course package existed
    from peprkit.course.authoring import find_master, masters, offline_env

LIMIT_S = 180.0
TOTAL_LIMIT_S = 900.0
MODES = ("quick", "default")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_notebook(path: Path, workdir: Path, *, timeout_s: int = 3600) -> tuple[float, str]:
    """Seconds to execute ``path`` in ``workdir`` and the error, if a cell raised ('' if not)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    try:
        client.execute()
        error = ""
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1]
    return time.perf_counter() - start, error


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["quick"],
                        help="quick (PEPRKIT_QUICK=1, as CI) and/or default (as a learner)")
    args = parser.parse_args(argv)
    chosen = [find_master(a) for a in args.lessons] or masters()
    data_dir = os.environ.get("PEPRKIT_DATA_DIR") or (
        SHARED_DATA if (SHARED_DATA / "breastmnist.npz").is_file() else None)
    failed = False
    seconds: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="peprkit-bench-") as tmp:
        os.environ.update(offline_env(Path(tmp) / "env", data_dir))
        print(f"data: {data_dir or 'synthetic'}; cores: {os.cpu_count()}; "
              f"modes: {', '.join(args.modes)}")
        print(f"{'notebook':<28} {'mode':<8} {'seconds':>8} {'minutes':>8}  status")
        for mode in args.modes:
            os.environ["PEPRKIT_QUICK"] = "1" if mode == "quick" else "0"
            for master in chosen:
                workdir = Path(tmp) / mode / master.stem
                workdir.mkdir(parents=True)
                took, error = run_notebook(master, workdir)
                seconds[master.stem, mode] = took
                failed |= bool(error)
                note = (f"{took / LIMIT_S:.2f} of CI's 3 min" if mode == "quick" else "")
                print(f"{master.stem:<28} {mode:<8} {took:8.1f} {took / 60:8.1f}  "
                      f"{error or 'ok'}{'; ' + note if note and not error else ''}",
                      flush=True)
    for mode in args.modes:
        total = sum(s for (_, m), s in seconds.items() if m == mode)
        ratio = f" ({total / TOTAL_LIMIT_S:.2f} of CI's 15 min)" if mode == "quick" else ""
        print(f"{'all':<28} {mode:<8} {total:8.1f} {total / 60:8.1f}{ratio}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
