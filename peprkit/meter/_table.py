"""Append one row to a CSV file atomically (read what is there, write a temporary, rename)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from peprkit._util import atomic_write


def _cell(value: Any) -> Any:
    return "" if value is None else value


def append_row(path: str | Path, row: dict[str, Any]) -> Path:
    """Append ``row`` to the CSV at ``path``, creating it with a header when new.

    Columns already in the file keep their order; new ones are added at the end (earlier
    rows get empty cells). Readers see the old file or the new one, never half of it.
    None is written as an empty cell (read back as NaN by pandas).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = append_row(Path(tmp, "r.csv"), {"a": 1, "b": None})
    ...     print(append_row(Path(tmp, "r.csv"), {"a": 2, "c": "x"}).read_text(), end="")
    a,b,c
    1,,
    2,,x

    Raises:
        ValueError: ``path`` exists but is not a CSV with a header row.
    """
    path = Path(path)
    rows: list[dict[str, str]] = []
    columns: list[str] = []
    if path.exists():
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames and path.read_text(encoding="utf-8").strip():
                raise ValueError(f"csv={str(path)!r} has no header row; give a new file name.")
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    writer.writerow({k: _cell(v) for k, v in row.items()})
    return atomic_write(path, out.getvalue())
