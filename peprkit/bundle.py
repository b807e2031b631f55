"""Workshop bundles: datasets, weights, results and wheels prepared once online, used offline.

A bundle is a folder (copy it to a USB stick or a shared drive)::

    manifest.json               what is in it: SHA-256 and size of every file, versions,
                                licence and attribution of every dataset
    README.md                   how to use it, and the attributions
    datasets/<flag>[_<size>].npz
    weights/<model>.safetensors
    results/all_results.csv     the PePR paper's published results (notebook 06)
    wheels/                     CPU wheels for ``pip install --no-index --find-links``

:func:`create` fills it through a :class:`Fetcher` (:class:`OnlineFetcher` downloads,
:class:`LocalFetcher` copies from a folder); it resumes after an interruption. Files
found in the active bundle (``PEPRKIT_BUNDLE``, :func:`use`, or ``peprkit bundle use``)
are checked against the manifest by :func:`check_file` before any loader uses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Protocol

from peprkit import _paths
from peprkit._util import atomic_write, did_you_mean, optional_import

MANIFEST = "manifest.json"
README = "README.md"
FORMAT = 1
#: Where :class:`OnlineFetcher` gets CPU builds of torch and torchvision.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: Wheel platforms: name -> pip ``--platform`` tags (x86-64 Linux with glibc >= 2.28,
#: 64-bit Windows, Apple-silicon macOS >= 14, which torch's arm64 wheels require). pip
#: does not expand manylinux tags itself, hence every glibc version up to 2.28.
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux": (*(f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)),
              "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"),
    "windows": ("win_amd64",),
    "macos": ("macosx_14_0_arm64",),
}
#: Environment-marker values of each platform (see :func:`_pip_for_target`).
_MARKERS = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
              "platform_machine": "x86_64"},
    "windows": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                "platform_machine": "AMD64"},
    "macos": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
              "platform_machine": "arm64"},
}
#: Python versions the kit supports (``requires-python >= 3.10``).
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
#: Extras of peprkit that a learner's laptop needs.
WHEEL_EXTRAS = ("train", "notebooks")
#: Packages pinned to the versions installed where the bundle is made (the versions the
#: bundle's weights and data were produced and tested with); the rest resolve per Python.
_PINNED = ("torch", "torchvision", "timm", "medmnist")
#: On PyPI, Linux torch wheels are CUDA builds (555 MB plus CUDA libraries); the CPU index
#: has ``+cpu`` builds. PyPI's Windows and macOS wheels are CPU builds already.
_CPU_LOCAL = {"linux": ("torch", "torchvision")}
_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_MEDMNIST = (
    "MedMNIST v2: J. Yang, R. Shi, D. Wei, Z. Liu, L. Zhao, B. Ke, H. Pfister, B. Ni, "
    "\"MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image "
    "classification\", Scientific Data 10, 41 (2023), https://medmnist.com/"
)
#: The original data each MedMNIST set is derived from (cite it with MedMNIST).
_SOURCES = {
    "pathmnist": "Kather et al., PLOS Medicine 16(1), e1002730 (2019), NCT-CRC-HE-100K",
    "chestmnist": "Wang et al., ChestX-ray8, CVPR 2017 (NIH ChestX-ray14)",
    "dermamnist": "Tschandl et al., The HAM10000 dataset, Scientific Data 5, 180161 (2018); "
                  "Codella et al., ISIC 2018 challenge, arXiv:1902.03368",
    "octmnist": "Kermany et al., Cell 172(5), 1122-1131 (2018)",
    "pneumoniamnist": "Kermany et al., Cell 172(5), 1122-1131 (2018)",
    "retinamnist": "Liu et al., DeepDRiD, Patterns 3(6), 100512 (2022)",
    "breastmnist": "Al-Dhabyani et al., Dataset of breast ultrasound images, "
                   "Data in Brief 28, 104863 (2020)",
    "bloodmnist": "Acevedo et al., Data in Brief 30, 105474 (2020)",
    "tissuemnist": "Ljosa et al., Nature Methods 9(7), 637 (2012), BBBC051",
    "organamnist": "Bilic et al., LiTS, Medical Image Analysis 84, 102680 (2023); "
                   "Xu et al., IEEE TMI 38(8), 1885-1898 (2019)",
}
_SOURCES["organcmnist"] = _SOURCES["organsmnist"] = _SOURCES["organamnist"]
_PAPER = (
    "R. Selvan, B. Pepin, C. Igel, G. Samuel, E. B. Dam, \"PePR: Performance Per Resource "
    "Unit as a Metric to Promote Small-Scale Deep Learning\", NLDL 2025; "
    "https://github.com/saintslab/PePR"
)


class BundleError(ValueError):
    """A bundle is missing, incomplete or corrupt; the message says how to repair it."""


class Fetcher(Protocol):
    """Puts one file at ``dest`` (a ``.part`` path that :func:`create` renames when done);
    ``origin`` says where files come from (recorded in the manifest)."""

    origin: str

    def fetch_dataset(self, flag: str, size: int, dest: Path) -> None: ...

    def fetch_weights(self, model: str, dest: Path) -> None: ...

    def fetch_results(self, dest: Path) -> None: ...

    def fetch_wheels(self, folder: Path, *, platforms: Sequence[str],
                     pythons: Sequence[str]) -> None: ...


Runner = Callable[[list[str]], object]


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True)


class OnlineFetcher:
    """Downloads: MedMNIST through medmnist (MD5-checked), weights through timm, the
    paper's CSV from GitHub, wheels with ``pip download`` (``runner`` runs each command)."""

    origin = "downloaded"

    def __init__(self, *, runner: Runner = _run, timeout_s: float = 60.0) -> None:
        self.runner = runner
        self.timeout_s = timeout_s

    def fetch_dataset(self, flag: str, size: int, dest: Path) -> None:
        from peprkit.data import download_medmnist

        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
            shutil.move(download_medmnist(flag, size, tmp), dest)

    def fetch_weights(self, model: str, dest: Path) -> None:
        from peprkit.models import download_weights

        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
            shutil.move(download_weights(model, tmp), dest)

    def fetch_results(self, dest: Path) -> None:
        from peprkit.paper import PAPER_URL, load_results

        with urllib.request.urlopen(PAPER_URL, timeout=self.timeout_s) as response:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0) or None
            _stream(response, dest, total=total, desc="all_results.csv")
        load_results(dest, download=False)  # raises ValueError unless it has the paper's columns

    def fetch_wheels(self, folder: Path, *, platforms: Sequence[str],
                     pythons: Sequence[str]) -> None:
        for cmd in wheel_commands(folder, platforms=platforms, pythons=pythons):
            print("$", shlex.join(cmd), flush=True)
            self.runner(cmd)


