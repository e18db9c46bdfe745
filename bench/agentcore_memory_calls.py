"""AgentCore Memory API calls per superstep: the demo with `memory="agentcore"`, on the fake.

`python -m bench.agentcore_memory_calls` runs the bundled demo in this process (offline brain,
real Chromium, the analysis in the local sandbox) through `graph.runner.Runner` with its memory
on the fake AgentCore Memory (tests/agentcore_fake.py; real, signed boto3 calls), then prints
the calls the run made by operation, the thread's supersteps (its checkpoints) and events, and
calls per superstep. Counting only: the fake's timings say nothing about AWS's.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

MEMORY_ID = "flotillabench-a1b2c3d4e5"
MEMORY_OPERATIONS = frozenset(
    {
        "CreateEvent",
        "ListEvents",
        "GetEvent",
        "DeleteEvent",
        "ListSessions",
        "BatchCreateMemoryRecords",
        "BatchUpdateMemoryRecords",
        "BatchDeleteMemoryRecords",
        "ListMemoryRecords",
        "RetrieveMemoryRecords",
        "GetMemoryRecord",
        "DeleteMemoryRecord",
    }
)


async def measure(tier: str = "auto") -> dict[str, Any]:
    """Run the demo on the fake's memory; the calls it made, by operation and per superstep.

    `tier="agentcore"` runs the browsers and the analysis on the fake AgentCore too (their calls
    are counted with the memory's; the per-superstep figures are the memory's alone).
    """
    from demo_sites.demo import DEMO_QUESTION
    from demo_sites.server import DemoSites
    from graph.builder import trust_only_our_models
    from graph.context import Context
    from graph.runner import Runner
    from memory.agentcore import agentcore_saver
    from tests.agentcore_fake import ACCESS_KEY, SECRET_KEY, FakeAgentCore

    os.environ |= {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    os.environ.pop("AWS_SESSION_TOKEN", None)
    with (
        FakeAgentCore() as fake,
        DemoSites() as sites,
        tempfile.TemporaryDirectory(prefix="flotilla-bench-acmem-") as tmp,
    ):
        os.environ["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"] = fake.url
        ctx = Context(
            brain="offline",
            runs_dir=str(Path(tmp) / "runs"),
            memory="agentcore",
            agentcore_memory_id=MEMORY_ID,
            agentcore_region="eu-west-1",
            sandbox_tier=tier,  # type: ignore[arg-type]
        )
        ctx.allow_hosts = [*ctx.allow_hosts, *sites.allow_hosts]
        thread = f"bench-{uuid.uuid4().hex[:12]}"
        result = await Runner().run(DEMO_QUESTION, list(sites.urls.values()), ctx, thread=thread)
        calls = Counter(fake.calls)
        saver = trust_only_our_models(
            agentcore_saver(MEMORY_ID, region="eu-west-1", endpoint_url=fake.url)
        )
        config: Any = {"configurable": {"thread_id": thread}}
        steps = len([t async for t in saver.alist(config)])
        events = len(fake.memory.events.get((MEMORY_ID, ctx.agentcore_actor_id, thread), []))
    memory_calls = {op: n for op, n in calls.items() if op in MEMORY_OPERATIONS}
    total = sum(memory_calls.values())
    return {
        "usable": result.usable,
        "tier": tier,
        "browser_jails": sorted({str(f.browser_jail) for f in result.values.get("findings") or []}),
        "supersteps": steps,
        "thread_events": events,
        "calls": dict(sorted(calls.items())),
        "memory_calls_total": total,
        "memory_calls_per_superstep": round(total / steps, 2) if steps else None,
        "per_superstep": {op: round(n / steps, 2) for op, n in sorted(memory_calls.items())}
        if steps
        else {},
    }


def main(argv: list[str] | None = None) -> None:
    """Print the measurement as JSON (`--tier agentcore`: browsers and analysis there too)."""
    import argparse

    from sandbox.optins import trust_this_process

    parser = argparse.ArgumentParser(prog="python -m bench.agentcore_memory_calls")
    parser.add_argument("--tier", choices=["auto", "agentcore"], default="auto")
    args = parser.parse_args(argv)
    trust_this_process()  # the operator runs this: loopback demo sites allowed
    print(json.dumps(asyncio.run(measure(args.tier)), indent=2))


if __name__ == "__main__":
    main()
