"""The graph served by `langgraph dev`, driven through the LangGraph SDK as Studio drives it.

The server runs on a free loopback port with analytics and tracing off, and is stopped at the end
also on failure. The dev server refuses blocking calls on the event loop, so a passing run here
also proves the nodes keep file, DNS and parsing work off the loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from sandbox import snapshot
from sandbox.tier_choice import resolve_tier

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Compare the monthly price and storage of the plans"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The server's runs, its gVisor snapshot store and its log."""
    return tmp_path_factory.mktemp("devserver")


@pytest.fixture(scope="module")
def dev_server(workdir: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "LANGGRAPH_NO_ANALYTICS": "1",
        "FLOTILLA_RUNS_DIR": str(workdir / "runs"),
        # An empty store: the server itself builds the image its analysts restore.
        "FLOTILLA_SNAPSHOT_DIR": str(workdir / "snapshots"),
    }
    cmd = [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
           "--host", "127.0.0.1", "--port", str(port), "--config", str(ROOT / "langgraph.json")]  # fmt: skip
    log = (workdir / "server.log").open("w")
    # Graph paths in langgraph.json are relative to the working directory.
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(port, server, workdir / "server.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_ready(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"langgraph dev exited early:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    pytest.fail(f"langgraph dev did not listen within 90 s:\n{log.read_text()[-3000:]}")


@pytest.fixture
async def client(dev_server) -> AsyncIterator[object]:
    sdk = get_client(url=dev_server)
    for _ in range(60):
        try:
            await sdk.assistants.search()
            break
        except Exception:  # the HTTP API answers a little after the port opens
            await asyncio.sleep(0.5)
    yield sdk
    await sdk.http.client.aclose()


async def _assistant(client) -> dict:
    (assistant,) = [a for a in await client.assistants.search() if a["graph_id"] == "flotilla"]
    return assistant


async def test_the_graph_is_served_as_the_design_draws_it(client):
    assistant = await _assistant(client)
    drawing = await client.assistants.get_graph(assistant["assistant_id"])
    nodes = {node["id"] for node in drawing["nodes"]}
    assert nodes == {
        "__start__",
        "coordinator",
        "browser",
        "analyst",
        "report",
        "remember",
        "__end__",
    }
    schemas = await client.assistants.get_schemas(assistant["assistant_id"])
    assert set(schemas["input_schema"]["properties"]) == {"question", "urls"}
    context = schemas["context_schema"]["properties"]
    assert "description" in context["max_parallel"] and "allow_hosts" in context
    # The model fields are marked as model choices, each tied to the nodes it drives.
    for role in ("coordinator", "browser", "analyst", "report"):
        field = context[f"{role}_model"]
        assert field["__template_metadata__"] == {"kind": "llm"}
        assert field["langgraph_nodes"] == [role] and field["description"]
    assert context["model"]["__template_metadata__"] == {"kind": "llm"}
    assert set(context["brain"]["enum"]) == {"auto", "offline", "llm"}


async def test_a_streamed_run_shows_node_updates_and_subagent_progress(client, site_server):
    site = site_server("static_table")
    assistant = await _assistant(client)
    thread = await client.threads.create()
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"], assistant["assistant_id"],
            input={"question": QUESTION, "urls": [site.url]},
            context={"allow_hosts": [site.host], "max_pages": 2},
            stream_mode=["updates", "custom"],
        )
    ]  # fmt: skip
    errors = [p.data for p in parts if p.event == "error"]
    assert not errors, errors
    updated = [next(iter(p.data)) for p in parts if p.event == "updates"]
    assert updated == ["coordinator", "browser", "analyst", "report", "remember"]
    states = [
        p.data["state"] for p in parts if p.event == "custom" and p.data["event"] == "subagent"
    ]
    assert states[0] == "started" and "page" in states and states[-1] == "ok"
    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    assert Path(values["report_path"]).is_file()
    assert "$12.50/mo" in Path(values["report_path"]).read_text()


