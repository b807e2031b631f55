"""Quick-mode run time of every lesson, as CI runs it (targets: < 3 min each, < 15 min in all).

Executes each master in notebooks/source/ top to bottom (``PEPRKIT_QUICK=1``, offline,
stand-in weights from :func:`peprkit.authoring.offline_env`, real BreastMNIST when
``PEPRKIT_DATA_DIR`` or ../shared/data has it) and prints seconds per notebook and the
ratio to the 3-minute target. A cell that raises is reported and makes the exit code 1.

Usage: ``python benchmarks/notebooks_time.py [LESSON ...]`` (default: every master).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from peprkit.authoring import find_master, masters, offline_env

LIMIT_S = 180.0
TOTAL_LIMIT_S = 900.0
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_notebook(path: Path, workdir: Path) -> tuple[float, str]:
    """Seconds to execute ``path`` in ``workdir`` and the error, if a cell raised ('' if not)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    try:
        client.execute()
        error = ""
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1]
    return time.perf_counter() - start, error


def main(argv: list[str]) -> int:
    chosen = [find_master(a) for a in argv] or masters()
    data_dir = os.environ.get("PEPRKIT_DATA_DIR") or (
        SHARED_DATA if (SHARED_DATA / "breastmnist.npz").is_file() else None)
    failed = False
    total = 0.0
    with tempfile.TemporaryDirectory(prefix="peprkit-bench-") as tmp:
        os.environ.update(offline_env(Path(tmp) / "env", data_dir))
        print(f"data: {data_dir or 'synthetic'}; cores: {os.cpu_count()}")
        print(f"{'notebook':<28} {'seconds':>8} {'of 3 min':>9}  status")
        for master in chosen:
            workdir = Path(tmp) / master.stem
            workdir.mkdir()
            seconds, error = run_notebook(master, workdir)
            total += seconds
            failed |= bool(error)
            status = error or ("ok" if seconds < LIMIT_S else "OVER the 3 min target")
            print(f"{master.stem:<28} {seconds:8.1f} {seconds / LIMIT_S:9.2f}  {status}")
    print(f"{'all':<28} {total:8.1f} {total / TOTAL_LIMIT_S:9.2f}  (ratio to the 15 min target)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
