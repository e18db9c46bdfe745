"""A Deep Agents sandbox backend over Flotilla's code-interpreter sessions (gVisor or bwrap).

``FlotillaSandbox`` implements ``deepagents``' ``SandboxBackendProtocol`` by subclassing its
``BaseSandbox``: one Flotilla session per backend (``sandbox.interpreter.open_session``), so
commands get the analyst's jail: a read-only view of the host's ``/usr`` (so ``sh``,
coreutils, ``grep``, ``find`` and ``python3``) and of the Python runtime, a private ``/work``
and ``/tmp``, no network, an unprivileged uid, rlimits and a scrubbed environment.

A command runs as ``/bin/sh -c`` in its own process group, started by the session's REPL; its
timeout is enforced there (the group is killed, exit code 124), and the session's wall-time
limit stands behind it. Files move through a hidden staging dir in ``/work``, so uploads and
downloads reach any writable path in the jail (``/work``, ``/tmp``) without going through the
output cap.

The session lives on an event loop of its own (a daemon thread), so the sync methods and the
async twins work from any thread or loop. ``close()`` (also on ``with`` exit, garbage
collection and interpreter exit) kills the session and removes its files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import weakref
from collections.abc import Awaitable, Coroutine, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from deepagents.backends.protocol import (
    INVALID_PATH,
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
)
from deepagents.backends.sandbox import BaseSandbox

from sandbox.interpreter import CodeSession, ExecResult, SandboxLimits, open_session
from sandbox.tiers import SANDBOX_WORK

T = TypeVar("T")

# The grace the session's wall-time limit leaves past the longest command timeout.
_WALL_GRACE_S = 30
DEFAULT_TIMEOUT_S = 120
TIMEOUT_EXIT_CODE = 124
STAGING = ".flotilla-xfer"

# Limits for an agent's shell rather than one analysis script: a longer session, room in /tmp
# and /work for files the agent moves about, and enough output per command for a large listing.
DEFAULT_LIMITS = SandboxLimits(
    wall_time_s=1800 + _WALL_GRACE_S,
    cpu_time_s=600,
    file_size_mb=256,
    output_bytes=1 << 20,
    tmp_mb=256,
    work_mb=512,
)

# Defined once in the session's REPL: run a shell command, place and stage files.
_HELPERS = f"""
import errno as _errno, json as _json, os as _os, shutil as _shutil, signal as _signal
import subprocess as _subprocess, time as _time

_FLOTILLA_ENV = dict(_os.environ, PATH="/opt/flotilla-venv/bin:" + _os.environ["PATH"])


def _flotilla_reap():
    # On gVisor the REPL is pid 1: what a command left behind is re-parented to it, and
    # unreaped it would hold a process slot (RLIMIT_NPROC) for good.
    try:
        while _os.waitpid(-1, _os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _flotilla_gone(pgid):
    # SIGKILL is delivered asynchronously: wait (bounded) until nothing of the group is left,
    # reaping what was re-parented to us, so the next command never sees it still dying.
    deadline = _time.monotonic() + 5
    while _time.monotonic() < deadline:
        _flotilla_reap()
        try:
            _os.killpg(pgid, 0)
        except OSError:
            return
        _time.sleep(0.01)


def _flotilla_sh(command, timeout):
    _flotilla_reap()
    proc = _subprocess.Popen(["/bin/sh", "-c", command], stdin=_subprocess.DEVNULL,
                             env=_FLOTILLA_ENV, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout)
    except _subprocess.TimeoutExpired:
        _os.killpg(proc.pid, _signal.SIGKILL)
        proc.wait()
        _os.write(2, f"\\nError: command timed out after {{timeout}} s".encode())
        code = {TIMEOUT_EXIT_CODE}
    try:
        _os.killpg(proc.pid, _signal.SIGKILL)  # what the command left running in its group
    except OSError:
        pass
    _flotilla_gone(proc.pid)
    return code


def _flotilla_error(exc):
    if isinstance(exc, IsADirectoryError):
        return "is_directory"
    if isinstance(exc, FileNotFoundError):
        return "file_not_found"
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, NotADirectoryError) or getattr(exc, "errno", None) == _errno.EINVAL:
        return "invalid_path"
    return f"{{type(exc).__name__}}: {{exc}}"


