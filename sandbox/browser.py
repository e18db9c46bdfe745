"""Browser sandboxes: one jailed Chromium process per subagent, a throw-away profile, one policy.

Each subagent gets its own browser process (not a context in a shared browser), in its own
bubblewrap jail (`sandbox.jail`), so a crash or a hostile page in one branch cannot touch another
or the host. Egress passes `EgressPolicy` twice over:

- the route gate sees every request the page makes — navigations, sub-resources, fetch/XHR,
  iframes, pop-ups, websockets — and applies the whole policy (planned sites, ranges, schemes);
- the SOCKS5 egress proxy sees every TCP connection Chromium opens, loopback included, and
  applies the range rules after resolving the name itself. It covers what the route gate cannot
  see: redirect hops (Playwright routes only a request's first URL), and anything that slips
  past the page (workers, preconnects).

Refusals from both are recorded on the session, each naming its rule.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Download,
    Page,
    Playwright,
    Request,
    Route,
    WebSocketRoute,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from sandbox.egress import WEBSOCKET_SCHEMES, EgressPolicy, EgressProxy, EgressRefused
from sandbox.jail import (
    JAIL_PROXY_PORT,
    JAILED_MODES,
    JailMode,
    JailPlan,
    kill_jail,
    launch_env,
    listen_in_jail,
    new_pidfile,
    read_pid,
)
from sandbox.jail import plan as jail_plan

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
# Start-up work a headless agent never uses, skipped. Chromium 156 builds each window's omnibox
# popups as WebUI pages and loads them with the window, each in a renderer process of its own:
# two extra renderers on every launch, about a quarter of the CPU Chromium spends starting up.
DISABLED_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
CLOSE_TIMEOUT_S = 5.0

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
  // One request or body read in flight, counted until it settles or for 3 s at most (like
  // timers: a long poll or an endless stream must not hold every wait to its limit).
  const begin = () => {
    let open = true;
    busy.net++;
    const end = () => { if (open) { open = false; busy.net--; } };
    st(end, 3000);
    return end;
  };
  // A method returning a promise counts as in flight until that promise settles.
  const counted = (owner, name) => {
    const method = owner && owner[name];
    if (method) owner[name] = function(...a) { return method.apply(this, a).finally(begin()); };
  };
  counted(window, 'fetch');
  // fetch() resolves on the headers: reading the body is in-flight work too, whole or chunk by
  // chunk. Each count drops in a reaction that runs before the page's own, so there is no idle
  // gap between one and the next.
  for (const name of ['json', 'text', 'arrayBuffer', 'blob', 'formData'])
    counted(window.Response && Response.prototype, name);
  counted(window.ReadableStreamDefaultReader && ReadableStreamDefaultReader.prototype, 'read');
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function(...a) {
    this.addEventListener('loadend', begin()); return send.apply(this, a);
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
    """A live, isolated browser for one subagent, and what its egress gate refused.

    `jail` says how Chromium was isolated ("bwrap+netns": own network namespace and an
    unprivileged uid; "bwrap"; or "none"), `jail_reason` why; `jail_pid` is the jail's outermost
    process, whose death takes every process Chromium spawned.
    """

    context: BrowserContext
    page: Page
    policy: EgressPolicy
    refused: list[EgressRefused] = field(default_factory=list)
    jail: JailMode = "none"
    jail_reason: str = ""
    jail_pid: int | None = None
    ready_s: float = 0.0
    # Why the browser went away under the subagent (a remote session ended); "" while it runs.
    ended: str = ""
    # The newest refusal, cleared when a connection fails for another reason: lets a failed
    # page load be told apart as "refused" or "unreachable".
    last_block: EgressRefused | None = None

    # Proxy refusals by endpoint: Chromium reports the failed request (with its URL) later,
    # and several requests waiting on one refused connection all fail with it.
    proxy_refusals: dict[str, EgressRefused] = field(default_factory=dict)

    # The newest redirect hop the browser requested per endpoint, to name proxy refusals.
    requested: dict[str, str] = field(default_factory=dict)

    # Tabs the subagent opened itself (`tab`), not pop-ups; `opening` of them right now.
    tabs: list[Page] = field(default_factory=list)
    opening: int = 0
    opened: asyncio.Condition = field(default_factory=asyncio.Condition)

    @asynccontextmanager
    async def tab(self) -> AsyncIterator[Page]:
        """A new tab in this session's gated context, to read pages at once; closed on exit."""
        self.opening += 1
        try:
            page = await self.context.new_page()
            self.tabs.append(page)
        finally:
            self.opening -= 1
            async with self.opened:
                self.opened.notify_all()
        page.on("download", lambda download: _on_download(self, download))
        try:
            yield page
        finally:
            self.tabs.remove(page)
            with suppress(PlaywrightError):  # the browser is gone: nothing left to close
                await page.close()

    def record(self, refusal: EgressRefused) -> None:
        """Keep a refusal (once per URL and rule) and remember it as the newest block."""
        self.last_block = refusal
        if not any(r.url == refusal.url and r.rule == refusal.rule for r in self.refused):
            self.refused.append(refusal)
            log.info("egress refused: %s", refusal)

    def record_connection(self, refusal: EgressRefused) -> None:
        """Keep a proxy refusal (its URL is tcp://host:port), named after a request if known."""
        endpoint = refusal.url
        if endpoint in self.requested:
            refusal = EgressRefused(self.requested[endpoint], refusal.rule, refusal.reason)
        self.proxy_refusals[endpoint] = refusal
        self.record(refusal)

    def connection_failed(self, host: str, port: int) -> None:
        """An allowed connection failed (nothing listening): not a refusal."""
        self.last_block = None

    def name_connection(self, url: str) -> None:
        """Record a request that failed on a proxy refusal under its own URL."""
        endpoint = _endpoint(url)
        refusal = self.proxy_refusals.get(endpoint)
        if refusal is None or refusal.url == url:
            return
        named = EgressRefused(url, refusal.rule, refusal.reason)
        self.proxy_refusals[endpoint] = named
        if refusal.url.startswith("tcp://") and refusal in self.refused:
            self.refused[self.refused.index(refusal)] = named
            if self.last_block is refusal:
                self.last_block = named
        else:
            self.record(named)


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    scheme = WEBSOCKET_SCHEMES.get(parts.scheme, parts.scheme)
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    return f"tcp://{f'[{host}]' if ':' in host else host}:{port}"


