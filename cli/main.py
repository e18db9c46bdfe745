"""`flotilla` — research sites from the command line, one subagent at a time or the whole fleet."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import traceback
from typing import Any

from cli import browse, demo, doctor, logs, memory_cmd, open_cmd, research, sandbox, threads
from cli.common import EXIT_NOTHING, EXIT_USAGE, fail
from cli.errors import explain
from graph.context import ContextError
from sandbox.optins import trust_this_process

# Each command module adds its sub-commands and sets `handler` on them.
COMMANDS = (research, demo, browse, threads, memory_cmd, sandbox, doctor, open_cmd)


def _add_output_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v/-q/--debug, accepted before or after the command (the command's own wins)."""
    suppress: Any = argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else suppress,
        help="more detail: -v Flotilla's info messages, -vv its debug messages",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else suppress,
        help="no progress and no warnings: errors and the result only",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else suppress,
        help="debug messages, and the traceback of any failure",
    )


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-command's parser, nested ones (`memory search`) included."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_subparsers(child)]
    return found


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="flotilla", description=__doc__)
    _add_output_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    for child in _subparsers(parser):
        _add_output_options(child, top=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `flotilla` console script (`argv` None: this process's arguments).

    Run as the process's command (`argv` None), the objects left are frozen out of the garbage
    collector on the way out: the collection the interpreter makes at exit walks everything the
    run imported (~0.5 s of a `flotilla demo` here) only to free memory the exit frees anyway.
    Finalizers registered with `atexit` or `weakref.finalize` still run.
    """
    try:
        return _main(argv)
    finally:
        if argv is None:
            gc.freeze()


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except ContextError as exc:  # a setting from the environment is bad
        print(f"flotilla: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(verbose=args.verbose, quiet=args.quiet, debug=args.debug)
    trust_this_process()  # run by the operator: its flags are the operator's opt-ins
    try:
        return asyncio.run(args.handler(args))
    except ContextError as exc:  # a setting from the environment (or a thread's record) is bad
        print(f"flotilla: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("flotilla: interrupted; finished steps are checkpointed", file=sys.stderr)
        return 130
    except Exception as exc:
        return _failed(exc, args)
    finally:
        logs.reset()


def _failed(exc: Exception, args: argparse.Namespace) -> int:
    """A failure the command did not handle: one message with the fix; a traceback with --debug."""
    as_json = bool(getattr(args, "json", False))
    explained = explain(exc)
    if args.debug:
        traceback.print_exception(exc, file=sys.stderr)
    if explained is not None:
        message, code = explained
        return fail(message, as_json=as_json, code=code)
    hint = "" if args.debug else " (run again with --debug for the traceback)"
    message = f"unexpected error: {type(exc).__name__}: {exc}{hint}"
    return fail(message, as_json=as_json, code=EXIT_NOTHING)


if __name__ == "__main__":
    sys.exit(main())