class LocalFetcher:
    """Copies from a folder laid out like a bundle (``datasets/``, ``weights/``,
    ``results/``, ``wheels/``) or holding the files directly, e.g. an older bundle."""

    def __init__(self, source: str | os.PathLike) -> None:
        self.source = Path(source).expanduser()
        if not self.source.is_dir():
            raise ValueError(
                f"source={str(source)!r} is not a folder. Pass a folder holding datasets/, "
                "weights/, results/ (an existing bundle), or the files themselves."
            )
        self.origin = f"copied from {self.source}"

    def _find(self, sub: str, name: str) -> Path:
        for candidate in (self.source / sub / name, self.source / name):
            if candidate.is_file():
                return candidate
        raise BundleError(
            f"{name} is not in source={str(self.source)!r} (looked in {sub}/ and the folder "
            "itself). Put it there, or drop it from the bundle's selection."
        )

    def fetch_dataset(self, flag: str, size: int, dest: Path) -> None:
        from peprkit.data import dataset_filename

        _copy(self._find("datasets", dataset_filename(flag, size)), dest)

    def fetch_weights(self, model: str, dest: Path) -> None:
        _copy(self._find("weights", _weights_name(model)), dest)

    def fetch_results(self, dest: Path) -> None:
        _copy(self._find("results", _results_name()), dest)

    def fetch_wheels(self, folder: Path, *, platforms: Sequence[str],
                     pythons: Sequence[str]) -> None:
        wheels = sorted((self.source / "wheels").glob("*.whl"))
        if not wheels:
            raise BundleError(f"source={str(self.source)!r} has no wheels/*.whl to copy.")
        for wheel in wheels:
            _copy(wheel, folder / wheel.name)


