"""The whole graph in well under a second: no Chromium, no code sandbox, an in-memory saver.

The story of one run, told through the graph's real nodes: the coordinator plans three sites,
the browser branches research them in parallel (one site is unreachable and its branch fails;
another branch's process dies mid fan-out), the run resumes from its checkpoint and only the
crashed branch runs again, the analyst analyses the two tables that were found, the report says
what failed, and what was learned is remembered: the next run on the store recalls it.

Only what cannot run here without Chromium or a jail is faked, through the graph's own seams
(`build_graph(subagent=..., code_sessions=...)`): a subagent that returns what a browser would
have read, and a code session that answers as the analysis code would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from graph.builder import build_graph
from graph.context import Context
from tests.fake_sandboxes import FakeCodeSessions, FakeSubagents, findings_checkpointed

QUESTION = "Compare the monthly price of each vendor's plans"
# Loopback addresses nothing listens on: no branch ever connects (the subagent is a fake).
OK_SITE, CRASHING_SITE, UNREACHABLE_SITE = (
    f"http://127.0.0.1:{port}/" for port in (9101, 9102, 9103)
)
PRICES = {
    OK_SITE: [("Basic", "$4.00/mo"), ("Pro", "$9.50/mo")],
    CRASHING_SITE: [("Solo", "$6.25/mo")],
}


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    hosts = [
        url.removeprefix("http://").rstrip("/")
        for url in (OK_SITE, CRASHING_SITE, UNREACHABLE_SITE)
    ]
    return Context(brain="offline", allow_hosts=hosts, runs_dir=str(tmp_path / "runs"))


async def test_a_run_fans_out_survives_a_crash_resumes_reports_and_remembers(ctx: Context) -> None:
    saver, store = InMemorySaver(), InMemoryStore()

    async def others_checkpointed(thread_id: str) -> None:
        # Through the graph's own saver (build_graph makes it strict about types).
        await findings_checkpointed(app.checkpointer, thread_id, 2)

    subagents = FakeSubagents(
        PRICES,
        unreachable={UNREACHABLE_SITE},
        crash_once={CRASHING_SITE},
        before_crash=others_checkpointed,
    )
    sessions = FakeCodeSessions()
    app = build_graph(checkpointer=saver, store=store, subagent=subagents, code_sessions=sessions)
    config: Any = {"configurable": {"thread_id": "t-fast"}}
    inputs = {"question": QUESTION, "urls": [OK_SITE, CRASHING_SITE, UNREACHABLE_SITE]}
    events: list[dict[str, Any]] = []

    # The fan-out: three branches in parallel; one dies, and the run stops with it.
    with pytest.raises(RuntimeError, match="process was killed"):
        async for event in app.astream(inputs, config, context=ctx, stream_mode="custom"):
            events.append(event)
    plan = next(e for e in events if e["event"] == "plan")
    assert plan["tasks"] == [OK_SITE, CRASHING_SITE, UNREACHABLE_SITE]
    stopped = await app.aget_state(config)
    assert stopped.next == ("browser",), "only the crashed branch is left to run"
    assert sorted(subagents.calls) == sorted([OK_SITE, CRASHING_SITE, UNREACHABLE_SITE])
    assert not sessions.opened, "the analyst must not start before every branch is in"

    # Resume from the checkpoint: only the crashed branch runs again; the others' results stand.
    async for event in app.astream(None, config, context=ctx, stream_mode="custom"):
        events.append(event)
    assert subagents.calls.count(CRASHING_SITE) == 2
    assert subagents.calls.count(OK_SITE) == subagents.calls.count(UNREACHABLE_SITE) == 1
    state = await app.aget_state(config)
    values = state.values
    assert not state.next

    # Every branch is reported: two read their tables, the unreachable one failed.
    by_site = {row["site"]: row for row in values["subagents"]}
    assert {site: row["status"] for site, row in by_site.items()} == {
        OK_SITE: "ok",
        CRASHING_SITE: "ok",
        UNREACHABLE_SITE: "failed",
    }
    assert any(UNREACHABLE_SITE in error and "unreachable" in error for error in values["errors"])

    # The analyst got exactly the tables that were found, in one fresh session.
    [session] = sessions.opened
    manifest = json.loads(session.files["manifest.json"])
    assert sorted(t["source_url"] for t in manifest["tables"]) == sorted([OK_SITE, CRASHING_SITE])
    assert session.executed and "analysis_runtime.py" in session.files
    analysis = values["analysis"]
    assert analysis.sandbox_tier == "fake" and not analysis.errors
    assert sorted(analysis.highlights) == [
        "Vendor site-1 lists 2 plans",
        "Vendor site-2 lists 1 plans",
    ]
    assert [Path(c).name for c in values["charts"]] == ["prices.png"]

    # The report answers from the analysis and says what failed.
    report = Path(values["report_path"]).read_text()
    assert "Vendor site-1 lists 2 plans" in report and "prices.png" in report
    assert "## What failed" in report and UNREACHABLE_SITE in report

    # Events tell the run as it went: branches started and finished, then analyst and report.
    kinds = [(e["event"], e.get("state")) for e in events]
    assert ("subagent", "failed") in kinds and ("analyst", "done") in kinds
    assert kinds.index(("analyst", "started")) > max(
        i for i, k in enumerate(kinds) if k == ("subagent", "ok")
    )
    assert ("report", "done") in kinds and ("remember", "done") in kinds

    # The state stays small: references and findings, never pages or file contents.
    as_json = json.dumps(values, default=str)
    assert len(as_json) < 20_000, len(as_json)
    assert "Basic,$4.00/mo" not in as_json and "<html" not in as_json.lower()

    # What was learned is remembered: the next thread's plan recalls it.
    again = build_graph(checkpointer=saver, store=store, subagent=subagents, code_sessions=sessions)
    next_config: Any = {"configurable": {"thread_id": "t-fast-next"}}
    recalled = [
        event
        async for event in again.astream(
            {"question": QUESTION, "urls": [OK_SITE]},
            next_config,
            context=ctx,
            stream_mode="custom",
        )
        if event["event"] == "plan"
    ]
    assert recalled
    later = await again.aget_state(next_config)
    assert any(
        "lists 2 plans" in line and "t-fast" in line for line in later.values["plan"].recalled
    )
