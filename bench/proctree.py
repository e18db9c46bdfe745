"""Memory and CPU of this process and everything it started, read from ``/proc``.

A sampler thread sums the RSS of the whole tree (this process, the Playwright driver, every
jail and Chromium process) and of each browser tree — the processes below one child of the
Playwright driver, i.e. one launched browser with its jail — and keeps the peaks. RSS counts a
page shared by two processes twice, so a sum over Chromium's processes is an upper bound.

CPU seconds of the tree are sampled too: the user + system time each process had at its last
sample, less what it had when sampling began. Reaping cannot be relied on (a jail is killed, and
its processes die with its pid namespace, unwaited), so CPU a process spends after its last
sample, or a process that lives shorter than one interval, is missed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from sandbox.proctree import MIB, Proc, descendants, snapshot

__all__ = ["MIB", "Proc", "TreeSampler", "browser_trees", "descendants", "snapshot"]


def browser_trees(tree: list[Proc]) -> list[list[Proc]]:
    """The trees of the launched browsers: below each child of a Playwright driver (node)."""
    drivers = {p.pid for p in tree if p.comm.startswith("node")}
    by_pid = {p.pid: p for p in tree}
    out = []
    for top in (p for p in tree if p.ppid in drivers):
        out.append(descendants(by_pid, top.pid))
    return out


@dataclass
class TreeSampler:
    """Peak RSS of the whole tree and of the largest browser tree, and CPU seconds of the tree."""

    interval_s: float = 0.1
    root: int = field(default_factory=os.getpid)
    peak_tree_rss: int = 0
    peak_browser_rss: int = 0
    peak_browsers: int = 0
    samples: int = 0
    _base: dict[tuple[int, int], float] = field(default_factory=dict)
    _last: dict[tuple[int, int], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one sample now."""
        everything = snapshot()
        tree = descendants(everything, self.root)
        browsers = browser_trees(tree)
        with self._lock:
            if not self.samples:  # what every process had spent before sampling began
                self._base = {(p.pid, p.started): p.cpu_s for p in everything.values()}
            self._last.update(((p.pid, p.started), p.cpu_s) for p in tree)
        self.peak_tree_rss = max(self.peak_tree_rss, sum(p.rss for p in tree))
        for browser in browsers:
            self.peak_browser_rss = max(self.peak_browser_rss, sum(p.rss for p in browser))
        self.peak_browsers = max(self.peak_browsers, len(browsers))
        self.samples += 1

    @property
    def cpu_s(self) -> float:
        """CPU seconds the tree spent since sampling began (as far as the samples saw)."""
        with self._lock:
            return sum(v - self._base.get(k, 0.0) for k, v in self._last.items())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> Self:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
