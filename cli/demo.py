"""`flotilla demo`: the bundled sites, served on loopback, researched with the offline brain.

The sites live only as long as the process that serves them, on ports chosen when it starts,
and the thread's plan names those ports. So the run records the sites it served (latency and
site → port) with its settings in Redis, and `flotilla resume` serves them again on the same
ports before it finishes the run.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cli.common import add_brain_options, add_common_options
from cli.research import (
    DEMO_QUESTION,
    SitesUnavailable,
    add_thread_options,
    research_command,
)

RECORD_KEY = "cli:demo_sites"
"""Key of the demo record among a thread's recorded settings (never a `Context` field name)."""


def register(sub: Any) -> None:
    """Add `demo` to the CLI."""
    demo = sub.add_parser(
        "demo", help="research the bundled demo sites (offline brain unless --brain is given)"
    )
    demo.add_argument("--latency", type=float, default=0.0, help="added server latency, seconds")
    demo.add_argument("--max-parallel", type=int, default=None, help="most browsers at once")
    add_thread_options(demo)
    add_brain_options(
        demo, brain_help="decision policy (default: offline, whatever models are configured)"
    )
    add_common_options(demo)
    demo.set_defaults(handler=demo_command)


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


def apply_demo_defaults(args: argparse.Namespace) -> None:
    """The demo runs on the embedded defaults: the offline brain unless --brain says otherwise.

    Even where a model is configured (FLOTILLA_BRAIN, FLOTILLA_MODEL, AWS credentials), so the
    demo gives the same report on every machine.
    """
    if args.brain is None:
        if args.model or args.role_model:
            print(
                "demo: the offline brain runs; the model given is not used without --brain llm",
                file=sys.stderr,
            )
        args.brain = "offline"
    args.question = DEMO_QUESTION


async def demo_command(args: argparse.Namespace) -> int:
    """`flotilla demo`: the bundled sites, served on loopback and allow-listed by host and port."""
    from demo_sites.server import DemoSites

    apply_demo_defaults(args)
    with DemoSites(latency_s=args.latency) as sites:
        print(f"demo sites: {', '.join(sites.urls.values())}", file=sys.stderr)
        args.url = list(sites.urls.values())
        record = DemoRecord(latency_s=args.latency, ports=sites.ports)
        return await research_command(args, allow_hosts=sites.allow_hosts, demo=record)
