"""`flotilla browse`: one browser subagent on one site, its findings printed."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

from cli.common import (
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_SERVICE,
    EXIT_USAGE,
    add_brain_options,
    add_common_options,
    fail,
    make_context,
    token_usage_lines,
)
from cli.errors import browser_problem
from cli.live import progress_view
from graph.context import Context
from sandbox.egress import EgressRefused, validate_url

if TYPE_CHECKING:
    from graph.models import Findings, ModelUsage, SiteTask
    from nodes.browse.pages import Progress


def register(sub: Any) -> None:
    """Add `browse` to the CLI."""
    browse = sub.add_parser("browse", help="run one browser subagent on one site")
    browse.add_argument("url")
    browse.add_argument("--goal", default="", help="what to look for (default: general overview)")
    add_brain_options(browse, roles=False)
    add_common_options(browse)
    browse.set_defaults(handler=browse_command)


async def browse_command(args: argparse.Namespace) -> int:
    """`flotilla browse`: one subagent on one site (either brain), findings as JSON."""
    from graph.models import SiteTask
    from nodes.llm.chat import ModelUnavailable, choose_brain

    ctx = make_context(args)
    try:
        url = validate_url(args.url)
    except EgressRefused as refusal:
        return fail(
            str(refusal), as_json=args.json, code=EXIT_USAGE, rule=refusal.rule, url=args.url
        )
    problem = await asyncio.to_thread(browser_problem)
    if problem is not None:
        return fail(problem, as_json=args.json, code=EXIT_SERVICE, url=url)
    task = SiteTask(task_id="site-1", url=url, goal=args.goal)
    with progress_view(args) as (on_event, _view):

        def progress(step: str, fields: dict[str, Any]) -> None:
            if on_event is not None:
                event = {"event": "subagent", "task_id": task.task_id, "site": url}
                on_event({**event, "state": step, **fields})

        usage: ModelUsage | None = None
        try:
            if choose_brain(ctx) == "llm":
                findings, usage = await _llm_subagent(task, ctx, progress)
            else:
                findings = await _offline_subagent(task, ctx, progress)
        except ModelUnavailable as exc:
            return fail(str(exc), as_json=args.json, code=EXIT_USAGE, url=url)
        done = {"pages": len(findings.pages_visited), "errors": len(findings.errors)}
        progress(findings.status, {"elapsed": findings.elapsed_s, **done})
    if findings.status == "refused":
        error = findings.errors[0]
        return fail(error.message, as_json=args.json, code=EXIT_USAGE, rule=error.rule, url=url)
    _print_findings(findings, usage, as_json=args.json)
    return EXIT_OK if findings.status in ("ok", "partial") else EXIT_NOTHING


def _thread_id() -> str:
    return f"browse-{uuid.uuid4().hex[:12]}"


async def _offline_subagent(task: SiteTask, ctx: Context, progress: Progress) -> Findings:
    from nodes.browse.subagent import run_subagent

    return await run_subagent(
        task, ctx, artifacts_root=ctx.runs_dir, thread_id=_thread_id(), progress=progress
    )


async def _llm_subagent(
    task: SiteTask, ctx: Context, progress: Progress
) -> tuple[Findings, ModelUsage]:
    """The llm subagent, held to the subagent's limits; raises ModelUnavailable up front."""
    from nodes.browse.node import llm_subagent

    run, usage = await llm_subagent(task, ctx, None, _thread_id(), progress)
    return await run(), usage


def _print_findings(findings: Findings, usage: ModelUsage | None, *, as_json: bool) -> None:
    from nodes.llm.usage import summarise_usage

    token_usage = summarise_usage([usage]) if usage is not None else None
    if as_json:
        data = findings.model_dump(mode="json")
        if token_usage is not None:
            data["token_usage"] = token_usage
        print(json.dumps(data, indent=2))
        return
    print(_findings_text(findings.model_dump()))
    for line in token_usage_lines(token_usage):
        print(line)


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
