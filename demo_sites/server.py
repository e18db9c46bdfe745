"""Local static web servers for the bundled demo sites and the test-only fault sites.

Each site is a folder served by its own :class:`SiteServer` on ``127.0.0.1`` at a free port,
so a browser subagent sees every site as a separate host (``127.0.0.1:PORT``) and the egress
allow-list can name exactly the sites a run may visit. Standard library only: the servers
run in daemon threads and never keep the interpreter alive.

A site can also be served on a given port (:class:`DemoSites` ``ports=``), so a run that
planned those URLs can be resumed by another process after the first one died.

Run ``python -m demo_sites.server [--latency S]`` to serve the demo sites until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import html
import mimetypes
import posixpath
import signal
import socket
import sys
import threading
import urllib.parse
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar, Self

SITES_DIR = Path(__file__).resolve().parent / "sites"
"""Folder holding one sub-folder per demo site."""

HANG_PATH = "/hang"
"""Route that never answers: a request to it is held open until the server closes."""

HANG_MAX_S = 600.0
"""Upper bound on how long a ``/hang`` request is held (far beyond any client timeout)."""

_CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

_NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>404 Not Found</title></head>
<body><h1>Not Found</h1><p>No page at {path}.</p></body></html>
"""


class PortInUse(OSError):
    """The port a site must be served on is taken by another program."""

    def __str__(self) -> str:
        return str(self.strerror)


