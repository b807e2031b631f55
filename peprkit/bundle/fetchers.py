"""Where a bundle's files come from: :class:`OnlineFetcher` downloads them,
:class:`LocalFetcher` copies them from a folder; any object with the methods of
:class:`Fetcher` will do (the tests use stand-ins that stop half-way)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from peprkit._manifest import BundleError
from peprkit._util import progress_bar
from peprkit.bundle._layout import results_name, weights_name
from peprkit.bundle.pip_target import check_pip_version
from peprkit.bundle.wheels import wheel_commands


class Fetcher(Protocol):
    """Puts one file at ``dest`` (a ``.part`` path that :func:`peprkit.bundle.create`
    renames when done); ``origin`` says where files come from (recorded in the manifest)."""

    origin: str

    def fetch_dataset(self, flag: str, size: int, dest: Path) -> None: ...

    def fetch_weights(self, model: str, dest: Path) -> None: ...

    def fetch_results(self, dest: Path) -> None: ...

    def fetch_imagenet(self, dest: Path) -> None: ...

    def fetch_wheels(self, folder: Path, *, platforms: Sequence[str],
                     pythons: Sequence[str]) -> None: ...


#: Runs one command (a list of arguments), e.g. ``subprocess.run(cmd, check=True)``.
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
            shutil.move(download_medmnist(flag, size=size, root=tmp), dest)

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

    def fetch_imagenet(self, dest: Path) -> None:
        from peprkit.paper import IMAGENET_FILE, IMAGENET_URL, load_imagenet

        with urllib.request.urlopen(IMAGENET_URL, timeout=self.timeout_s) as response:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0) or None
            _stream(response, dest, total=total, desc=IMAGENET_FILE)
        load_imagenet(dest, download=False)  # raises ValueError unless it has timm's columns

    def fetch_wheels(self, folder: Path, *, platforms: Sequence[str],
                     pythons: Sequence[str]) -> None:
        check_pip_version()  # say so before the first download, not in a pip subprocess
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
        _copy(self._find("weights", weights_name(model)), dest)

    def fetch_results(self, dest: Path) -> None:
        _copy(self._find("results", results_name()), dest)

    def fetch_imagenet(self, dest: Path) -> None:
        _copy(self._find("results", results_name("imagenet")), dest)

    def fetch_wheels(self, folder: Path, *, platforms: Sequence[str],
                     pythons: Sequence[str]) -> None:
        wheels = sorted((self.source / "wheels").glob("*.whl"))
        if not wheels:
            raise BundleError(f"source={str(self.source)!r} has no wheels/*.whl to copy.")
        for wheel in wheels:
            _copy(wheel, folder / wheel.name)


def default_fetcher() -> Fetcher:
    """The fetcher :func:`peprkit.bundle.create` uses when none is given (downloads)."""
    return OnlineFetcher()


def _stream(reader, dest: Path, *, total: int | None, desc: str) -> None:
    with open(dest, "wb") as out, progress_bar(total=total, unit="B", unit_scale=True,
                                               desc=desc, leave=False) as bar:
        while chunk := reader.read(1 << 20):
            out.write(chunk)
            bar.update(len(chunk))


def _copy(src: Path, dest: Path) -> None:
    with open(src, "rb") as reader:
        _stream(reader, dest, total=src.stat().st_size, desc=src.name)
