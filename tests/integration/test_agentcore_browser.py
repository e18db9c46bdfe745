"""Browser subagents on the AgentCore tier, against the local fake's signed CDP relay.

The real boto3 client starts and stops each AgentCore Browser session; Playwright connects over
CDP with SigV4 headers made here; the fake verifies them and pipes to a local Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Error as PlaywrightError

from sandbox.agentcore.browser import agentcore_browser_sandbox
from sandbox.agentcore.settings import ENDPOINT_ENV
from sandbox.browser import playwright_driver
from sandbox.egress import EgressPolicy
from tests.agentcore_fake import ACCESS_KEY, SECRET_KEY, FakeAgentCore

pytestmark = pytest.mark.slow


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAgentCore]:
    with FakeAgentCore() as service:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        monkeypatch.setenv(ENDPOINT_ENV, service.url)
        yield service
        assert service.live_sessions == [], "a session was left running"


async def test_a_remote_browser_reads_a_planned_site_and_its_gate_refuses_others(
    fake: FakeAgentCore, demo_sites
) -> None:
    url = next(iter(demo_sites.urls.values()))
    policy = EgressPolicy.for_sites([url], allow_hosts=demo_sites.allow_hosts)
    async with agentcore_browser_sandbox(policy) as session:
        assert session.jail == "agentcore"
        await session.page.goto(url)
        assert await session.page.title()
        with pytest.raises(PlaywrightError):
            await session.page.goto("http://127.0.0.1:9/elsewhere")
        assert any(r.url.startswith("http://127.0.0.1:9/") for r in session.refused)
        assert len(fake.browsers.sessions) == 1
    assert fake.calls.count("StartBrowserSession") == fake.calls.count("StopBrowserSession") == 1
    assert fake.browsers.handshakes_refused == 0


async def test_an_unsigned_handshake_is_refused(fake: FakeAgentCore) -> None:
    policy = EgressPolicy()
    async with agentcore_browser_sandbox(policy):
        stream_session = next(iter(fake.browsers.sessions))
        url = f"ws://127.0.0.1:{fake.browsers.port}/browser-streams/aws.browser.v1/sessions/{stream_session}/automation"
        async with playwright_driver() as pw:
            with pytest.raises(PlaywrightError):
                await pw.chromium.connect_over_cdp(url, headers={"Authorization": "forged"})
    assert fake.browsers.handshakes_refused == 1


async def test_a_throttled_browser_start_is_a_clear_error(fake: FakeAgentCore) -> None:
    fake.faults["StartBrowserSession"] = ["ServiceQuotaExceededException"]
    with pytest.raises(Exception, match="quota is reached"):
        async with agentcore_browser_sandbox(EgressPolicy()):
            pass
