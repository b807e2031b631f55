"""How a sandboxed command is confined: bubblewrap's command line and the sandbox's user.

:func:`command` turns a command into one that runs confined to a folder (run and watched
by :mod:`peprkit.course._sandbox`). With bubblewrap, the view of the machine it gets:
system and Python read-only, the kit read-only without its hidden tests (a learner-call
worker also without the lessons' checks, which compute the answers), data folders
read-only, its own folder read-write (a worker: a private size-limited tmpfs instead),
private size-limited ``/tmp`` and ``/dev/shm``, a read-only root, no network, no
capabilities. When the grader is root the command first switches to the sandbox's own
user (:func:`sandbox_user`; with bubblewrap after it made its mounts as root), which
makes the process limit hold and keeps the grader's private files out of reach.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import sys
import tempfile
import zlib
from dataclasses import dataclass, fields
from pathlib import Path

#: Environment variables passed into a sandbox (values from the grader's environment).
ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "PEPRKIT_DATA_DIR", "PEPRKIT_WEIGHTS_DIR",
               "PEPRKIT_BUNDLE", "PEPRKIT_QUICK", "PEPRKIT_FIGURES", "MPLBACKEND",
               "HF_HUB_OFFLINE", "TORCH_HOME")
#: Variables naming folders that are bound read-only into the sandbox.
_DATA_ENV = ("PEPRKIT_DATA_DIR", "PEPRKIT_WEIGHTS_DIR", "PEPRKIT_BUNDLE")
#: Where a sandbox's own folder appears inside bubblewrap.
INSIDE = "/sandbox"
_TOKEN_ENV = "PEPRKIT_SANDBOX_TOKEN"
#: Uids of sandboxes when the grader is root: ``UID_BASE`` plus a hash of the sandbox's
#: folder modulo ``UID_SPAN`` (no login user, container range or systemd range uses them).
UID_BASE = 0x7E000000
UID_SPAN = 1 << 20
#: The uid and gid a sandboxed process sees inside bubblewrap ("nobody").
INSIDE_UID = 65534
#: A sandbox's checks in a learner-call worker: what ``peprkit.course._cells`` needs, not
#: the lessons' checks (they compute the answers).
_WORKER_CHECKS = ("__init__.py", "_common.py", "_byhand.py")
_MB = 2**20
#: Run as root with the sandbox's uid as first argument: drops to that user (groups,
#: gid, uid: every capability goes) and runs the rest of the command as it.
_LAUNCH = ("import os,sys;u=int(sys.argv[1]);os.setgroups([]);os.setgid(u);os.setuid(u);"
           "os.execvp(sys.argv[2],sys.argv[2:])")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed command, the one place for their numbers.

    ``wall_s``, ``cpu_s`` (``RLIMIT_CPU``), ``memory_gb`` (``RLIMIT_AS``), ``processes``
    (``RLIMIT_NPROC``: processes and threads; it holds for a root grader too, whose
    sandboxes run as users of their own), ``file_mb`` (``RLIMIT_FSIZE``, one file),
    ``output_mb`` (output kept past it is discarded), ``disk_mb`` and ``files`` (the
    sandbox's folder as a whole, watched while it runs: the run is stopped past either;
    it may overshoot by what the submission writes between two looks, a fraction of a
    second), ``tmp_mb`` (each private tmpfs bubblewrap gives: ``/tmp``, ``/dev/shm``, a
    learner-call worker's folder; the fallback has none).

    Raises:
        ValueError: a limit that is not a positive number.
    """

    wall_s: float = 1200.0
    cpu_s: float = 3600.0
    memory_gb: float = 16.0
    processes: int = 512
    file_mb: float = 1024.0
    output_mb: float = 20.0
    disk_mb: float = 2048.0
    files: int = 20_000
    tmp_mb: float = 512.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{f.name}={value!r} is not a positive number; give one, "
                                 f"e.g. Limits({f.name}={f.default!r}).")



def sandbox_user(folder: str | Path) -> int | None:
    """The uid a sandbox running in ``folder`` gets when the grader is root (one of its
    own, from ``folder``'s real path), else None (it runs as the grader).

    >>> uid = sandbox_user("/tmp/x")
    >>> uid is None or UID_BASE <= uid < UID_BASE + UID_SPAN
    True
    """
    if os.geteuid() != 0:
        return None
    return UID_BASE + zlib.crc32(os.path.realpath(folder).encode()) % UID_SPAN


