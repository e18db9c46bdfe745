"""The demo sites behave like real JS-heavy vendor sites, and the servers like real servers.

Needs ``tests.fixtures_sites`` as a plugin (``pytest_plugins`` in ``tests/conftest.py``).
"""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from demo_sites.server import DemoSites, SiteServer, serve_directory
from tests.fixtures_sites import FAULT_SITES_DIR, SiteServerFactory

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PRICING_PAGES = {
    "nimbus_vault": ("pricing.html", ["$4.99/mo", "$9.99/mo", "$19.99/mo", "$49.99/mo", "2000 GB"]),
    "strato_cask": ("tiers.html", ["€ 2,50 per month", "€ 7,50 per month", "7.50 EUR", "0.5 TB"]),
    "cumulo_crate": ("plans/", ["£29 per year", "£99 per year", "£599 per year", "16 TiB"]),
}


def _get(url: str, *, timeout: float = 5.0) -> tuple[int, str, str]:
    """Plain HTTP GET, as a non-browser fetcher sees the page: status, content type, body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for this module (each test uses its own fresh context)."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context: no cookies, no localStorage, so no remembered consent."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(5000)
        yield page
    finally:
        context.close()


def test_demo_sites_expose_urls_and_allow_hosts(demo_sites: DemoSites) -> None:
    assert set(demo_sites.urls) == set(PRICING_PAGES)
    for name, url in demo_sites.urls.items():
        host = url.removeprefix("http://").removesuffix("/")
        assert host in demo_sites.allow_hosts
        assert host.startswith("127.0.0.1:"), name
    assert len(set(demo_sites.allow_hosts)) == len(PRICING_PAGES)


@pytest.mark.parametrize("site", sorted(PRICING_PAGES))
def test_plain_get_shows_no_prices(demo_sites: DemoSites, site: str) -> None:
    path, prices = PRICING_PAGES[site]
    status, content_type, body = _get(demo_sites.urls[site] + path)
    assert status == 200
    assert content_type.startswith("text/html")
    assert "<script" in body
    for price in prices:
        assert price not in body, f"{price!r} is in the static HTML of {site}"


def test_home_pages_link_to_pricing(demo_sites: DemoSites) -> None:
    for site, (path, _) in PRICING_PAGES.items():
        _, _, body = _get(demo_sites.urls[site])
        assert f'href="{path}"' in body or f'href="/{path}"' in body, site


def test_nimbus_vault_shows_content_only_after_consent(demo_sites: DemoSites, page: Page) -> None:
    page.goto(demo_sites.urls["nimbus_vault"] + "pricing.html")
    accept = page.get_by_role("button", name="Accept all")
    accept.wait_for()
    assert page.get_by_role("button", name="Reject").is_visible()
    assert page.locator("table").count() == 0
    assert "$9.99" not in page.inner_text("body")

    accept.click()
    page.wait_for_selector("table")
    text = page.inner_text("main")
    for price in PRICING_PAGES["nimbus_vault"][1]:
        assert price in text
    assert "Our Pro plan gives you 2 TB for $19.99 per month" in text

    page.reload()
    page.wait_for_selector("table")
    assert page.get_by_role("button", name="Accept all").count() == 0


def test_nimbus_vault_reject_also_shows_content(demo_sites: DemoSites, page: Page) -> None:
    page.goto(demo_sites.urls["nimbus_vault"] + "index.html")
    page.get_by_role("button", name="Reject").click()
    page.get_by_role("link", name="See plans & pricing").wait_for()
    assert "$4.99 per month" in page.inner_text("main")


def _tier_names(page: Page) -> list[str]:
    return page.locator("table tbody tr td:first-child").all_inner_texts()


def test_strato_cask_pagination_reaches_every_row(demo_sites: DemoSites, page: Page) -> None:
    page.goto(demo_sites.urls["strato_cask"] + "tiers.html")
    page.wait_for_selector("table tbody tr")
    assert _tier_names(page) == ["Pebble", "Boulder", "Ridge"]
    assert page.get_by_text("Page 1 of 2").is_visible()
    assert "€ 7,50 per month" in page.inner_text("table")

    next_button = page.get_by_role("button", name="Next ›")
    next_button.click()
    page.get_by_text("Page 2 of 2").wait_for()
    assert _tier_names(page) == ["Summit", "Stratosphere"]
    assert "€ 89,00 per month" in page.inner_text("table")
    assert next_button.is_disabled()

    page.get_by_role("button", name="‹ Previous").click()
    page.get_by_text("Page 1 of 2").wait_for()
    assert _tier_names(page) == ["Pebble", "Boulder", "Ridge"]


_RECORD_RENDER_TIMING = """
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("crate-content");
  window.__textAtDcl = box ? box.innerText : null;
  window.__dclAt = performance.now();
  if (box) {
    new MutationObserver(() => { window.__renderedAt ??= performance.now(); })
      .observe(box, { childList: true });
  }
});
"""


def test_cumulo_crate_renders_late(demo_sites: DemoSites, page: Page) -> None:
    page.add_init_script(_RECORD_RENDER_TIMING)
    page.goto(demo_sites.urls["cumulo_crate"] + "plans/", wait_until="domcontentloaded")
    page.wait_for_selector("table", timeout=5000)
    text = page.inner_text("#crate-content")
    for price in PRICING_PAGES["cumulo_crate"][1]:
        assert price in text
    header = page.locator("table tr").first.inner_text()
    assert header.split("\t") == ["Package", "Annual price", "Included storage"]

    at_dcl = page.evaluate("window.__textAtDcl")
    assert "Loading" in at_dcl
    assert "£" not in at_dcl
    # Timers never fire early, so this lower bound holds however loaded the machine is.
    assert page.evaluate("window.__renderedAt - window.__dclAt") >= 200


def test_no_numbers_site_renders_a_table_of_words(
    site_server: SiteServerFactory, page: Page
) -> None:
    page.goto(site_server("no_numbers").url)
    page.wait_for_selector("table")
    text = page.inner_text("body")
    assert "Versioning" in text
    assert not any(ch.isdigit() for ch in text)


def test_unknown_path_is_a_404_page(demo_sites: DemoSites) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(demo_sites.urls["nimbus_vault"] + "no-such-page.html")
    error = caught.value
    try:
        assert error.code == 404
        assert error.headers["Content-Type"].startswith("text/html")
        assert "Not Found" in error.read().decode()
    finally:
        error.close()


def test_path_traversal_is_refused(site_server: SiteServerFactory) -> None:
    server = site_server("static_table")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/../../fixtures_sites.py")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 404
    assert b"pytest" not in body


def test_static_files_have_content_types(demo_sites: DemoSites) -> None:
    base = demo_sites.urls["strato_cask"]
    assert _get(base + "js/site.js")[1].startswith("text/javascript")
    assert _get(base + "data/tiers.json")[1].startswith("application/json")
    assert _get(base + "css/main.css")[1].startswith("text/css")


def test_folder_without_slash_redirects(demo_sites: DemoSites) -> None:
    status, _, body = _get(demo_sites.urls["cumulo_crate"] + "plans")
    assert status == 200
    assert 'id="crate-content"' in body


def test_static_table_site_needs_no_javascript(site_server: SiteServerFactory) -> None:
    server = site_server("static_table")
    _, _, index = _get(server.url)
    assert "$12.50/mo" in index
    assert 'href="details.html"' in index
    assert "<script" not in index
    assert "$0.02 per GB" in _get(server.url + "details.html")[2]


def test_hang_does_not_answer(site_server: SiteServerFactory) -> None:
    server = site_server("hang")
    _, _, index = _get(server.url)
    assert 'href="/hang"' in index
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        _get(server.url + "hang", timeout=1.0)
    assert time.monotonic() - started >= 0.9


def test_latency_delays_every_answer() -> None:
    with serve_directory(FAULT_SITES_DIR / "empty", latency_s=0.3) as server:
        started = time.monotonic()
        _get(server.url)
        assert time.monotonic() - started >= 0.3
        assert server.latency_s == 0.3


def test_close_is_prompt_even_with_a_request_hanging() -> None:
    server = serve_directory(FAULT_SITES_DIR / "hang")
    port = server.port
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        client.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 2.0
        assert client.recv(1024) == b""  # the held request is released, not answered
    finally:
        client.close()
    assert _refuses_connections(port)
    server.close()  # idempotent


def test_demo_sites_close_frees_every_port() -> None:
    sites = DemoSites().start()
    ports = [int(host.rsplit(":", 1)[1]) for host in sites.allow_hosts]
    assert len(ports) == 3
    sites.close()
    assert all(_refuses_connections(port) for port in ports)
    assert sites.urls == {}


def test_site_server_rejects_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="not a directory"):
        SiteServer(tmp_path / "missing")


def test_cli_prints_urls_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo_sites.server", "--latency", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        urls = dict(line.split(": ", 1) for line in lines)
        assert set(urls) == set(PRICING_PAGES)
        assert _get(urls["strato_cask"])[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_servers_run_in_daemon_threads(site_server: SiteServerFactory) -> None:
    server = site_server("offsite")
    threads = [t for t in threading.enumerate() if t.name == f"site-server-{server.port}"]
    assert threads and all(t.daemon for t in threads)
