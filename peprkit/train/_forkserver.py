"""A fork server for isolated runs: torch and timm imported once, each run a fork.

Starting a fresh Python for every isolated run (:mod:`peprkit.train._subprocess`) costs
mostly the imports of torch and timm: seconds of CPU time per run, more on a busy machine
(``benchmarks/isolate_cost.py`` measures both ways side by side). Here one server process
imports them once (:data:`PRELOAD`) and forks a child per run, so a run costs a fork.

What stays as with a fresh interpreter:

- **Memory.** A forked child starts holding the server's pages (its resident memory, and
  Linux's high-water mark, begin at the server's size). :class:`peprkit.meter.RunMemory`
  reports the *increase* over the child's own resident memory when the run starts, with
  the kernel's peak reset at that moment (``/proc/self/clear_refs``), so the server's
  memory is not the run's; ``ru_maxrss`` (which would include it) is not used.
- **Threads.** The server is started with the thread policy of
  :mod:`peprkit.train._threads` in its environment (``OMP_WAIT_POLICY`` passive, fixed
  thread counts) before it imports torch, and it never runs a torch operation, so no
  OpenMP thread pool exists at the fork; the child sets the run's threads itself. A change
  of ``OMP_WAIT_POLICY`` in this process starts a new server.
- **Environment, folder and import path** are this process's at the time of each run
  (sent with the run), not the server's.
- **Output and Ctrl-C.** The child's stdout and stderr are a pipe read here (progress bars
  included); Ctrl-C here sends SIGINT to the child, which keeps its finished epochs.

The server lives while this process does and ends when it exits (or when :func:`shutdown`
is called). Linux only; elsewhere (macOS, where forking after loading system frameworks is
unsafe, and Windows, which cannot fork) runs start a fresh interpreter.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

#: Modules the server imports before it forks (``peprkit.train`` first: it sets the OpenMP
#: wait policy before torch loads).
PRELOAD = ("peprkit.train", "torch", "timm", "peprkit.train._loop", "peprkit.train._record",
           "peprkit.train._job", "peprkit.models", "peprkit.data", "peprkit.meter",
           "peprkit.meter.energy", "pandas", "tqdm.auto", "psutil")
#: Set this environment variable to ``fresh`` to start every isolated run in a fresh
#: interpreter instead (e.g. when forking misbehaves on your system).
START_ENV = "PEPRKIT_ISOLATE_START"
_MESSAGE_BYTES = 1 << 20  # a request carries the environment
_POLL_S = 0.2  # how often a waiting parent wakes up, so Ctrl-C is handled promptly


def available() -> bool:
    """True where runs can start from the fork server (Linux, not turned off by env)."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and hasattr(socket, "send_fds")
            and os.environ.get(START_ENV, "fork").lower() != "fresh")


def preload() -> int:
    """Import :data:`PRELOAD` in this process; how many modules are loaded (a job that
    costs what starting a run costs, for ``benchmarks/isolate_cost.py``)."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    return len(sys.modules)


# --- the server's side -----------------------------------------------------------------

def _serve(fd: int) -> None:
    """Import :data:`PRELOAD`, then fork one child per request until the parent goes."""
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the parent decides
    # Python >= 3.12 warns about forking beside threads; the only ones here are numpy's
    # idle BLAS workers, which OpenBLAS itself shuts down and restarts around a fork
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
    preload()
    sock = socket.socket(fileno=fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: set[int] = set()
    try:
        while True:
            ready = select.select([sock, wake_r], [], [])[0]
            if wake_r in ready:
                os.read(wake_r, 4096)
                _reap(sock, children)
            if sock in ready:
                message, fds, _, _ = socket.recv_fds(sock, _MESSAGE_BYTES, 1)
                if not message:
                    return  # the parent closed its end or exited
                pid = os.fork()
                if pid == 0:
                    _child(json.loads(message), fds, (sock.fileno(), wake_r, wake_w))
                for fd_ in fds:
                    os.close(fd_)
                children.add(pid)
                _send(sock, {"pid": pid})
    finally:
        for pid in children:  # the parent is gone: let its runs keep their epochs and end
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass


def _reap(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        _send(sock, {"pid": pid, "exit": os.waitstatus_to_exitcode(status)})


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        pass  # the parent is gone; the loop ends at the next read


def _child(request: dict[str, Any], fds: list[int], inherited: tuple[int, ...]) -> None:
    """The forked child: the request's output pipe, environment and folder; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the parent, which passes it on once
        for fd in inherited:
            os.close(fd)
        out = fds[0]
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.path[:] = [*request["sys_path"], *(p for p in sys.path
                                               if p not in request["sys_path"])]
        from peprkit.train._job import run_job

        code = run_job(request["job"], request["result"])
    except BaseException:  # noqa: BLE001 - reported on the pipe; the parent sees no result
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


