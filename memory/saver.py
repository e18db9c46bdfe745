"""The project's checkpoint saver: upstream `AsyncRedisSaver` with its conformance gaps fixed.

`langgraph-checkpoint-conformance` 0.0.2 against `AsyncRedisSaver` (langgraph-checkpoint-redis
0.5.2, Redis 8.2 + JSON/Search) fails 5 `list` tests and 2 `prune` tests. `alist` is what
`get_state_history`, `flotilla history` and time travel stand on, so the gaps matter. `alist`
and `aprune` are overridden through upstream's public methods; each override says which gap it
covers. `tests/conformance` runs the suite against both savers and fails when the upstream
failures change, so this layer can shrink as upstream fixes them.

`aput` writes upstream's own document, keys and TTLs, in one round trip instead of two (a
checkpoint per superstep: each round trip to Redis costs a wake-up of both processes, the
larger part of a checkpoint's price on a busy machine). `aput_writes` is upstream's own.

Only the async API is fixed: the project drives the saver from asyncio only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import redis.exceptions
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.redis.aio import AsyncRedisSaver
from langgraph.checkpoint.redis.util import to_storage_safe_id, to_storage_safe_str
from ulid import ULID

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


def _json(document: dict[str, Any]) -> bytes | str:
    """The document as JSON text (orjson; the standard library for what orjson refuses)."""
    try:
        return orjson.dumps(document)
    except TypeError:  # e.g. an integer beyond 64 bits
        return json.dumps(document)


def _timestamp_ms(checkpoint_id: str) -> float:
    """Upstream's `checkpoint_ts`: a ULID id's time, else now (LangGraph's ids are UUIDv6)."""
    try:
        return float(ULID.from_str(checkpoint_id).timestamp)
    except Exception:  # not a ULID
        return time.time() * 1000


# The document, then the latest pointer (only once the document is stored: RedisJSON refuses
# some documents, and the pointer must not move to nothing), then their expiry.
_PUT_SCRIPT = """
redis.call('JSON.SET', KEYS[1], '$', ARGV[1])
redis.call('SET', KEYS[2], KEYS[1])
if ARGV[2] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return 1
"""


class FlotillaRedisSaver(AsyncRedisSaver):
    """`AsyncRedisSaver` whose `alist` and `aprune` meet the checkpointer contract.

    Its `aput` stores what upstream's does, in one round trip.
    """

    _put_script: Any = None
    _no_scripts = False  # a server whose user may not run scripts (ACL): upstream's way

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        stream_mode: str = "values",
    ) -> RunnableConfig:
        """Store the checkpoint and point the thread's latest-checkpoint key at it.

        Upstream's document (the same fields, from upstream's own serialisers), keys and TTLs;
        upstream sends the document (through redisvl) and then the pointer, each in its own
        round trip: here one Lua script stores both, and their expiry, the pointer only once
        the document is stored, as upstream orders them. A cancelled caller still lets it
        finish (upstream writes the checkpoint again when cancelled: the same intent). A
        cluster client, or a user the server's ACL lets run no scripts, gets upstream's `aput`.
        """
        if self.cluster_mode or self._no_scripts:
            return await super().aput(config, checkpoint, metadata, new_versions, stream_mode)
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        checkpoint_ns = configurable["checkpoint_ns"]
        run_id = configurable.get("run_id", metadata.get("run_id"))
        # Upstream's choice of id and parent, as it makes it.
        config_id = configurable.get("checkpoint_id")
        checkpoint_id = config_id or configurable.get("thread_ts", "") or checkpoint.get("id", "")
        parent_id = None
        if checkpoint.get("id") and config_id and checkpoint["id"] != config_id:
            parent_id, checkpoint_id = config_id, checkpoint["id"]
        document: dict[str, Any] = {
            "thread_id": to_storage_safe_id(thread_id),
            "run_id": to_storage_safe_id(run_id) if run_id else "",
            "checkpoint_ns": to_storage_safe_str(checkpoint_ns),
            "checkpoint_id": to_storage_safe_id(checkpoint_id),
            "parent_checkpoint_id": to_storage_safe_id(parent_id) if parent_id else "",
            "checkpoint_ts": _timestamp_ms(checkpoint_id),
            "checkpoint": self._dump_checkpoint(checkpoint.copy()),
            "metadata": self._dump_metadata(metadata),
            "has_writes": False,
        }
        if "source" in metadata and "step" in metadata:  # top-level copies for list() filters
            document["source"] = metadata["source"]
            document["step"] = metadata["step"]
        key = self._make_redis_checkpoint_key_cached(thread_id, checkpoint_ns, checkpoint_id)
        latest = self._make_redis_checkpoint_latest_key(thread_id, checkpoint_ns)
        ttl = self.ttl_config.get("default_ttl") if self.ttl_config else None
        seconds = "" if ttl is None else str(int(ttl * 60))
        if self._put_script is None:
            self._put_script = self._redis.register_script(_PUT_SCRIPT)
        try:
            # Shielded: a cancelled run still gets the checkpoint it had written.
            await asyncio.shield(
                self._put_script(keys=[key, latest], args=[_json(document), seconds])
            )
        except redis.exceptions.NoPermissionError:  # nothing was written
            self._no_scripts = True
            return await super().aput(config, checkpoint, metadata, new_versions, stream_mode)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
            }
        }

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
