"""What the llm brain's machinery costs, with the model's own latency taken out.

No cloud model is reachable here, so the models are the test suite's stand-ins: scripted chat
models (zero latency) and the real `ChatBedrockConverse` against the loopback Converse stub.
What is measured is ours and the libraries': the graph, the tool loop, real Chromium, the code
sandbox, request signing and response parsing. Add your model's latency per call on top.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench.report import Result

GRAPH_ANCHOR = "offline brain on the same sites, same process"
CALL_ANCHOR = "a real model adds its own latency per call (typically 0.5–5 s)"


async def _graph_wall(brain: str, sites: object, runs_dir: Path) -> float:
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.builder import build_graph
    from graph.context import Context
    from tests.scripted_run import (
        QUESTION,
        analyst_model,
        browser_model,
        coordinator_model,
        report_model,
    )

    models = None
    if brain == "llm":
        models = {
            "coordinator": coordinator_model(sites),  # type: ignore[arg-type]
            "browser": browser_model(sites),  # type: ignore[arg-type]
            "analyst": analyst_model(),
            "report": report_model(),
        }
    app = build_graph(checkpointer=InMemorySaver(), models=models)
    ctx = Context(
        brain=brain,  # type: ignore[arg-type]
        allow_hosts=sites.allow_hosts,  # type: ignore[attr-defined]
        runs_dir=str(runs_dir),
    )
    urls = list(sites.urls.values())  # type: ignore[attr-defined]
    started = time.perf_counter()
    await app.ainvoke(
        {"question": QUESTION, "urls": urls},
        {"configurable": {"thread_id": f"bench-{brain}-{time.monotonic_ns()}"}},
        context=ctx,
    )
    return time.perf_counter() - started


async def graph_walls(repeats: int) -> list[Result]:
    """The whole run over the three demo sites: llm brain (scripted models) vs offline."""
    from demo_sites.server import DemoSites

    llm = Result(
        "llm",
        "whole run, llm brain, scripted models (3 subagents × 4 tool calls, 1 analyst repair)",
        "s",
        anchor=GRAPH_ANCHOR,
    )
    offline = Result("llm", "whole run, offline brain (same sites, same process)", "s")
    with DemoSites() as sites, tempfile.TemporaryDirectory() as tmp:
        for index in range(repeats):  # interleaved, so load drifts hit both alike
            llm.samples.append(await _graph_wall("llm", sites, Path(tmp) / f"llm-{index}"))
            offline.samples.append(await _graph_wall("offline", sites, Path(tmp) / f"off-{index}"))
    return [llm, offline]


async def converse_calls(n: int) -> list[Result]:
    """One Converse round trip through langchain-aws + botocore (signing, HTTP, parsing)."""
    from langchain_core.messages import HumanMessage

    # The client has explicit keys and a loopback endpoint; never ask the metadata address.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    from nodes.plan.llm import ResearchPlan
    from tests.bedrock_stub import BedrockStub, tool_use
    from tests.fakes import ScriptedChatModel, ai_tool_call, replies

    plan = {"tasks": [{"url": "https://a.example/", "goal": "prices", "fields": ["price"]}]}
    converse = Result(
        "llm",
        "Converse call, structured output (loopback stub): client side",
        "ms",
        anchor=CALL_ANCHOR,
    )
    scripted = Result("llm", "same call on a scripted model (framework only)", "ms")
    messages = [HumanMessage("Plan the research.")]
    with BedrockStub(lambda call: tool_use("ResearchPlan", plan)) as stub:
        bedrock = stub.chat_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        fake = ScriptedChatModel(script=replies(ai_tool_call("ResearchPlan", **plan)))
        structured = [m.with_structured_output(ResearchPlan) for m in (bedrock, fake)]
        for model in structured:
            await model.ainvoke(messages)  # warm: client creation, schema conversion
        for _ in range(n):
            for model, result in zip(structured, (converse, scripted), strict=True):
                started = time.perf_counter()
                await model.ainvoke(messages)
                result.samples.append((time.perf_counter() - started) * 1000)
    return [converse, scripted]


async def run(*, quick: bool) -> list[Result]:
    """Every llm-brain measurement."""
    calls = await converse_calls(20 if quick else 100)
    walls = await graph_walls(1 if quick else 3)
    return calls + walls


if __name__ == "__main__":  # pragma: no cover - manual use
    for result in asyncio.run(run(quick=True)):
        print(result.metric, result.median())
