"""The AgentCore Runtime entrypoint: ``POST /invocations`` runs a research, streaming its events.

AgentCore Runtime runs a container that answers ``GET /ping`` and ``POST /invocations`` on port
8080; ``bedrock-agentcore``'s ``BedrockAgentCoreApp`` is that contract. The payload is
``{"question": ..., "urls": [...], "context": {Context fields}, "thread_id": optional}``; the
answer is a server-sent event stream: every progress event of the run (the same events
LangGraph's custom stream carries), then one ``{"event": "result", ...}`` with the run's output,
or one ``{"event": "error", ...}`` naming what was wrong. The context is a client's: the
operator's opt-ins apply (``FLOTILLA_ALLOW_*`` in the container's environment), exactly as on
LangGraph Server. Serve it with ``python -m integrations.agentcore.runtime`` (port 8080).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp

from graph.context import Context, ContextError
from graph.runner import Runner

app = BedrockAgentCoreApp()
_DONE = object()


def _inputs(payload: Any) -> tuple[str, list[str], Context, str | None]:
    """The run a payload asks for; ``ValueError`` naming the field when it cannot run."""
    if not isinstance(payload, dict):
        raise ValueError("payload: expected a JSON object")
    question, urls = payload.get("question"), payload.get("urls")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question: expected text")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls) or not urls:
        raise ValueError("urls: expected a list of URLs as text")
    settings = payload.get("context") or {}
    if not isinstance(settings, dict):
        raise ValueError("context: expected an object of Context fields")
    try:
        ctx = Context(**settings)
    except TypeError as exc:  # an unknown field
        raise ValueError(f"context: {exc}") from None
    thread = payload.get("thread_id")
    if thread is not None and not isinstance(thread, str):
        raise ValueError("thread_id: expected text")
    return question, urls, ctx, thread


async def research(payload: Any) -> AsyncIterator[dict[str, Any]]:
    """Run the research the payload asks for; yield its progress events, then its result."""
    try:
        question, urls, ctx, thread = _inputs(payload)
    except (ValueError, ContextError) as exc:
        yield {"event": "error", "message": str(exc)}
        return
    queue: asyncio.Queue[Any] = asyncio.Queue()
    runner = Runner(on_event=queue.put_nowait)
    task = asyncio.create_task(runner.run(question, urls, ctx, thread=thread))
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    try:
        while (event := await queue.get()) is not _DONE:
            yield event
        try:
            result = task.result()
        except Exception as exc:  # the run's own failure: named, never a traceback
            yield {"event": "error", "message": f"{type(exc).__name__}: {exc}"}
            return
        yield {"event": "result", **result.output}
    finally:
        if not task.done():  # the client went away: stop the run (its steps are checkpointed)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@app.entrypoint
async def invoke(payload: Any) -> AsyncIterator[dict[str, Any]]:
    """AgentCore Runtime's entrypoint: a streamed research run."""
    async for event in research(payload):
        yield event


if __name__ == "__main__":  # pragma: no cover - the container's command
    app.run(port=8080, host="0.0.0.0")  # AgentCore Runtime calls the container on 8080
