"""Browser subagents on AgentCore Browser: a remote MicroVM Chromium driven over CDP.

Each subagent gets its own AgentCore Browser session (StartBrowserSession), lived as long as its
time limit allows, and drives it with the same Playwright tools as the local tier through
``connect_over_cdp`` on the session's automation stream. The websocket is signed with SigV4 here
(botocore's ``SigV4Auth``), for whatever endpoint is configured: the SDK's own helper builds
only ``*.amazonaws.com`` URLs. The route gate still applies the egress policy to every request
the page makes; the network under the browser is AWS's (no local egress proxy: redirect hops
are not seen). The session is stopped (StopBrowserSession) on every exit path. How many run
at once is the browser node's to cap (``FLOTILLA_MAX_BROWSERS`` per process, ``max_parallel``
per run), as for local browsers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser

from sandbox.agentcore.code_interpreter import AgentCoreError, explain
from sandbox.agentcore.settings import AgentCoreSettings
from sandbox.browser import BrowserSession, gated_session, playwright_driver
from sandbox.egress import EgressPolicy

log = logging.getLogger(__name__)


def signed_headers(url: str, region: str) -> dict[str, str]:
    """SigV4 headers for the websocket handshake (GET ``url``) with the default credentials."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        msg = "AgentCore Browser needs AWS credentials; none were found"
        raise AgentCoreError(msg)
    frozen = credentials.get_frozen_credentials()
    parts = urlsplit(url)
    request = AWSRequest(
        method="GET",
        url=f"https://{parts.netloc}{parts.path}",
        headers={
            "host": parts.netloc,
            "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        },
    )
    SigV4Auth(frozen, "bedrock-agentcore", region).add_auth(request)
    headers = {
        "X-Amz-Date": request.headers["x-amz-date"],
        "Authorization": request.headers["Authorization"],
    }
    if frozen.token:
        headers["X-Amz-Security-Token"] = frozen.token
    return headers


def session_name(site: str) -> str:
    """A session name that says which site it is for (AgentCore's console lists it)."""
    netloc = urlsplit(site).netloc if "//" in site else site
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", netloc).strip("-")[:30]
    return (
        f"flotilla-{slug}-{uuid.uuid4().hex[:8]}" if slug else f"flotilla-{uuid.uuid4().hex[:12]}"
    )


def _ended(session: BrowserSession, started: float, lifetime_s: int) -> None:
    """The remote browser went away under the subagent: say why, for every later error."""
    after = time.perf_counter() - started
    session.ended = (
        f"AgentCore ended the browser session after {after:.0f} s (it expired or was stopped; "
        f"its lifetime was {lifetime_s} s); kept what was read before. If it hit its lifetime, "
        "raise subagent_timeout_s (the session lives that long plus 60 s)"
    )


@asynccontextmanager
async def agentcore_browser_sandbox(
    policy: EgressPolicy, settings: AgentCoreSettings | None = None, *, site: str = ""
) -> AsyncIterator[BrowserSession]:
    """A remote AgentCore browser for one subagent (on ``site``), gated by ``policy``.

    Stopped on exit. Start refusals raise ``AgentCoreError`` naming the fix (throttling is
    retried with backoff first, by botocore's standard mode); a session that ends mid-task
    sets ``session.ended`` and every later page error names it.
    """
    settings = settings or AgentCoreSettings()
    started = time.perf_counter()
    client = await asyncio.to_thread(settings.data_plane_client, read_timeout_s=60)
    try:
        response: dict[str, Any] = await asyncio.to_thread(
            client.start_browser_session,
            browserIdentifier=settings.browser_id,
            name=session_name(site),
            sessionTimeoutSeconds=settings.lifetime_s,
            viewPort={"width": 1280, "height": 900},
        )
    except Exception as exc:
        raise explain("StartBrowserSession", exc) from exc
    session_id = response["sessionId"]
    try:
        stream = response["streams"]["automationStream"]["streamEndpoint"]
        headers = await asyncio.to_thread(signed_headers, stream, settings.resolved_region)
        async with playwright_driver() as pw:
            browser = await pw.chromium.connect_over_cdp(stream, headers=headers)
            closing = False
            try:
                session = await gated_session(browser, policy)
                session.jail, session.jail_reason = "agentcore", "AgentCore Browser MicroVM"
                session.ready_s = time.perf_counter() - started

                def lost(_: Browser) -> None:
                    if not closing:  # not our own close: AgentCore ended the session
                        _ended(session, started, settings.lifetime_s)

                browser.on("disconnected", lost)
                yield session
            finally:
                closing = True
                await browser.close()
    finally:
        await asyncio.shield(asyncio.to_thread(_stop, client, settings, session_id))


def _stop(client: Any, settings: AgentCoreSettings, session_id: str) -> None:
    try:
        client.stop_browser_session(browserIdentifier=settings.browser_id, sessionId=session_id)
    except Exception as exc:  # AgentCore ends it at its lifetime anyway: say so, don't raise
        log.warning("%s", explain("StopBrowserSession", exc))