def default_fetcher() -> Fetcher:
    """The fetcher :func:`create` uses when none is given (downloads)."""
    return OnlineFetcher()


# --- what goes in a bundle -----------------------------------------------------------
@dataclass(frozen=True)
class _Item:
    path: str  # relative, with "/" separators
    kind: str  # dataset | weights | results
    name: str  # flag, model, or "paper"
    size: int = 0  # image size of a dataset


def _weights_name(model: str) -> str:
    from peprkit.models import weights_filenames

    return weights_filenames(model)[0]


def _results_name() -> str:
    from peprkit.paper import FILE_NAME

    return FILE_NAME


def _plan(request: dict) -> list[_Item]:
    from peprkit.data import dataset_filename

    items = [_Item(f"datasets/{dataset_filename(flag, size)}", "dataset", flag, size)
             for flag in request["datasets"] for size in request["sizes"]]
    items += [_Item(f"weights/{_weights_name(m)}", "weights", m) for m in request["models"]]
    if request["paper_results"]:
        items.append(_Item(f"results/{_results_name()}", "results", "paper"))
    return items


def _merge(old: Iterable, new: Iterable) -> list:
    return list(dict.fromkeys([*old, *new]))


def _medmnist_info() -> dict:
    return optional_import("medmnist.info", extra="train", package="medmnist").INFO


def _check_request(datasets, sizes, models, platforms, pythons) -> tuple[list, ...]:
    from peprkit.data import SIZES, flags_2d

    for plat in platforms:
        if plat not in PLATFORMS:
            raise ValueError(
                f"platforms contains {plat!r}; use some of {', '.join(PLATFORMS)}."
                f"{did_you_mean(plat, PLATFORMS)}"
            )
    for py in pythons:
        if py not in PYTHONS:
            raise ValueError(
                f"pythons contains {py!r}; peprkit supports Python {', '.join(PYTHONS)} "
                "(give versions like 3.11)."
            )
    flags = flags_2d() if datasets else []
    for flag in datasets:
        if flag not in flags:
            raise ValueError(
                f"datasets contains {flag!r}, which is not a 2D MedMNIST dataset."
                f"{did_you_mean(flag, flags)} Known: {', '.join(flags)}."
            )
    checked_sizes = []
    for size in sizes:
        try:
            checked_sizes.append(int(size))
        except (TypeError, ValueError):
            checked_sizes.append(None)
        if checked_sizes[-1] not in SIZES:
            raise ValueError(
                f"sizes contains {size!r}, which is not a MedMNIST image size; use some of "
                f"{', '.join(map(str, SIZES))} (e.g. --sizes 28,64)."
            )
    if models:
        from peprkit.models import check_model_name

        for model in models:
            check_model_name(model)
    return list(datasets), checked_sizes, list(models), list(platforms), list(pythons)


# --- wheels ---------------------------------------------------------------------------
def wheel_requirements(platform: str) -> list[str]:
    """Requirements downloaded for ``platform``: peprkit's ``train`` and ``notebooks``
    dependencies; torch, torchvision, timm and medmnist pinned to the installed versions,
    torch and torchvision as CPU builds (``+cpu`` on Linux; CPU-only elsewhere anyway).

    Raises:
        ValueError: unknown platform.
    """
    from packaging.requirements import Requirement

    if platform not in PLATFORMS:
        raise ValueError(f"platform={platform!r}; use one of {', '.join(PLATFORMS)}.")
    reqs = []
    for spec in metadata.requires("peprkit") or []:
        req = Requirement(spec)
        wanted = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in WHEEL_EXTRAS)
        if not wanted or req.name == "peprkit":
            continue
        try:
            version = metadata.version(req.name).split("+")[0]
        except metadata.PackageNotFoundError:
            version = None
        if req.name in _PINNED and version:
            local = "+cpu" if req.name in _CPU_LOCAL.get(platform, ()) else ""
            reqs.append(f"{req.name}=={version}{local}")
        else:
            req.marker = None
            reqs.append(str(req))
    return reqs


