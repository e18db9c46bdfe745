"""The embedded server's processes on one data folder.

Starting and stopping them, the record of the running one (`flotilla-redis.json`), and the
locks that let processes share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from memory.redis_client import RedisUnavailable

STATE_DIR_ENV = "FLOTILLA_STATE_DIR"
LOCK_NAME = "flotilla-redis.lock"
USERS_NAME = "flotilla-redis.users"
INFO_NAME = "flotilla-redis.json"
MUTEX_TIMEOUT_S = 60.0


def free_port() -> int:
    """A loopback port that was free a moment ago (the server start retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ping_once(port: int) -> bool:
    """True when the server on `port` answers PING (not while it is still loading)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    """Last lines of the server log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM (Redis flushes the AOF and exits), SIGKILL if it hangs; always reaps."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


@dataclass(frozen=True)
class ServerInfo:
    """What `flotilla-redis.json` says about the server running on a data folder."""

    port: int
    pid: int

    @classmethod
    def read(cls, path: Path) -> ServerInfo | None:
        """The record at `path`; None when it is missing or unreadable."""
        try:
            raw = json.loads(path.read_text())
            return cls(port=int(raw["port"]), pid=int(raw["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        """Replace the record at `path` in one step (readers never see half of it)."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": self.port, "pid": self.pid}))
        tmp.replace(path)


def alive(pid: int) -> bool:
    """True while `pid` is a running (not zombie) redis-server."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # Someone else's process: alive, and (below) most likely not ours.
    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return not proc.parent.is_dir()  # No /proc (not Linux): trust kill(0).
    # A reused pid that is not a redis-server is as good as dead.
    return state != "Z" and b"redis-server" in cmdline


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a server we did not start (Redis flushes the AOF), SIGKILL if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def flock(path: Path, mode: int, *, timeout: float) -> IO[bytes]:
    """Open `path` and take `mode` (LOCK_EX or LOCK_SH) on it, polling up to `timeout` s."""
    handle = path.open("ab")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise
            time.sleep(0.01)


# Servers this process started and left to other users; polled so their exits are reaped.
LEFT_RUNNING: list[subprocess.Popen[bytes]] = []


def reap_left_running() -> None:
    """Forget the servers left to other users that have exited (collecting their status)."""
    LEFT_RUNNING[:] = [proc for proc in LEFT_RUNNING if proc.poll() is None]


class Lease:
    """This process's use of a shared server: a shared lock held for as long as it uses it.

    Releasing it stops the server when no other process holds a lease (the last user out
    stops it), so no process pulls the server from under another's run.
    """

    def __init__(
        self, data_dir: Path, info: ServerInfo, proc: subprocess.Popen[bytes] | None
    ) -> None:
        """Take the shared lock on `data_dir`'s server (`proc` when this process started it)."""
        self.data_dir, self.info, self.proc = data_dir, info, proc
        self.users: IO[bytes] | None = flock(
            data_dir / USERS_NAME, fcntl.LOCK_SH, timeout=MUTEX_TIMEOUT_S
        )

    def release(self) -> None:
        """Give up this lease; stop the server if no other process holds one."""
        users, self.users = self.users, None
        if users is None:
            return
        with mutex(self.data_dir):
            users.close()
            try:
                last = flock(self.data_dir / USERS_NAME, fcntl.LOCK_EX, timeout=0)
            except BlockingIOError:
                # Another process still uses the server and stops it when done; we keep our
                # child's handle so its exit status is collected (no zombie, no warning).
                if self.proc is not None:
                    LEFT_RUNNING.append(self.proc)
                return
            with last:
                if self.proc is not None:
                    terminate(self.proc)
                else:
                    stop_pid(self.info.pid)
                (self.data_dir / INFO_NAME).unlink(missing_ok=True)


@contextmanager
def mutex(data_dir: Path) -> Iterator[None]:
    """Serialise start/attach/stop decisions on one data folder across processes."""
    try:
        lock = flock(data_dir / LOCK_NAME, fcntl.LOCK_EX, timeout=MUTEX_TIMEOUT_S)
    except BlockingIOError:
        msg = (
            f"Another Flotilla process has held the Redis lock on {str(data_dir)!r} for over "
            f"{MUTEX_TIMEOUT_S:g} s. Retry, or set {STATE_DIR_ENV} to use another folder."
        )
        raise RedisUnavailable(msg) from None
    with lock:
        yield


__all__ = [
    "INFO_NAME",
    "STATE_DIR_ENV",
    "Lease",
    "ServerInfo",
    "alive",
    "free_port",
    "log_tail",
    "mutex",
    "ping_once",
    "reap_left_running",
    "terminate",
]
