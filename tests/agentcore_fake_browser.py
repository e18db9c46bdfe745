"""The fake AgentCore's browsers: one local Chromium per session behind a signed websocket relay.

A session's automation stream is ``ws://127.0.0.1:PORT/browser-streams/ID/sessions/SID/automation``;
the relay accepts a handshake only when its SigV4 headers verify (botocore) and then pipes the
CDP websocket to that session's own Chromium (``--remote-debugging-port``) both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from sandbox.browser import CHROMIUM_ARGS, chromium_executable


@dataclass
class _Chromium:
    process: subprocess.Popen[bytes]
    profile: Path
    cdp_url: str


def _launch() -> _Chromium:
    profile = Path(tempfile.mkdtemp(prefix="fake-agentcore-browser-"))
    chromium = chromium_executable() or "/usr/bin/chromium"
    process = subprocess.Popen(
        [chromium, *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if marker.exists() and len(lines := marker.read_text().split()) >= 2:
            return _Chromium(process, profile, f"ws://127.0.0.1:{lines[0]}{lines[1]}")
        time.sleep(0.05)
    process.kill()
    msg = "the fake's Chromium did not start"
    raise RuntimeError(msg)


def _end(chromium: _Chromium) -> None:
    chromium.process.kill()
    chromium.process.wait(10)
    shutil.rmtree(chromium.profile, ignore_errors=True)


@dataclass
class FakeBrowsers:
    """Chromium processes by session id, and the relay in front of them (on the fake's loop)."""

    verify: Any  # (method, url, headers, body) -> bool: the fake's SigV4 check
    sessions: dict[str, _Chromium] = field(default_factory=dict)
    handshakes_refused: int = 0
    # Fault: a session expires (its Chromium ends, as AgentCore ends a session at its lifetime)
    # when asked for one navigation more than this.
    expire_after_navigations: int | None = None
    navigations: dict[str, int] = field(default_factory=dict)
    expired: list[str] = field(default_factory=list)
    _server: Server | None = None

    async def start(self) -> None:
        """Listen on loopback for automation streams."""
        self._server = await serve(
            self._relay, "127.0.0.1", 0, process_request=self._check, max_size=None
        )

    @property
    def port(self) -> int:
        """The relay's port."""
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def open(self, identifier: str, session_id: str) -> str:
        """Start a Chromium for the session; its automation stream URL."""
        self.sessions[session_id] = await asyncio.to_thread(_launch)
        path = f"/browser-streams/{identifier}/sessions/{session_id}/automation"
        return f"ws://127.0.0.1:{self.port}{path}"

    async def close(self, session_id: str) -> None:
        """Kill the session's Chromium and remove its profile."""
        chromium = self.sessions.pop(session_id, None)
        if chromium is not None:
            await asyncio.to_thread(_end, chromium)

    async def stop(self) -> None:
        """Close every session and the relay."""
        for session_id in list(self.sessions):
            await self.close(session_id)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        url = f"http://{headers.get('host', '')}{request.path}"
        session_id = request.path.split("/")[4] if request.path.count("/") >= 5 else ""
        if session_id not in self.sessions or not self.verify("GET", url, headers, b""):
            self.handshakes_refused += 1
            return connection.respond(http.HTTPStatus.FORBIDDEN, "signature does not match\n")
        return None

    async def _expires(self, session_id: str, message: Any) -> bool:
        """Count the session's navigations; end the session when it runs out of them."""
        if self.expire_after_navigations is None or '"Page.navigate"' not in str(message):
            return False
        count = self.navigations[session_id] = self.navigations.get(session_id, 0) + 1
        if count <= self.expire_after_navigations:
            return False
        self.expired.append(session_id)
        await self.close(session_id)
        return True

    async def _relay(self, client: ServerConnection) -> None:
        assert client.request is not None
        session_id = client.request.path.split("/")[4]
        chromium = self.sessions[session_id]
        async with connect(chromium.cdp_url, max_size=None) as upstream:

            async def pipe(source: Any, sink: Any, *, commands: bool = False) -> None:
                with contextlib.suppress(Exception):
                    async for message in source:
                        if commands and await self._expires(session_id, message):
                            await client.close()
                            return
                        await sink.send(message)

            tasks = [
                asyncio.create_task(pipe(client, upstream, commands=True)),
                asyncio.create_task(pipe(upstream, client)),
            ]
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
