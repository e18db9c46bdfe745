"""Scripted chat models: the only fakes in the suite, standing in for a cloud model.

A `ScriptedChatModel` answers each call with what its script returns for the conversation so
far. It implements `bind_tools` (recording the tools it was offered), so the real
`with_structured_output` and tool-calling paths run unchanged, and it reports usage metadata
so token accounting is exercised.

    script = lambda messages, tools: ai_tool_call("navigate", url="http://...")
    model = ScriptedChatModel(script=script, name="fake-browser")
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

# (messages so far, names of the tools bound) -> the reply
Script = Callable[[list[BaseMessage], list[str]], AIMessage]

_ids = itertools.count(1)


def ai_tool_call(name: str, **args: Any) -> AIMessage:
    """An assistant turn that calls one tool."""
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": f"call-{next(_ids)}"}]
    )


def ai_text(text: str) -> AIMessage:
    """An assistant turn that answers in text."""
    return AIMessage(content=text)


def last_human(messages: Sequence[BaseMessage]) -> str:
    return next((str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), "")


def tool_results(messages: Sequence[BaseMessage]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def all_text(messages: Sequence[BaseMessage]) -> str:
    """Everything the model was shown, for asserting what reached it."""
    return "\n".join(
        m.content if isinstance(m.content, str) else json.dumps(m.content) for m in messages
    )


class ScriptedChatModel(BaseChatModel):
    """A chat model whose replies come from a script; records every conversation it saw."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Script
    name: str = "scripted"
    tokens_per_call: tuple[int, int] = (100, 20)
    # The output bound a call was made with (set by the llm brain, as on a real provider).
    max_tokens: int | None = None
    _tools: list[str] = PrivateAttr(default_factory=list)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _bounds: list[int | None] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def model(self) -> str:
        return self.name

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """Every conversation the model was called with, across bound copies."""
        return self._calls

    @property
    def bounds(self) -> list[int | None]:
        """The output bound (`max_tokens`) of every call, across copies."""
        return self._bounds

    def model_copy(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        copy = super().model_copy(*args, **kwargs)
        copy._calls, copy._bounds = self._calls, self._bounds  # copies share one record
        return copy

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        bound = self.model_copy()
        bound._tools = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        return bound

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        self._calls.append(list(messages))
        self._bounds.append(self.max_tokens)
        reply = self.script(list(messages), list(self._tools))
        tokens_in, tokens_out = self.tokens_per_call
        reply = reply.model_copy(
            update={
                "usage_metadata": {
                    "input_tokens": tokens_in,
                    "output_tokens": tokens_out,
                    "total_tokens": tokens_in + tokens_out,
                },
                "response_metadata": {"model_name": self.name, **reply.response_metadata},
            }
        )
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._reply(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._reply(messages)


def replies(*turns: AIMessage) -> Script:
    """A script that plays `turns` in order, then repeats the last one."""
    played = iter(turns)
    last: list[AIMessage] = []

    def script(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        last[:] = [next(played, last[0] if last else turns[-1])]
        return last[0]

    return script


# A turn is a reply, or a function of the conversation so far that makes one.
Turn = AIMessage | Callable[[list[BaseMessage]], AIMessage]


def by_site(turns: dict[str, list[Turn]], offered: list[list[str]] | None = None) -> Script:
    """A script keyed by the site each conversation researches (branches run in any order).

    The site is the first key found in the conversation's first human message. Each site's
    turns play in order (the n-th reply of that conversation is turn n); the last one repeats.
    `offered` collects the tool names each call was offered.
    """

    def script(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        if offered is not None:
            offered.append(tools)
        asked = next(str(m.content) for m in messages if isinstance(m, HumanMessage))
        site = next(url for url in turns if url in asked)
        plays = turns[site]
        done = sum(isinstance(m, AIMessage) for m in messages)
        turn = plays[min(done, len(plays) - 1)]
        return turn(messages) if callable(turn) else turn

    return script