async def _gate(policy: EgressPolicy, relay: _Relay, route: Route) -> None:
    request = route.request
    navigation = request.is_navigation_request()
    try:
        # The check may resolve a host name: DNS off the event loop that drives every browser.
        await asyncio.to_thread(policy.check, request.url, navigation=navigation)
    except EgressRefused as refusal:
        relay.blocked(refusal)
        # A refused top-level navigation is cancelled ("aborted") rather than failed, so Chromium
        # keeps the page it had instead of committing an error page over what the subagent is
        # reading. A refused frame gets the error page: a frame left without any document would
        # hold the page's load events (and Playwright's goto) forever.
        top_level = navigation and _is_main_frame(request)
        await route.abort("aborted" if top_level else "blockedbyclient")
        return
    await route.continue_()


def _is_main_frame(request: Request) -> bool:
    try:
        return request.frame.parent_frame is None
    except PlaywrightError:  # a worker's request has no frame
        return False


async def _websocket_gate(policy: EgressPolicy, relay: _Relay, websocket: WebSocketRoute) -> None:
    try:
        await asyncio.to_thread(policy.check, websocket.url, navigation=False)
    except EgressRefused as refusal:
        relay.blocked(refusal)
        await websocket.close(code=1008, reason=f"refused by egress rule {refusal.rule}")
        return
    websocket.connect_to_server()


