"""Settings that weaken isolation need the operator: a client of the server cannot switch them on.

Through Studio, `langgraph dev` or LangGraph Server, a run's `Context` is whatever the client
sent. Here the graph runs as the server runs it (no CLI, no opt-in in the environment): a run that
asks for the unsandboxed tier or allow-lists a private address is refused before anything starts,
and the refusal names the setting and the opt-in.
"""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.builder import build_graph
from graph.context import Context
from sandbox import optins
from sandbox.interpreter import SandboxUnavailable
from sandbox.tier_choice import resolve_tier
from tests.fake_sandboxes import FakeCodeSessions, FakeSubagents

SITE = "http://127.0.0.1:9201/"


@pytest.fixture
def server_process(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A process whose operator opted into nothing (the suite's own opt-ins taken away)."""
    for name in (optins.PRIVATE_HOSTS_ENV, optins.UNSANDBOXED_ENV, "FLOTILLA_ALLOW_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FLOTILLA_SANDBOX_TIER", raising=False)
    monkeypatch.setattr(optins, "_trusted", False)
    return monkeypatch


def test_each_weakening_setting_names_its_opt_in(server_process) -> None:
    refused = optins.refusals(
        sandbox_tier="none", allow_hosts=["169.254.169.254", "127.0.0.1:8001"]
    )
    assert [(r.setting, r.value, r.opt_in) for r in refused] == [
        ("sandbox_tier", "none", "FLOTILLA_ALLOW_UNSANDBOXED=1"),
        ("allow_hosts", "169.254.169.254", "FLOTILLA_ALLOW_PRIVATE_HOSTS=169.254.169.254"),
        ("allow_hosts", "127.0.0.1:8001", "FLOTILLA_ALLOW_PRIVATE_HOSTS=127.0.0.1:8001"),
    ]
    assert optins.refusals(sandbox_tier="auto", allow_hosts=[]) == []


def test_the_operator_allows_hosts_by_name_or_name_and_port(server_process) -> None:
    server_process.setenv(optins.PRIVATE_HOSTS_ENV, "127.0.0.1:8001, [::1]:9000,localhost")
    assert optins.host_allowed("127.0.0.1:8001")
    assert not optins.host_allowed("127.0.0.1:8002")  # the operator named a port
    assert not optins.host_allowed("127.0.0.1")
    assert optins.host_allowed("LOCALHOST:5000")  # a bare host covers every port
    assert optins.host_allowed("[::1]:9000")
    assert not optins.host_allowed("169.254.169.254")
    # The default allow-list is the operator's environment too.
    server_process.setenv("FLOTILLA_ALLOW_HOSTS", "10.0.0.5:443")
    assert optins.host_allowed("10.0.0.5:443")


def test_the_unsandboxed_tier_is_refused_where_code_sessions_start(server_process) -> None:
    with pytest.raises(SandboxUnavailable, match="FLOTILLA_ALLOW_UNSANDBOXED=1"):
        resolve_tier("none")
    server_process.setenv(optins.UNSANDBOXED_ENV, "1")
    assert resolve_tier("none") == "none"


def test_a_process_run_by_the_operator_trusts_its_own_settings(server_process) -> None:
    optins.trust_this_process()
    assert optins.refusals(sandbox_tier="none", allow_hosts=["169.254.169.254"]) == []


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"sandbox_tier": "none", "allow_hosts": ["127.0.0.1:9201"]}, "FLOTILLA_ALLOW_UNSANDBOXED"),
        ({"allow_hosts": ["127.0.0.1:9201"]}, "FLOTILLA_ALLOW_PRIVATE_HOSTS=127.0.0.1:9201"),
    ],
)
async def test_a_clients_run_is_refused_before_any_browser_starts(
    server_process, tmp_path, settings, named
) -> None:
    subagents, sessions = FakeSubagents({SITE: [("Basic", "$4/mo")]}), FakeCodeSessions()
    app = build_graph(checkpointer=InMemorySaver(), subagent=subagents, code_sessions=sessions)
    ctx = Context(brain="offline", runs_dir=str(tmp_path), **settings)
    refused = {"configurable": {"thread_id": "refused"}}
    out = await app.ainvoke({"question": "Compare prices", "urls": [SITE]}, refused, context=ctx)
    assert subagents.calls == [] and sessions.opened == []
    plan = (await app.aget_state(refused)).values["plan"]
    assert plan.tasks == []
    assert [r.rule for r in plan.refused] == ["operator_opt_in"]
    assert any(named in error for error in out["errors"])
    # With the operator's opt-in the same run goes ahead.
    server_process.setenv(optins.PRIVATE_HOSTS_ENV, "127.0.0.1")
    server_process.setenv(optins.UNSANDBOXED_ENV, "1")
    allowed = {"configurable": {"thread_id": "allowed"}}
    await app.ainvoke({"question": "Compare prices", "urls": [SITE]}, allowed, context=ctx)
    assert [t.url for t in (await app.aget_state(allowed)).values["plan"].tasks] == [SITE]
    assert subagents.calls == [SITE]
