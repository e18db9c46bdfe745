"""The AgentCore code-interpreter tier against a local, signature-checking fake of AgentCore.

Real boto3 and the real ``bedrock-agentcore`` SDK sign and send every call to the fake on
loopback; the fake runs the code in a local Flotilla sandbox. No AWS, no network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.agentcore.code_interpreter import AgentCoreError
from sandbox.agentcore.settings import ENDPOINT_ENV, AgentCoreSettings
from sandbox.interpreter import SandboxLimits, open_session
from sandbox.tier_choice import available_tiers
from tests.agentcore_fake import FakeAgentCore, demo_context, serving

pytestmark = pytest.mark.skipif(not available_tiers(), reason="no local tier for the fake")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAgentCore]:
    with serving(monkeypatch, available_tiers()[-1]) as service:
        yield service


def _run(coro):
    return asyncio.run(coro)


def test_code_files_and_listing_go_through_agentcore(fake: FakeAgentCore) -> None:
    async def work() -> tuple:
        async with open_session("agentcore", SandboxLimits(wall_time_s=30)) as session:
            await session.write_file("data.csv", b"model,price\nA,3\nB,5\n")
            await session.write_file("bytes.bin", bytes(range(256)))
            run = await session.execute(
                "import os\nos.makedirs('out', exist_ok=True)\n"
                "rows = open('data.csv').read().splitlines()[1:]\n"
                "total = sum(int(r.split(',')[1]) for r in rows)\n"
                "open('out/total.txt', 'w').write(str(total))\nprint('total', total)"
            )
            listed = await session.list_files()
            back = await session.read_file("out/total.txt")
            raw = await session.read_file("bytes.bin")
            return session.tier, run, listed, back, raw

    tier, run, listed, back, raw = _run(work())
    assert tier == "agentcore"
    assert (run.exit_status, run.stdout.strip(), run.tier) == (0, "total 8", "agentcore")
    assert run.syscall_filter == "microvm"
    assert set(listed) >= {"data.csv", "bytes.bin", "out/total.txt"}
    assert (back, raw) == (b"8", bytes(range(256)))
    assert fake.calls[0] == "StartCodeInterpreterSession"
    assert fake.calls[-1] == "StopCodeInterpreterSession"
    assert fake.started[0]["sessionTimeoutSeconds"] == 900


def test_an_exception_in_the_code_is_a_result(fake: FakeAgentCore) -> None:
    async def work():
        async with open_session("agentcore") as session:
            return await session.execute("raise ValueError('no such column: range')")

    result = _run(work())
    assert result.exit_status == 1
    assert result.error_type == "ValueError" and "no such column" in (result.error_message or "")


def test_the_session_is_stopped_when_the_caller_fails(fake: FakeAgentCore) -> None:
    async def work() -> None:
        async with open_session("agentcore") as session:
            await session.execute("x = 1")
            raise RuntimeError("the caller broke")

    with pytest.raises(RuntimeError, match="the caller broke"):
        _run(work())
    assert len(fake.stopped) == 1


def test_settings_lifetime_and_explicit_endpoint_win(fake: FakeAgentCore, monkeypatch) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "http://127.0.0.1:9")  # the explicit setting overrides it
    settings = AgentCoreSettings(endpoint=fake.url, session_timeout_s=10 * 3600)

    async def work() -> str:
        async with open_session("agentcore", agentcore=settings) as session:
            return (await session.execute("print(6 * 7)")).stdout

    assert _run(work()).strip() == "42"
    assert fake.started[0]["sessionTimeoutSeconds"] == 8 * 3600  # AgentCore's ceiling


def test_a_wrong_key_is_refused_by_the_signature_check(fake: FakeAgentCore, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")

    async def work() -> None:
        async with open_session("agentcore"):
            pass

    with pytest.raises(AgentCoreError, match="InvalidSignatureException"):
        _run(work())
    assert fake.started == []


def test_a_throttled_start_is_retried(fake: FakeAgentCore) -> None:
    fake.faults["StartCodeInterpreterSession"] = ["ThrottlingException"]

    async def work() -> str:
        async with open_session("agentcore") as session:
            return (await session.execute("print('up')")).stdout

    assert _run(work()).strip() == "up"
    assert fake.calls.count("StartCodeInterpreterSession") == 2


def test_a_quota_refusal_says_what_to_do(fake: FakeAgentCore) -> None:
    fake.faults["StartCodeInterpreterSession"] = ["ServiceQuotaExceededException"]

    async def work() -> None:
        async with open_session("agentcore"):
            pass

    with pytest.raises(AgentCoreError, match="quota is reached; lower max_parallel"):
        _run(work())


def test_a_session_expiring_mid_task_is_a_clear_result(fake: FakeAgentCore) -> None:
    fake.expire_after_invokes = 1

    async def work():
        async with open_session("agentcore") as session:
            first = await session.execute("print(1)")
            second = await session.execute("print(2)")
            return first, second

    first, second = _run(work())
    assert first.exit_status == 0
    assert second.exit_status is None and second.error_type == "AgentCoreError"
    assert "ResourceNotFoundException" in (second.error_message or "")
    assert "expired" in (second.error_message or "")


@pytest.mark.slow
async def test_the_demo_runs_on_agentcore_by_configuration_alone(
    fake: FakeAgentCore, demo_sites, tmp_path
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.store.memory import InMemoryStore

    from demo_sites.demo import DEMO_QUESTION
    from graph.builder import build_graph

    ctx = demo_context(demo_sites, tmp_path)
    app = build_graph(checkpointer=InMemorySaver(), store=InMemoryStore())
    config = {"configurable": {"thread_id": "t-agentcore-demo"}}
    inputs = {"question": DEMO_QUESTION, "urls": list(demo_sites.urls.values())}
    await app.ainvoke(inputs, config, context=ctx)
    values = (await app.aget_state(config)).values

    assert [f.browser_jail for f in values["findings"]] == ["agentcore"] * len(demo_sites.urls)
    assert all(f.status == "ok" and f.tables for f in values["findings"]), [
        (f.status, len(f.tables), f.errors) for f in values["findings"]
    ]
    assert values["analysis"].sandbox_tier == "agentcore (MicroVM)"
    assert len(values["charts"]) >= 2 and all(
        Path(c).stat().st_size > 1000 for c in values["charts"]
    )
    report = Path(values["report_path"]).read_text()
    assert "agentcore (MicroVM)" in report
    code = [s for s in fake.started if not s.get("browser")]
    browsers = [s for s in fake.started if s.get("browser")]
    assert code and code[0]["sessionTimeoutSeconds"] == 300
    # A browser session lives as long as its subagent may, plus a minute.
    assert [b["sessionTimeoutSeconds"] for b in browsers] == [300] * len(demo_sites.urls)
    assert len(fake.stopped) == len(fake.started)


def test_a_read_timeout_is_known_by_botocores_error_not_by_its_text() -> None:
    from botocore.exceptions import ReadTimeoutError

    from sandbox.agentcore.code_interpreter import _read_timed_out, explain

    cause = ReadTimeoutError(endpoint_url="http://127.0.0.1:9/code-interpreters/x/tools/invoke")
    try:
        raise explain("InvokeCodeInterpreter executeCode", cause) from cause
    except AgentCoreError as exc:
        assert _read_timed_out(exc)
    assert not _read_timed_out(AgentCoreError("the code printed 'Read timeout' and failed"))


def test_clients_are_shared_per_endpoint_and_credentials(fake: FakeAgentCore, monkeypatch) -> None:
    settings = AgentCoreSettings()
    first = settings.data_plane_client(read_timeout_s=60)
    assert AgentCoreSettings().data_plane_client(read_timeout_s=60) is first
    assert settings.data_plane_client(read_timeout_s=90) is not first
    assert AgentCoreSettings(region="us-west-2").data_plane_client(read_timeout_s=60) is not first
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "another-secret-key")
    assert settings.data_plane_client(read_timeout_s=60) is not first
