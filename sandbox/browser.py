"""Browser sandboxes: one Chromium process per subagent, a throw-away profile, one egress gate.

Each subagent gets its own browser process (not a context in a shared browser), so a crash or a
hostile page in one branch cannot touch another. Every request the page makes — navigations,
redirect hops, sub-resources, fetch/XHR — passes `EgressPolicy`; refusals are recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from playwright.async_api import BrowserContext, Page, Playwright, Route, async_playwright

from sandbox.egress import EgressPolicy, EgressRefused

log = logging.getLogger(__name__)

# Without the background-networking flags Chromium floods a closed network with update,
# sync and safe-browsing requests; the rest keep start-up cheap and the profile inert.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--disable-quic",
)

# Counts work the page still has in flight (short timers, fetch/XHR) so the subagent can wait
# for exactly that instead of a fixed network-idle window.
BUSY_TRACKER_JS = """
(() => {
  if (window.__flotillaBusy) return;
  const busy = window.__flotillaBusy = {timers: new Set(), net: 0, lastMutation: Date.now()};
  const st = window.setTimeout, ct = window.clearTimeout;
  window.setTimeout = function(fn, ms, ...rest) {
    const short = (ms || 0) <= 3000;
    const id = st(function() { busy.timers.delete(id); if (typeof fn === 'function') fn(...rest); }, ms);
    if (short) busy.timers.add(id);
    return id;
  };
  window.clearTimeout = function(id) { busy.timers.delete(id); return ct(id); };
  const f = window.fetch;
  if (f) window.fetch = function(...a) {
    busy.net++; return f.apply(this, a).finally(() => { busy.net--; });
  };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function(...a) {
    busy.net++; this.addEventListener('loadend', () => { busy.net--; }); return send.apply(this, a);
  };
  new MutationObserver(() => { busy.lastMutation = Date.now(); })
    .observe(document, {subtree: true, childList: true, characterData: true, attributes: false});
})();
"""


def chromium_executable() -> str | None:
    """Debian's Chromium (or $FLOTILLA_CHROMIUM); None falls back to Playwright's own build."""
    configured = os.environ.get("FLOTILLA_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class BrowserSession:
    """A live, isolated browser for one subagent, and what its egress gate refused."""

    context: BrowserContext
    page: Page
    policy: EgressPolicy
    refused: list[EgressRefused] = field(default_factory=list)


async def _gate(session: BrowserSession, route: Route) -> None:
    request = route.request
    navigation = request.is_navigation_request()
    try:
        session.policy.check(request.url, navigation=navigation)
    except EgressRefused as refusal:
        session.refused.append(refusal)
        log.info("egress refused: %s", refusal)
        await route.abort("blockedbyclient")
        return
    await route.continue_()


@dataclass
class _Driver:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    playwright: Playwright | None = None


_DRIVERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Driver] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def playwright_driver() -> AsyncIterator[Playwright]:
    """The Playwright driver, shared by the subagents running at the same time.

    The driver only relays commands: every subagent still launches its own Chromium process.
    Sharing it saves a Node.js start (~0.6 s, more on a busy machine) per subagent.
    """
    driver = _DRIVERS.setdefault(asyncio.get_running_loop(), _Driver())
    async with driver.lock:
        if driver.playwright is None:
            driver.playwright = await async_playwright().start()
        playwright = driver.playwright
        driver.users += 1
    try:
        yield playwright
    finally:
        async with driver.lock:
            driver.users -= 1
            if driver.users == 0:
                driver.playwright = None
                await playwright.stop()


@asynccontextmanager
async def browser_sandbox(policy: EgressPolicy) -> AsyncIterator[BrowserSession]:
    """Start a private Chromium with a throw-away profile; always close it on exit."""
    async with playwright_driver() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_executable(), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            context = await browser.new_context(
                accept_downloads=False, service_workers="block", ignore_https_errors=False
            )
            await context.add_init_script(BUSY_TRACKER_JS)
            page = await context.new_page()
            session = BrowserSession(context=context, page=page, policy=policy)
            await context.route("**/*", lambda route: _gate(session, route))
            context.on("page", lambda popup: _close_popup(session, popup))
            yield session
        finally:
            await browser.close()


async def _close_popup(session: BrowserSession, popup: Page) -> None:
    # Pop-ups are refused: the subagent only ever drives the page it was given.
    if popup is not session.page:
        session.refused.append(EgressRefused(popup.url, "popup", "pages may not open windows"))
        await popup.close()