def _flotilla_place(pairs):
    errors = []
    for staged, dest in pairs:
        try:
            if _os.path.isdir(dest):
                raise IsADirectoryError(dest)
            parent = _os.path.dirname(dest)
            if parent:
                _os.makedirs(parent, exist_ok=True)
            _shutil.copyfile(staged, dest)
            errors.append(None)
        except OSError as exc:
            errors.append(_flotilla_error(exc))
        finally:
            if _os.path.lexists(staged):
                _os.unlink(staged)
    print(_json.dumps(errors))


def _flotilla_stage(pairs):
    errors = []
    for source, staged in pairs:
        try:
            if _os.path.isdir(source):
                raise IsADirectoryError(source)
            _shutil.copyfile(source, staged)
            errors.append(None)
        except OSError as exc:
            errors.append(_flotilla_error(exc))
    print(_json.dumps(errors))


def _flotilla_unstage(names):
    for name in names:
        if _os.path.lexists(name):
            _os.unlink(name)
"""


def _absolute(path: str) -> bool:
    """Deep Agents' file paths are absolute; a relative one is refused as ``invalid_path``."""
    return path.startswith("/")


class SandboxError(RuntimeError):
    """The session could not do what the backend asked of it (not a command's own failure)."""


def _result_text(result: ExecResult) -> str:
    """What a failed REPL call said, for an error message."""
    return (result.error_message or result.stderr or result.error_type or "no output").strip()


