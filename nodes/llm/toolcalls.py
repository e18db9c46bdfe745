"""Tool calls that survive a real small model: calls written as text, and arguments checked.

A small model served over an OpenAI-compatible API (llama.cpp, vLLM, Ollama) often writes its
tool call as JSON text — bare, fenced, or between `<tool_call>` tags — instead of the provider's
tool-call field, so `tool_calls` comes back empty. A reply whose whole text is exactly one call
of a bound tool is turned into that tool call (`repaired`); anything else stays text. The
arguments of every call are validated against the tool's schema before it runs, so the model
gets the validation error back and can retry within its step budget.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, ToolCall
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

_TAGS = re.compile(r"</?tool_call>|<\|?(?:im_end|im_start|endoftext)\|?>", re.IGNORECASE)
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
_ARG_KEYS = ("arguments", "args", "parameters", "input")
ERROR_MAX_CHARS = 600


@dataclass
class CallStats:
    """What a model's tool calls came to: made, valid, repaired from text, refused.

    `constrained`: replies the server held to the schema of one call (`nodes.llm.constrained`).
    """

    made: int = 0
    valid: int = 0
    repaired: int = 0
    refused: int = 0
    constrained: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts, for progress events and the eval."""
        return {
            "made": self.made,
            "valid": self.valid,
            "repaired": self.repaired,
            "refused": self.refused,
            "constrained": self.constrained,
        }


def parse_text_call(text: str, names: Sequence[str]) -> ToolCall | None:
    """The one tool call `text` is exactly (bare, fenced or tagged JSON); None otherwise."""
    body = _TAGS.sub("", text).strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body.startswith(("{", "[")):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        # Qwen2.5-Coder-1.5B wrote `{{"name": ..., "arguments": {...}}}`: one brace pair too many.
        if not (body.startswith("{{") and body.endswith("}}")):
            return None
        try:
            data = json.loads(body[1:-1])
        except ValueError:
            return None
    if isinstance(data, list):
        if len(data) != 1:
            return None
        data = data[0]
    if not isinstance(data, dict):
        return None
    name, args = _name_and_args(data, names)
    if name is None or args is None:
        return None
    return ToolCall(name=name, args=args, id=f"call_{uuid.uuid4().hex[:12]}", type="tool_call")


def _name_and_args(
    data: Mapping[str, Any], names: Sequence[str]
) -> tuple[str | None, dict[str, Any] | None]:
    if isinstance(data.get("function"), Mapping):  # OpenAI's own shape, written as text
        data = data["function"]
    name = data.get("name") or data.get("tool") or data.get("tool_name")
    if isinstance(name, str) and name in names:
        raw: Any = next((data[k] for k in _ARG_KEYS if k in data), {})
        if isinstance(raw, str):  # arguments as a JSON string, as the API itself sends them
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return None, None
        return (name, dict(raw)) if isinstance(raw, Mapping) else (None, None)
    if len(data) == 1:  # {"navigate": {"url": ...}}
        ((key, value),) = data.items()
        if key in names and isinstance(value, Mapping):
            return key, dict(value)
    return None, None


def recover(reply: AIMessage, tools: Sequence[BaseTool]) -> tuple[AIMessage, bool]:
    """`reply` with its text turned into a tool call when it is exactly one; (reply, repaired)."""
    if reply.tool_calls or not reply.text.strip():
        return reply, False
    call = parse_text_call(reply.text, [t.name for t in tools])
    if call is None:
        return reply, False
    return reply.model_copy(update={"content": "", "tool_calls": [call]}), True


def argument_error(call: ToolCall, tools: Sequence[BaseTool]) -> str:
    """Why `call`'s arguments do not fit its tool's schema ('' when they do, or it has none)."""
    tool = next((t for t in tools if t.name == call["name"]), None)
    schema = getattr(tool, "args_schema", None)
    if tool is None or not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return ""
    try:
        schema.model_validate(call.get("args") or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}"
            for err in exc.errors()
        )
        fields = "; ".join(
            f"{name} ({'required' if info.is_required() else 'optional'}"
            f"{': ' + info.description if info.description else ''})"
            for name, info in schema.model_fields.items()
        )
        example = dict.fromkeys(schema.model_fields, "...")
        shape = json.dumps({"name": call["name"], "arguments": example})
        message = (
            f"invalid arguments for {call['name']}: {problems}. It takes: {fields or 'nothing'}. "
            f"Write the call as {shape}"
        )
        return message[:ERROR_MAX_CHARS]
    return ""
