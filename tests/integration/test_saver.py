"""The project saver, built as the CLI builds it, on the calls of a demo-shaped run.

Its writes are upstream `AsyncRedisSaver`'s own (its `aput` sends them in one round trip: the
documents, keys and TTLs are compared with upstream's); these tests hold what the project
relies on:
a TTL on every key of a thread when asked and none otherwise, history and resume reading back
what was written, values JSON cannot hold, time travel forks, and a rejected document leaving
the latest checkpoint in place.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
async def _saver(url: str, ttl_minutes: float | None = None) -> AsyncIterator[Any]:
    """Ours as `memory.checkpoint.redis_saver` builds it, made strict as `build_graph` does."""
    async with redis_saver(url, ttl_minutes=ttl_minutes) as saver:
        assert isinstance(saver, FlotillaRedisSaver)
        yield trust_only_our_models(saver)


def _on_thread(args: tuple[Any, ...], thread: str) -> tuple[Any, ...]:
    args = copy.deepcopy(args)
    args[0]["configurable"]["thread_id"] = thread
    return args


async def _replay(saver: BaseCheckpointSaver, calls: list[Call], thread: str) -> None:
    for method, args in calls:
        await getattr(saver, method)(*_on_thread(args, thread))


async def _stored(
    url: str, thread: str, with_values: bool = False
) -> dict[str, tuple[str, int | str, Any]]:
    """Every key of `thread`: its kind, whether it expires (else Redis's TTL answer), its value.

    The value only `with_values` (a JSON document without its write time).
    """
    client = redis.asyncio.Redis.from_url(url, protocol=2, decode_responses=True)
    out: dict[str, tuple[str, int | str, Any]] = {}
    try:
        async for key in client.scan_iter(match=f"*{thread}*", count=1000):
            kind = await client.type(key)
            assert kind in {"ReJSON-RL", "string", "zset"}, f"unexpected {kind!r} key {key!r}"
            ttl = await client.ttl(key)
            value = await _value(client, key, kind) if with_values else None
            out[key] = (kind, "expires" if ttl > 0 else ttl, value)
    finally:
        await client.aclose()
    return out


async def _value(client: Any, key: str, kind: str) -> Any:
    if kind == "string":
        return await client.get(key)
    if kind == "zset":
        return await client.zrange(key, 0, -1, withscores=True)
    document = await client.json().get(key)
    document.pop("checkpoint_ts", None)  # the time it was written
    return document


@pytest.mark.parametrize("ttl_minutes", [None, 5.0])
async def test_a_demo_run_stores_its_keys_expiring_only_when_asked(
    redis_server_url: str, demo_calls: list[Call], ttl_minutes: float | None
) -> None:
    thread = f"demo-{uuid.uuid4().hex}"
    async with _saver(redis_server_url, ttl_minutes) as saver:
        await _replay(saver, demo_calls, thread)
    stored = await _stored(redis_server_url, thread)

    kinds = {key.split(":")[0] for key in stored}
    assert kinds == {"checkpoint", "checkpoint_latest", "checkpoint_write", "write_keys_zset"}
    expiry = {entry[1] for entry in stored.values()}
    assert expiry == ({-1} if ttl_minutes is None else {"expires"})


async def test_a_demo_run_resumes_and_lists_what_it_wrote(
    redis_server_url: str, demo_calls: list[Call]
) -> None:
    """The latest checkpoint and the history read back the values of the run replayed."""
    recorded = InMemorySaver()
    thread = f"demo-{uuid.uuid4().hex}"
    read: dict[str, Any] = {}
    async with _saver(redis_server_url) as saver:
        for name, target in (("redis", saver), ("in-memory", trust_only_our_models(recorded))):
            await _replay(target, demo_calls, thread)
            config: RunnableConfig = {"configurable": {"thread_id": thread}}
            latest = await target.aget_tuple(config)
            history = [t async for t in target.alist(config)]
            assert latest is not None and len(history) > 5
            read[name] = [
                (t.checkpoint["channel_values"], t.metadata, len(t.pending_writes or []))
                for t in [latest, *history]
            ]
    assert read["redis"] == read["in-memory"]


async def test_values_json_cannot_hold_read_back(redis_server_url: str) -> None:
    """bytes, None, an unchanged channel after a changed one."""
    thread = f"bytes-{uuid.uuid4().hex}"
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
    async with _saver(redis_server_url) as saver:
        config = generate_config(thread)
        config = await saver.aput(config, first, generate_metadata(step=0), {"text": 1})
        tup = await saver.aget_tuple(config)
        assert tup is not None and tup.checkpoint["channel_values"]["none"] is None
        config = await saver.aput(config, second, generate_metadata(step=1), {"text": 2})
        await saver.aput(config, with_bytes, generate_metadata(step=2), {"raw": 3})
        tup = await saver.aget_tuple({"configurable": {"thread_id": thread}})
    assert tup is not None
    assert tup.checkpoint["channel_values"] == with_bytes["channel_values"]


async def test_forks_and_other_threads_keep_their_own_channel_values(
    redis_server_url: str,
) -> None:
    """Time travel: a checkpoint forked from an older one carries the older value of a channel
    it did not change. Another thread with the same (small integer) versions has its own."""
    thread = f"fork-{uuid.uuid4().hex}"
    one = generate_checkpoint(channel_values={"x": "one"}, channel_versions={"x": 1})
    two = generate_checkpoint(channel_values={"x": "two"}, channel_versions={"x": 2})
    fork = generate_checkpoint(
        channel_values={"x": "one", "y": "new"}, channel_versions={"x": 1, "y": 3}
    )
    elsewhere = generate_checkpoint(channel_values={"x": "other"}, channel_versions={"x": 1})
    async with _saver(redis_server_url) as saver:
        first = await saver.aput(generate_config(thread), one, generate_metadata(), {"x": 1})
        await saver.aput(first, two, generate_metadata(), {"x": 2})
        forked = await saver.aput(first, fork, generate_metadata(), {"y": 3})
        tup = await saver.aget_tuple(forked)
        assert tup is not None and tup.checkpoint["channel_values"] == {"x": "one", "y": "new"}
        other = generate_config(f"{thread}-other")
        await saver.aput(other, elsewhere, generate_metadata(), {})
        tup = await saver.aget_tuple(other)
        assert tup is not None and tup.checkpoint["channel_values"] == {"x": "other"}


async def test_a_document_redis_rejects_leaves_the_latest_checkpoint_in_place(
    redis_server_url: str,
) -> None:
    """RedisJSON refuses nesting past 128 levels; the pointer must not move to nothing."""
    too_deep: Any = "leaf"
    for _ in range(150):
        too_deep = [too_deep]
    async with _saver(redis_server_url) as saver:
        thread = f"deep-{uuid.uuid4().hex}"
        good = generate_checkpoint(channel_values={"v": "ok"}, channel_versions={"v": 1})
        config = await saver.aput(generate_config(thread), good, generate_metadata(), {"v": 1})
        bad = generate_checkpoint(channel_values={"v": too_deep}, channel_versions={"v": 2})
        with pytest.raises(Exception, match="recursion limit"):
            await saver.aput(config, bad, generate_metadata(), {"v": 2})
        latest = await saver.aget_tuple({"configurable": {"thread_id": thread}})
        assert latest is not None and latest.checkpoint["id"] == good["id"]


async def _documents(url: str, thread: str) -> dict[str, Any]:
    """`_stored` with values, the thread's id replaced by THREAD (in keys and values)."""
    stored = await _stored(url, thread, with_values=True)
    text = json.dumps({key: list(entry) for key, entry in stored.items()}, sort_keys=True)
    documents: dict[str, Any] = json.loads(text.replace(thread, "THREAD"))
    return documents


@pytest.mark.parametrize("ttl_minutes", [None, 5.0])
async def test_a_demo_run_stores_what_upstreams_saver_stores(
    redis_server_url: str, demo_calls: list[Call], ttl_minutes: float | None
) -> None:
    ttl = None if ttl_minutes is None else {"default_ttl": ttl_minutes}
    ours, theirs = f"ours-{uuid.uuid4().hex}", f"theirs-{uuid.uuid4().hex}"
    async with _saver(redis_server_url, ttl_minutes) as saver:
        await _replay(saver, demo_calls, ours)
    client = redis.asyncio.Redis.from_url(redis_server_url, protocol=2)
    try:
        async with AsyncRedisSaver(redis_client=client, ttl=ttl) as upstream:
            await _replay(trust_only_our_models(upstream), demo_calls, theirs)
    finally:
        await client.aclose()
    stored = await _documents(redis_server_url, ours)
    assert len(stored) > 10
    assert stored == await _documents(redis_server_url, theirs)


async def test_a_checkpoint_is_stored_in_one_round_trip(
    redis_server_url: str, demo_calls: list[Call], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[object] = []
    original = redis.asyncio.connection.AbstractConnection.send_packed_command

    async def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        await original(self, command, check_health)

    thread = f"trips-{uuid.uuid4().hex}"
    puts = [(method, args) for method, args in demo_calls if method == "aput"]
    async with _saver(redis_server_url, 5.0) as saver:
        await _replay(saver, puts[:1], thread)  # the script is loaded on first use
        monkeypatch.setattr(
            redis.asyncio.connection.AbstractConnection, "send_packed_command", counting
        )
        await _replay(saver, puts[1:], thread)
    assert len(sent) == len(puts) - 1


async def test_a_user_who_may_not_run_scripts_gets_upstreams_writes(redis_server_url: str) -> None:
    admin = redis.asyncio.Redis.from_url(redis_server_url, protocol=2)
    user, password = f"noscripts-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await admin.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-@scripting"
    )
    host, port = redis_server_url.split("//")[1].split("/")[0].split(":")
    url = f"redis://{user}:{password}@{host}:{port}/0"
    thread = f"noscripts-{uuid.uuid4().hex}"
    try:
        async with _saver(url) as saver:
            one = generate_checkpoint(channel_values={"x": "one"}, channel_versions={"x": 1})
            two = generate_checkpoint(channel_values={"x": "two"}, channel_versions={"x": 2})
            config = await saver.aput(generate_config(thread), one, generate_metadata(), {"x": 1})
            await saver.aput(config, two, generate_metadata(), {"x": 2})
            latest = await saver.aget_tuple({"configurable": {"thread_id": thread}})
        assert latest is not None and latest.checkpoint["channel_values"] == {"x": "two"}
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.aclose()
