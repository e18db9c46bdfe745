"""Each node's run timed on the wall clock, so the report can draw the run as a timeline.

`timed` wraps a node: when it returns its update, one `PhaseSpan` (node, browser task, start,
end) is added to the state's `timeline`. Wall-clock seconds, not a monotonic clock, so the
spans of a run resumed in another process stay on one axis.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, Protocol

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import PhaseSpan


class Node(Protocol):
    """A graph node that takes the state and the runtime."""

    def __call__(self, state: Any, runtime: Runtime[Context]) -> Awaitable[Any]:
        """Run the node; return its state update."""
        ...


def timed(phase: str, node: Node) -> Node:
    """`node` adding its start and end to the state's `timeline` when it returns an update."""

    async def run(state: Any, runtime: Runtime[Context]) -> Any:
        start = time.time()
        update = await node(state, runtime)
        if not isinstance(update, dict):
            return update
        task = state.get("task") if isinstance(state, dict) else None
        span = PhaseSpan(
            phase=phase,
            task_id=str(getattr(task, "task_id", "") or ""),
            start=start,
            end=time.time(),
        )
        return {**update, "timeline": [span]}

    run.__name__ = run.__qualname__ = phase
    run.__doc__ = getattr(node, "__doc__", None)
    return run
