"""A warm pool of code-interpreter sessions: pre-started, pre-imported, used once.

``acquire()`` hands out a session that is already running with pandas and matplotlib imported
and starts its replacement in the background; at most ``size`` sessions are ready or starting
at any time. A session handed out is never handed out again: ``release()`` (or leaving
``session()``) destroys it, work dir and all.

Sessions are subprocesses bound to the event loop that started them, so ``default_pool()``
keeps one pool per running loop and closes it when that loop shuts down (``asyncio.run`` and
``asyncio.Runner`` finalise async generators on the way out).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from sandbox.interpreter import CodeSession, SandboxLimits, _ProcessSession
from sandbox.tier_choice import resolve_tier

# pint: the analyst reads physical units with it (a gVisor snapshot holds it imported).
DEFAULT_PRELOAD = ("pandas", "matplotlib.pyplot", "pint")


class SessionPool:
    """Pre-started sessions of one tier and one set of limits."""

    def __init__(
        self,
        tier: str = "auto",
        limits: SandboxLimits | None = None,
        *,
        size: int = 1,
        preload: Sequence[str] = DEFAULT_PRELOAD,
    ) -> None:
        if size < 1:
            msg = f"pool size must be at least 1, got {size!r}; use open_session() for no pool"
            raise ValueError(msg)
        self.tier, self.limits, self.size = tier, limits or SandboxLimits(), size
        self.preload = tuple(preload)
        self._ready: asyncio.Queue[_ProcessSession | BaseException] = asyncio.Queue()
        self._starting: set[asyncio.Task[None]] = set()
        self._resolved: str | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        self.fill()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def fill(self) -> None:
        """Start sessions in the background until ``size`` are ready or starting."""
        while not self._closed and self._ready.qsize() + len(self._starting) < self.size:
            task = asyncio.create_task(self._start_one(), name="flotilla-sandbox-pool-start")
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        try:
            await self._start_and_queue()
        finally:
            # Before acquire() can wake, so its fill() already counts this start as over.
            self._starting.discard(asyncio.current_task())

    async def _start_and_queue(self) -> None:
        session: _ProcessSession | None = None
        try:
            if self._resolved is None:
                self._resolved = await asyncio.to_thread(resolve_tier, self.tier)
            session = await asyncio.to_thread(
                _ProcessSession, tier=self._resolved, limits=self.limits
            )
            await session.start(preload=self.preload)
        except Exception as exc:  # handed to the next acquire(), which raises it
            if session is not None:
                await session.stop()
            self._finish(exc)
            return
        except BaseException:
            if session is not None:
                session.kill_now()
                await asyncio.shield(session.stop())
            raise
        if self._closed:
            await session.stop()
        else:
            self._finish(session)

    def _finish(self, item: _ProcessSession | BaseException) -> None:
        self._starting.discard(asyncio.current_task())
        self._ready.put_nowait(item)

    async def acquire(self) -> CodeSession:
        """A ready session, yours alone; ``release()`` it (or stop it) when done."""
        while True:
            if self._closed:
                msg = "this session pool is closed; open a new pool or use open_session()"
                raise RuntimeError(msg)
            self.fill()
            item = await self._ready.get()
            self.fill()
            if isinstance(item, BaseException):
                raise item
            if item.proc is not None and item.proc.returncode is None:
                return item
            await item.stop()  # died while idle (killed from outside): never hand it out

    async def release(self, session: CodeSession) -> None:
        """Destroy a session handed out by ``acquire()``; it is never reused."""
        await session.stop()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[CodeSession]:
        """A pooled session, destroyed on exit (also on error or cancellation)."""
        session = await self.acquire()
        try:
            yield session
        finally:
            if isinstance(session, _ProcessSession):
                session.kill_now()  # before any await, as open_session does
            await asyncio.shield(session.stop())

    async def close(self) -> None:
        """Stop the sessions still starting or waiting; later acquires raise."""
        self._closed = True
        for task in list(self._starting):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._starting, return_exceptions=True)
        while not self._ready.empty():
            item = self._ready.get_nowait()
            if isinstance(item, _ProcessSession):
                await item.stop()


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[object, ...], SessionPool]]
_POOLS = weakref.WeakKeyDictionary()
_KEEPERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object]
_KEEPERS = weakref.WeakKeyDictionary()


async def _close_with_loop(pools: dict[tuple[object, ...], SessionPool]) -> AsyncIterator[None]:
    # Suspended for the loop's whole life; its finally runs in loop.shutdown_asyncgens().
    try:
        yield
    finally:
        for pool in list(pools.values()):
            await pool.close()
        pools.clear()


async def default_pool(
    tier: str = "auto",
    limits: SandboxLimits | None = None,
    *,
    size: int = 1,
    preload: Sequence[str] = DEFAULT_PRELOAD,
) -> SessionPool:
    """The process-wide pool for (tier, limits, size, preload) on the running loop, filling."""
    loop = asyncio.get_running_loop()
    limits = limits or SandboxLimits()
    pools = _POOLS.get(loop)
    if pools is None:
        pools = _POOLS[loop] = {}
        keeper = _close_with_loop(pools)
        await anext(keeper)
        _KEEPERS[loop] = keeper
    key = (tier, limits.model_dump_json(), size, tuple(preload))
    if key not in pools:
        pools[key] = SessionPool(tier, limits, size=size, preload=preload)
    pool = pools[key]
    pool.fill()
    return pool
