"""The project's checkpoint saver: upstream `AsyncRedisSaver` with its conformance gaps fixed.

`langgraph-checkpoint-conformance` 0.0.2 against `AsyncRedisSaver` (langgraph-checkpoint-redis
0.5.2, Redis 8.2 + JSON/Search) fails 5 `list` tests and 2 `prune` tests. `alist` is what
`get_state_history`, `flotilla history` and time travel stand on, so the gaps matter. `alist`
and `aprune` are overridden through upstream's public methods; each override says which gap it
covers. Every write (`aput`, `aput_writes`, TTLs) is upstream's own. `tests/conformance` runs
the suite against both savers and fails when the upstream failures change, so this layer can
shrink as upstream fixes them.

Only the async API is fixed: the project drives the saver from asyncio only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple, get_checkpoint_id
from langgraph.checkpoint.redis.aio import AsyncRedisSaver

# Metadata keys upstream's `alist` turns into RediSearch filters; it raises on any other key.
UPSTREAM_FILTER_KEYS = frozenset({"source", "step", "thread_id", "run_id"})

# Conformance tests upstream fails and this layer makes pass (capability, test name).
COVERED_UPSTREAM_FAILURES = frozenset(
    {
        ("list", "test_list_by_namespace"),
        ("list", "test_list_multiple_namespaces"),
        ("list", "test_list_before"),
        ("list", "test_list_limit_plus_before"),
        ("list", "test_list_metadata_custom_keys"),
        ("prune", "test_prune_keep_latest_across_namespaces"),
        ("prune", "test_prune_empty_list_noop"),
    }
)


class FlotillaRedisSaver(AsyncRedisSaver):
    """`AsyncRedisSaver` whose `alist` and `aprune` meet the checkpointer contract."""

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """List checkpoints newest first, honouring namespace, `before`, any filter key, `limit`.

        Upstream gaps covered, each checked here on the tuples upstream returns:
        - root namespace: upstream drops the `checkpoint_ns` filter when it is "" (falsy), so
          listing the root graph also lists every subgraph's checkpoints;
        - `before`: upstream parses the id as a ULID, but LangGraph's ids are UUIDv6, so the
          cursor is silently ignored; UUIDv6 strings sort by time, so compare them as strings;
        - custom metadata keys: upstream raises `ValueError` on any key but source, step,
          thread_id and run_id; those still go to RediSearch, the rest are compared here.
        `limit` is applied after these checks, so it counts only matching checkpoints. The cost:
        when one of them is in play, upstream fetches the thread's checkpoints unlimited.
        """
        configurable = (config or {}).get("configurable", {})
        namespace = configurable.get("checkpoint_ns")
        before_id = get_checkpoint_id(before) if before else None
        indexed = {k: v for k, v in (filter or {}).items() if k in UPSTREAM_FILTER_KEYS}
        custom = {k: v for k, v in (filter or {}).items() if k not in UPSTREAM_FILTER_KEYS}
        if namespace != "" and before_id is None and not custom:
            async for tup in super().alist(config, filter=filter, limit=limit):
                yield tup
            return
        if limit is not None and limit <= 0:
            return
        count = 0
        async for tup in super().alist(config, filter=indexed or None):
            if namespace is not None and tup.config["configurable"]["checkpoint_ns"] != namespace:
                continue
            if before_id is not None and tup.checkpoint["id"] >= before_id:
                continue
            if any(tup.metadata.get(k) != v for k, v in custom.items()):
                continue
            yield tup
            count += 1
            if limit is not None and count >= limit:
                return

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int | None = None,
        max_results: int = 10000,
    ) -> None:
        """Prune old checkpoints per namespace; pruning no thread is a no-op.

        Upstream gap covered: it raises `ValueError` on an empty `thread_ids`. (Its failure on
        `keep_latest` across namespaces came from the root-namespace listing fixed in `alist`.)
        """
        if not thread_ids:
            return
        await super().aprune(
            thread_ids, strategy=strategy, keep_last=keep_last, max_results=max_results
        )


__all__ = ["COVERED_UPSTREAM_FAILURES", "UPSTREAM_FILTER_KEYS", "FlotillaRedisSaver"]
