"""A local stand-in for the Amazon Bedrock Runtime Converse API, on loopback.

`BedrockStub(script)` serves `POST /model/{modelId}/converse` on 127.0.0.1: each request is
recorded (path, model id, headers, raw body) and answered with what `script` returns for it,
a Converse response as JSON (`tool_use`, `text` build the usual ones). Point the real
`ChatBedrockConverse` at it (`stub.chat_model(model_id)` does, with fake credentials), so
request signing, tool schemas and response parsing are the library's own; no request leaves
the machine. Scripts dispatch on `call.model_id` to play several roles from one stub.

    def script(call: ConverseCall) -> dict:
        return tool_use("ResearchPlan", {"tasks": [...]}, input_tokens=812, output_tokens=96)

    with BedrockStub(script) as stub:
        model = stub.chat_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        ...
        assert stub.calls[0].signature_is_valid()

Construct clients only with explicit credentials and `endpoint_url` (as `chat_model` does) and
set AWS_EC2_METADATA_DISABLED=true, so botocore never asks the instance-metadata address.
"""

from __future__ import annotations

import hmac
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

# What would give a process a model or AWS credentials: the suite clears these (tests/conftest.py).
MODEL_ENV = (
    "FLOTILLA_BRAIN",
    "FLOTILLA_MODEL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
)
FAKE_ACCESS_KEY = "AKIAFLOTILLATEST0000"
FAKE_SECRET_KEY = "flotilla-test-secret-key-not-a-real-one"
REGION = "eu-west-1"

_CONVERSE = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>[0-9a-f]+)$"
)
_ids = itertools.count(1)


@dataclass
class ConverseCall:
    """One request the stub received."""

    path: str  # as sent, percent-encoded
    model_id: str  # decoded from the path
    headers: dict[str, str]
    raw_body: bytes
    host: str

    @property
    def body(self) -> dict[str, Any]:
        """The Converse request JSON: messages, system, toolConfig, inferenceConfig, …"""
        return json.loads(self.raw_body or b"{}")

    @property
    def authorization(self) -> dict[str, str]:
        """The SigV4 Authorization header's parts: key, date, region, service, signed, sig."""
        found = _AUTH.match(self.headers.get("Authorization", ""))
        return found.groupdict() if found else {}

    def signature_is_valid(self, secret_key: str = FAKE_SECRET_KEY) -> bool:
        """Whether the SigV4 signature covers this method, path, signed headers and body."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        auth = self.authorization
        if not auth or "X-Amz-Date" not in self.headers:
            return False
        lower = {name.lower(): value for name, value in self.headers.items()}
        signed = auth["signed"].split(";")
        if any(name not in lower for name in signed):
            return False
        request = AWSRequest(
            method="POST",
            url=f"http://{self.host}{self.path}",
            data=self.raw_body,
            headers={name: lower[name] for name in signed},
        )
        request.context["timestamp"] = self.headers["X-Amz-Date"]
        signer = SigV4Auth(Credentials(auth["key"], secret_key), auth["service"], auth["region"])
        string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
        return hmac.compare_digest(signer.signature(string_to_sign, request), auth["sig"])


@dataclass
class ConverseError(Exception):
    """Raise (or return) from a script to answer with a Bedrock error, e.g. a throttle."""

    status: int = 400
    error_type: str = "ValidationException"
    message: str = "scripted error"


Script = Callable[[ConverseCall], "dict[str, Any] | ConverseError"]


def converse_response(
    content: list[dict[str, Any]],
    *,
    stop_reason: str,
    input_tokens: int = 100,
    output_tokens: int = 20,
) -> dict[str, Any]:
    """A Converse response with the assistant's `content` blocks and usage."""
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 7},
    }


def tool_use(name: str, tool_input: dict[str, Any], **usage: int) -> dict[str, Any]:
    """The model calls tool `name` with `tool_input` (structured output is a tool call)."""
    block = {"toolUse": {"toolUseId": f"tooluse_{next(_ids)}", "name": name, "input": tool_input}}
    return converse_response([block], stop_reason="tool_use", **usage)


def text(answer: str, **usage: int) -> dict[str, Any]:
    """The model answers in text."""
    return converse_response([{"text": answer}], stop_reason="end_turn", **usage)


@dataclass
class BedrockStub:
    """The Converse API on 127.0.0.1, answering with `script`; a context manager."""

    script: Script
    calls: list[ConverseCall] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> BedrockStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stub._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bedrock-stub", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> BedrockStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chat_model(self, model_id: str, **kwargs: Any) -> Any:
        """The real `ChatBedrockConverse`, signed with fake credentials, aimed at this stub."""
        from langchain_aws import ChatBedrockConverse

        settings: dict[str, Any] = {
            "model": model_id,
            "region_name": REGION,
            "endpoint_url": self.url,
            "aws_access_key_id": FAKE_ACCESS_KEY,
            "aws_secret_access_key": FAKE_SECRET_KEY,
            "max_retries": 1,
            **kwargs,
        }
        return ChatBedrockConverse(**settings)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path = urlsplit(handler.path).path
        found = _CONVERSE.match(path)
        if not found:
            message = f"the stub serves POST /model/{{modelId}}/converse only, not {path}"
            self._reply(handler, ConverseError(404, "UnknownOperationException", message))
            return
        call = ConverseCall(
            path=path,
            model_id=unquote(found["model"]),
            headers=dict(handler.headers.items()),
            raw_body=raw,
            host=handler.headers.get("Host", ""),
        )
        self.calls.append(call)
        try:
            answer = self.script(call)
        except ConverseError as error:
            answer = error
        except Exception as exc:  # a broken script: the test sees it in `failures`
            self.failures.append(exc)
            answer = ConverseError(500, "InternalServerException", f"stub script failed: {exc}")
        self._reply(handler, answer)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, answer: dict[str, Any] | ConverseError) -> None:
        status, headers = 200, {"Content-Type": "application/json"}
        if isinstance(answer, ConverseError):
            status = answer.status
            headers["x-amzn-ErrorType"] = answer.error_type
            answer = {"message": answer.message}
        payload = json.dumps(answer).encode()
        handler.send_response(status)
        for name, value in {**headers, "x-amzn-RequestId": f"stub-{next(_ids)}"}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