class FlotillaSandbox(BaseSandbox):
    """Deep Agents sandbox backend: one Flotilla code-interpreter session (gVisor or bwrap).

    Args:
        tier: ``"auto"`` (gVisor, else bwrap), ``"gvisor"`` or ``"bwrap"``; ``"none"`` runs
            unisolated and only when asked for by name.
        limits: the session's limits (``DEFAULT_LIMITS`` when not given); a command's timeout
            is capped at ``limits.wall_time_s`` less a 30 s grace.
        preload: modules the session imports before the first command; on gVisor (as root) the
            session is then restored from a snapshot that already imported them.
        default_timeout: seconds a command may run when ``execute`` is given no timeout.
    """

    def __init__(
        self,
        tier: str = "auto",
        *,
        limits: SandboxLimits | None = None,
        preload: Sequence[str] = (),
        default_timeout: int = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._limits = limits or DEFAULT_LIMITS
        self._max_timeout = max(1, int(self._limits.wall_time_s) - _WALL_GRACE_S)
        self._default_timeout = min(default_timeout, self._max_timeout)
        self._id = f"flotilla-{secrets.token_hex(6)}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self._id, daemon=True)
        self._thread.start()
        self._closing: asyncio.Event | None = None
        self._session: CodeSession | None = None
        self._holder: Future[None] | None = None
        self._closed = False
        try:
            self._session = self._call(self._open(tier, tuple(preload)))
        except BaseException:
            self.close()
            raise
        # Closed when dropped or at interpreter exit, whichever comes first.
        self._finalizer = weakref.finalize(self, FlotillaSandbox._shutdown, self._state())

    # --- lifecycle ---------------------------------------------------------------------------

    async def _open(self, tier: str, preload: tuple[str, ...]) -> CodeSession:
        """Start the task that holds the session open until ``close``; the session."""
        ready: asyncio.Future[CodeSession] = self._loop.create_future()
        self._closing = asyncio.Event()
        closing, limits = self._closing, self._limits  # the task must not keep `self` alive

        async def hold() -> None:
            try:
                async with open_session(tier, limits, preload=preload) as session:
                    await session.execute(_HELPERS)
                    ready.set_result(session)
                    await closing.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        self._holder = asyncio.run_coroutine_threadsafe(hold(), self._loop)
        return await ready

    def _state(self) -> tuple[asyncio.AbstractEventLoop, threading.Thread, list[Any]]:
        return self._loop, self._thread, [self._closing, self._holder]

    @staticmethod
    def _shutdown(
        state: tuple[asyncio.AbstractEventLoop, threading.Thread, list[Any]],
    ) -> None:
        """Stop the session (its ``open_session`` exit kills and removes it) and the loop."""
        loop, thread, (closing, holder) = state
        if loop.is_closed():
            return
        if closing is not None and holder is not None and loop.is_running():
            loop.call_soon_threadsafe(closing.set)
            with contextlib.suppress(Exception):
                holder.result(timeout=60)
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()

    def close(self) -> None:
        """Kill the session and remove its files; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()
        else:
            FlotillaSandbox._shutdown(self._state())

    def __enter__(self) -> FlotillaSandbox:
        """The backend itself; closed on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the session."""
        self.close()

    async def __aenter__(self) -> FlotillaSandbox:
        """The backend itself; closed on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the session (off the caller's event loop)."""
        await asyncio.to_thread(self.close)

    # --- plumbing ----------------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        if self._closed:
            coro.close()
            raise SandboxError(f"sandbox {self._id} is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._submit(coro).result()

    def _acall(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        return asyncio.wrap_future(self._submit(coro))

    @property
    def session(self) -> CodeSession:
        """The Flotilla session commands run in."""
        if self._session is None:
            raise SandboxError(f"sandbox {self._id} has no session")
        return self._session

    @property
    def tier(self) -> str:
        """The tier the session runs in: ``gvisor``, ``bwrap`` (or ``none``)."""
        return self.session.tier

    @property
    def id(self) -> str:
        """Unique identifier of this sandbox."""
        return self._id

    async def _repl(self, code: str) -> ExecResult:
        result = await self.session.execute(code)
        if result.error_type is not None and result.error_type != "SystemExit":
            raise SandboxError(f"sandbox {self._id}: {_result_text(result)}")
        return result

    # --- commands ----------------------------------------------------------------------------

    def _timeout(self, timeout: int | None) -> int:
        if timeout is None:
            return self._default_timeout
        if timeout < 0:
            raise ValueError(f"timeout must be non-negative, got {timeout}")
        return self._max_timeout if timeout == 0 else min(timeout, self._max_timeout)

    async def _execute(self, command: str, limit_s: int) -> ExecuteResponse:
        result = await self.session.execute(f"_flotilla_sh({command!r}, {limit_s})")
        if result.error_type is not None:
            text = "\n".join(p for p in (result.stdout, result.stderr, _result_text(result)) if p)
            return ExecuteResponse(output=text, exit_code=result.exit_status, truncated=False)
        first, _, output = result.stdout.partition("\n")
        return ExecuteResponse(output=output, exit_code=int(first), truncated=result.truncated)

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        """Run ``command`` with ``/bin/sh -c`` in the session; output is stdout + stderr.

        ``timeout``: seconds before the command's process group is killed (exit code 124);
        None for the default, 0 for the longest the session allows.
        """
        return self._call(self._execute(command, self._timeout(timeout)))

    async def aexecute(
        self,
        command: str,
        *,
        timeout: int | None = None,  # noqa: ASYNC109 - the command's limit, enforced in the jail
    ) -> ExecuteResponse:
        """Async ``execute``."""
        return await self._acall(self._execute(command, self._timeout(timeout)))

    # --- files -------------------------------------------------------------------------------

    async def _upload(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        token = secrets.token_hex(8)
        pairs: list[tuple[str, str]] = []
        for index, (path, data) in enumerate(files):
            if _absolute(path):
                name = f"{STAGING}/{token}-{index}"
                await self.session.write_file(name, data)
                pairs.append((f"{SANDBOX_WORK}/{name}", path))
        placed = iter(json.loads((await self._repl(f"_flotilla_place({pairs!r})")).stdout))
        return [
            FileUploadResponse(path=path, error=next(placed) if _absolute(path) else INVALID_PATH)
            for path, _ in files
        ]

    async def _download(self, paths: list[str]) -> list[FileDownloadResponse]:
        token = secrets.token_hex(8)
        staged = {
            path: f"{STAGING}/{token}-{index}"
            for index, path in enumerate(paths)
            if _absolute(path)
        }
        pairs = [(path, f"{SANDBOX_WORK}/{name}") for path, name in staged.items()]
        try:
            found = json.loads((await self._repl(f"_flotilla_stage({pairs!r})")).stdout)
            errors: dict[str, str | None] = dict(zip(staged, found, strict=True))
            answers: list[FileDownloadResponse] = []
            for path in paths:
                error = errors.get(path, INVALID_PATH)
                data = None if error else await self.session.read_file(staged[path])
                answers.append(FileDownloadResponse(path=path, content=data, error=error))
            return answers
        finally:
            await self._repl(f"_flotilla_unstage({[p for _, p in pairs]!r})")

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Write each ``(path, bytes)`` in the jail (parents made), in order; errors per file."""
        return self._call(self._upload(files))

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Async ``upload_files``."""
        return await self._acall(self._upload(files))

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """The bytes of each path in the jail, in order; errors per file."""
        return self._call(self._download(paths))

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Async ``download_files``."""
        return await self._acall(self._download(paths))
