"""Small helpers shared by several modules: close matches, atomic writes, optional imports,
progress bars and byte counts for people."""

from __future__ import annotations

import csv
import difflib
import importlib
import io
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any


def did_you_mean(value: str, options: Iterable[str], *, n: int = 3) -> str:
    """A ``" Did you mean: a, b?"`` suffix for error messages ('' when nothing is close).

    >>> did_you_mean("brestmnist", ["breastmnist", "pathmnist", "dermamnist"])
    ' Did you mean: breastmnist?'
    """
    options = list(dict.fromkeys(options))  # each suggestion once, first order kept
    matches = difflib.get_close_matches(str(value), options, n=n, cutoff=0.8)
    if not matches:
        lowered = str(value).lower()
        matches = [o for o in options if lowered and lowered in o.lower()][:n]
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes go to a temporary file in the same folder, are flushed to disk, then
    renamed over ``path`` (``os.replace`` is atomic on POSIX and Windows). The file gets
    the permissions ``open(path, "w")`` would give it: an existing file keeps its mode, a
    new one is created with mode 0666 less the umask (0644 with the usual umask 022), so
    that other accounts can read it on a shared drive. ``mode`` (e.g. ``0o600`` for a
    secret) sets the permissions instead, from the first byte written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     atomic_write(Path(tmp, "a.txt"), "hello").read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            pass
    fd, tmp = _create_temp(path, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.chmod(tmp, mode)
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _create_temp(path: Path, mode: int) -> tuple[int, Path]:
    """A new hidden file beside ``path``, opened for writing with ``mode`` less the umask.

    ``tempfile.mkstemp`` would make it 0600 whatever the umask; ``os.open`` lets the
    operating system apply the umask, as for any new file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")


def optional_import(name: str, *, extra: str, package: str | None = None) -> ModuleType:
    """Import ``name`` or raise ImportError with the pip command that installs it.

    >>> optional_import("json", extra="train").__name__
    'json'
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        pkg = package or name
        raise ImportError(
            f"{name!r} is needed here but is not installed. Install it with "
            f"`pip install 'peprkit[{extra}]'` (or `pip install {pkg}`)."
        ) from err


def progress_bar(**kwargs):
    """A ``tqdm.auto`` progress bar (``tqdm`` comes with the ``train`` extra), redrawn at
    most once a second (``mininterval``): a saved notebook or a log keeps every redraw of a
    text bar, and a training run's bar would otherwise write hundreds of kilobytes.

    >>> with progress_bar(total=3, disable=True) as bar:
    ...     bar.update(3)
    """
    kwargs.setdefault("mininterval", 1.0)
    return optional_import("tqdm.auto", extra="train", package="tqdm").tqdm(**kwargs)


def human_bytes(n_bytes: float) -> str:
    """A byte count in decimal units, like pip and download pages.

    >>> human_bytes(559_580), human_bytes(1.5e9), human_bytes(12)
    ('559.6 kB', '1.50 GB', '12 B')
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            digits = 2 if unit == "GB" else 1
            return f"{n_bytes / scale:.{digits}f} {unit}"
    return f"{int(n_bytes)} B"


def _cell(value: Any) -> Any:
    """An empty cell for None and NaN (as pandas writes them), else the value."""
    return "" if value is None or (isinstance(value, float) and value != value) else value


def append_csv_row(path: str | Path, row: dict[str, Any]) -> Path:
    """Append ``row`` to the CSV at ``path``, creating it with a header when new.

    Used by the sweep's ``results.csv`` and by ``peprkit meter --csv``. Columns already in
    the file keep their order; new ones are added at the end (earlier
    rows get empty cells). Readers see the old file or the new one, never half of it.
    None and NaN are written as empty cells (read back as NaN by pandas).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = append_csv_row(Path(tmp, "r.csv"), {"a": 1, "b": None})
    ...     print(append_csv_row(Path(tmp, "r.csv"), {"a": 2, "c": "x"}).read_text(), end="")
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
