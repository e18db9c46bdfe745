"""`flotilla` — research sites from the command line, one subagent at a time or the whole fleet."""

from __future__ import annotations

import argparse
import asyncio
import sys

from cli import browse, demo, memory_cmd, open_cmd, research, sandbox, threads
from sandbox.optins import trust_this_process

# Each command module adds its sub-commands and sets `handler` on them.
COMMANDS = (research, demo, browse, threads, memory_cmd, sandbox, open_cmd)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="flotilla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `flotilla` console script."""
    args = build_parser().parse_args(argv)
    trust_this_process()  # run by the operator: its flags are the operator's opt-ins
    try:
        return asyncio.run(args.handler(args))
    except KeyboardInterrupt:
        print("flotilla: interrupted; finished steps are checkpointed in Redis", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
