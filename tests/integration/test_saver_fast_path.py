"""The project saver's write path stores exactly what upstream's `AsyncRedisSaver` stores.

`memory.saver.FlotillaRedisSaver` rewrites `aput` and `aput_writes` for speed (issue #5): one
round trip each, channel JSON reused while a channel's version stands, no serde walk over plain
data. These tests replay the saver calls of a demo-shaped run through both savers, each built
as the CLI builds it, and compare every key, value and TTL the two leave in Redis.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import redis.asyncio
import redis.asyncio.connection
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.redis.aio import AsyncRedisSaver

from bench.memory_bench import INPUT, build_demo_shaped_graph
from graph.builder import trust_only_our_models
from memory.checkpoint import redis_saver
from memory.redis_server import async_client
from memory.saver import FlotillaRedisSaver

pytestmark = pytest.mark.slow

Call = tuple[str, tuple[Any, ...]]


class _Recorder(InMemorySaver):
    """Records the saver calls LangGraph makes, with copies of their arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        self.calls.append(("aput", copy.deepcopy((config, checkpoint, metadata, new_versions))))
        return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: Any, writes: Any, task_id: str, task_path: str = ""
    ) -> None:
        self.calls.append(("aput_writes", copy.deepcopy((config, writes, task_id, task_path))))
        await super().aput_writes(config, writes, task_id, task_path)


@pytest.fixture(scope="module")
def demo_calls() -> list[Call]:
    """The aput/aput_writes calls of one demo-shaped run (3 parallel branches, demo-sized)."""
    recorder = _Recorder()
    app = build_demo_shaped_graph().compile(checkpointer=trust_only_our_models(recorder))
    asyncio.run(app.ainvoke(INPUT, {"configurable": {"thread_id": "recorded"}}, durability="sync"))
    assert len(recorder.calls) > 10
    return recorder.calls


@asynccontextmanager
async def _both(url: str, ttl_minutes: float | None = None) -> AsyncIterator[dict[str, Any]]:
    """Ours as `memory.checkpoint.redis_saver` builds it, and upstream's built the same way."""
    ttl = None if ttl_minutes is None else {"default_ttl": ttl_minutes, "refresh_on_read": True}
    async with (
        redis_saver(url, ttl_minutes=ttl_minutes) as ours,
        async_client(url) as client,
        AsyncRedisSaver(redis_client=client, ttl=ttl) as upstream,
    ):
        assert isinstance(ours, FlotillaRedisSaver)
        yield {"ours": trust_only_our_models(ours), "upstream": trust_only_our_models(upstream)}


def _on_thread(args: tuple[Any, ...], thread: str) -> tuple[Any, ...]:
    args = copy.deepcopy(args)
    args[0]["configurable"]["thread_id"] = thread
    return args


async def _replay(saver: BaseCheckpointSaver, calls: list[Call], thread: str) -> None:
    for method, args in calls:
        await getattr(saver, method)(*_on_thread(args, thread))


async def _stored(url: str, thread: str) -> dict[str, Any]:
    """Every key of `thread`: its value (JSON parsed) and whether it expires; ids normalised.

    `checkpoint_ts` is upstream's wall clock at write time (LangGraph's ids are not ULIDs),
    so it is only checked to be there.
    """
    client = redis.asyncio.Redis.from_url(url, protocol=2, decode_responses=True)
    out: dict[str, Any] = {}
    try:
        async for key in client.scan_iter(match=f"*{thread}*", count=1000):
            kind = await client.type(key)
            if kind == "ReJSON-RL":
                value: Any = orjson.loads(await client.execute_command("JSON.GET", key))
                if "checkpoint" in value:
                    assert isinstance(value.pop("checkpoint_ts", 0.0), float | int | None)
            elif kind == "string":
                value = await client.get(key)
            elif kind == "zset":
                value = await client.zrange(key, 0, -1, withscores=True)
            else:
                raise AssertionError(f"unexpected {kind!r} key {key!r}")
            ttl = await client.ttl(key)
            out[key.replace(thread, "THREAD")] = (
                kind,
                orjson.loads(orjson.dumps(value).decode().replace(thread, "THREAD")),
                "expires" if ttl > 0 else ttl,
            )
    finally:
        await client.aclose()
    return out


