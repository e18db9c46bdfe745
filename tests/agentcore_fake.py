"""A fake Amazon Bedrock AgentCore data plane on 127.0.0.1 that the real boto3 clients talk to.

It checks every request's SigV4 signature with botocore (a wrong key gets 403), answers the
rest-json code-interpreter operations Flotilla uses, streams InvokeCodeInterpreter's answer as
an AWS event stream (what boto3 parses from AWS), and runs the code in one of Flotilla's own
local sandbox tiers. Faults are injected per operation (throttling, quota, expired sessions),
per browser session name (``refuse_browsers``: a site's starts refused every time) and mid-task
(``browsers.expire_after_navigations``: a browser session ends as at its lifetime).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import struct
import threading
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandbox.interpreter import CodeSession, open_session
from tests.agentcore_fake_browser import FakeBrowsers
from tests.agentcore_fake_memory import FakeMemory

ACCESS_KEY = "AKIAFLOTILLAFAKE0001"
SECRET_KEY = "fake-secret-key-for-the-local-agentcore"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_STATUS = {
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 402,
    "ResourceNotFoundException": 404,
    "AccessDeniedException": 403,
    "InvalidSignatureException": 403,
    "ValidationException": 400,
}


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One binary event-stream message (prelude, string headers, payload, CRCs)."""
    encoded = b"".join(
        bytes([len(name)])
        + name.encode()
        + b"\x07"
        + struct.pack(">H", len(value))
        + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def signature_ok(method: str, url: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether the request's SigV4 signature is the one the fake's key makes (botocore's own)."""
    match = _AUTH.fullmatch(headers.get("authorization", ""))
    if match is None or match["key"] != ACCESS_KEY or "x-amz-date" not in headers:
        return False
    signed = match["signed"].split(";")
    request = AWSRequest(
        method=method, url=url, data=body, headers={h: headers.get(h, "") for h in signed}
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(
        Credentials(ACCESS_KEY, SECRET_KEY, headers.get("x-amz-security-token")),
        match["service"],
        match["region"],
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, match["signature"])


def demo_context(demo_sites: Any, tmp_path: Any, **extra: Any) -> Any:
    """An offline run of the demo sites on the AgentCore tier (a ``graph.context.Context``)."""
    from graph.context import Context

    return Context(
        brain="offline",
        sandbox_tier="agentcore",
        agentcore_session_timeout_s=300,
        # Each remote browser is a second local Chromium behind a Python relay here: generous.
        subagent_timeout_s=240,
        allow_hosts=demo_sites.allow_hosts,
        runs_dir=str(tmp_path / "runs"),
        **extra,
    )


@contextmanager
def serving(monkeypatch: pytest.MonkeyPatch, local_tier: str) -> Iterator[FakeAgentCore]:
    """The fake, with this process's AWS settings pointing at it; no session may outlive it."""
    with FakeAgentCore(local_tier=local_tier) as service:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", service.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # must never be used
        yield service
        assert service.live_sessions == [], "a session was left running"


@dataclass
class FakeAgentCore:
    """The fake service: start it, point ``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`` at ``url``."""

    local_tier: str = "bwrap"
    faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    calls: list[str] = field(default_factory=list)
    started: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    expire_after_invokes: int | None = None
    # Fault: every StartBrowserSession whose session name holds the key gets that error.
    refuse_browsers: dict[str, str] = field(default_factory=dict)
    memory: FakeMemory = field(default_factory=FakeMemory)
    _sessions: dict[str, tuple[CodeSession, AsyncExitStack]] = field(default_factory=dict)
    _invokes: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    # --- life -------------------------------------------------------------------------------

    def __enter__(self) -> FakeAgentCore:
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._loop_thread.start()
        self.browsers = FakeBrowsers(verify=signature_ok)
        self._run(self.browsers.start())
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_PUT(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def do_DELETE(self) -> None:
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for session_id in list(self._sessions):
            self._close(session_id)
        self._run(self.browsers.stop())
        self._server.shutdown()
        self._server.server_close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(5)
        self._loop.close()

    @property
    def url(self) -> str:
        """The fake's endpoint."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def live_sessions(self) -> list[str]:
        """Code-interpreter and browser sessions started and not stopped."""
        return [*self._sessions, *self.browsers.sessions]

    def _run(self, coro: Any, timeout: float = 300) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- requests ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        url = f"http://{headers.get('host', '')}{handler.path}"
        parts = urlsplit(handler.path)
        if not signature_ok(handler.command, url, headers, body):
            self._error(handler, "InvalidSignatureException", "signature does not match")
            return
        routed = FakeMemory.route(handler.command, parts.path)
        if routed is not None:
            operation, segments = routed
            self.calls.append(operation)
            injected = self.faults.get(operation)
            if injected:
                self._error(handler, injected.pop(0), f"injected by the fake ({operation})")
                return
            _, answer, error = self.memory.handle(operation, segments, json.loads(body or b"{}"))
            if error:
                self._error(handler, error, answer["message"])
            else:
                self._json(handler, answer)
            return
        operation, identifier = _route(handler.command, parts.path)
        self.calls.append(operation)
        injected = self.faults.get(operation)
        if injected:
            self._error(handler, injected.pop(0), f"injected by the fake ({operation})")
            return
        payload = json.loads(body or b"{}")
        query = parse_qs(parts.query)
        if operation == "StartCodeInterpreterSession":
            self._start(handler, identifier, payload)
        elif operation == "StopCodeInterpreterSession":
            session_id = query.get("sessionId", [""])[0]
            if session_id not in self._sessions:
                self._error(handler, "ResourceNotFoundException", f"no session {session_id}")
                return
            self._close(session_id)
            self.stopped.append(session_id)
            self._json(
                handler,
                {
                    "codeInterpreterIdentifier": identifier,
                    "sessionId": session_id,
                    "lastUpdatedAt": _now(),
                },
            )
        elif operation == "StartBrowserSession":
            refused = [
                c for key, c in self.refuse_browsers.items() if key in payload.get("name", "")
            ]
            if refused:
                self._error(handler, refused[0], f"injected by the fake ({payload.get('name')})")
                return
            session_id = uuid.uuid4().hex
            stream = self._run(self.browsers.open(identifier, session_id))
            self.started.append({"sessionId": session_id, "browser": True, **payload})
            streams = {
                "automationStream": {"streamEndpoint": stream, "streamStatus": "ENABLED"},
                "liveViewStream": {"streamEndpoint": stream.replace("automation", "live")},
            }
            self._json(
                handler,
                {
                    "browserIdentifier": identifier,
                    "sessionId": session_id,
                    "createdAt": _now(),
                    "streams": streams,
                },
            )
        elif operation == "StopBrowserSession":
            session_id = query.get("sessionId", [""])[0]
            if session_id not in self.browsers.sessions:
                self._error(handler, "ResourceNotFoundException", f"no session {session_id}")
                return
            self._run(self.browsers.close(session_id))
            self.stopped.append(session_id)
            self._json(
                handler,
                {"browserIdentifier": identifier, "sessionId": session_id, "lastUpdatedAt": _now()},
            )
        elif operation == "InvokeCodeInterpreter":
            self._invoke(handler, headers.get("x-amzn-code-interpreter-session-id", ""), payload)
        else:
            self._error(handler, "ValidationException", f"the fake does not serve {parts.path}")

    def _start(self, handler: BaseHTTPRequestHandler, identifier: str, payload: dict) -> None:
        session_id = uuid.uuid4().hex

        async def open_local() -> tuple[CodeSession, AsyncExitStack]:
            stack = AsyncExitStack()
            session = await stack.enter_async_context(open_session(self.local_tier))
            return session, stack

        self._sessions[session_id] = self._run(open_local())
        self.started.append({"sessionId": session_id, **payload})
        self._json(
            handler,
            {"codeInterpreterIdentifier": identifier, "sessionId": session_id, "createdAt": _now()},
        )

    def _close(self, session_id: str) -> None:
        _, stack = self._sessions.pop(session_id)
        self._run(stack.aclose())

    def _invoke(self, handler: BaseHTTPRequestHandler, session_id: str, payload: dict) -> None:
        self._invokes[session_id] += 1
        expired = (
            self.expire_after_invokes is not None
            and self._invokes[session_id] > self.expire_after_invokes
        )
        if session_id not in self._sessions or expired:
            self._error(handler, "ResourceNotFoundException", f"session {session_id} expired")
            return
        session = self._sessions[session_id][0]
        result = self._run(_tool(session, payload.get("name", ""), payload.get("arguments", {})))
        message = event_message(
            {
                ":message-type": "event",
                ":event-type": "result",
                ":content-type": "application/json",
            },
            json.dumps(result).encode(),
        )
        handler.send_response(200)
        handler.send_header("content-type", "application/vnd.amazon.eventstream")
        handler.send_header("x-amzn-code-interpreter-session-id", session_id)
        handler.send_header("content-length", str(len(message)))
        handler.end_headers()
        handler.wfile.write(message)

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _error(handler: BaseHTTPRequestHandler, code: str, message: str) -> None:
        data = json.dumps({"message": message}).encode()
        handler.send_response(_STATUS.get(code, 400))
        handler.send_header("content-type", "application/json")
        handler.send_header("x-amzn-errortype", code)
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _route(method: str, path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "browsers" and parts[2] == "sessions" and method == "PUT":
        return {"start": "StartBrowserSession", "stop": "StopBrowserSession"}.get(
            parts[3], "Unknown"
        ), parts[1]
    if len(parts) == 4 and parts[0] == "code-interpreters":
        name = {
            ("PUT", "sessions", "start"): "StartCodeInterpreterSession",
            ("PUT", "sessions", "stop"): "StopCodeInterpreterSession",
            ("POST", "tools", "invoke"): "InvokeCodeInterpreter",
        }.get((method, parts[2], parts[3]), "Unknown")
        return name, parts[1]
    return "Unknown", ""


async def _tool(session: CodeSession, name: str, arguments: dict) -> dict[str, Any]:
    """What AgentCore's tool answers, computed by a local Flotilla session."""
    if name == "executeCode":
        result = await session.execute(arguments.get("code", ""))
        stderr = result.stderr
        if result.error_type and result.error_type not in stderr:
            stderr += f"\n{result.error_type}: {result.error_message or ''}"
        return {
            "content": [{"type": "text", "text": result.stdout}],
            "structuredContent": {
                "stdout": result.stdout,
                "stderr": stderr,
                "exitCode": result.exit_status if result.exit_status is not None else -1,
                "executionTime": result.elapsed_s,
            },
            "isError": result.exit_status != 0,
        }
    if name == "writeFiles":
        for item in arguments.get("content", []):
            data = base64.b64decode(item["blob"]) if "blob" in item else item["text"].encode()
            await session.write_file(item["path"], data)
        return {"content": [{"type": "text", "text": "written"}], "isError": False}
    if name == "readFiles":
        content = []
        for path in arguments.get("paths", []):
            try:
                data = await session.read_file(path)
            except (OSError, ValueError) as exc:
                return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
            content.append(
                {
                    "type": "resource",
                    "resource": {"uri": f"file:///{path}", "blob": base64.b64encode(data).decode()},
                }
            )
        return {"content": content, "isError": False}
    return {"content": [{"type": "text", "text": f"unknown tool {name}"}], "isError": True}


def _now() -> str:
    return datetime.now(UTC).isoformat()
