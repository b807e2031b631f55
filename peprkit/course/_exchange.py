"""The one way files cross the sandbox boundary: read without links, FIFOs or surprises.

Everything a sandboxed notebook or worker can write (its folder: the progress records,
the exported answers, the run's ``history.csv`` and ``results.csv``) is read by the
unsandboxed grader only through this module, and nothing is ever written into such a
folder once its sandbox has started. A read

- opens each folder below a trusted ``root`` with ``O_NOFOLLOW | O_DIRECTORY``, relative to
  the folder above it, so that a symlinked folder (``.grading -> /home/you``) is refused
  instead of followed;
- refuses a file that :func:`os.lstat` does not call a regular file (a link, a FIFO: not
  even opened), then opens it with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO swapped in
  meanwhile never blocks the grader) and checks it again with :func:`os.fstat`;
- reads at most ``limit`` bytes, and refuses a larger file.

A refusal raises :class:`Refused` (an ``OSError``) saying why. Text that came from a
submission goes through :func:`clean_text` (valid UTF-8, no lone surrogates, capped)
before it is stored or shown.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     _ = Path(tmp, "a.json").write_text('{"x": 1}')
...     read_json("a.json", 100, root=tmp)
{'x': 1}
>>> clean_text("bad \\ud800 text", 8)
'bad ? t…'
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
#: Most container brackets (``[`` and ``{``) a JSON document read from a sandbox may hold:
#: bounds the Python objects parsing creates (each costs ~60 bytes for 1 byte of input).
MAX_CONTAINERS = 1_000_000


class Refused(OSError):
    """A file from a sandbox that is not read: missing, a link, not a regular file, too
    large, or not what was expected. Its message says which, without the file's content."""


def _parts(relative: str | os.PathLike, folder: bool = False) -> list[str]:
    parts = [p for p in Path(relative).parts if p not in ("", ".")]
    if (not parts and not folder) or any(p in ("..", "/") or os.sep in p for p in parts):
        raise Refused(errno.EINVAL, f"{str(relative)!r} is not a path inside the folder")
    return parts


@contextmanager
def _open(path: str | os.PathLike, root: str | os.PathLike | None) -> Iterator[int]:
    """A read-only fd of the regular file ``path``: below ``root`` when given (no link in
    any component under ``root``), else no link in its last component only."""
    if root is None:  # the folders above are the caller's choice: followed
        parent, parts = str(Path(path).parent), [Path(path).name]
        first = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    else:  # the folders above root are trusted, root itself and what is below are not
        parent, parts, first = str(root), _parts(path), _DIR_FLAGS
    fds = []
    try:
        try:
            fds.append(os.open(parent, first))
            for name in parts[:-1]:
                fds.append(os.open(name, _DIR_FLAGS, dir_fd=fds[-1]))
            # look before opening: even a non-blocking open of a FIFO would wake its writer
            if not stat.S_ISREG(os.stat(parts[-1], dir_fd=fds[-1],
                                        follow_symlinks=False).st_mode):
                raise Refused(errno.EINVAL, f"{path} is a link or not a regular file")
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fds[-1])
        except FileNotFoundError:
            raise Refused(errno.ENOENT, f"{path} does not exist") from None
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise Refused(err.errno, f"{path} is, or lies under, a symbolic link or "
                              "something that is not a folder") from None
            raise Refused(err.errno, f"{path} cannot be opened ({os.strerror(err.errno or 0)})"
                          ) from None
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(errno.EINVAL, f"{path} is not a regular file")
        yield fd
    finally:
        for opened in reversed(fds):
            os.close(opened)


def is_file(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> bool:
    """True when :func:`read_bytes` would open ``path`` (a regular file, no links)."""
    try:
        with _open(path, root):
            return True
    except OSError:
        return False


def present(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> bool:
    """True when something is at ``path``: a regular file, or anything planted in its
    place or above it (a link, a FIFO, a folder) that :func:`read_bytes` would refuse;
    False only when nothing is there."""
    try:
        with _open(path, root):
            return True
    except Refused as err:
        return err.errno != errno.ENOENT
    except OSError:
        return True


def _read(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        try:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        except BlockingIOError:  # pragma: no cover - regular files do not block
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_bytes(path: str | os.PathLike, limit: int, *,
               root: str | os.PathLike | None = None) -> bytes:
    """The bytes of the regular file ``path`` (relative to ``root`` when given).

    Raises:
        Refused: missing, a link (or under one), not a regular file, or over ``limit`` bytes.
    """
    with _open(path, root) as fd:
        if os.fstat(fd).st_size > limit:
            raise Refused(errno.EFBIG, f"{path} is larger than {limit} bytes")
        data = _read(fd, limit)
    if len(data) > limit:
        raise Refused(errno.EFBIG, f"{path} is larger than {limit} bytes")
    return data


def read_tail(path: str | os.PathLike, limit: int, *,
              root: str | os.PathLike | None = None) -> bytes:
    """The last ``limit`` bytes (at most) of the regular file ``path``.

    Raises:
        Refused: missing, a link (or under one), or not a regular file.
    """
    with _open(path, root) as fd:
        size = os.fstat(fd).st_size
        if size > limit:
            os.lseek(fd, size - limit, os.SEEK_SET)
        return _read(fd, limit)[-limit:] if limit > 0 else b""


def parse_json(raw: bytes, what: str = "the data") -> Any:
    """JSON from a sandbox: UTF-8 only, at most :data:`MAX_CONTAINERS` lists and objects,
    nesting bounded by the parser.

    Raises:
        ValueError: not UTF-8 JSON, too many containers or nested too deep.
    """
    if raw.count(b"[") + raw.count(b"{") > MAX_CONTAINERS:
        raise ValueError(f"{what} holds more than {MAX_CONTAINERS} lists or objects")
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{what} is nested too deep") from None
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{what} is not valid JSON ({type(err).__name__})") from None


def read_json(path: str | os.PathLike, limit: int, *,
              root: str | os.PathLike | None = None) -> Any:
    """:func:`parse_json` of :func:`read_bytes`.

    Raises:
        Refused: see :func:`read_bytes`.
        ValueError: see :func:`parse_json`.
    """
    return parse_json(read_bytes(path, limit, root=root), str(path))


def subfolders(path: str | os.PathLike, *, root: str | os.PathLike) -> list[str]:
    """Names of the real folders (not links) inside the folder ``path`` under ``root``,
    sorted; empty when ``path`` is missing, a link, or under one.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     Path(tmp, "runs", "a").mkdir(parents=True)
    ...     Path(tmp, "runs", "b").symlink_to("/")
    ...     subfolders("runs", root=tmp)
    ['a']
    """
    fds = []
    try:
        fds.append(os.open(str(root), _DIR_FLAGS))
        for name in _parts(path, folder=True):
            fds.append(os.open(name, _DIR_FLAGS, dir_fd=fds[-1]))
        found = []
        for name in os.listdir(fds[-1]):
            info = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                found.append(name)
        return sorted(found)
    except OSError:
        return []
    finally:
        for fd in reversed(fds):
            os.close(fd)


def clean_text(text: Any, limit: int = 1000) -> str:
    """``text`` as valid UTF-8 (lone surrogates and undecodable file-name bytes replaced
    by ``?``, NUL removed), at most ``limit`` characters (cut ones end in ``…``).

    >>> clean_text("ok")
    'ok'
    """
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # noqa: BLE001  (an object whose __str__ fails)
            text = f"<{type(text).__name__}>"
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