def _source_tree() -> Path | None:
    root = _paths.repo_data_dir().parent
    return root if (root / "pyproject.toml").is_file() else None


def wheel_commands(folder: str | os.PathLike, *, platforms: Sequence[str] = tuple(PLATFORMS),
                   pythons: Sequence[str] | None = None) -> list[list[str]]:
    """The pip commands that fill ``folder`` with wheels for every platform and Python.

    First a wheel of peprkit itself (built from the source checkout, else downloaded),
    then one ``pip download --only-binary=:all:`` per platform and Python, with the
    PyTorch CPU index added for torch and torchvision, run through
    ``python -m peprkit.bundle PLATFORM PYTHON`` so that dependency markers are
    evaluated for the target (see :func:`_pip_for_target`).

    >>> cmds = wheel_commands("wheels", platforms=["windows"], pythons=["3.11"])
    >>> cmds[-1][cmds[-1].index("--platform") + 1], "--only-binary=:all:" in cmds[-1]
    ('win_amd64', True)
    """
    pythons = list(pythons or [_current_python()])
    self_req: list[str] = []
    source = _source_tree()
    commands = []
    if source is not None:
        commands.append([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
                         str(folder), str(source)])
    else:
        self_req = [f"peprkit=={metadata.version('peprkit')}"]
    for plat in platforms:
        reqs = self_req + wheel_requirements(plat)
        for py in pythons:
            tags = [arg for tag in PLATFORMS[plat] for arg in ("--platform", tag)]
            commands.append([
                sys.executable, "-m", "peprkit.bundle", plat, py,
                "download", "--dest", str(folder), "--only-binary=:all:",
                "--implementation", "cp", "--python-version", py,
                "--abi", f"cp{py.replace('.', '')}", *tags,
                "--extra-index-url", TORCH_CPU_INDEX, *reqs,
            ])
    return commands


def _current_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _pip_for_target(argv: Sequence[str]) -> int:
    """Run pip (``argv`` = PLATFORM PYTHON PIP-ARGS...) with markers of that target.

    ``pip download --platform P --python-version V`` chooses wheels for P and V but
    evaluates dependency markers (``sys_platform == "win32"``, ``python_version <
    "3.11"``) for the machine it runs on: made on Linux, a Windows wheelhouse would
    lack Windows-only dependencies (colorama, pywinpty) and ask for Linux-only ones
    (torch's CUDA packages). pip reads those values from its vendored
    ``packaging.markers.default_environment``, which this replaces for the run.
    """
    platform, python, *pip_args = argv
    from pip._internal.cli.main import main
    from pip._vendor.packaging import markers

    env = {**markers.default_environment(), **_MARKERS[platform], "python_version": python,
           "python_full_version": f"{python}.0", "implementation_name": "cpython",
           "platform_python_implementation": "CPython"}
    markers.default_environment = lambda: dict(env)
    return int(main(pip_args) or 0)


# --- files ------------------------------------------------------------------------------
def _progress(**kwargs):
    return optional_import("tqdm.auto", extra="train", package="tqdm").tqdm(**kwargs)


def _stream(reader, dest: Path, *, total: int | None, desc: str) -> None:
    with open(dest, "wb") as out, _progress(total=total, unit="B", unit_scale=True,
                                            desc=desc, leave=False) as bar:
        while chunk := reader.read(1 << 20):
            out.write(chunk)
            bar.update(len(chunk))


def _copy(src: Path, dest: Path) -> None:
    with open(src, "rb") as reader:
        _stream(reader, dest, total=src.stat().st_size, desc=src.name)


def _digest(path: Path, *, algo: str = "sha256", bar=None) -> str:
    digest = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    return digest.hexdigest()