def _on_request(session: BrowserSession, request: Request) -> None:
    # Only redirect hops pass the route gate unchecked, so only they can meet a proxy refusal.
    if request.redirected_from is None:
        return
    session.requested[_endpoint(request.url)] = request.url
    session.name_connection(request.url)


def _on_failed_request(session: BrowserSession, request: Request) -> None:
    if "ERR_SOCKS_CONNECTION_FAILED" not in (request.failure or ""):
        return
    if _endpoint(request.url) in session.proxy_refusals or session.last_block is None:
        session.name_connection(request.url)
        return
    # Chromium sometimes reports a refused redirect hop under the chain's first URL. Only the
    # proxy sees redirect hops, so the hop is the newest proxy refusal; the route gate's
    # refusals (off-plan, pop-ups) are never candidates.
    proxied = list(session.proxy_refusals.values())
    hop = proxied[-1] if proxied else session.last_block
    reason = f"it redirected to {hop.url}, refused: {hop.reason}"
    session.record(EgressRefused(request.url, hop.rule, reason))


def _on_download(session: BrowserSession, download: Download) -> None:
    refusal = EgressRefused(
        download.url, "download", "downloads are refused; the file was not saved"
    )
    session.record(refusal)


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
    """Start a private, jailed Chromium behind the egress proxy; always kill it all on exit."""
    started = time.perf_counter()
    # File and process look-ups run off the event loop (the dev server flags blocking calls).
    jail, pidfile = await asyncio.to_thread(_prepare_jail)
    relay = _Relay()
    proxy = EgressProxy(policy, on_refusal=relay.refused, on_failure=relay.failed)
    # A jail with its own network namespace reaches the proxy only on a socket made inside that
    # namespace once it exists (below); the host's loopback has no proxy port for it.
    netns = jail.mode == "bwrap+netns"
    proxy_port = JAIL_PROXY_PORT if netns else await proxy.start()
    try:
        async with playwright_driver() as pw:
            browser = await pw.chromium.launch(
                executable_path=jail.executable,
                args=chromium_args(jail, proxy_port),
                env=launch_env(pidfile) if pidfile else None,
                headless=True,
            )
            jail_pid = None
            try:
                if pidfile:
                    jail_pid, listener = await asyncio.to_thread(_jail_started, pidfile, netns)
                    if listener is not None:
                        await proxy.serve(listener)
                session = await _open_session(browser, policy, relay)
                session.jail, session.jail_reason = jail.mode, jail.reason
                session.jail_pid = jail_pid
                session.ready_s = time.perf_counter() - started
                yield session
            finally:
                await _close(browser, jail_pid, pidfile)
    finally:
        await proxy.close()
        if pidfile:
            await asyncio.to_thread(pidfile.unlink, missing_ok=True)


def chromium_args(jail: JailPlan, proxy_port: int) -> list[str]:
    """Chromium's switches for one launch, behind the proxy on `proxy_port`."""
    args = [*CHROMIUM_ARGS, *proxy_args(proxy_port)]
    # Chromium honours only its last --disable-features: without our launcher to merge them
    # (Playwright's bundled build), ours would erase Playwright's own list, so it is left out.
    if jail.merges_features:
        args.append(f"--disable-features={','.join(DISABLED_FEATURES)}")
    return args


def _prepare_jail() -> tuple[JailPlan, Path | None]:
    jail = jail_plan(chromium_executable())
    return jail, (new_pidfile() if jail.mode in JAILED_MODES else None)


def _jail_started(pidfile: Path, netns: bool) -> tuple[int | None, socket.socket | None]:
    """The jail's pid, and with its own network namespace, the proxy's socket inside it."""
    jail_pid = read_pid(pidfile)
    if not netns:
        return jail_pid, None
    if jail_pid is None:
        msg = "the jailed browser did not record its pid"
        raise RuntimeError(msg)
    return jail_pid, listen_in_jail(jail_pid, JAIL_PROXY_PORT)