@pytest.mark.parametrize("ttl_minutes", [None, 5.0])
async def test_a_demo_run_is_stored_exactly_as_upstream_stores_it(
    redis_server_url: str, demo_calls: list[Call], ttl_minutes: float | None
) -> None:
    threads = {name: f"{name}-{uuid.uuid4().hex}" for name in ("ours", "upstream")}
    async with _both(redis_server_url, ttl_minutes) as savers:
        for name, saver in savers.items():
            await _replay(saver, demo_calls, threads[name])
    ours = await _stored(redis_server_url, threads["ours"])
    upstream = await _stored(redis_server_url, threads["upstream"])

    assert ours.keys() == upstream.keys()
    for key in upstream:
        assert ours[key] == upstream[key], key
    kinds = {key.split(":")[0] for key in ours}
    assert kinds == {"checkpoint", "checkpoint_latest", "checkpoint_write", "write_keys_zset"}
    expiry = {entry[2] for entry in ours.values()}
    assert expiry == ({-1} if ttl_minutes is None else {"expires"})


async def test_a_run_through_our_saver_resumes_and_lists_like_upstreams(
    redis_server_url: str, demo_calls: list[Call]
) -> None:
    """What each saver wrote reads back the same through upstream's readers."""
    threads = {name: f"{name}-{uuid.uuid4().hex}" for name in ("ours", "upstream")}
    async with _both(redis_server_url) as savers:
        for name, saver in savers.items():
            await _replay(saver, demo_calls, threads[name])
        read: dict[str, Any] = {}
        for name, saver in savers.items():
            config: RunnableConfig = {"configurable": {"thread_id": threads[name]}}
            latest = await saver.aget_tuple(config)
            history = [t async for t in saver.alist(config)]
            assert latest is not None and len(history) > 5
            read[name] = [
                (t.checkpoint["channel_values"], t.metadata, len(t.pending_writes or []))
                for t in [latest, *history]
            ]
    assert read["ours"] == read["upstream"]


async def test_values_json_cannot_hold_go_through_upstreams_msgpack_path(
    redis_server_url: str,
) -> None:
    """bytes, None, an unchanged channel after a changed one: the same documents as upstream."""
    threads = {name: f"{name}-{uuid.uuid4().hex}" for name in ("ours", "upstream")}
    first = generate_checkpoint(
        channel_values={"text": "a", "none": None, "nested": {"k": [1, 2.5, "x"]}},
        channel_versions={"text": 1, "none": 1, "nested": 1},
    )
    second = generate_checkpoint(
        channel_values={"text": "b", "none": None, "nested": {"k": [1, 2.5, "x"]}},
        channel_versions={"text": 2, "none": 1, "nested": 1},
    )
    with_bytes = generate_checkpoint(
        channel_values={"text": "b", "raw": b"\x00\xff", "nested": {"k": [1, 2.5, "x"]}},
        channel_versions={"text": 2, "raw": 3, "nested": 1},
    )
    async with _both(redis_server_url) as savers:
        for name, saver in savers.items():
            config = generate_config(threads[name])
            config = await saver.aput(config, first, generate_metadata(step=0), {"text": 1})
            config = await saver.aput(config, second, generate_metadata(step=1), {"text": 2})
            await saver.aput(config, with_bytes, generate_metadata(step=2), {"raw": 3})
            tup = await saver.aget_tuple({"configurable": {"thread_id": threads[name]}})
            assert tup is not None
            assert tup.checkpoint["channel_values"]["raw"] == b"\x00\xff"
    assert await _stored(redis_server_url, threads["ours"]) == await _stored(
        redis_server_url, threads["upstream"]
    )


