"""`flotilla open THREAD`: print a thread's report path and show it where a browser can.

The HTML report is one self-contained file (`runs/<thread>/report.html`); a run made before it
existed has only `report.md`, which is printed instead. A browser is started only where one can
show something: a desktop session on Linux (DISPLAY or WAYLAND_DISPLAY), macOS or Windows.
"""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cli.common import EXIT_OK, EXIT_USAGE, fail


def register(sub: Any) -> None:
    """Add `open` to the CLI."""
    cmd = sub.add_parser("open", help="print a thread's report path and open it in a browser")
    cmd.add_argument("thread", help="the thread id the run printed or was given")
    cmd.add_argument(
        "--runs-dir",
        default=None,
        help="where the run wrote its reports (default: $FLOTILLA_RUNS_DIR or runs)",
    )
    cmd.add_argument("--md", action="store_true", help="the markdown report instead of the HTML")
    cmd.add_argument("--no-browser", action="store_true", help="only print the path")
    cmd.set_defaults(handler=open_command)


def report_file(runs_dir: str, thread: str, *, markdown: bool = False) -> Path | None:
    """The thread's report.html (or report.md, asked for or the only one there), or None."""
    from nodes.artifacts import slug

    folder = Path(runs_dir).expanduser().resolve() / slug(thread)
    names = ("report.md",) if markdown else ("report.html", "report.md")
    return next((folder / n for n in names if (folder / n).is_file()), None)


def can_show(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a browser started here could show a page to someone."""
    env = os.environ if environ is None else environ
    platform = platform or sys.platform
    if platform == "darwin" or platform.startswith("win"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


async def open_command(args: argparse.Namespace) -> int:
    """`flotilla open`: print the report's path; open it in a browser where one can show it."""
    return open_report(args)


def open_report(args: argparse.Namespace) -> int:
    """What `flotilla open` does (no event loop needed): print the path, maybe open it."""
    runs_dir = args.runs_dir or os.environ.get("FLOTILLA_RUNS_DIR", "runs")
    path = report_file(runs_dir, args.thread, markdown=args.md)
    if path is None:
        from nodes.artifacts import slug

        where = Path(runs_dir).expanduser().resolve() / slug(args.thread)
        return fail(
            f"no report for thread {args.thread!r} under {where}: check the id, or pass "
            "--runs-dir (or FLOTILLA_RUNS_DIR) as the run had it",
            as_json=False,
            code=EXIT_USAGE,
        )
    print(path)
    if not args.no_browser and can_show():
        webbrowser.open(path.as_uri())
    return EXIT_OK