def _is_sandbox_uid(uid: int) -> bool:
    return UID_BASE <= uid < UID_BASE + UID_SPAN


def _give(folder: Path, uid: int, *, reach: bool) -> None:
    """Make ``folder`` (made by the grader, not yet run in) the sandbox user's: its tree
    owned by ``uid`` (links not followed), mode 0711; with ``reach`` (the fallback, which
    sees the real paths) every folder above it traversable by other users.

    Raises:
        ValueError: a folder above it is private and not under the grader's temporary
            folder.
    """
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), uid, uid)
    os.lchown(folder, uid, uid)
    os.chmod(folder, 0o711)  # bubblewrap (root without capabilities) enters it
    temp = Path(os.path.realpath(tempfile.gettempdir()))
    for above in Path(os.path.realpath(folder)).parents if reach else ():
        info = os.stat(above)
        if info.st_mode & stat.S_IXOTH:
            continue
        if info.st_uid == os.geteuid() and above.is_relative_to(temp) and above != temp:
            os.chmod(above, stat.S_IMODE(info.st_mode) | stat.S_IXOTH)  # traverse, not list
            continue
        raise ValueError(f"folder={str(folder)!r}: the sandbox's user (uid {uid}) cannot "
                         f"reach it through {str(above)!r} (not traversable by other users); "
                         "grade from a temporary folder others can traverse (TMPDIR=/tmp).")


def _readable_by_others(path: str, shallow: bool = False) -> bool:
    """True when a user of no group could read ``path`` (and go through the folders
    above it, unless ``shallow``: bubblewrap binds it where they are traversable)."""
    real = Path(os.path.realpath(path))
    try:
        if not shallow and not all(os.stat(p).st_mode & stat.S_IXOTH for p in real.parents):
            return False
        mode = os.stat(real).st_mode
    except OSError:
        return False
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & need == need


@functools.cache
def _python_for_others() -> bool:
    """Whether a user of its own can run this Python and the kit outside bubblewrap (the
    interpreter, the standard library, the environment and the package readable)."""
    import sysconfig

    paths = [sys.executable, os.path.realpath(sys.executable), sysconfig.get_path("stdlib"),
             sysconfig.get_path("purelib"), str(_package())]
    return all(_readable_by_others(p) for p in paths if p)


def _drop_to(folder: Path, mode: str) -> int | None:
    """The uid the command runs as when the grader is root (None: as the grader): always
    with bubblewrap; in the fallback when that user can run the kit (else it runs as
    root, and :func:`missing_protections` says so)."""
    uid = sandbox_user(folder)
    if uid is not None and mode == "fallback" and not _python_for_others():
        return None
    return uid


def _bwrap_base(limits: Limits) -> list[str]:
    tmp = str(int(limits.tmp_mb * _MB))
    if os.geteuid() == 0:  # bubblewrap binds as root; the command drops to its own user
        who = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        who = ["--unshare-user", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID),
               "--disable-userns", "--cap-drop", "ALL"]
    args = [*who, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--proc", "/proc",
            "--dev", "/dev", "--size", tmp, "--perms", "1777", "--tmpfs", "/tmp",
            "--size", tmp, "--perms", "1777", "--tmpfs", "/dev/shm"]
    for top in ("/usr", "/etc", "/opt"):
        if os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _ro_binds(paths: list[str]) -> list[str]:
    """Read-only binds of ``paths`` at the same place, the folders above them made
    traversable (bubblewrap makes them 0700 when it runs as root)."""
    above = {str(p) for path in paths for p in Path(path).parents if str(p) != "/"}
    args = []
    for folder in sorted(above):
        args += ["--perms", "0755", "--dir", folder]
    for path in sorted(paths):
        args += ["--ro-bind", path, path]
    return args


def _package() -> Path:
    import peprkit

    return Path(peprkit.__file__).resolve().parent