async def test_forks_and_other_threads_never_get_another_checkpoints_channel_json(
    redis_server_url: str,
) -> None:
    """Reused JSON is keyed by thread, namespace, channel and version.

    Time travel: a checkpoint forked from an older one carries the older version of a channel
    it did not change, not the version this thread wrote last. Another thread with the same
    (small integer) versions has its own values.
    """
    threads = {name: f"{name}-{uuid.uuid4().hex}" for name in ("ours", "upstream")}
    one = generate_checkpoint(channel_values={"x": "one"}, channel_versions={"x": 1})
    two = generate_checkpoint(channel_values={"x": "two"}, channel_versions={"x": 2})
    fork = generate_checkpoint(
        channel_values={"x": "one", "y": "new"}, channel_versions={"x": 1, "y": 3}
    )
    elsewhere = generate_checkpoint(channel_values={"x": "other"}, channel_versions={"x": 1})
    async with _both(redis_server_url) as savers:
        for name, saver in savers.items():
            first = await saver.aput(
                generate_config(threads[name]), one, generate_metadata(), {"x": 1}
            )
            await saver.aput(first, two, generate_metadata(), {"x": 2})
            forked = await saver.aput(first, fork, generate_metadata(), {"y": 3})
            tup = await saver.aget_tuple(forked)
            assert tup is not None and tup.checkpoint["channel_values"] == {"x": "one", "y": "new"}
            other = generate_config(f"{threads[name]}-other")
            await saver.aput(other, elsewhere, generate_metadata(), {})
            tup = await saver.aget_tuple(other)
            assert tup is not None and tup.checkpoint["channel_values"] == {"x": "other"}
    assert await _stored(redis_server_url, threads["ours"]) == await _stored(
        redis_server_url, threads["upstream"]
    )


async def test_a_document_redis_rejects_leaves_the_latest_checkpoint_in_place(
    redis_server_url: str,
) -> None:
    """RedisJSON refuses nesting past 128 levels; the pointer must not move to nothing."""
    too_deep: Any = "leaf"
    for _ in range(150):
        too_deep = [too_deep]
    async with _both(redis_server_url) as savers:
        for saver in savers.values():
            thread = f"deep-{uuid.uuid4().hex}"
            good = generate_checkpoint(channel_values={"v": "ok"}, channel_versions={"v": 1})
            config = await saver.aput(generate_config(thread), good, generate_metadata(), {"v": 1})
            bad = generate_checkpoint(channel_values={"v": too_deep}, channel_versions={"v": 2})
            with pytest.raises(Exception, match="recursion limit"):
                await saver.aput(config, bad, generate_metadata(), {"v": 2})
            latest = await saver.aget_tuple({"configurable": {"thread_id": thread}})
            assert latest is not None and latest.checkpoint["id"] == good["id"]


async def test_a_cancelled_put_stores_what_upstream_stores_when_cancelled(
    redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upstream, cancelled mid-write, stores the checkpoint marked interrupted; so do we."""

    async def cancelled(*args: Any, **kwargs: Any) -> Any:
        raise asyncio.CancelledError

    threads = {name: f"{name}-{uuid.uuid4().hex}" for name in ("ours", "upstream")}
    checkpoint = generate_checkpoint(channel_values={"v": "x"}, channel_versions={"v": 1})
    async with _both(redis_server_url) as savers:
        monkeypatch.setattr(FlotillaRedisSaver, "_round_trip", cancelled)  # our one round trip
        monkeypatch.setattr(savers["upstream"].checkpoints_index, "load", cancelled)
        for name, saver in savers.items():
            with pytest.raises(asyncio.CancelledError):
                await saver.aput(
                    generate_config(threads[name]), checkpoint, generate_metadata(), {"v": 1}
                )
    ours = await _stored(redis_server_url, threads["ours"])
    assert ours == await _stored(redis_server_url, threads["upstream"])
    [(kind, document, _)] = ours.values()
    assert kind == "ReJSON-RL" and '"interrupted":true' in document["metadata"]


def _count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent = [0]
    original: Callable[..., Any] = redis.asyncio.connection.AbstractConnection.send_packed_command

    async def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        await original(self, command, check_health)

    monkeypatch.setattr(
        redis.asyncio.connection.AbstractConnection, "send_packed_command", counting
    )
    return sent


async def test_a_put_and_a_tasks_writes_take_one_round_trip_each(
    redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with redis_saver(redis_server_url) as raw:
        saver = trust_only_our_models(raw)
        config = generate_config()
        first = generate_checkpoint(channel_values={"v": "a"}, channel_versions={"v": 1})
        config = await saver.aput(config, first, generate_metadata(), {"v": 1})  # loads the script
        sent = _count_round_trips(monkeypatch)
        second = generate_checkpoint(channel_values={"v": "b"}, channel_versions={"v": 2})
        config = await saver.aput(config, second, generate_metadata(), {"v": 2})
        assert sent[0] == 1
        await saver.aput_writes(config, [("v", "c"), ("w", {"d": 1})], "task-1")
        assert sent[0] == 2
