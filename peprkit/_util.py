"""Small helpers shared by several modules: close matches, atomic writes, optional imports."""

from __future__ import annotations

import difflib
import importlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType


def did_you_mean(value: str, options: Iterable[str], n: int = 3) -> str:
    """A ``" Did you mean: a, b?"`` suffix for error messages ('' when nothing is close).

    >>> did_you_mean("brestmnist", ["breastmnist", "pathmnist", "dermamnist"])
    ' Did you mean: breastmnist?'
    """
    options = list(options)
    matches = difflib.get_close_matches(str(value), options, n=n, cutoff=0.8)
    if not matches:
        lowered = str(value).lower()
        matches = [o for o in options if lowered and lowered in o.lower()][:n]
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes go to a temporary file in the same folder, are flushed to disk, then
    renamed over ``path`` (``os.replace`` is atomic on POSIX and Windows).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
