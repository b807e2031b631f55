"""Run untrusted code confined to one folder: bubblewrap, or an explicitly chosen fallback.

With bubblewrap (``bwrap``) a sandboxed process sees the system and the Python
environment read-only, the kit's package read-only (without the hidden tests, and in a
learner-call worker without the checks' lessons), the data folders read-only, its own
folder read-write and nothing else of the machine (no home, no repository, no grades, no
other submission); it gets private, size-limited ``/tmp`` and ``/dev/shm``, a read-only
root, new PID, network, IPC and UTS namespaces (no network at all), no capabilities, a
scrubbed environment, and every process it starts dies with it (details in
:mod:`peprkit.course._confine`).

When the grader runs as root, every sandbox (bubblewrap or fallback) runs as a user of
its own (:func:`sandbox_user`: a uid no login has, one per sandbox folder), so the
process limit holds (root ignores ``RLIMIT_NPROC``), the sandbox cannot write or read the
grader's private files, and every process left with that uid is killed at the end.

The folder's total size and number of files are watched (:class:`Limits`: ``disk_mb``,
``files``) and the run stopped past either; one file is capped by ``RLIMIT_FSIZE``.

Without bubblewrap (another OS, or a kernel that forbids user namespaces) :func:`choose`
refuses to grade unless the fallback is asked for explicitly (:func:`refusal` says how
to install bubblewrap and what the fallback gives up, :func:`missing_protections` lists
it): the fallback runs the command in a new session with the same scrubbed environment
and limits, kills every process it started (by process tree, by a token in their
environment and, as root, by uid), but cannot hide files or the network.
"""

from __future__ import annotations

import collections
import functools
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from peprkit.course._confine import (  # noqa: F401  (the sandbox's interface)
    _TOKEN_ENV,
    ALLOWED_ENV,
    INSIDE,
    Limits,
    _drop_to,
    _is_sandbox_uid,
    _python_for_others,
    command,
    sandbox_env,
    sandbox_user,
)

#: The sandbox options of ``peprkit grade --sandbox``.
MODES = ("auto", "bwrap", "fallback")
#: How to install bubblewrap, in the refusal.
INSTALL = ("Debian/Ubuntu: sudo apt-get install bubblewrap; "
           "Fedora: sudo dnf install bubblewrap")
_MB = 2**20
#: Seconds between two looks at a running sandbox's folder (:func:`_disk_watch` spaces
#: them more when a look is slow): what a submission writes meanwhile is the overshoot.
_DISK_POLL_S = 0.02


@dataclass
class Outcome:
    """How a sandboxed command ended: ``finished``, ``timeout`` (wall clock or the
    watchdog) or ``crashed`` (stopped for its folder's size, see ``note``)."""

    status: str
    returncode: int | None
    output_tail: str
    output_bytes: int
    wall_s: float
    note: str = ""
    killed: list[int] = field(default_factory=list)


class SandboxRefused(ValueError):
    """Grading would run without bubblewrap and the fallback was not asked for."""


def _bwrap_version() -> tuple[int, ...]:
    exe = shutil.which("bwrap")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
        return tuple(int(p) for p in out.stdout.split()[-1].split(".")[:3])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError, TypeError):
        return (0,)


