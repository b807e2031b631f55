"""Workshop bundles: datasets, weights, results and wheels prepared once online, used offline.

A bundle is a folder (copy it to a USB stick or a shared drive)::

    manifest.json               what is in it: SHA-256 and size of every file, versions,
                                licence and attribution of every dataset
    README.md                   how to use it, and the attributions
    datasets/<flag>[_<size>].npz
    weights/<model>.safetensors
    results/all_results.csv     the PePR paper's published results (notebook 06)
    results/results-imagenet.csv  the authors' copy of timm's ImageNet results (Figure 4b)
    wheels/                     CPU wheels for ``pip install --no-index --find-links``

:func:`create` fills it through a :class:`Fetcher` (:class:`OnlineFetcher` downloads,
:class:`LocalFetcher` copies from a folder); it resumes after an interruption. Files
found in the active bundle (``PEPRKIT_BUNDLE``, :func:`use`, or ``peprkit bundle use``)
are checked against the manifest by :func:`check_file` before any loader uses them.

The rooms: this module creates bundles and puts them in use; ``_layout`` names the files
of a selection, ``_verify`` checks a whole bundle, :mod:`~peprkit.bundle.fetchers` gets
the files, :mod:`~peprkit.bundle.wheels` plans the offline wheelhouse,
:mod:`~peprkit.bundle.pip_target` runs pip for another platform,
:mod:`~peprkit.bundle.readme` writes the README and citations, and
:mod:`peprkit._manifest` reads manifests and checks single files.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from peprkit import _paths
from peprkit._manifest import (
    MANIFEST,
    BundleError,
    check_file,
    digest,
    manifest_path,
    read_manifest,
)
from peprkit._util import atomic_write, human_bytes, progress_bar
from peprkit._validation import check_each
from peprkit.bundle._layout import Item, plan
from peprkit.bundle._verify import VerifyReport, verify
from peprkit.bundle.fetchers import (
    Fetcher,
    LocalFetcher,
    OnlineFetcher,
    Runner,
    default_fetcher,
)
from peprkit.bundle.readme import (
    PAPER_CITATION,
    README,
    bundle_readme,
    dataset_meta,
    medmnist_info,
)
from peprkit.bundle.wheels import (
    INSTALL_COMMAND,
    PLATFORMS,
    PYTHONS,
    TORCH_CPU_INDEX,
    WHEEL_EXTRAS,
    current_python,
    wheel_commands,
    wheel_requirements,
)

__all__ = [
    "FORMAT", "MANIFEST", "PLATFORMS", "PYTHONS", "README", "TORCH_CPU_INDEX", "WHEEL_EXTRAS",
    "BundleError", "Fetcher", "LocalFetcher", "OnlineFetcher", "Runner", "VerifyReport",
    "bundle_readme", "check_file", "create", "default_fetcher", "forget", "read_manifest",
    "remember", "use", "verify", "wheel_commands", "wheel_requirements",
]

#: Version of the manifest's layout.
FORMAT = 1


def _merge(old: Iterable, new: Iterable) -> list:
    return list(dict.fromkeys([*old, *new]))


def _check_request(datasets, sizes, models, platforms, pythons) -> tuple[list, ...]:
    from peprkit.data import SIZES, flags_2d

    platforms = check_each("platforms", platforms, tuple(PLATFORMS))
    pythons = check_each("pythons", pythons, PYTHONS, what="a Python version peprkit supports",
                         hint="Give versions like 3.11.")
    datasets = check_each("datasets", datasets, flags_2d() if datasets else (),
                          what="a 2D MedMNIST dataset")
    sizes = check_each("sizes", sizes, SIZES, what="a MedMNIST image size", convert=int,
                       hint="On the command line: --sizes 28,64.")
    models = list(models)
    if models:
        from peprkit.models import check_model_name

        for model in models:
            check_model_name(model)
    return datasets, sizes, models, platforms, pythons


# --- create ------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _file_meta(item: Item, path: Path) -> dict:
    if item.kind == "dataset":
        from peprkit.data import expected_md5

        info = medmnist_info()[item.name]
        md5 = expected_md5(item.name, item.size)
        return {"dataset": item.name, "image_size": item.size,
                "url": info["url" if item.size == 28 else f"url_{item.size}"],
                "official_md5": md5, "official_file": digest(path, algo="md5") == md5}
    if item.kind == "weights":
        return {"model": item.name}
    from peprkit.paper import IMAGENET_URL, PAPER_URL

    return {"source": IMAGENET_URL if item.name == "imagenet" else PAPER_URL,
            "attribution": PAPER_CITATION}


def _record(root: Path, manifest: dict, rel: str, kind: str, meta: dict, origin: str) -> None:
    path = root / rel
    manifest["files"][rel] = {"kind": kind, "size": path.stat().st_size,
                              "sha256": digest(path), "origin": origin, **meta}


def _write_manifest(root: Path, manifest: dict) -> None:
    manifest["updated"] = _now()
    manifest["total_bytes"] = sum(entry["size"] for entry in manifest["files"].values())
    atomic_write(manifest_path(root), json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _present(root: Path, rel: str, entry: dict | None) -> bool:
    path = root / rel
    return (entry is not None and path.is_file() and path.stat().st_size == entry["size"]
            and digest(path) == entry["sha256"])


def create(
    out: str | os.PathLike, *, datasets: Iterable[str] = (),
    sizes: Iterable[int | str] | None = None, models: Iterable[str] = (),
    paper_results: bool = False, wheels: bool = False,
    platforms: Iterable[str] = tuple(PLATFORMS), pythons: Iterable[str] | None = None,
    fetcher: Fetcher | None = None, dry_run: bool = False, progress: bool = True,
) -> dict:
    """Fill the bundle folder ``out`` (run online); resumable, and extends an existing bundle.

    Every file is fetched to ``<name>.part``, hashed, renamed into place, and recorded in
    ``manifest.json`` (written atomically after each file). A rerun skips files whose
    SHA-256 matches the manifest and re-fetches missing or corrupt ones. The selection is
    added to the one saved in the manifest, so ``create(out)`` alone repairs a bundle.
    Files are written with the usual permissions (0644 with umask 022), so that every
    account can read a bundle on a shared drive.

    Args:
        out: the bundle folder (created; must be empty or an existing bundle).
        datasets: 2D MedMNIST flags, e.g. ``["dermamnist", "breastmnist"]``.
        sizes: image sizes (28, 64, 128, 224) of every dataset; default 28 when datasets
            are given.
        models: timm model names whose pretrained weights to include.
        paper_results: include the PePR paper's ``all_results.csv`` and the authors' copy
            of timm's ``results-imagenet.csv``.
        wheels: include a wheelhouse (see :func:`wheel_commands`).
        platforms: wheel platforms, some of :data:`PLATFORMS`.
        pythons: wheel Python versions (default: this interpreter's).
        fetcher: where files come from (default :func:`default_fetcher`, which downloads).
        dry_run: print what would be fetched (and the pip commands) without fetching.
        progress: show progress bars.

    Returns:
        The manifest (a dict).

    Raises:
        ValueError: bad selection or ``out`` (naming the value and the fix).
        BundleError: a fetched file is missing after its download.

    Example:
        >>> create("bundle", wheels=True, platforms=["mac"])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: platforms contains 'mac'; use some of linux, windows, macos. ...
    """
    root = Path(out).expanduser()
    datasets = list(datasets)
    sizes = (28,) if sizes is None and datasets else sizes or ()
    datasets, sizes, models, platforms, pythons = _check_request(
        datasets, sizes, models, platforms, pythons or [current_python()])
    if root.exists() and not root.is_dir():
        raise ValueError(f"out={str(out)!r} is a file; pass a folder for the bundle.")
    if root.is_dir() and any(root.iterdir()) and not manifest_path(root).is_file():
        raise ValueError(
            f"out={str(out)!r} is a non-empty folder without {MANIFEST}; pass a new or empty "
            "folder (or an existing bundle to extend or repair it)."
        )
    manifest = read_manifest(root) if manifest_path(root).is_file() else {
        "format": FORMAT, "created": _now(), "files": {}, "datasets": {},
        "request": {"datasets": [], "sizes": [], "models": [], "paper_results": False,
                    "wheels": None},
    }
    request = manifest["request"]
    request["datasets"] = _merge(request["datasets"], datasets)
    request["sizes"] = _merge(request["sizes"], sizes)
    request["models"] = _merge(request["models"], models)
    request["paper_results"] = bool(request["paper_results"] or paper_results)
    if wheels:
        old = request["wheels"] or {"platforms": [], "pythons": []}
        request["wheels"] = {"platforms": _merge(old["platforms"], platforms),
                             "pythons": _merge(old["pythons"], pythons)}
    items = plan(request)
    if not items and not request["wheels"]:
        raise ValueError(
            "Nothing to put in the bundle: pass datasets=, models=, paper_results=True or "
            "wheels=True (on the command line --datasets, --models, --paper-results, --wheels)."
        )
    if dry_run:
        _printplan(root, manifest, items, request["wheels"])
        return manifest
    fetcher = fetcher or default_fetcher()
    root.mkdir(parents=True, exist_ok=True)
    manifest["versions"] = {
        p: _version(p) for p in ("peprkit", "medmnist", "timm", "torch", "torchvision")}
    for flag in request["datasets"]:
        manifest["datasets"][flag] = dataset_meta(flag)
    _write_manifest(root, manifest)
    for item in progress_bar(iterable=items, desc="bundle", unit="file", disable=not progress):
        _fetch_item(root, manifest, item, fetcher)
    if request["wheels"]:
        _fetch_wheels(root, manifest, fetcher, **request["wheels"])
    atomic_write(root / README, bundle_readme(manifest))
    print(f"Bundle ready: {root} - {len(manifest['files'])} files, "
          f"{human_bytes(manifest['total_bytes'])} in total ({_sizes_by_kind(manifest)}).\n"
          f"On each laptop: `peprkit bundle use {root}`; check it with "
          f"`peprkit bundle verify {root}`.")
    return manifest


@contextmanager
def _resumable(what: str, root: Path):
    """Turn a failed fetch into a BundleError that says how to resume."""
    try:
        yield
    except Exception as err:
        raise BundleError(
            f"fetching {what} failed: {err}. Finished files are kept; run "
            f"`peprkit bundle create {root}` again (online) to resume."
        ) from err


def _fetch_item(root: Path, manifest: dict, item: Item, fetcher: Fetcher) -> None:
    final = root / item.path
    entry = manifest["files"].get(item.path)
    if _present(root, item.path, entry):
        return
    if final.exists():
        print(f"{item.path}: does not match the manifest; fetching it again.", flush=True)
        final.unlink()
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    part.unlink(missing_ok=True)
    with _resumable(item.path, root):
        if item.kind == "dataset":
            fetcher.fetch_dataset(item.name, item.size, part)
        elif item.kind == "weights":
            fetcher.fetch_weights(item.name, part)
        elif item.name == "imagenet":
            fetcher.fetch_imagenet(part)
        else:
            fetcher.fetch_results(part)
    if not part.is_file():
        raise BundleError(f"fetching {item.path} produced no file {part}; run create again.")
    os.replace(part, final)
    _record(root, manifest, item.path, item.kind, _file_meta(item, final), fetcher.origin)
    _write_manifest(root, manifest)


def _fetch_wheels(root: Path, manifest: dict, fetcher: Fetcher, *, platforms, pythons) -> None:
    done = manifest.get("wheelhouse") or {}
    recorded = [rel for rel, e in manifest["files"].items() if e["kind"] == "wheel"]
    if (done.get("platforms") == platforms and done.get("pythons") == pythons
            and all(_present(root, rel, manifest["files"][rel]) for rel in recorded)):
        return
    folder = root / "wheels"
    folder.mkdir(exist_ok=True)
    for rel in recorded:  # drop corrupt wheels so that pip fetches them again
        if not _present(root, rel, manifest["files"][rel]):
            (root / rel).unlink(missing_ok=True)
            del manifest["files"][rel]
    with _resumable("wheels/", root):
        fetcher.fetch_wheels(folder, platforms=platforms, pythons=pythons)
    for wheel in sorted(folder.glob("*.whl")):
        rel = f"wheels/{wheel.name}"
        if not _present(root, rel, manifest["files"].get(rel)):
            _record(root, manifest, rel, "wheel", {}, fetcher.origin)
    manifest["wheelhouse"] = {"platforms": platforms, "pythons": pythons,
                              "install": INSTALL_COMMAND}
    _write_manifest(root, manifest)


def _sizes_by_kind(manifest: dict) -> str:
    totals: dict[str, int] = {}
    for entry in manifest["files"].values():
        totals[entry["kind"]] = totals.get(entry["kind"], 0) + entry["size"]
    return ", ".join(f"{kind} {human_bytes(n)}" for kind, n in sorted(totals.items()))


def _printplan(root: Path, manifest: dict, items: list[Item], wheels: dict | None) -> None:
    print(f"Plan for {root} (dry run: nothing is fetched):")
    for item in items:
        present = _present(root, item.path, manifest["files"].get(item.path))
        state = "present" if present else "fetch"
        print(f"  {state:8s} {item.path}")
    if wheels:
        print("  wheels:")
        for cmd in wheel_commands(root / "wheels", **wheels):
            print("    $ " + shlex.join(cmd))


# --- use -----------------------------------------------------------------------------
def _bundle_root(path: str | os.PathLike) -> Path:
    root = Path(path).expanduser().resolve()
    if not manifest_path(root).is_file():
        raise ValueError(
            f"path={str(path)!r} is not a peprkit bundle (no {MANIFEST} there). Pass the folder "
            "made by `peprkit bundle create` (the one holding manifest.json)."
        )
    read_manifest(root)
    return root


def use(path: str | os.PathLike) -> Path:
    """Use the bundle at ``path`` in this Python process (a notebook's first cell).

    Sets ``PEPRKIT_BUNDLE``, so the data loader, ``create_model(pretrained=True)`` and the
    paper results look there first, without any network call.

    Returns:
        The bundle folder (absolute).

    Raises:
        ValueError: ``path`` holds no ``manifest.json``.

    Example:
        >>> use("no/such/bundle")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: path='no/such/bundle' is not a peprkit bundle (no manifest.json there). ...
    """
    root = _bundle_root(path)
    os.environ[_paths.BUNDLE_ENV] = str(root)
    return root


def _save_config(update: Callable[[dict], None]) -> None:
    cfg = _paths.config_file()
    try:
        data = json.loads(cfg.read_text()) if cfg.is_file() else {}
    except (OSError, ValueError):
        data = {}
    update(data)
    atomic_write(cfg, json.dumps(data, indent=2) + "\n")


def remember(path: str | os.PathLike) -> Path:
    """Save ``path`` as this user's bundle (``<config_dir>/config.json``, key ``bundle``).

    Raises:
        ValueError: ``path`` holds no ``manifest.json``.
    """
    root = _bundle_root(path)
    _save_config(lambda data: data.__setitem__("bundle", str(root)))
    return root


def forget() -> None:
    """Stop using the saved bundle (``PEPRKIT_BUNDLE``, if set, still applies)."""
    _save_config(lambda data: data.pop("bundle", None))
