"""Run pip as if it were on another platform and Python: the one patch of pip's internals.

``pip download --platform P --python-version V`` chooses wheels for P and V but evaluates
dependency markers (``sys_platform == "win32"``, ``python_version < "3.11"``) for the
machine it runs on: made on Linux, a Windows wheelhouse would lack Windows-only
dependencies (colorama, pywinpty) and ask for Linux-only ones (torch's CUDA packages).
pip reads those values from its vendored ``packaging.markers.default_environment``;
:func:`run_pip` replaces that function for the run, in a process of its own
(``python -m peprkit.bundle PLATFORM PYTHON PIP-ARGS...``).

This relies on pip internals, so it runs only with the pip versions in
:data:`SUPPORTED_PIP` and checks that the replacement took effect before pip starts.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The pip versions this patch supports: ``(lowest, first unsupported)``. Checked end to
#: end (a Windows download from Linux that must add ``click``'s Windows-only dependency
#: ``colorama``) with pip 23.0, 24.0, 25.0, 25.3, 26.0 and 26.3.
SUPPORTED_PIP = ("23.0", "27")
#: Environment-marker values of each wheel platform.
MARKERS = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
              "platform_machine": "x86_64"},
    "windows": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                "platform_machine": "AMD64"},
    "macos": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
              "platform_machine": "arm64"},
}


class UnsupportedPipError(RuntimeError):
    """The installed pip is outside :data:`SUPPORTED_PIP`, or the patch did not take."""


def check_pip_version(version: str | None = None) -> str:
    """Raise :class:`UnsupportedPipError` unless pip ``version`` (default: the installed
    one) is in :data:`SUPPORTED_PIP`; return the version.

    >>> check_pip_version("24.0")
    '24.0'
    >>> check_pip_version("99.0")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    UnsupportedPipError: pip 99.0 is outside the versions ...
    """
    from pip._vendor.packaging.version import Version

    if version is None:
        import pip

        version = pip.__version__
    low, high = SUPPORTED_PIP
    if not Version(low) <= Version(version) < Version(high):
        raise UnsupportedPipError(
            f"pip {version} is outside the versions peprkit's wheelhouse supports "
            f"(pip>={low},<{high}): it replaces pip's internal marker environment to download "
            f"wheels for other platforms, and pip's internals change between releases. "
            "Install a supported pip where you make the bundle: "
            f"`python -m pip install \"pip>={low},<{high}\"`."
        )
    return version


def target_environment(platform: str, python: str) -> dict[str, str]:
    """The marker values of ``platform`` (a key of :data:`MARKERS`) with Python ``python``.

    >>> env = target_environment("windows", "3.10")
    >>> env["sys_platform"], env["python_version"], env["python_full_version"]
    ('win32', '3.10', '3.10.0')
    """
    if platform not in MARKERS:
        raise ValueError(f"platform={platform!r}; use one of {', '.join(MARKERS)}.")
    from pip._vendor.packaging import markers

    return {**markers.default_environment(), **MARKERS[platform], "python_version": python,
            "python_full_version": f"{python}.0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython"}


def patch_markers(env: dict[str, str]) -> None:
    """Make pip's marker evaluation see ``env``, and check that it does."""
    from pip._vendor.packaging import markers

    if not callable(getattr(markers, "default_environment", None)):
        raise UnsupportedPipError(
            "pip's vendored packaging.markers has no default_environment(); this pip is not "
            f"supported (pip>={SUPPORTED_PIP[0]},<{SUPPORTED_PIP[1]} is)."
        )
    markers.default_environment = lambda: dict(env)
    probe = " and ".join(f'{key} == "{env[key]}"' for key in ("sys_platform", "python_version"))
    if not markers.Marker(probe).evaluate():
        raise UnsupportedPipError(
            "replacing pip's marker environment had no effect with this pip; pip>="
            f"{SUPPORTED_PIP[0]},<{SUPPORTED_PIP[1]} is supported."
        )


def run_pip(argv: Sequence[str]) -> int:
    """Run pip (``argv`` = PLATFORM PYTHON PIP-ARGS...) with the markers of that target.

    Returns:
        pip's exit status.

    Raises:
        UnsupportedPipError: pip outside :data:`SUPPORTED_PIP`, or the patch did not take.
    """
    platform, python, *pip_args = argv
    check_pip_version()
    patch_markers(target_environment(platform, python))
    from pip._internal.cli.main import main

    return int(main(pip_args) or 0)
