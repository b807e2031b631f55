"""Where peprkit looks for files on disk, in one order everywhere.

The order: explicit argument, ``PEPRKIT_BUNDLE`` (or the bundle chosen
with ``peprkit bundle use``), ``PEPRKIT_DATA_DIR`` / ``PEPRKIT_WEIGHTS_DIR``, the
repository's ``data/`` folder, the library's own cache, then the network if allowed
(the network step belongs to the caller).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from peprkit import _manifest

Kind = Literal["datasets", "weights", "results"]

#: Environment variable naming a workshop bundle folder.
BUNDLE_ENV = "PEPRKIT_BUNDLE"
_BUNDLE_LABEL = f"bundle ({BUNDLE_ENV})"
_DIR_ENV = {
    "datasets": "PEPRKIT_DATA_DIR",
    "weights": "PEPRKIT_WEIGHTS_DIR",
    "results": "PEPRKIT_DATA_DIR",
}
#: Sub-folder of a bundle, and of the repository's data/ folder, per kind of file.
_SUBDIR = {"datasets": "", "weights": "weights", "results": ""}
_BUNDLE_SUBDIR = {"datasets": "datasets", "weights": "weights", "results": "results"}


def repo_data_dir() -> Path:
    """The repository's ``data/`` folder (exists in a git checkout, not in a wheel)."""
    return Path(__file__).resolve().parent.parent / "data"


def source_tree() -> Path | None:
    """The root of the source checkout peprkit runs from, or None for an installed wheel.

    A checkout is recognised by the ``pyproject.toml`` beside the ``data/`` folder of
    :func:`repo_data_dir` (the notebooks, benchmarks and tests live there too).
    """
    root = repo_data_dir().parent
    return root if (root / "pyproject.toml").is_file() else None


def _user_dir(env: str, xdg: str, fallback: str) -> Path:
    """``$env`` if set, else ``$xdg/peprkit``, else ``~/<fallback>/peprkit``."""
    explicit = os.environ.get(env)
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get(xdg) or Path.home() / fallback) / "peprkit"


def config_dir() -> Path:
    """peprkit's per-user config folder (``PEPRKIT_CONFIG_DIR`` overrides)."""
    return _user_dir("PEPRKIT_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    """peprkit's own download cache (``PEPRKIT_CACHE_DIR`` overrides)."""
    return _user_dir("PEPRKIT_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def config_file() -> Path:
    """The per-user settings file (``config.json`` in :func:`config_dir`)."""
    return config_dir() / "config.json"


def active_bundle() -> Path | None:
    """The workshop bundle in use: ``PEPRKIT_BUNDLE``, else the one saved by ``bundle use``."""
    env = os.environ.get(BUNDLE_ENV)
    if env:
        return Path(env).expanduser()
    cfg = config_file()
    if cfg.is_file():
        try:
            path = json.loads(cfg.read_text()).get("bundle")
        except (OSError, ValueError):
            return None
        if path:
            return Path(path)
    return None


def search_dirs(
    kind: Kind, *, explicit: str | os.PathLike | None = None,
) -> list[tuple[str, Path]]:
    """Folders searched for a file of ``kind``, in order, each with a label for messages."""
    dirs: list[tuple[str, Path]] = []
    if explicit is not None:
        dirs.append(("argument", Path(explicit).expanduser()))
    bundle = active_bundle()
    if bundle is not None:
        dirs.append((_BUNDLE_LABEL, bundle / _BUNDLE_SUBDIR[kind]))
    env = os.environ.get(_DIR_ENV[kind])
    if env:
        dirs.append((_DIR_ENV[kind], Path(env).expanduser()))
    dirs.append(("repo data/", repo_data_dir() / _SUBDIR[kind]))
    dirs.append(("peprkit cache", cache_dir() / kind))
    return dirs


def find_file(
    name: str, kind: Kind, *, explicit: str | os.PathLike | None = None,
    extra: list[tuple[str, Path]] | None = None,
) -> tuple[Path | None, list[tuple[str, Path]]]:
    """Look ``name`` up in :func:`search_dirs` (then ``extra``, e.g. a library's cache).

    A file found inside a bundle is checked against the bundle's manifest first; a
    corrupt one raises :class:`peprkit._manifest.BundleError` (also importable as
    ``peprkit.bundle.BundleError``) rather than being used.

    Returns:
        ``(path or None, searched)`` where ``searched`` lists ``(label, folder)`` pairs,
        for an error message that says where the file was looked for.
    """
    searched = search_dirs(kind, explicit=explicit) + list(extra or [])
    for label, folder in searched:
        candidate = folder / name
        if candidate.is_file():
            if label == _BUNDLE_LABEL:
                _manifest.check_file(folder.parent, candidate)
            return candidate, searched
    return None, searched


def describe_searched(searched: list[tuple[str, Path]]) -> str:
    """One line per searched folder, for error messages."""
    return "\n".join(f"  - {label}: {folder}" for label, folder in searched)
