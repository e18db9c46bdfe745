"""Schema-constrained tool turns, local defaults and prompts fitted to a model's context.

The OpenAI-compatible server is a stub on loopback that records each request and answers
with replies recorded from Qwen2.5-Coder-1.5B behind llama.cpp's server on such turns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI

from graph.context import LOCAL_DEFAULTS, Context
from nodes.llm.constrained import (
    as_tool_call,
    constrained,
    supports_schema_turns,
    tools_text,
)
from nodes.llm.limits import ELIDED, estimate_tokens, fit_history
from tests.fakes import ScriptedChatModel, ai_text
from tests.unit.test_toolcalls import TOOLS

# What the model wrote on constrained turns (the schema admits nothing else).
RECORDED = [
    '{"name": "navigate", "arguments": {"url": "http://127.0.0.1:8001/pricing"}}',
    '{ "name" : "read_text" , "arguments" : { } }',
]


class _Stub(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []
    replies: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        content = type(self).replies.pop(0)
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": {"prompt_tokens": 321, "completion_tokens": 19, "total_tokens": 340},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Stub.requests, _Stub.replies = [], list(RECORDED)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _model(base_url: str) -> ChatOpenAI:
    return ChatOpenAI(base_url=base_url, api_key="none", model="m", max_retries=0)  # type: ignore[arg-type]


async def test_a_required_turn_carries_the_schema_and_becomes_a_tool_call(server) -> None:
    model = _model(server)
    assert supports_schema_turns(model)
    messages = [SystemMessage("Browse. " + tools_text(TOOLS)), HumanMessage("Go.")]
    calls = []
    for _ in RECORDED:
        reply = await constrained(model, TOOLS).ainvoke(messages)
        fixed = as_tool_call(reply, TOOLS)
        assert fixed is not None, reply.text
        calls.append((fixed.tool_calls[0]["name"], fixed.tool_calls[0]["args"]))
    assert calls == [("navigate", {"url": "http://127.0.0.1:8001/pricing"}), ("read_text", {})]
    for request in _Stub.requests:
        assert "tools" not in request  # the tools are in the prompt, the call in the schema
        form = request["response_format"]
        assert form["type"] == "json_schema"
        branches = form["json_schema"]["schema"]["anyOf"]
        assert [b["properties"]["name"]["const"] for b in branches] == [t.name for t in TOOLS]
        nav = branches[0]["properties"]["arguments"]
        assert nav["required"] == ["url"] and nav["properties"]["url"]["type"] == "string"
        assert all(b["required"] == ["name", "arguments"] for b in branches)


def test_which_models_get_schema_turns(monkeypatch) -> None:
    monkeypatch.delenv("FLOTILLA_SCHEMA_TOOLS", raising=False)
    assert supports_schema_turns(_model("http://127.0.0.1:9/v1"))
    # OpenAI's own API refuses a root anyOf in a strict schema; other providers repair text.
    assert not supports_schema_turns(_model("https://api.openai.com/v1"))
    scripted = ScriptedChatModel(script=lambda *_: ai_text("x"), name="s")
    assert not supports_schema_turns(scripted)
    monkeypatch.setenv("FLOTILLA_SCHEMA_TOOLS", "1")
    assert supports_schema_turns(scripted)
    monkeypatch.setenv("FLOTILLA_SCHEMA_TOOLS", "0")
    assert not supports_schema_turns(_model("http://127.0.0.1:9/v1"))


def test_tools_text_is_one_short_line_a_tool() -> None:
    text = tools_text(TOOLS)
    lines = text.splitlines()[1:]
    assert len(lines) == len(TOOLS)
    assert lines[0].startswith("- navigate(url: string): ")
    assert all(len(line) < 240 for line in lines)


def test_a_constrained_reply_that_is_not_a_call_stays_text() -> None:
    assert as_tool_call(ai_text("I will now read the page."), TOOLS) is None


def test_local_defaults_apply_unless_the_user_set_them(monkeypatch) -> None:
    monkeypatch.delenv("FLOTILLA_LOCAL_PARALLEL", raising=False)
    general = Context(model="bedrock_converse:x")
    local = Context(model="local")
    for name, value in LOCAL_DEFAULTS.items():
        assert getattr(local, name) == value != getattr(general, name)
    assert local.max_parallel == 1 < general.max_parallel
    mine = Context(model="local", subagent_timeout_s=120, max_parallel=3, subagent_max_steps=5)
    assert (mine.subagent_timeout_s, mine.max_parallel, mine.subagent_max_steps) == (120, 3, 5)
    assert Context(browser_model="local").subagent_timeout_s == LOCAL_DEFAULTS["subagent_timeout_s"]
    monkeypatch.setenv("FLOTILLA_LOCAL_PARALLEL", "2")
    assert Context(model="local").max_parallel == 2


def test_old_tool_results_are_elided_to_fit_the_context() -> None:
    page = "Plan Starter 4.99 USD per month, 100 GB. " * 80
    messages = [SystemMessage("rules " * 50), HumanMessage("task")]
    for n in range(4):
        messages.append(ToolMessage(content=f"page {n}: {page}", tool_call_id=str(n)))
    one_page = estimate_tokens(messages[-1:])
    budget = estimate_tokens(messages) - one_page - one_page // 2  # two must go
    assert fit_history(messages, budget) == 2
    assert estimate_tokens(messages) <= budget
    assert messages[0].text.startswith("rules") and messages[1].text == "task"
    # The oldest results go first; the last two messages are kept whole.
    assert [ELIDED in m.text for m in messages[2:]] == [True, True, False, False]
    assert messages[2].text.startswith("page 0: Plan")
    # Nothing to do when it fits, and no known context means no fitting.
    assert fit_history(messages, 10**6) == 0 and fit_history(messages, 0) == 0