async def test_the_servers_store_recalls_insights_by_meaning(client, site_server):
    # langgraph.json's store.index: the server's own store embeds claims with the local MiniLM.
    site = site_server("static_table")
    namespace = f"proj{uuid.uuid4().hex[:8]}"
    strato = {"claim": "Strato Cask charges $9 per terabyte monthly", "value": "$9",
              "source_url": "https://strato.example/pricing", "date": "2025-03-01",
              "thread_id": "run-strato", "question": ""}  # fmt: skip
    await client.store.put_item(["insights", namespace], "strato", strato, index=["claim"])
    paraphrase = "cheapest cloud storage cost"  # not one word in common with the claim
    found = await client.store.search_items(["insights", namespace], query=paraphrase)
    (hit,) = found["items"]
    assert hit["key"] == "strato" and hit["score"] > 0.35
    assistant = await _assistant(client)
    thread = await client.threads.create()
    await client.runs.wait(
        thread["thread_id"], assistant["assistant_id"],
        input={"question": paraphrase, "urls": [site.url]},
        context={"allow_hosts": [site.host], "max_pages": 1, "memory_namespace": namespace},
    )  # fmt: skip
    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    assert values["plan"]["recalled"] == [f"{strato['claim']} (from run run-strato, 2025-03-01)"]


async def test_plan_approval_interrupts_and_resumes_with_an_edit(client, site_server):
    first, second = site_server("static_table"), site_server("offsite")
    assistant = await _assistant(client)
    thread = await client.threads.create()
    context = {"allow_hosts": [first.host, second.host], "max_pages": 1, "approve_plan": True}
    await client.runs.wait(
        thread["thread_id"], assistant["assistant_id"],
        input={"question": QUESTION, "urls": [first.url, second.url]}, context=context,
    )  # fmt: skip
    paused = await client.threads.get_state(thread["thread_id"])
    assert paused["next"] == ["coordinator"]
    (request,) = [i["value"] for task in paused["tasks"] for i in task["interrupts"]]
    assert [t["url"] for t in request["plan"]["tasks"]] == [first.url, second.url]

    edit = {"tasks": [{"url": first.url, "goal": "Only the Standard plan's price"}]}
    await client.runs.wait(
        thread["thread_id"], assistant["assistant_id"], command={"resume": edit}, context=context
    )
    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    assert [s["site"] for s in values["subagents"]] == [first.url]
    assert Path(values["report_path"]).is_file()


async def test_three_threads_at_once_on_one_server_stay_separate(client, site_server):
    sites = [site_server("static_table"), site_server("offsite"), site_server("no_numbers")]
    assistant = await _assistant(client)
    threads = [await client.threads.create() for _ in sites]

    async def run(thread: dict, site) -> list:
        return [
            part
            async for part in client.runs.stream(
                thread["thread_id"], assistant["assistant_id"],
                input={"question": QUESTION, "urls": [site.url]},
                context={"allow_hosts": [site.host], "max_pages": 1},
                stream_mode="custom",
            )
        ]  # fmt: skip

    streams = await asyncio.gather(*(run(t, s) for t, s in zip(threads, sites, strict=True)))
    for thread, site, parts in zip(threads, sites, streams, strict=True):
        # Each thread's progress events and state name only its own site and its own report.
        seen = {p.data["site"] for p in parts if p.event == "custom" and "site" in p.data}
        assert seen == {site.url}
        values = (await client.threads.get_state(thread["thread_id"]))["values"]
        assert [s["site"] for s in values["subagents"]] == [site.url]
        assert thread["thread_id"] in values["report_path"]


async def test_nothing_the_runs_did_blocked_the_servers_event_loop(client, workdir: Path) -> None:
    # langgraph dev flags blocking calls on its event loop (and fails the call that made one).
    # The runs above went through planning, browsing, analysis and memory: none may block.
    log = (workdir / "server.log").read_text()
    assert "Blocking call" not in log, log[log.find("Blocking call") - 300 :][:3000]
    if os.geteuid() == 0 and resolve_tier("auto") == "gvisor":
        # the analysts' gVisor sessions came from a snapshot the server built, not from boots
        store = workdir / "snapshots"
        assert [p.name for p in store.glob("*.failed")] == []
        assert list(store.glob(f"*/{snapshot.IMAGE_FILE}")), sorted(store.iterdir())
        assert "gVisor snapshot unavailable" not in log
