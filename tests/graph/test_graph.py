"""The real graph, compiled with in-memory and Redis savers, run over local test sites.

These tests drive real Chromium and a real code sandbox; the sites are served on loopback and
allow-listed by host and port, exactly as a user would.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from graph.builder import build_graph
from graph.context import Context
from memory.checkpoint import redis_saver

pytestmark = pytest.mark.slow

QUESTION = "Compare the monthly price and storage of the plans"


def _context(tmp_path: Path, allow: list[str], **overrides) -> Context:
    return Context(allow_hosts=allow, runs_dir=str(tmp_path / "runs"), **overrides)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _png_size(path: str) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


async def _run(app, inputs, ctx, thread: str):
    config = {"configurable": {"thread_id": thread}}
    events = [e async for e in app.astream(inputs, config, context=ctx, stream_mode="custom")]
    state = await app.aget_state(config)
    return state.values, events


async def test_fan_out_over_two_sites_reports_both_and_keeps_a_failing_third(tmp_path, site_server):
    good = site_server("static_table")
    other = site_server("offsite")
    dead_port = _closed_port()
    dead = f"http://127.0.0.1:{dead_port}/"
    ctx = _context(tmp_path, [good.host, other.host, f"127.0.0.1:{dead_port}"])
    app = build_graph(checkpointer=InMemorySaver(), store=InMemoryStore())
    values, events = await _run(
        app, {"question": QUESTION, "urls": [good.url, other.url, dead]}, ctx, "t-fan"
    )

    by_id = {f.task_id: f for f in values["findings"]}
    assert set(by_id) == {"site-1", "site-2", "site-3"}
    assert by_id["site-1"].status == "ok" and by_id["site-1"].tables
    assert by_id["site-3"].status == "failed"
    assert by_id["site-3"].errors[0].kind == "unreachable"

    report = Path(values["report_path"]).read_text()
    assert "$12.50/mo" in report and "## What failed" in report and dead in report
    assert values["charts"], "the analyst should chart the numeric table"
    width, height = _png_size(values["charts"][0])
    assert width > 200 and height > 150
    assert {e["state"] for e in events if e["event"] == "subagent"} >= {
        "started",
        "page",
        "ok",
        "failed",
    }


async def test_max_subagents_refuses_extra_targets_with_a_reason(tmp_path, site_server):
    good = site_server("static_table")
    ctx = _context(tmp_path, [good.host], max_subagents=1)
    app = build_graph(checkpointer=InMemorySaver())
    urls = [good.url, good.url + "details.html"]
    values, _ = await _run(app, {"question": QUESTION, "urls": urls}, ctx, "t-quota")
    assert [f.task_id for f in values["findings"]] == ["site-1"]
    assert any("max_subagents" in e for e in values["errors"])


async def test_loopback_sites_are_refused_unless_allow_listed(tmp_path, site_server):
    good = site_server("static_table")
    app = build_graph(checkpointer=InMemorySaver())
    values, _ = await _run(
        app, {"question": QUESTION, "urls": [good.url]}, _context(tmp_path, []), "t-deny"
    )
    (finding,) = values["findings"]
    assert finding.status == "refused" and finding.errors[0].rule == "private_address"
    assert finding.pages_visited == []


async def test_redis_saver_checkpoints_the_run_and_the_store_remembers_it(
    tmp_path, site_server, redis_server_url
):
    good = site_server("static_table")
    ctx = _context(tmp_path, [good.host])
    store = InMemoryStore()
    async with redis_saver(redis_server_url) as saver:
        app = build_graph(checkpointer=saver, store=store)
        values, _ = await _run(app, {"question": QUESTION, "urls": [good.url]}, ctx, "t-redis")
        history = [
            s async for s in app.aget_state_history({"configurable": {"thread_id": "t-redis"}})
        ]
    assert values["findings"][0].status == "ok"
    assert len(history) >= 5  # input, coordinator, browser, analyst, report, remember
    items = await store.asearch(("insights", "default"))
    assert any("12.50" in item.value["claim"] or "$" in item.value["claim"] for item in items)


async def test_max_parallel_one_runs_the_subagents_one_after_another(tmp_path, site_server):
    first, second = site_server("static_table"), site_server("offsite")
    ctx = _context(tmp_path, [first.host, second.host], max_parallel=1, max_pages=1)
    app = build_graph(checkpointer=InMemorySaver())
    inputs = {"question": QUESTION, "urls": [first.url, second.url]}
    values, events = await _run(app, inputs, ctx, "t-serial")
    assert {f.status for f in values["findings"]} == {"ok"}
    order = [(e["task_id"], e["state"]) for e in events if e["event"] == "subagent"]
    starts = [i for i, (_, state) in enumerate(order) if state == "started"]
    finishes = [i for i, (_, state) in enumerate(order) if state == "ok"]
    # The second subagent starts only after the first one finished.
    assert starts[1] > finishes[0]


async def test_approve_plan_interrupts_and_runs_the_edited_plan(tmp_path, site_server):
    from langgraph.types import Command

    first, second = site_server("static_table"), site_server("offsite")
    ctx = _context(tmp_path, [first.host, second.host], approve_plan=True, max_pages=1)
    app = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t-review"}}
    await app.ainvoke({"question": QUESTION, "urls": [first.url, second.url]}, config, context=ctx)
    paused = await app.aget_state(config)
    (pending,) = [i for task in paused.tasks for i in task.interrupts]
    assert [t["url"] for t in pending.value["plan"]["tasks"]] == [first.url, second.url]
    assert paused.next == ("coordinator",)  # no browser has started

    edit = {"tasks": [{"url": second.url, "goal": "Which pages list pricing?"}]}
    await app.ainvoke(Command(resume=edit), config, context=ctx)
    values = (await app.aget_state(config)).values
    assert [(f.task_id, f.site, f.goal) for f in values["findings"]] == [
        ("site-2", second.url, "Which pages list pricing?")
    ]
    assert values["plan"].review == "edited"


async def _timed_run(app, inputs, ctx, thread: str):
    config = {"configurable": {"thread_id": thread}}
    stream = app.astream(inputs, config, context=ctx, stream_mode="custom")
    events = [(time.monotonic(), e) async for e in stream]
    return (await app.aget_state(config)).values, events


def _browser_window(events) -> tuple[float, float]:
    stamps = [(t, e["state"]) for t, e in events if e["event"] == "subagent"]
    return stamps[0][0], next(t for t, state in stamps if state in ("ok", "partial", "failed"))


async def test_threads_run_side_by_side_without_cross_talk_under_one_server_cap(
    tmp_path, site_server, monkeypatch
):
    monkeypatch.setenv("FLOTILLA_MAX_BROWSERS", "1")
    first, second = site_server("static_table"), site_server("offsite")
    app = build_graph(checkpointer=InMemorySaver())
    ctx = _context(tmp_path, [first.host, second.host], max_pages=1)
    (left, left_events), (right, right_events) = await asyncio.gather(
        _timed_run(app, {"question": QUESTION, "urls": [first.url]}, ctx, "t-left"),
        _timed_run(app, {"question": QUESTION, "urls": [second.url]}, ctx, "t-right"),
    )
    assert [f.site for f in left["findings"]] == [first.url]
    assert [f.site for f in right["findings"]] == [second.url]
    assert left["report_path"] != right["report_path"]
    assert {e["site"] for _, e in left_events if e["event"] == "subagent"} == {first.url}
    # One browser at a time across both threads: one subagent starts after the other finished.
    (_, first_end), (second_start, _) = sorted(
        [_browser_window(left_events), _browser_window(right_events)]
    )
    assert second_start >= first_end
