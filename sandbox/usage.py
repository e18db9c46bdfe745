"""What one sandbox session spends: wall seconds; for a local tier, CPU and memory too.

A local session's process tree is sampled from ``/proc``. The samples feed the run's cost estimate (AgentCore bills a session's active CPU and its memory
per second). CPU seconds are the user + system time of every process in the tree at its last
sample (a process that lives shorter than one interval, or CPU spent after the last sample, is
missed). Memory is the tree's summed RSS — pages shared between processes count once per process,
so it is an upper bound — integrated over time between samples. A remote session (no local
process) is timed only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from graph.models import SandboxUsage
from sandbox.proctree import tree

# AgentCore bills per second; two samples a second keep the cost of reading /proc low.
SAMPLE_INTERVAL_S = 0.5


@dataclass
class SessionMeter:
    """Times one session and, once given its root process, samples that process tree."""

    kind: str
    task_id: str = ""
    interval_s: float = SAMPLE_INTERVAL_S
    tier: str = ""
    _started: float = field(default_factory=time.monotonic)
    _stopped: float | None = None
    _root: int | None = None
    _cpu: dict[tuple[int, int], float] = field(default_factory=dict)
    _peak: int = 0
    _byte_s: float = 0.0
    _last_rss: int = 0
    _last_at: float = 0.0
    _samples: int = 0
    _task: asyncio.Task[None] | None = None
    attached: bool = False
    """Whether the session started (a session that never did costs nothing)."""

    def sample(self) -> None:
        """One sample of the tree now (file work: call it off the event loop)."""
        if self._root is None:
            return
        procs = tree(self._root)
        now = time.monotonic()
        rss = sum(p.rss for p in procs)
        if self._samples:  # trapezoid between this sample and the last
            self._byte_s += (rss + self._last_rss) / 2 * (now - self._last_at)
        self._cpu.update(((p.pid, p.started), p.cpu_s) for p in procs)
        self._peak = max(self._peak, rss)
        self._last_rss, self._last_at = rss, now
        self._samples += 1

    async def _loop(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.interval_s)

    def attach(self, root: int | None, tier: str) -> None:
        """Start sampling the tree under `root` (None: a remote session, timed only)."""
        self.tier, self.attached = tier, True
        if root is not None and self._root is None:
            self._root = root
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop_sampling(self) -> None:
        """Stop sampling, with one last sample (call it while the session still runs)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await asyncio.to_thread(self.sample)

    def end(self) -> None:
        """The session is stopped: the wall clock stops here (once)."""
        if self._stopped is None:
            self._stopped = time.monotonic()

    def usage(self) -> SandboxUsage:
        """What was measured (the wall clock runs until `end`)."""
        end = self._stopped if self._stopped is not None else time.monotonic()
        measured = self._samples > 0
        return SandboxUsage(
            kind="browser" if self.kind == "browser" else "code_interpreter",
            task_id=self.task_id,
            tier=self.tier,
            wall_s=round(end - self._started, 3),
            cpu_s=round(sum(self._cpu.values()), 3) if measured else None,
            peak_rss_bytes=self._peak if measured else None,
            rss_byte_s=round(self._byte_s, 1) if measured else None,
            samples=self._samples,
        )
