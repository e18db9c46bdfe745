"""Turns that must be a tool call, constrained by a JSON schema over the bound tools.

A small model on an OpenAI-compatible server (llama.cpp, vLLM, Ollama) often answers a turn
that must call a tool with prose, or with a call in a shape the server does not recognise.
Where the server constrains output with a JSON schema (`response_format`), such a turn is
sent without `tools` and with a schema that admits exactly one call of one offered tool:
`{"name": <one tool's name>, "arguments": <that tool's argument schema>}`, an `anyOf` over
the tools. The tools are described to the model in a short text instead (`tools_text`), and
the reply, which can then only be such a call, is parsed into a real tool call.

Other providers keep `bind_tools` and the text-repair path (`nodes.llm.toolcalls.recover`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from nodes.llm.toolcalls import parse_text_call

SCHEMA_NAME = "tool_call"
# Providers whose own API is the OpenAI one: its strict schemas refuse a root `anyOf`.
_HOSTED = ("api.openai.com", "openai.azure.com")
DESC_MAX_CHARS = 160


def supports_schema_turns(model: BaseChatModel) -> bool:
    """Whether `model` talks to a server that constrains replies with a JSON schema.

    True for `ChatOpenAI` pointed at another server (a base URL that is not OpenAI's own):
    llama.cpp's server (the embedded local model), vLLM and Ollama take `response_format`
    with a JSON schema. `FLOTILLA_SCHEMA_TOOLS=1`/`0` forces it on or off for any model.
    """
    forced = os.environ.get("FLOTILLA_SCHEMA_TOOLS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if type(model).__name__ != "ChatOpenAI":
        return False
    base = getattr(model, "openai_api_base", None) or ""
    host = urlsplit(base).hostname or ""
    return bool(host) and not any(host == h or host.endswith("." + h) for h in _HOSTED)


def _parameters(tool: BaseTool) -> dict[str, Any]:
    params = dict(convert_to_openai_tool(tool)["function"].get("parameters") or {})
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    params.pop("title", None)
    return params


def call_schema(tools: Sequence[BaseTool]) -> dict[str, Any]:
    """The JSON schema of exactly one call of one of `tools`."""
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "const": tool.name},
                    "arguments": _parameters(tool),
                },
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for tool in tools
        ]
    }


def response_format(tools: Sequence[BaseTool]) -> dict[str, Any]:
    """The `response_format` a schema-constrained turn sends."""
    return {
        "type": "json_schema",
        "json_schema": {"name": SCHEMA_NAME, "schema": call_schema(tools)},
    }


def constrained(
    model: BaseChatModel, tools: Sequence[BaseTool]
) -> Runnable[LanguageModelInput, Any]:
    """`model` for one turn whose reply must be exactly one call of one of `tools`."""
    return model.bind(response_format=response_format(tools))


def tools_text(tools: Sequence[BaseTool]) -> str:
    """The tools as the model reads them on a constrained turn: one short line each."""
    lines = []
    for tool in tools:
        props = _parameters(tool)["properties"]
        required = set(_parameters(tool).get("required") or [])
        args = ", ".join(
            f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}"
            for name, spec in props.items()
        )
        desc = " ".join(tool.description.split())
        if len(desc) > DESC_MAX_CHARS:
            desc = desc[: DESC_MAX_CHARS - 1].rstrip() + "…"
        lines.append(f"- {tool.name}({args}): {desc}")
    return (
        "Tools (reply with exactly one call, as "
        '{"name": "<tool>", "arguments": {...}}):\n' + "\n".join(lines)
    )


def as_tool_call(reply: AIMessage, tools: Sequence[BaseTool]) -> AIMessage | None:
    """The constrained reply as a tool call; None when its text is not exactly one call."""
    if reply.tool_calls:
        return reply
    call = parse_text_call(reply.text, [t.name for t in tools])
    if call is None:
        return None
    return reply.model_copy(update={"content": "", "tool_calls": [call]})
