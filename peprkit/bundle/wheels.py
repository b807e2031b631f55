"""The offline wheelhouse: which wheels a bundle carries, and the pip commands that get them.

A learner's laptop without internet installs peprkit with
``pip install --no-index --find-links wheels "peprkit[train,notebooks]"``; the bundle's
``wheels/`` folder must therefore hold every dependency, for every platform and Python
of the workshop, as CPU builds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import metadata

from peprkit import _paths

#: Where the wheel downloads get CPU builds of torch and torchvision.
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
#: Python versions the kit supports (``requires-python >= 3.10``).
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
#: Extras of peprkit that a learner's laptop needs.
WHEEL_EXTRAS = ("train", "notebooks")
#: The command that installs peprkit from a bundle's ``wheels/`` folder.
INSTALL_COMMAND = ("python -m pip install --no-index --find-links wheels "
                   f"\"peprkit[{','.join(WHEEL_EXTRAS)}]\"")
#: Packages pinned to the versions installed where the bundle is made (the versions the
#: bundle's weights and data were produced and tested with); the rest resolve per Python.
_PINNED = ("torch", "torchvision", "timm", "medmnist")
#: On PyPI, Linux torch wheels are CUDA builds (555 MB plus CUDA libraries); the CPU index
#: has ``+cpu`` builds. PyPI's Windows and macOS wheels are CPU builds already.
_CPU_LOCAL = {"linux": ("torch", "torchvision")}


def current_python() -> str:
    """This interpreter's ``major.minor`` version, e.g. ``'3.11'``."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def wheel_requirements(platform: str) -> list[str]:
    """Requirements downloaded for ``platform``: peprkit's ``train`` and ``notebooks``
    dependencies; torch, torchvision, timm and medmnist pinned to the installed versions,
    torch and torchvision as CPU builds (``+cpu`` on Linux; CPU-only elsewhere anyway).

    Raises:
        ValueError: unknown platform.

    >>> any(r.startswith("numpy") for r in wheel_requirements("windows"))
    True
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


def wheel_commands(folder: str | os.PathLike, *, platforms: Sequence[str] = tuple(PLATFORMS),
                   pythons: Sequence[str] | None = None) -> list[list[str]]:
    """The pip commands that fill ``folder`` with wheels for every platform and Python.

    First a wheel of peprkit itself (built from the source checkout, else downloaded),
    then one ``pip download --only-binary=:all:`` per platform and Python, with the
    PyTorch CPU index added for torch and torchvision, run through
    ``python -m peprkit.bundle PLATFORM PYTHON`` so that dependency markers are
    evaluated for the target (see :mod:`peprkit.bundle.pip_target`).

    >>> cmds = wheel_commands("wheels", platforms=["windows"], pythons=["3.11"])
    >>> cmds[-1][cmds[-1].index("--platform") + 1], "--only-binary=:all:" in cmds[-1]
    ('win_amd64', True)
    """
    pythons = list(pythons or [current_python()])
    self_req: list[str] = []
    source = _paths.source_tree()
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
