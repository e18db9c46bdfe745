"""`flotilla demo`: the bundled sites, served on loopback, researched with the offline brain.

The run records the sites it served (`demo_sites.demo.DemoRecord`) with its settings, so
`flotilla resume` serves them again on the same ports before it finishes the run.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.common import add_brain_options, add_common_options, in_range, limit
from cli.research import add_record_option, add_thread_options, research_command
from demo_sites.demo import DEMO_QUESTION, DemoRecord


def register(sub: Any) -> None:
    """Add `demo` to the CLI."""
    demo = sub.add_parser(
        "demo", help="research the bundled demo sites (offline brain unless --brain is given)"
    )
    demo.add_argument(
        "--latency", type=in_range(0, 60, whole=False), default=0.0, help="added latency, seconds"
    )
    demo.add_argument(
        "--max-parallel", type=limit("max_parallel"), default=None, help="most browsers at once"
    )
    add_thread_options(demo)
    add_brain_options(
        demo, brain_help="decision policy (default: offline, whatever models are configured)"
    )
    add_common_options(demo)
    add_record_option(demo)
    demo.set_defaults(handler=demo_command)


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
