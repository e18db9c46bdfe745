"""The demo: its question, and the record that lets a resumed run serve its sites again.

The sites live only as long as the process that serves them, on ports chosen when it starts,
and the thread's plan names those ports. So a demo run records the sites it served (latency and
site → port) with its settings in Redis, and a resume serves them again on the same ports
before it finishes the run.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DEMO_QUESTION = "Compare the monthly price and storage of each vendor's plans"

RECORD_KEY = "cli:demo_sites"
"""Key of the demo record among a thread's recorded settings (never a `Context` field name).

Stored threads carry it: it keeps the name it had when the CLI wrote it.
"""


class SitesUnavailable(Exception):
    """Sites the thread's plan needs cannot be served again (a port is taken); says what to do."""


@dataclass(frozen=True)
class DemoRecord:
    """The demo sites one run served: what a resume needs to serve them again."""

    latency_s: float
    ports: dict[str, int] = field(default_factory=dict)

    def recorded(self) -> dict[str, Any]:
        """This record as an entry of the thread's recorded settings."""
        return {RECORD_KEY: {"latency_s": self.latency_s, "ports": dict(self.ports)}}

    @classmethod
    def from_recorded(cls, recorded: dict[str, Any]) -> DemoRecord | None:
        """The record among a thread's recorded settings; None when the run was no demo."""
        entry = recorded.get(RECORD_KEY)
        if not isinstance(entry, dict):
            return None
        ports, latency = entry.get("ports"), entry.get("latency_s", 0.0)
        if not isinstance(ports, dict) or not isinstance(latency, int | float):
            return None
        if not all(isinstance(p, int) and 0 < p < 65536 for p in ports.values()):
            return None
        return cls(latency_s=float(latency), ports={str(k): v for k, v in ports.items()})

    @contextlib.contextmanager
    def serve_again(self, thread_id: str) -> Iterator[None]:
        """Serve the sites on their recorded ports while the block runs.

        Raises `SitesUnavailable` (one line: which site, which port, what to do) when a port
        is taken.
        """
        from demo_sites.server import DemoSites, PortInUse

        sites = DemoSites(latency_s=self.latency_s, ports=self.ports)
        try:
            sites.start()
        except OSError as exc:  # PortInUse, or a site missing from this install
            then = "free the port, then run" if isinstance(exc, PortInUse) else "run"
            msg = (
                f"thread {thread_id!r} researches the bundled demo sites, which must be served "
                f"again on the ports its plan uses: {exc}. Nothing was run: {then} "
                f"`flotilla resume {thread_id}` again"
            )
            raise SitesUnavailable(msg) from None
        with sites:
            print(f"demo sites (served again): {', '.join(sites.urls.values())}", file=sys.stderr)
            yield
