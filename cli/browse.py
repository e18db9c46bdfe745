"""`flotilla browse`: one browser subagent on one site, its findings printed."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from cli.common import (
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_USAGE,
    ProgressPrinter,
    add_common_options,
    fail,
    make_context,
)
from graph.models import SiteTask
from sandbox.egress import EgressRefused, validate_url


def register(sub: Any) -> None:
    """Add `browse` to the CLI."""
    browse = sub.add_parser("browse", help="run one browser subagent on one site")
    browse.add_argument("url")
    browse.add_argument("--goal", default="", help="what to look for (default: general overview)")
    add_common_options(browse)
    browse.set_defaults(handler=browse_command)


async def browse_command(args: argparse.Namespace) -> int:
    """`flotilla browse`: one subagent on one site, findings as JSON."""
    from nodes.browser import run_subagent

    ctx = make_context(args)
    try:
        url = validate_url(args.url)
    except EgressRefused as refusal:
        return fail(
            str(refusal), as_json=args.json, code=EXIT_USAGE, rule=refusal.rule, url=args.url
        )
    printer = ProgressPrinter()
    task = SiteTask(task_id="site-1", url=url, goal=args.goal)
    findings = await run_subagent(
        task,
        ctx,
        artifacts_root=ctx.runs_dir,
        thread_id=f"browse-{uuid.uuid4().hex[:12]}",
        progress=lambda step, fields: printer(
            {"event": "subagent", "task_id": task.task_id, "site": url, "state": step, **fields}
        ),
    )
    if findings.status == "refused":
        error = findings.errors[0]
        return fail(error.message, as_json=args.json, code=EXIT_USAGE, rule=error.rule, url=url)
    print(
        findings.model_dump_json(indent=2) if args.json else _findings_text(findings.model_dump())
    )
    return EXIT_OK if findings.status in ("ok", "partial") else EXIT_NOTHING


def _findings_text(findings: dict[str, Any]) -> str:
    lines = [
        f"{findings['site']}: {findings['status']}, {len(findings['pages_visited'])} pages",
        "",
        findings["summary"],
        "",
    ]
    lines += [f"- {fact['text']}" for fact in findings["key_facts"]]
    lines += [f"table: {t['artifact']['path']}" for t in findings["tables"]]
    lines += [f"error: {e['message']}" for e in findings["errors"]]
    return "\n".join(lines)