def _python_paths() -> list[str]:
    """Folders Python and the kit need: the interpreter, the environment, the package."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
             str(_package())}
    paths |= {p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p}
    paths |= {os.path.realpath(p) for p in list(paths)}
    top = ("/usr", "/etc", "/opt", "/bin", "/lib", "/lib64")
    return sorted(p for p in paths if not any(p == t or p.startswith(t + "/") for t in top))


def _hidden_parts(role: str) -> list[str]:
    """What of the kit a sandbox does not see: the hidden tests always (an empty,
    read-only folder over ``peprkit/course/hidden``), and in a learner-call worker the
    checks' lesson modules (they compute the answers), keeping what the worker needs."""
    package = _package()
    hidden, checks = package / "course" / "hidden", package / "checks"
    args = ["--size", "65536", "--tmpfs", str(hidden), "--remount-ro", str(hidden)]
    if role == "worker":
        args += ["--size", "65536", "--tmpfs", str(checks)]
        for name in _WORKER_CHECKS:
            if (checks / name).is_file():
                args += ["--ro-bind", str(checks / name), str(checks / name)]
        args += ["--remount-ro", str(checks)]
    return args


def _role(argv: list[str]) -> str:
    return "worker" if "peprkit.course._learner_calls" in argv else "runner"


def command(argv: list[str], folder: str | Path, *, mode: str, env: dict[str, str],
            role: str | None = None, limits: Limits | None = None
            ) -> tuple[list[str], dict[str, str], str]:
    """``(argv, env, cwd)`` that run ``argv`` confined to ``folder``; start it with
    ``preexec_fn=_set_limits(limits)``. When the grader is root the command first drops
    to the sandbox's own user (:func:`sandbox_user`; with bubblewrap inside the sandbox,
    after bubblewrap made its mounts as root).

    ``role``: ``"runner"`` (a notebook: its folder bound read-write) or ``"worker"`` (a
    learner-call worker: a private tmpfs instead of the folder, and no lesson checks);
    default from ``argv``. As root, ``folder`` is handed to the sandbox's user first.

    Raises:
        ValueError: a data folder (``PEPRKIT_DATA_DIR`` ...) or ``folder`` the sandbox's
            user cannot read.
    """
    folder = Path(folder)
    role = role or _role(argv)
    limits = limits or Limits()
    uid = _drop_to(folder, mode)
    if uid is not None:
        env.update({"USER": "sandbox", "LOGNAME": "sandbox"})
        if mode == "fallback" or role == "runner":
            _give(folder, uid, reach=mode == "fallback")
    launch = [sys.executable, "-I", "-S", "-c", _LAUNCH, str(uid)] if uid is not None else []
    if mode == "fallback":
        env.setdefault("TMPDIR", env.get("HOME", str(folder)))
        return [*launch, *argv], env, str(folder)
    args = [shutil.which("bwrap") or "bwrap", *_bwrap_base(limits)]
    binds = _python_paths()
    for name in _DATA_ENV:
        if env.get(name) and os.path.exists(env[name]):
            real = os.path.realpath(env[name])
            if uid is not None and not _readable_by_others(real, shallow=True):
                raise ValueError(f"{name}={env[name]!r} cannot be read by the sandbox's user "
                                 f"(uid {uid}: a root grader runs submissions as users of "
                                 "their own); make it readable by others (chmod -R o+rX).")
            binds.append(real)
            env[name] = real
    args += _ro_binds(binds) + _hidden_parts(role)
    if role == "worker":
        args += ["--size", str(int(limits.tmp_mb * _MB)), "--perms", "0777", "--tmpfs",
                 INSIDE, "--perms", "0777", "--dir", f"{INSIDE}/.home"]
    else:
        args += ["--bind", str(folder), INSIDE]
    args += ["--chdir", INSIDE, "--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return ([*args, "--", *launch, *argv], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            str(folder))


def sandbox_env(extra: dict[str, str] | None, home: str) -> dict[str, str]:
    """The scrubbed environment: the allow-list only, HOME inside the sandbox."""
    source = {**os.environ, **(extra or {})}
    env = {k: source[k] for k in ALLOWED_ENV if k in source}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]])
    env.update({"HOME": home, "MPLBACKEND": env.get("MPLBACKEND", "Agg"),
                "MPLCONFIGDIR": f"{home}/.matplotlib", "PYTHONDONTWRITEBYTECODE": "1",
                "PEPRKIT_CONFIG_DIR": f"{home}/.config/peprkit",
                "PEPRKIT_CACHE_DIR": f"{home}/.cache/peprkit", "IPYTHONDIR": f"{home}/.ipython",
                "OMP_NUM_THREADS": source.get("OMP_NUM_THREADS", "2")})
    return env
