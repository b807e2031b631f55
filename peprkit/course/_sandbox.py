"""Run untrusted code confined to one folder: bubblewrap when it can run, else a fallback.

With bubblewrap (``bwrap``) a sandboxed process sees the system and the Python
environment read-only, the kit's package read-only, the data folders read-only, its own
folder read-write and nothing else of the machine (no home, no repository, no grades, no
other submission); it gets a private ``/tmp``, new PID, network, IPC and UTS namespaces
(no network at all), no capabilities, a scrubbed environment, and every process it starts
dies with it.

Without bubblewrap (another OS, or a kernel that forbids user namespaces) the fallback
runs the command in a new session with the same scrubbed environment and resource limits
and kills every process it started (by process tree, and by a token in their
environment), but cannot hide files or the network: :func:`missing_protections` lists
what is lost, and the grader prints it once per batch.
"""

from __future__ import annotations

import collections
import functools
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Environment variables passed into a sandbox (values from the grader's environment).
ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "PEPRKIT_DATA_DIR", "PEPRKIT_WEIGHTS_DIR",
               "PEPRKIT_BUNDLE", "PEPRKIT_QUICK", "MPLBACKEND", "HF_HUB_OFFLINE",
               "TORCH_HOME")
#: Variables naming folders that are bound read-only into the sandbox.
_DATA_ENV = ("PEPRKIT_DATA_DIR", "PEPRKIT_WEIGHTS_DIR", "PEPRKIT_BUNDLE")
#: Where a sandbox's own folder appears inside bubblewrap.
INSIDE = "/sandbox"
_TOKEN_ENV = "PEPRKIT_SANDBOX_TOKEN"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed command."""

    wall_s: float = 1200.0
    cpu_s: float = 3600.0
    memory_gb: float = 16.0
    processes: int = 512
    file_mb: float = 2000.0
    output_mb: float = 20.0


@dataclass
class Outcome:
    """How a sandboxed command ended: ``finished``, ``timeout`` or ``crashed``."""

    status: str
    returncode: int | None
    output_tail: str
    output_bytes: int
    wall_s: float
    note: str = ""
    killed: list[int] = field(default_factory=list)


@functools.cache
def bwrap_problem() -> str | None:
    """None when bubblewrap runs here, else why not (a sentence)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        probe = subprocess.run([exe, *_bwrap_base(), "--", "/bin/true"], capture_output=True,
                               text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap failed to start: {err}"
    if probe.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {probe.stderr.strip()[:200]}"
    return None


def missing_protections(mode: str) -> list[str]:
    """What the ``fallback`` mode does not protect (empty for ``bwrap``)."""
    if mode == "bwrap":
        return []
    return [
        "files: a submission can read and write every file your user can (masters, "
        "solutions, other submissions, the grades CSV while it runs)",
        "network: a submission can reach the network",
        "processes: a process that daemonises AND clears its environment can outlive its "
        "submission; other processes of the submission are killed",
    ]


def _bwrap_base() -> list[str]:
    args = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for top in ("/usr", "/etc", "/opt"):
        if os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _python_paths() -> list[str]:
    """Folders Python and the kit need: the interpreter, the environment, the package."""
    import peprkit

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
             str(Path(peprkit.__file__).resolve().parent)}
    paths |= {p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p}
    paths |= {os.path.realpath(p) for p in list(paths)}
    top = ("/usr", "/etc", "/opt", "/bin", "/lib", "/lib64")
    return sorted(p for p in paths if not any(p == t or p.startswith(t + "/") for t in top))


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


def command(argv: list[str], folder: Path, *, mode: str, env: dict[str, str]
            ) -> tuple[list[str], dict[str, str], str]:
    """``(argv, env, cwd)`` that run ``argv`` confined to ``folder``."""
    if mode == "fallback":
        return argv, env, str(folder)
    args = [shutil.which("bwrap") or "bwrap", *_bwrap_base()]
    for path in _python_paths():
        args += ["--ro-bind", path, path]
    for name in _DATA_ENV:
        if env.get(name) and os.path.exists(env[name]):
            real = os.path.realpath(env[name])
            args += ["--ro-bind", real, real]
            env[name] = real
    args += ["--bind", str(folder), INSIDE, "--chdir", INSIDE, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--", *argv], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, str(folder)


def _user_tasks() -> int:
    """Processes and threads this user runs now (``RLIMIT_NPROC`` counts them all)."""
    import psutil

    uid, count = os.getuid(), 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                count += int(proc.info["num_threads"] or 1)
        except psutil.Error:
            continue
    return count


def _set_limits(limits: Limits):
    """The function the child runs before ``exec``: resource limits (computed here, in the
    parent; the process limit counts on top of what the user already runs)."""
    processes = limits.processes + (_user_tasks() if os.getuid() != 0 else 0)

    def apply() -> None:
        import resource

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
        cap(resource.RLIMIT_FSIZE, limits.file_mb * 2**20)
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


def kill_all(root_pid: int, seen: set[int], token: str) -> list[int]:
    """Kill ``root_pid``, its descendants, every pid in ``seen`` and every process whose
    environment holds ``token``; returns the pids killed."""
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
    procs.pop(os.getpid(), None)
    alive = []
    for proc in procs.values():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:  # dead, waiting to be reaped
                continue
            proc.kill()
            alive.append(proc)
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return sorted(p.pid for p in alive)


def run(argv: list[str], folder: str | Path, *, mode: str, limits: Limits,
        env: dict[str, str] | None = None, watchdog=None, stdin: bytes | None = None
        ) -> Outcome:
    """Run ``argv`` confined to ``folder`` until it ends, times out or is stopped.

    ``watchdog()`` (optional) is called about five times a second and returns a reason to
    stop (``"timeout"`` with a note) or None. Output is drained continuously; only its
    last 64 kB are kept.
    """
    import psutil

    folder = Path(folder)
    home = f"{INSIDE}/.home" if mode == "bwrap" else str(folder / ".home")
    (folder / ".home").mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    child_env = sandbox_env(env, home)
    if mode == "fallback":
        child_env[_TOKEN_ENV] = token
    cmd, popen_env, cwd = command(argv, folder, mode=mode, env=child_env)
    if mode == "bwrap":
        popen_env[_TOKEN_ENV] = token
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
    while True:
        try:
            proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        try:
            seen.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))
        except psutil.Error:
            pass
        elapsed = time.monotonic() - start
        if elapsed > limits.wall_s:
            status, note = "timeout", f"stopped after {limits.wall_s:g} s (whole notebook)"
            break
        if size[0] > limits.output_mb * 2**20 and not note:
            note = f"output past {limits.output_mb:g} MB was discarded"
        reason = watchdog() if watchdog else None
        if reason:
            status, note = "timeout", reason
            break
    killed = kill_all(proc.pid, seen, token)
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