def _sha256_cached(path: Path) -> str:
    """SHA-256 of ``path``, computed once per process for a given (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = _digest(path)
    return _SHA_CACHE[key]


def _human(n_bytes: float) -> str:
    """Decimal units, like pip and download pages.

    >>> _human(559_580), _human(1.5e9)
    ('559.6 kB', '1.50 GB')
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            digits = 2 if unit == "GB" else 1
            return f"{n_bytes / scale:.{digits}f} {unit}"
    return f"{int(n_bytes)} B"


def _manifest_path(root: Path) -> Path:
    return Path(root) / MANIFEST


def read_manifest(root: str | os.PathLike) -> dict:
    """The parsed ``manifest.json`` of the bundle at ``root``.

    Raises:
        BundleError: no manifest or an unreadable one (with how to repair).
    """
    path = _manifest_path(Path(root))
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


def _repair_hint(root: Path) -> str:
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
    elif _sha256_cached(path) != entry["sha256"]:
        problem = "its SHA-256 differs from the manifest (contents changed)"
    else:
        return path
    raise BundleError(f"Bundle file {path} is corrupt: {problem}; peprkit will not use it. "
                      + _repair_hint(root))


# --- create ------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _dataset_meta(flag: str) -> dict:
    info = _medmnist_info()[flag]
    return {
        "licence": info.get("license", "unknown: see https://medmnist.com/"),
        "attribution": f"{_MEDMNIST}. Source data: {_SOURCES.get(flag, 'see medmnist.INFO')}.",
        "medmnist_class": info.get("python_class", ""),
    }


def _file_meta(item: _Item, path: Path) -> dict:
    if item.kind == "dataset":
        from peprkit.data import expected_md5

        info = _medmnist_info()[item.name]
        md5 = expected_md5(item.name, item.size)
        return {"dataset": item.name, "image_size": item.size,
                "url": info["url" if item.size == 28 else f"url_{item.size}"],
                "official_md5": md5, "official_file": _digest(path, algo="md5") == md5}
    if item.kind == "weights":
        return {"model": item.name}
    from peprkit.paper import PAPER_URL

    return {"source": PAPER_URL, "attribution": _PAPER}


def _record(root: Path, manifest: dict, rel: str, kind: str, meta: dict, origin: str) -> None:
    path = root / rel
    manifest["files"][rel] = {"kind": kind, "size": path.stat().st_size,
                              "sha256": _digest(path), "origin": origin, **meta}


