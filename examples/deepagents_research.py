"""A Deep Agents coordinator over Flotilla: jailed browsers fan out, a gVisor/bwrap shell analyses.

``create_deep_agent`` gets Flotilla's sandbox as its backend (its ``execute``, ``ls``,
``read_file``, ``write_file``, ``grep``... run in one isolated session) and Flotilla's browser
as a subagent its ``task`` tool fans out to, one jailed Chromium per site. Here it researches
the three bundled demo sites, served on loopback:

    .venv/bin/python -m examples.deepagents_research --model bedrock_converse:<model id>

Any ``provider:model`` that ``langchain.chat_models.init_chat_model`` knows works, with that
provider's credentials; tests/integration/test_deepagents_example.py runs it with scripted
models instead, offline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import Sequence
from typing import Any

from deepagents import create_deep_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from demo_sites.server import DemoSites
from graph.context import Context
from integrations.deepagents.backend import FlotillaSandbox
from integrations.deepagents.browser_subagent import NAME, browser_subagent

QUESTION = "Which cloud storage vendor lists the most plans, and what do they cost per month?"
SYSTEM_PROMPT = f"""You coordinate research of vendor web sites.
Send one `task` to the `{NAME}` subagent per site, all at once; each returns JSON Findings.
Tables it read are CSV files under /work/findings/ in your sandbox: analyse them there with
`execute` (python3 with pandas is installed) rather than guessing. Answer briefly, citing sites.
"""


def build_agent(
    model: str | BaseChatModel,
    sites: Sequence[str],
    sandbox: FlotillaSandbox,
    context: Context,
) -> Any:
    """The deep agent: Flotilla's sandbox as its backend, its browser as the subagent."""
    browser = browser_subagent(sites, context=context, sandbox=sandbox)
    return create_deep_agent(
        model=model, system_prompt=SYSTEM_PROMPT, subagents=[browser], backend=sandbox
    )


async def research(
    model: str | BaseChatModel,
    question: str = QUESTION,
    *,
    tier: str = "auto",
    runs_dir: str | None = None,
    sites: DemoSites | None = None,
) -> str:
    """Research the demo sites (served here unless ``sites`` are) and return the answer."""
    with contextlib.ExitStack() as stack:
        if sites is None:
            sites = stack.enter_context(DemoSites())
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="flotilla-da-"))
        context = Context(allow_hosts=sites.allow_hosts, runs_dir=runs_dir or tmp)
        sandbox = await asyncio.to_thread(FlotillaSandbox, tier, preload=("pandas",))
        async with sandbox:
            urls = sorted(sites.urls.values())
            agent = build_agent(model, urls, sandbox, context)
            ask = f"{question}\nSites: {', '.join(urls)}"
            state = await agent.ainvoke({"messages": [HumanMessage(ask)]})
    return str(state["messages"][-1].text)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--model provider:model`` (required), ``--tier``, ``--question``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="provider:model for init_chat_model")
    parser.add_argument("--tier", default="auto", choices=["auto", "gvisor", "bwrap"])
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)
    print(asyncio.run(research(args.model, args.question, tier=args.tier)))


if __name__ == "__main__":
    main()