def content_type_for(path: Path) -> str:
    """Return the ``Content-Type`` header value for a file, by its suffix."""
    known = _CONTENT_TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class _SiteHandler(BaseHTTPRequestHandler):
    """Serves files below ``root``; configured per server through class attributes."""

    root: ClassVar[Path]
    latency_s: ClassVar[float]
    closing: ClassVar[threading.Event]
    server_version = "FlotillaDemo/1.0"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        """Answer a GET with the file, a redirect, a held-open hang or a 404 page."""
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        """Answer a HEAD like a GET, without the body."""
        self._respond(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test and CLI output quiet: one line per request is noise here."""

    def _respond(self, *, send_body: bool) -> None:
        if self.latency_s > 0 and self.closing.wait(self.latency_s):
            return
        url_path = urllib.parse.urlsplit(self.path).path
        if url_path == HANG_PATH:
            # Hold the connection without answering until the server closes.
            self.closing.wait(HANG_MAX_S)
            self.close_connection = True
            return
        target = self._resolve(url_path)
        if target is not None and target.is_dir():
            if not url_path.endswith("/"):
                self._send(
                    HTTPStatus.MOVED_PERMANENTLY,
                    b"",
                    "text/plain",
                    send_body=send_body,
                    location=url_path + "/",
                )
                return
            target = target / "index.html"
        if target is None or not target.is_file():
            page = _NOT_FOUND_PAGE.format(path=html.escape(url_path)).encode()
            self._send(HTTPStatus.NOT_FOUND, page, _CONTENT_TYPES[".html"], send_body=send_body)
            return
        self._send(
            HTTPStatus.OK, target.read_bytes(), content_type_for(target), send_body=send_body
        )

    def _resolve(self, url_path: str) -> Path | None:
        """Map a URL path to a path under ``root``; ``None`` if it would escape it."""
        clean = posixpath.normpath(urllib.parse.unquote(url_path))
        parts = [p for p in clean.split("/") if p not in ("", ".", "..")]
        candidate = self.root.joinpath(*parts).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        return candidate

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        *,
        send_body: bool,
        location: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if location is not None:
            self.send_header("Location", location)
        self.end_headers()
        if send_body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    # Request threads are daemons and are not joined on close, so a held-open ``/hang``
    # request can never block shutdown.
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closes a connection mid-response is normal; anything else is logged.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """End kept-alive connections so a closed server answers nothing more."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SiteServer:
    """One folder served over HTTP on ``127.0.0.1`` at a free (or given) port, in a daemon thread."""

    def __init__(self, root: Path, *, latency_s: float = 0.0, port: int = 0) -> None:
        """Bind ``port`` (0: a free one) for ``root``; call :meth:`start` to begin serving.

        Raises :class:`PortInUse` when a given port is taken.
        """
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            msg = f"cannot serve {str(root)!r}: it is not a directory"
            raise NotADirectoryError(msg)
        self.latency_s = latency_s
        self._closing = threading.Event()
        handler = type(
            "SiteHandler",
            (_SiteHandler,),
            {"root": self.root, "latency_s": latency_s, "closing": self._closing},
        )
        try:
            self._httpd = _Server(("127.0.0.1", port), handler)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            msg = f"127.0.0.1:{port} is in use by another program"
            raise PortInUse(errno.EADDRINUSE, msg) from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form an egress allow-list takes."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the site, ending in ``/``."""
        return f"http://{self.host}/"

    def start(self) -> Self:
        """Start serving in a daemon thread (idempotent) and return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"site-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, release held ``/hang`` requests and free the port (idempotent)."""
        self._closing.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self._httpd.drop_connections()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SiteServer(root={str(self.root)!r}, url={self.url!r})"


def serve_directory(root: Path, *, latency_s: float = 0.0, port: int = 0) -> SiteServer:
    """Serve ``root`` on a loopback port (0: a free one) and return the started server."""
    return SiteServer(root, latency_s=latency_s, port=port).start()


def site_names(sites_dir: Path = SITES_DIR) -> list[str]:
    """Names of the site folders under ``sites_dir``, sorted."""
    return sorted(
        p.name for p in sites_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    )


class DemoSites:
    """All demo sites, one :class:`SiteServer` each; a context manager."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        sites_dir: Path = SITES_DIR,
        ports: Mapping[str, int] | None = None,
    ) -> None:
        """Prepare servers for each folder in ``sites_dir``; nothing listens until started.

        With ``ports`` (site name → port), exactly those sites are served, each on its port:
        how a run that planned their URLs gets them back in another process.
        """
        self.latency_s = latency_s
        self.sites_dir = sites_dir
        self.wanted_ports = dict(ports) if ports is not None else None
        self.servers: dict[str, SiteServer] = {}

    def start(self) -> Self:
        """Start one server per site (idempotent) and return ``self``.

        Raises :class:`PortInUse` (naming the site) when a wanted port is taken, and
        ``FileNotFoundError`` when a wanted site is not in ``sites_dir``; nothing stays served.
        """
        if not self.servers:
            try:
                for name, port in self._planned().items():
                    self.servers[name] = self._serve(name, port)
            except BaseException:
                self.close()
                raise
        return self

    def _planned(self) -> dict[str, int]:
        names = site_names(self.sites_dir)
        if self.wanted_ports is None:
            return dict.fromkeys(names, 0)
        unknown = sorted(set(self.wanted_ports) - set(names))
        if unknown:
            msg = f"no demo site {unknown[0]!r} in {str(self.sites_dir)!r} (there are {names})"
            raise FileNotFoundError(msg)
        return self.wanted_ports

    def _serve(self, name: str, port: int) -> SiteServer:
        try:
            return serve_directory(self.sites_dir / name, latency_s=self.latency_s, port=port)
        except PortInUse as exc:
            msg = f"cannot serve demo site {name!r}: {exc}"
            raise PortInUse(errno.EADDRINUSE, msg) from None

    def close(self) -> None:
        """Stop every server (idempotent)."""
        servers, self.servers = self.servers, {}
        for server in servers.values():
            server.close()

    @property
    def urls(self) -> dict[str, str]:
        """Site name → base URL (``http://127.0.0.1:PORT/``)."""
        return {name: server.url for name, server in self.servers.items()}

    @property
    def allow_hosts(self) -> list[str]:
        """``127.0.0.1:PORT`` for every site, for the browser's egress allow-list."""
        return [server.host for server in self.servers.values()]

    @property
    def ports(self) -> dict[str, int]:
        """Site name → port: what ``DemoSites(ports=...)`` takes to serve them there again."""
        return {name: server.port for name, server in self.servers.items()}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """Serve the demo sites and print their URLs until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m demo_sites.server", description=main.__doc__)
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds to wait before answering each request (default 0)",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    with DemoSites(latency_s=args.latency) as sites:
        for name, url in sites.urls.items():
            print(f"{name}: {url}", flush=True)
        print(f"allow-hosts: {','.join(sites.allow_hosts)}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
