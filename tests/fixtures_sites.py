"""Pytest plugin: local web sites for tests (the bundled demo sites and the fault sites).

Enable with ``pytest_plugins = ["tests.fixtures_sites"]`` in ``tests/conftest.py``.
Servers are started once per session (per xdist worker) and closed at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

import pytest

from demo_sites.server import DemoSites, SiteServer, serve_directory

FAULT_SITES_DIR = Path(__file__).resolve().parent / "sites"
"""Test-only sites: ``empty``, ``no_numbers``, ``hang``, ``offsite``, ``static_table``, and the
record shops ``card_shop``, ``jsonld_shop``, ``spec_list``, ``load_more``."""


class SiteServerFactory(Protocol):
    """Returns a started server for a folder under ``tests/sites``."""

    def __call__(self, name: str, *, latency_s: float = 0.0) -> SiteServer: ...


@pytest.fixture(scope="session")
def demo_sites() -> Iterator[DemoSites]:
    """The three demo vendor sites, each on its own loopback port."""
    with DemoSites() as sites:
        yield sites


@pytest.fixture(scope="session")
def site_server() -> Iterator[SiteServerFactory]:
    """Factory: ``site_server("static_table")`` serves ``tests/sites/static_table``.

    One server per (name, latency) for the whole session; all are closed at the end.
    """
    servers: dict[tuple[str, float], SiteServer] = {}

    def start(name: str, *, latency_s: float = 0.0) -> SiteServer:
        root = FAULT_SITES_DIR / name
        if not root.is_dir():
            known = sorted(p.name for p in FAULT_SITES_DIR.iterdir() if p.is_dir())
            msg = f"no test site named {name!r} under {str(FAULT_SITES_DIR)!r}; known: {known}"
            raise LookupError(msg)
        key = (name, latency_s)
        if key not in servers:
            servers[key] = serve_directory(root, latency_s=latency_s)
        return servers[key]

    try:
        yield start
    finally:
        for server in servers.values():
            server.close()


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port; yields ``127.0.0.1:PORT``, then stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