@functools.cache
def bwrap_problem() -> str | None:
    """None when bubblewrap runs the kit here (as the sandbox's user when the grader is
    root), else why not (a sentence)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if _bwrap_version() < (0, 8):
        return "bubblewrap is older than 0.8 (it lacks --disable-userns and --size)"
    folder = Path(tempfile.gettempdir())
    cmd, popen_env, cwd = command([sys.executable, "-c", "import peprkit.course._cells"],
                                  folder, mode="bwrap", env=sandbox_env(None, f"{INSIDE}/.home"),
                                  role="worker")
    try:
        probe = subprocess.run(cmd, env=popen_env, cwd=cwd, capture_output=True, text=True,
                               timeout=60, preexec_fn=_set_limits(Limits()))
    except (OSError, subprocess.SubprocessError) as err:
        return f"bubblewrap failed to start: {err}"
    if probe.returncode != 0:
        return ("bubblewrap cannot run the kit here: "
                f"{(probe.stderr.strip() or 'no message').splitlines()[-1][:200]}")
    return None


def refusal(problem: str, asked: str = "auto") -> str:
    """Why grading does not start without bubblewrap, how to install it, and what
    ``--sandbox fallback`` gives up.

    >>> print(refusal("bubblewrap (bwrap) is not installed").splitlines()[0])  # doctest: +ELLIPSIS
    sandbox='auto': bubblewrap cannot run here (bubblewrap (bwrap) is not installed), ...
    """
    lost = "".join(f"\n  - {item}" for item in missing_protections("fallback"))
    return (f"sandbox={asked!r}: bubblewrap cannot run here ({problem}), and grading without "
            f"it is not safe. Install bubblewrap ({INSTALL}; it also needs unprivileged user "
            "namespaces, e.g. sudo sysctl kernel.unprivileged_userns_clone=1 on older "
            "Debian), or give sandbox='fallback' to grade anyway, without these "
            f"protections:{lost}")


def choose(sandbox: str = "auto") -> str:
    """``"bwrap"`` or ``"fallback"``: the mode the ``sandbox`` option gives here. Grading
    is secure by default: ``auto`` and ``bwrap`` refuse where bubblewrap cannot run, and
    only an explicit ``fallback`` grades without it.

    Raises:
        SandboxRefused: (a ValueError) bubblewrap cannot run and ``fallback`` was not
            given; its message is :func:`refusal`.
        ValueError: an unknown option.
    """
    if sandbox not in MODES:
        raise ValueError(f"sandbox={sandbox!r} is not a sandbox mode; use 'auto', 'bwrap' "
                         "or 'fallback'.")
    if sandbox == "fallback":
        return "fallback"
    problem = bwrap_problem()
    if problem:
        raise SandboxRefused(refusal(problem, sandbox))
    return "bwrap"


def describe(mode: str) -> str:
    """What a gradebook records of the sandbox a ``mode`` runs: ``bwrap``, ``fallback``,
    or ``fallback (as root)`` when the grader is root and a submission cannot run as a
    user of its own (:func:`missing_protections`)."""
    if mode == "fallback" and os.geteuid() == 0 and not _python_for_others():
        return "fallback (as root)"
    return mode


def missing_protections(mode: str) -> list[str]:
    """What the ``fallback`` mode does not protect (empty for ``bwrap``); it depends on
    whether the grader runs as root (then submissions run as users of their own)."""
    if mode == "bwrap":
        return []
    if os.geteuid() == 0 and not _python_for_others():
        return [
            "files: a submission runs AS ROOT (this Python or the kit is not readable by "
            "other users, so it cannot run as a user of its own): it can read and write "
            "every file, the grading secret included",
            "network: a submission can reach the network",
            "processes: the process limit does not hold for root (a fork bomb is not "
            "bounded), and a process that daemonises and hides its environment can outlive "
            "its submission; make Python and the kit readable by others, or install "
            "bubblewrap",
        ]
    if os.geteuid() == 0:
        return [
            "files: a submission can read every file other users may read (masters and "
            "solutions in a world-readable folder, the checks' reference computations in "
            "a hidden rerun) and write world-writable folders (/tmp, /dev/shm, only one "
            "file's size is capped there); it runs as a user of its own, so it cannot "
            "write your files nor read your private ones (the grading secret, 0600)",
            "network: a submission can reach the network",
            "processes: every process of the submission's own user is killed when it ends "
            "(daemons too)",
        ]
    return [
        "files: a submission can read and write every file your user can (masters, "
        "solutions, other submissions, the grades CSV, the grading secret: hidden inputs "
        "can be predicted, the checks' reference computations imported in a hidden rerun)",
        "network: a submission can reach the network",
        "processes: a process that daemonises and hides its environment (a new session "
        "and a cleared environment, or marked non-dumpable) can outlive its submission "
        "and, as your user, rewrite the gradebook after the batch",
        "disk: only the submission's folder and one file's size are bounded (/tmp is not)",
    ]


def _tasks_of(uid: int) -> int:
    """Processes and threads ``uid`` runs now (``RLIMIT_NPROC`` counts them all)."""
    import psutil

    count = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                count += int(proc.info["num_threads"] or 1)
        except psutil.Error:
            continue
    return count


def _set_limits(limits: Limits):
    """The function the child runs before ``exec``: resource limits (computed here, in the
    parent; for a non-root grader the process limit counts on top of what its user
    already runs, a root grader's sandboxes run as users of their own, see
    :func:`command`)."""
    processes = limits.processes + (0 if os.geteuid() == 0 else _tasks_of(os.getuid()))

    def apply() -> None:
        def cap(which: int, value: float) -> None:
            try:
                soft, hard = resource.getrlimit(which)
                value = int(value)
                if hard != resource.RLIM_INFINITY:
                    value = min(value, hard)
                resource.setrlimit(which, (value, value if hard == resource.RLIM_INFINITY
                                           else hard))
            except (ValueError, OSError):
                pass

        cap(resource.RLIMIT_CPU, limits.cpu_s)
        cap(resource.RLIMIT_AS, limits.memory_gb * 2**30)
        cap(resource.RLIMIT_NPROC, processes)
        cap(resource.RLIMIT_FSIZE, limits.file_mb * _MB)
        cap(resource.RLIMIT_CORE, 0)
    return apply


def _token_holders(token: str) -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(_TOKEN_ENV) == token:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _processes_of(uids: set[int]) -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real in uids:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def kill_all(root_pid: int, seen: set[int], token: str, uid: int | None = None) -> list[int]:
    """Kill ``root_pid``, its descendants, every pid in ``seen``, every process whose
    environment holds ``token`` and every process of a sandbox's own user (``uid``, and
    the sandbox uid of any process found); returns the pids killed."""
    import psutil

    procs: dict[int, psutil.Process] = {}
    for pid in {root_pid, *seen}:
        try:
            proc = psutil.Process(pid)
            procs[pid] = proc
            for child in proc.children(recursive=True):
                procs[child.pid] = child
        except psutil.Error:
            continue
    for proc in _token_holders(token):
        procs[proc.pid] = proc
    uids = {uid} if uid is not None else set()
    for proc in list(procs.values()):
        try:
            uids.add(proc.uids().real)
        except psutil.Error:
            continue
    uids = {u for u in uids if _is_sandbox_uid(u)}
    alive = []
    for _ in range(3):  # a process of the user may fork while the others are killed
        for proc in _processes_of(uids) if uids else []:
            procs.setdefault(proc.pid, proc)
        procs.pop(os.getpid(), None)
        fresh = []
        for proc in procs.values():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE or proc in alive:
                    continue
                proc.kill()
                fresh.append(proc)
            except psutil.Error:
                pass
        alive += fresh
        if not fresh:
            break
    psutil.wait_procs(alive, timeout=5)
    return sorted(p.pid for p in alive)


def folder_usage(folder: str | Path, max_entries: int) -> tuple[int, int]:
    """``(bytes on disk, entries)`` of ``folder``'s tree, links not followed; counting
    stops past ``max_entries``."""
    total, entries, stack = 0, 0, [str(folder)]
    while stack and entries <= max_entries:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
        except OSError:
            continue
    return total, entries


def _disk_watch(folder: Path, limits: Limits):
    """A check, called often, that says why ``folder`` is over its limits (None when it
    is not); it looks at most every tenth of the time it has spent looking."""
    state = {"next": 0.0}

    def check() -> str | None:
        now = time.monotonic()
        if now < state["next"]:
            return None
        size, entries = folder_usage(folder, limits.files)
        state["next"] = time.monotonic() + 10 * (time.monotonic() - now)
        if size > limits.disk_mb * _MB:
            return (f"stopped: its folder grew past {limits.disk_mb:g} MB (the sandbox's "
                    "disk limit)")
        if entries > limits.files:
            return f"stopped: its folder holds more than {limits.files} files (the limit)"
        return None
    return check


def run(argv: list[str], folder: str | Path, *, mode: str, limits: Limits,
        env: dict[str, str] | None = None, watchdog=None, stdin: bytes | None = None
        ) -> Outcome:
    """Run ``argv`` confined to ``folder`` until it ends, times out or is stopped.

    ``watchdog()`` (optional) is called about five times a second and returns a reason to
    stop (``"timeout"`` with a note) or None. The folder's size and number of files are
    watched as often (status ``crashed`` past :class:`Limits`' ``disk_mb`` or ``files``).
    Output is drained continuously; only its last 64 kB are kept.
    """
    import psutil

    folder = Path(folder)
    home = f"{INSIDE}/.home" if mode == "bwrap" else str(folder / ".home")
    (folder / ".home").mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    child_env = sandbox_env(env, home)
    if mode == "fallback":
        child_env[_TOKEN_ENV] = token
    cmd, popen_env, cwd = command(argv, folder, mode=mode, env=child_env, role="runner",
                                  limits=limits)
    if mode == "bwrap":
        popen_env[_TOKEN_ENV] = token
    uid = _drop_to(folder, mode)
    disk = _disk_watch(folder, limits)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=popen_env, stdin=subprocess.PIPE if stdin
                            else subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_set_limits(limits))
    tail: collections.deque[bytes] = collections.deque()
    size = [0, 0]  # total bytes, kept bytes

    def drain() -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):
            size[0] += len(chunk)
            tail.append(chunk)
            size[1] += len(chunk)
            while size[1] > 65536 and len(tail) > 1:
                size[1] -= len(tail.popleft())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    if stdin:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except OSError:
            pass
    seen: set[int] = set()
    status, note = "finished", ""
    slow_next = 0.0  # the process tree and the watchdog: about five times a second
    while True:
        try:  # the folder is looked at often: a submission writes GB/s into the page cache
            proc.wait(timeout=_DISK_POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        full = disk()
        if full:
            status, note = "crashed", full
            break
        now = time.monotonic()
        if now < slow_next:
            continue
        slow_next = now + 0.2
        try:
            seen.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))
        except psutil.Error:
            pass
        if now - start > limits.wall_s:
            status, note = "timeout", f"stopped after {limits.wall_s:g} s (whole notebook)"
            break
        if size[0] > limits.output_mb * _MB and not note:
            note = f"output past {limits.output_mb:g} MB was discarded"
        reason = watchdog() if watchdog else None
        if reason:
            status, note = "timeout", reason
            break
    if proc.poll() is None:  # stop its process group at once; the sweep below takes longer
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    killed = kill_all(proc.pid, seen, token, uid)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    reader.join(timeout=5)
    if proc.stdout:
        proc.stdout.close()
    text = b"".join(tail).decode("utf-8", "replace")[-20000:]
    return Outcome(status, proc.returncode, text, size[0], time.monotonic() - start, note,
                   killed)
