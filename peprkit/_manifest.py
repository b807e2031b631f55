"""A bundle's ``manifest.json``: read it, hash files, check a file before it is used.

The lookup in :mod:`peprkit._paths` checks every file it finds in a workshop bundle
through :func:`check_file`; :mod:`peprkit.bundle` writes the manifests. This module
imports nothing of peprkit, so that the ground floor never climbs up to ``bundle``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

#: The manifest's file name, at the top of a bundle folder.
MANIFEST = "manifest.json"
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


class BundleError(ValueError):
    """A bundle is missing, incomplete or corrupt; the message says how to repair it."""


def digest(path: str | os.PathLike, *, algo: str = "sha256", bar=None) -> str:
    """Hex digest of the file at ``path``, read in 1 MiB chunks (``bar``: a progress bar).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     file = Path(tmp, "x.txt")
    ...     _ = file.write_bytes(b"abc")
    ...     digest(file)[:16]
    'ba7816bf8f01cfea'
    """
    hasher = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    return hasher.hexdigest()


def sha256_cached(path: str | os.PathLike) -> str:
    """SHA-256 of ``path``, computed once per process for a given (path, size, mtime)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = digest(path)
    return _SHA_CACHE[key]


def manifest_path(root: str | os.PathLike) -> Path:
    """Where the manifest of the bundle at ``root`` lives."""
    return Path(root) / MANIFEST


def read_manifest(root: str | os.PathLike) -> dict:
    """The parsed ``manifest.json`` of the bundle at ``root``.

    Raises:
        BundleError: no manifest or an unreadable one (with how to repair).
    """
    path = manifest_path(root)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(
            f"{root} has no {MANIFEST}, so it is not a (finished) peprkit bundle. Make one with "
            f"`peprkit bundle create {root} --datasets ...`, or stop using it with "
            "`peprkit bundle use --off` / by unsetting PEPRKIT_BUNDLE."
        ) from None
    except (OSError, ValueError) as err:
        raise BundleError(
            f"{path} cannot be read ({err}). Copy the bundle again from its source, or rebuild "
            f"it with `peprkit bundle create {root}` on a connected machine."
        ) from err
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise BundleError(f"{path} is not a peprkit bundle manifest (no 'files' entry).")
    return manifest


def repair_hint(root: str | os.PathLike) -> str:
    """The sentence that tells a user how to repair the bundle at ``root``."""
    return (
        f"Repair the bundle: on a connected machine run `peprkit bundle create {root}` (it "
        "resumes and re-fetches corrupt files), or copy the file again from the original "
        f"bundle; `peprkit bundle verify {root}` lists every problem."
    )


def check_file(bundle_root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Check a file of a bundle against its manifest (size, then SHA-256) before it is used.

    The hash is computed once per process for each (path, size, modification time).

    Args:
        bundle_root: the bundle folder.
        path: a file inside it.

    Returns:
        ``path``.

    Raises:
        BundleError: the file is not listed in the manifest, or its size or SHA-256
            differ; the message names the file and how to repair the bundle.
    """
    root, path = Path(bundle_root), Path(path)
    manifest = read_manifest(root)
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    entry = manifest["files"].get(rel)
    if entry is None:
        raise BundleError(
            f"Bundle file {path} is not listed in {root / MANIFEST}, so it cannot be checked "
            "and will not be used. Remove it, or add it properly with "
            f"`peprkit bundle create {root} ...`."
        )
    size = path.stat().st_size
    if size != entry["size"]:
        problem = f"it has {size} bytes, the manifest says {entry['size']}"
    elif sha256_cached(path) != entry["sha256"]:
        problem = "its SHA-256 differs from the manifest (contents changed)"
    else:
        return path
    raise BundleError(f"Bundle file {path} is corrupt: {problem}; peprkit will not use it. "
                      + repair_hint(root))