# --- the parent's side -----------------------------------------------------------------

class ServerError(RuntimeError):
    """The fork server could not take the run (it did not start, or it ended)."""


class _Server:
    """The running server: its process, our end of the socket, the wait policy it has."""

    def __init__(self, env: dict[str, str]) -> None:
        import peprkit

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = str(Path(peprkit.__file__).resolve().parents[1])
        env = {**env, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)}
        self.wait_policy = env.get("OMP_WAIT_POLICY")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "peprkit.train._forkserver", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL)
        theirs.close()
        self.sock = ours
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def receive(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """The next message (None after ``timeout_s``)."""
        if timeout_s is not None and not select.select([self.sock], [], [], timeout_s)[0]:
            return None
        message = self.sock.recv(_MESSAGE_BYTES)
        if not message:
            raise ServerError(f"the fork server of isolated runs ended (exit code "
                               f"{self.proc.poll()}); rerun to start a new one, or set "
                               f"{START_ENV}=fresh.")
        return json.loads(message)

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_server: _Server | None = None
_server_lock = threading.Lock()
#: Process id of the latest child (for tests: it must be gone after a run or Ctrl-C).
last_pid: int | None = None


def _ensure_server(env: dict[str, str]) -> _Server:
    global _server
    with _server_lock:
        if _server is not None and (not _server.alive()
                                    or _server.wait_policy != env.get("OMP_WAIT_POLICY")):
            _server.close()
            _server = None
        if _server is None:
            _server = _Server(env)
        return _server


def start(env: dict[str, str]) -> None:
    """Start the server now, with ``env`` (e.g. while the data loads), if not running."""
    _ensure_server(env)


def shutdown() -> None:
    """End the fork server (a later isolated run starts a new one)."""
    global _server
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None


atexit.register(shutdown)


def run(job_path: str, result_path: str, env: dict[str, str], *, out=None,
        grace_s: float = 30.0) -> int:
    """Run the pickled job at ``job_path`` in a forked child; its exit code.

    ``env``: the child's environment (this process's, with the thread policy). The child's
    output is copied to ``out`` (default ``sys.stdout``) as it comes. Ctrl-C
    (KeyboardInterrupt) sends SIGINT to the child, waits up to ``grace_s`` for it to keep
    its finished epochs and end (killing it after that or at a second Ctrl-C), then is
    raised again.
    """
    global last_pid
    server = _ensure_server(env)
    request = {"job": str(job_path), "result": str(result_path), "env": env,
               "cwd": os.getcwd(), "sys_path": [p for p in sys.path if isinstance(p, str)]}
    with server.lock:
        read_fd, write_fd = os.pipe()
        try:
            try:
                socket.send_fds(server.sock, [json.dumps(request).encode()], [write_fd])
            except OSError as err:
                raise ServerError(f"the fork server of isolated runs is gone ({err})") from err
            finally:
                os.close(write_fd)
            pid = None
            try:
                pid = last_pid = _started(server)  # a ServerError here: no child exists
                forward(read_fd, out)
                try:
                    return _exit_code(server, pid)
                except ServerError:
                    return -1  # the server ended after the child: the result file tells
            except KeyboardInterrupt:
                pid = pid if pid is not None else _started(server)
                _stop(server, pid, read_fd, out, grace_s)
                raise
        finally:
            os.close(read_fd)


def _started(server: _Server) -> int:
    while True:
        message = server.receive()
        if "exit" not in message:  # (skips the end of a child nobody waited for)
            return int(message["pid"])


def _exit_code(server: _Server, pid: int, timeout_s: float | None = None) -> int | None:
    while True:
        message = server.receive(timeout_s)
        if message is None:
            return None
        if message.get("pid") == pid and "exit" in message:
            return int(message["exit"])


def forward(fd: int, out=None, *, until: float | None = None) -> bool:
    """Copy the output on ``fd`` to ``out`` (default ``sys.stdout``) as it comes.

    Returns True at end of file, False at the monotonic time ``until``. Waits in short
    slices, so a Ctrl-C here is raised promptly whichever thread received it.
    """
    import codecs
    import time

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while until is None or time.monotonic() < until:
        if not select.select([fd], [], [], _POLL_S)[0]:
            continue
        chunk = os.read(fd, 4096)
        target = out or sys.stdout
        text = decoder.decode(chunk, final=not chunk)
        if text:
            target.write(text)
            target.flush()
        if not chunk:
            return True
    return False


def _stop(server: _Server, pid: int, read_fd: int, out, grace_s: float) -> None:
    """Ctrl-C: SIGINT to the child, its last words forwarded, killed if it lingers."""
    import time

    try:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        forward(read_fd, out, until=time.monotonic() + grace_s)
        if _exit_code(server, pid, timeout_s=1.0) is not None:
            return
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: do not wait
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _exit_code(server, pid, timeout_s=10.0)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
