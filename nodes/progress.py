"""Progress events: one stream (`custom`) that Studio, the CLI and tests all read."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime


def emit(runtime: Runtime[Any], event: str, **fields: Any) -> None:
    """Send a progress event to whoever streams with `stream_mode="custom"`."""
    writer = getattr(runtime, "stream_writer", None)
    if writer is not None:
        writer({"event": event, **fields})


def thread_id_of(runtime: Runtime[Any]) -> str:
    """The thread this run belongs to, or its run id when it runs without a checkpointer."""
    info = getattr(runtime, "execution_info", None)
    thread = getattr(info, "thread_id", None) or getattr(info, "run_id", None)
    return str(thread or "adhoc")
