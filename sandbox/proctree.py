"""Processes as ``/proc`` shows them: CPU seconds, resident memory, and who started whom.

Used to measure what a local sandbox (a jailed Chromium, a code-interpreter session) spends,
for the run's cost estimate, and by the benchmarks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")
MIB = 2**20


@dataclass(frozen=True)
class Proc:
    """One process as ``/proc/<pid>/stat`` shows it."""

    pid: int
    ppid: int
    comm: str
    cpu_s: float
    """Its own utime + stime, in seconds."""
    rss: int
    started: int
    """Start time in clock ticks after boot: with the pid, names the process across samples."""


def read_proc(pid: int) -> Proc | None:
    """The process `pid` now (one read of ``/proc/<pid>/stat``); None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may hold spaces: split after its closing one.
    comm = stat[stat.find("(") + 1 : stat.rfind(")")]
    rest = stat[stat.rfind(")") + 2 :].split()
    ticks = int(rest[11]) + int(rest[12])  # utime stime
    # rest[21] is rss in pages, the figure statm's second field gives too.
    return Proc(pid, int(rest[1]), comm, ticks / _TICK, int(rest[21]) * _PAGE, int(rest[19]))


def snapshot() -> dict[int, Proc]:
    """Every process readable now, by pid."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None:
                out[proc.pid] = proc
    return out


def descendants(procs: dict[int, Proc], root: int) -> list[Proc]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            out.append(procs[pid])
        todo.extend(children.get(pid, []))
    return out


def tree(root: int) -> list[Proc]:
    """`root` and everything below it now (empty when `root` is gone)."""
    return descendants(snapshot(), root)