class _Relay:
    """Hands the proxy's and the route gate's reports to the session.

    Reports that come before the session exists are kept (the gate is installed before the page,
    so before the session).
    """

    def __init__(self) -> None:
        self.session: BrowserSession | None = None
        self.early: list[tuple[EgressRefused, bool]] = []  # (refusal, from the proxy)

    def refused(self, refusal: EgressRefused) -> None:
        """A connection the proxy refused."""
        if self.session is None:
            self.early.append((refusal, True))
        else:
            self.session.record_connection(refusal)

    def blocked(self, refusal: EgressRefused) -> None:
        """A request the route gate refused."""
        if self.session is None:
            self.early.append((refusal, False))
        else:
            self.session.record(refusal)

    def failed(self, host: str, port: int) -> None:
        if self.session is not None:
            self.session.connection_failed(host, port)

    def attach(self, session: BrowserSession) -> None:
        self.session = session
        for refusal, proxied in self.early:
            if proxied:
                session.record_connection(refusal)
            else:
                session.record(refusal)


async def _open_session(browser: Browser, policy: EgressPolicy, relay: _Relay) -> BrowserSession:
    context = await browser.new_context(
        accept_downloads=False, service_workers="block", ignore_https_errors=False
    )
    # The gates and the init script go on the context before its page exists, so the page never
    # runs ungated, and Playwright sets them up within the page's own start instead of with three
    # round trips to the page after it.
    await asyncio.gather(
        context.add_init_script(BUSY_TRACKER_JS),
        context.route("**/*", lambda route: _gate(policy, relay, route)),
        context.route_web_socket("**/*", lambda ws: _websocket_gate(policy, relay, ws)),
    )
    page = await context.new_page()
    session = BrowserSession(context=context, page=page, policy=policy)
    relay.attach(session)
    context.on("page", lambda popup: _close_popup(session, popup))
    context.on("request", lambda request: _on_request(session, request))
    context.on("requestfailed", lambda request: _on_failed_request(session, request))
    page.on("download", lambda download: _on_download(session, download))
    return session


async def gated_session(browser: Browser, policy: EgressPolicy) -> BrowserSession:
    """A fresh context and page on ``browser`` behind the route gate alone (no local proxy).

    For a browser Flotilla did not launch (a remote one over CDP): every request the page makes
    is still judged by ``policy``; its connections are not Flotilla's to proxy.
    """
    return await _open_session(browser, policy, _Relay())


def proxy_args(port: int) -> list[str]:
    """Send every connection through the egress proxy, loopback too; no UDP around it (WebRTC)."""
    return [
        f"--proxy-server=socks5://127.0.0.1:{port}",
        "--proxy-bypass-list=<-loopback>",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    ]


async def _close(browser: Browser, jail_pid: int | None, pidfile: Path | None) -> None:
    # Closing politely lets Playwright clean up; the kill is what guarantees nothing survives,
    # also when the close itself is cancelled or hangs.
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await browser.close()
    except (TimeoutError, PlaywrightError):
        log.warning("browser did not close in %s s; killing its jail", CLOSE_TIMEOUT_S)
    finally:
        # In a thread, so it completes even if this task is cancelled again while waiting.
        # The pid may not be known yet (setting up the jail's proxy socket failed): the pidfile.
        if jail_pid is None and pidfile is not None:
            jail_pid = await asyncio.to_thread(read_pid, pidfile)
        await asyncio.to_thread(kill_jail, jail_pid)


async def _close_popup(session: BrowserSession, popup: Page) -> None:
    # Pop-ups are refused (the gate refuses their navigations, naming the URL): the subagent only
    # ever drives the page it was given and the tabs it opened itself.
    async with session.opened:  # a tab being opened is known as one before it is judged
        await session.opened.wait_for(lambda: session.opening == 0)
    if popup is not session.page and popup not in session.tabs:
        opener = await popup.opener()
        where = opener.url if opener else session.page.url
        session.record(EgressRefused(where, "popup", "the page tried to open a window; closed"))
        await popup.close()
