"""The AgentCore Runtime entrypoint served on loopback: `/ping`, and a streamed research run.

The app is `bedrock-agentcore`'s `BedrockAgentCoreApp` under a real uvicorn server; the run is
a real one (offline brain, the demo sites, real Chromium and code sandbox, embedded Redis).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from demo_sites.demo import DEMO_QUESTION
from integrations.agentcore.runtime import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _events(response: httpx.Response) -> list[dict]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in response.iter_lines()
        if line.startswith("data: ")
    ]


def test_ping_answers_healthy(served: str) -> None:
    reply = httpx.get(f"{served}/ping", timeout=10)
    assert reply.status_code == 200 and reply.json()["status"] == "Healthy"


def test_a_bad_payload_is_one_named_error(served: str) -> None:
    with httpx.stream(
        "POST", f"{served}/invocations", json={"question": "x", "urls": "http://a/"}, timeout=30
    ) as reply:
        events = _events(reply)
    assert events == [{"event": "error", "message": "urls: expected a list of URLs as text"}]


def test_a_client_context_without_the_operator_opt_in_is_refused(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOTILLA_ALLOW_UNSANDBOXED", raising=False)
    payload = {"question": "q", "urls": ["https://example.com/"], "context": {"max_pages": -1}}
    with httpx.stream("POST", f"{served}/invocations", json=payload, timeout=30) as reply:
        events = _events(reply)
    assert events[-1]["event"] == "error" and "Context.max_pages" in events[-1]["message"]


def test_a_research_run_streams_its_events_then_its_result(
    served: str, demo_sites, tmp_path, redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server_url)
    payload = {
        "question": DEMO_QUESTION,
        "urls": list(demo_sites.urls.values()),
        "context": {
            "brain": "offline",
            "allow_hosts": demo_sites.allow_hosts,
            "runs_dir": str(tmp_path / "runs"),
        },
    }
    with httpx.stream("POST", f"{served}/invocations", json=payload, timeout=600) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = _events(reply)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "result"
    assert kinds.count("subagent") >= 2 * len(demo_sites.urls)
    assert "analyst" in kinds and "report" in kinds
    result = events[-1]
    assert [s["status"] for s in result["subagents"]] == ["ok"] * len(demo_sites.urls)
    assert result["charts"] and result["answer"]