def _write_manifest(root: Path, manifest: dict) -> None:
    manifest["updated"] = _now()
    manifest["total_bytes"] = sum(entry["size"] for entry in manifest["files"].values())
    atomic_write(_manifest_path(root), json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _present(root: Path, rel: str, entry: dict | None) -> bool:
    path = root / rel
    return (entry is not None and path.is_file() and path.stat().st_size == entry["size"]
            and _digest(path) == entry["sha256"])


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

    Args:
        out: the bundle folder (created; must be empty or an existing bundle).
        datasets: 2D MedMNIST flags, e.g. ``["dermamnist", "breastmnist"]``.
        sizes: image sizes (28, 64, 128, 224) of every dataset; default 28 when datasets
            are given.
        models: timm model names whose pretrained weights to include.
        paper_results: include the PePR paper's ``all_results.csv``.
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
        datasets, sizes, models, platforms, pythons or [_current_python()])
    if root.exists() and not root.is_dir():
        raise ValueError(f"out={str(out)!r} is a file; pass a folder for the bundle.")
    if root.is_dir() and any(root.iterdir()) and not _manifest_path(root).is_file():
        raise ValueError(
            f"out={str(out)!r} is a non-empty folder without {MANIFEST}; pass a new or empty "
            "folder (or an existing bundle to extend or repair it)."
        )
    manifest = read_manifest(root) if _manifest_path(root).is_file() else {
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
    items = _plan(request)
    if not items and not request["wheels"]:
        raise ValueError(
            "Nothing to put in the bundle: pass datasets=, models=, paper_results=True or "
            "wheels=True (on the command line --datasets, --models, --paper-results, --wheels)."
        )
    if dry_run:
        _print_plan(root, manifest, items, request["wheels"])
        return manifest
    fetcher = fetcher or default_fetcher()
    root.mkdir(parents=True, exist_ok=True)
    manifest["versions"] = {
        p: _version(p) for p in ("peprkit", "medmnist", "timm", "torch", "torchvision")}
    for flag in request["datasets"]:
        manifest["datasets"][flag] = _dataset_meta(flag)
    _write_manifest(root, manifest)
    for item in _progress(iterable=items, desc="bundle", unit="file", disable=not progress):
        _fetch_item(root, manifest, item, fetcher)
    if request["wheels"]:
        _fetch_wheels(root, manifest, fetcher, **request["wheels"])
    atomic_write(root / README, bundle_readme(manifest))
    print(f"Bundle ready: {root} - {len(manifest['files'])} files, "
          f"{_human(manifest['total_bytes'])} in total ({_sizes_by_kind(manifest)}).\n"
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


def _fetch_item(root: Path, manifest: dict, item: _Item, fetcher: Fetcher) -> None:
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
    manifest["wheelhouse"] = {
        "platforms": platforms, "pythons": pythons,
        "install": "python -m pip install --no-index --find-links wheels "
                   f"\"peprkit[{','.join(WHEEL_EXTRAS)}]\"",
    }
    _write_manifest(root, manifest)


def _sizes_by_kind(manifest: dict) -> str:
    totals: dict[str, int] = {}
    for entry in manifest["files"].values():
        totals[entry["kind"]] = totals.get(entry["kind"], 0) + entry["size"]
    return ", ".join(f"{kind} {_human(n)}" for kind, n in sorted(totals.items()))


def _print_plan(root: Path, manifest: dict, items: list[_Item], wheels: dict | None) -> None:
    print(f"Plan for {root} (dry run: nothing is fetched):")
    for item in items:
        present = _present(root, item.path, manifest["files"].get(item.path))
        state = "present" if present else "fetch"
        print(f"  {state:8s} {item.path}")
    if wheels:
        print("  wheels:")
        for cmd in wheel_commands(root / "wheels", **wheels):
            print("    $ " + shlex.join(cmd))


def bundle_readme(manifest: dict) -> str:
    """The bundle's README.md: how to use it, what is in it, licences and attributions."""
    files = manifest["files"]
    lines = [
        "# peprkit workshop bundle", "",
        f"Made with peprkit {manifest['versions']['peprkit']} on {manifest.get('updated', '?')}: "
        f"{len(files)} files, {_human(manifest.get('total_bytes', 0))}. "
        f"`{MANIFEST}` lists the SHA-256 and size of every file.", "",
        "## Use it offline", "",
        "    peprkit bundle use /path/to/this/folder      # remembered for this user",
        "    peprkit bundle verify /path/to/this/folder   # check every file", "",
        "or in a notebook's first cell:", "",
        "    import peprkit.bundle",
        "    peprkit.bundle.use(\"/path/to/this/folder\")", "",
        "or set the environment variable `PEPRKIT_BUNDLE=/path/to/this/folder`.", "",
    ]
    if manifest.get("wheelhouse"):
        wh = manifest["wheelhouse"]
        lines += [
            "## Install without internet", "",
            f"CPU wheels for {', '.join(wh['platforms'])} and Python {', '.join(wh['pythons'])}."
            " From this folder, in a fresh virtual environment:", "",
            f"    {wh['install']}", "",
        ]
    if manifest["datasets"]:
        lines += ["## Datasets (MedMNIST)", ""]
        for flag, meta in manifest["datasets"].items():
            present = sorted((e["image_size"], e["official_file"]) for e in files.values()
                             if e.get("dataset") == flag)
            sizes = ", ".join(f"{s} px" + ("" if official else ": a copy that differs from the "
                                           "official file") for s, official in present)
            lines += [f"- **{flag}** ({sizes or 'not fetched yet'}), licence "
                      f"**{meta['licence']}**. {meta['attribution']}"]
        if any("NC" in m["licence"] for m in manifest["datasets"].values()):
            lines += ["", "Datasets under a CC BY-NC licence may be used for non-commercial "
                          "purposes only."]
        lines += [""]
    models = [e["model"] for e in files.values() if e["kind"] == "weights"]
    if models:
        lines += ["## Pretrained weights", "",
                  f"ImageNet weights from timm {manifest['versions'].get('timm')} (Hugging Face "
                  f"hub): {', '.join(models)}. Each model's licence is on its model card at "
                  "https://huggingface.co/timm.", ""]
    results = [e for e in files.values() if e["kind"] == "results"]
    if results:
        lines += ["## Paper results", "", f"`results/{_results_name()}`: {_PAPER}.", ""]
    return "\n".join(lines)


# --- verify ---------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """What :func:`verify` found; ``ok`` is True only when nothing is wrong."""

    root: Path
    checked: int = 0
    total_bytes: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.extra or self.unfinished)

    def __str__(self) -> str:
        lines = [f"Bundle {self.root}: {self.checked} files checked, {_human(self.total_bytes)}."]
        lines += [f"  MISSING   {rel}" for rel in self.missing]
        lines += [f"  CORRUPT   {rel}: {why}" for rel, why in self.corrupt]
        lines += [f"  EXTRA     {rel} (not in {MANIFEST})" for rel in self.extra]
        lines += [f"  NOT YET   {rel} (selected but never fetched)" for rel in self.unfinished]
        if self.ok:
            lines.append("OK: every file matches the manifest.")
        else:
            n = len(self.missing) + len(self.corrupt) + len(self.extra) + len(self.unfinished)
            lines.append(
                f"{n} problem(s). Fix: on a connected machine run `peprkit bundle create "
                f"{self.root}` (it resumes, re-fetches missing and corrupt files), or copy "
                "the bundle again; delete EXTRA files (or *.part leftovers)."
            )
        return "\n".join(lines)


def verify(path: str | os.PathLike, *, progress: bool = True) -> VerifyReport:
    """Recompute every checksum of the bundle at ``path`` and list what is wrong.

    Reports files in the manifest that are missing or corrupt (wrong size or SHA-256),
    files not in the manifest (extra), and selected files never fetched.

    Raises:
        ValueError: ``path`` is not a folder.

    Example:
        >>> verify("no/such/folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: path='no/such/folder' is not a folder. ...
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"path={str(path)!r} is not a folder. Pass the bundle folder.")
    report = VerifyReport(root)
    try:
        manifest = read_manifest(root)
    except BundleError as err:
        report.corrupt.append((MANIFEST, str(err)))
        return report
    files = manifest["files"]
    total = sum(e["size"] for e in files.values())
    with _progress(total=total, unit="B", unit_scale=True, desc="verify",
                   disable=not progress) as bar:
        for rel, entry in sorted(files.items()):
            file = root / rel
            if not file.is_file():
                report.missing.append(rel)
                continue
            size = file.stat().st_size
            if size != entry["size"]:
                report.corrupt.append((rel, f"{size} bytes, expected {entry['size']} (truncated "
                                            "or replaced)"))
                bar.update(entry["size"])
            elif _digest(file, bar=bar) != entry["sha256"]:
                report.corrupt.append((rel, "SHA-256 differs (contents changed)"))
            else:
                report.checked += 1
                report.total_bytes += size
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel not in files and rel not in (MANIFEST, README):
            report.extra.append(rel)
    request = manifest.get("request", {})
    report.unfinished = [item.path for item in _plan(request) if item.path not in files]
    if request.get("wheels") and not manifest.get("wheelhouse"):
        report.unfinished.append("wheels/")
    return report


# --- use -----------------------------------------------------------------------------
def _bundle_root(path: str | os.PathLike) -> Path:
    root = Path(path).expanduser().resolve()
    if not _manifest_path(root).is_file():
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


def _config_file() -> Path:
    return _paths.config_dir() / "config.json"


def _save_config(update: Callable[[dict], None]) -> None:
    cfg = _config_file()
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


if __name__ == "__main__":
    sys.exit(_pip_for_target(sys.argv[1:]))
