"""Limits that know the model: an output-token bound on every call, and N calls at a time.

Every model call carries an output-token bound: the role's per-call ceiling, lowered to what
the role's token budget (a subagent's `subagent_max_tokens`) and the run's budget have left, so
a reply that would run on without end is cut at the server. A cut reply is recognised from the
provider's finish reason, counted on the role's usage record, and ends that step.

A model server that serves N requests at a time (the embedded local model: 1 by default; any
server with `FLOTILLA_MODEL_SLOTS=N`) gets at most N at once from this process; the others
wait in line, and the time a browser subagent spends waiting is given back to its time limit:
the limit counts its own work, not the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import weakref
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

# Most output tokens one call of each role may produce: a browser turn is one tool call, a
# plan or an answer a short JSON object, analysis code a script.
OUTPUT_CEILINGS: dict[str, int] = {
    "coordinator": 1_024,
    "browser": 768,
    "analyst": 2_048,
    "report": 512,
}
DEFAULT_CEILING = 1_024
# No call is bounded below this (room for one tool call): a budget with less left may be
# overspent by at most this much before its check stops the next call.
MIN_OUTPUT_TOKENS = 32
# The fields chat-model classes take their output bound in.
_LIMIT_FIELDS = ("max_tokens", "max_output_tokens", "num_predict", "max_new_tokens")
# Finish reasons that mean "cut at the output bound", across providers.
_CUT = {"length", "max_tokens", "max_output_tokens", "model_length"}

# The running subagent's time limit, so waiting for a model slot can be given back to it.
DEADLINE: ContextVar[asyncio.Timeout | None] = ContextVar("flotilla_deadline", default=None)


def output_bound(role: str, *lefts: int | None) -> int:
    """The role's per-call ceiling, lowered to the smallest budget left (None: no budget)."""
    bound = OUTPUT_CEILINGS.get(role, DEFAULT_CEILING)
    ceiling = os.environ.get("FLOTILLA_MAX_OUTPUT_TOKENS")
    if ceiling and ceiling.isdigit() and int(ceiling) > 0:
        bound = min(bound, int(ceiling))
    for left in lefts:
        if left is not None:
            bound = min(bound, max(0, left))
    return bound


def with_output_limit(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of `model` that stops after `max_tokens` output tokens (where its class can)."""
    for name in _LIMIT_FIELDS:
        if name in type(model).model_fields:
            current = getattr(model, name, None)
            if isinstance(current, int) and 0 < current <= max_tokens:
                return model
            return model.model_copy(update={name: max_tokens})
    return model


def was_cut(message: BaseMessage) -> bool:
    """Whether the provider says the reply stopped at its output bound."""
    meta = getattr(message, "response_metadata", None) or {}
    reasons = (meta.get("finish_reason"), meta.get("stop_reason"), meta.get("done_reason"))
    return any(isinstance(r, str) and r.lower() in _CUT for r in reasons)


def model_slots() -> int:
    """Requests a model server serves at once, as configured (`FLOTILLA_MODEL_SLOTS`; 0: any)."""
    raw = os.environ.get("FLOTILLA_MODEL_SLOTS", "")
    return int(raw) if raw.isdigit() else 0


_SLOTS: dict[str, int] = {}
_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]
_QUEUES = weakref.WeakKeyDictionary()


def set_slots(model_label: str, slots: int) -> None:
    """Say that the server behind `model_label` serves `slots` requests at a time."""
    _SLOTS[model_label] = slots


def slots_for(model_label: str) -> int:
    """Requests at a time for `model_label` (0: no limit)."""
    return _SLOTS.get(model_label) or model_slots()


@contextlib.asynccontextmanager
async def model_slot(model_label: str) -> AsyncIterator[float]:
    """Hold one of the model's slots for a call; yields the seconds spent waiting for it.

    The wait is added back to the running subagent's time limit (`DEADLINE`).
    """
    slots = slots_for(model_label)
    if slots <= 0:
        yield 0.0
        return
    queues = _QUEUES.setdefault(asyncio.get_running_loop(), {})
    queue = queues.setdefault(model_label, asyncio.Semaphore(slots))
    started = time.monotonic()
    async with queue:
        waited = time.monotonic() - started
        deadline = DEADLINE.get()
        when = deadline.when() if deadline is not None else None
        if deadline is not None and when is not None and waited > 0:
            deadline.reschedule(when + waited)
        yield waited


def limited(model: Any, role: str, *lefts: int | None) -> Any:
    """`model` bounded for one call of `role` (see `output_bound`)."""
    if isinstance(model, BaseChatModel):
        return with_output_limit(model, max(MIN_OUTPUT_TOKENS, output_bound(role, *lefts)))
    return model


# The context window of a model (in tokens) where it is known (the local model's server).
_CONTEXTS: dict[str, int] = {}
# Characters per token for the estimate of a prompt's size: low, so the estimate runs high
# (measured with the local model's tokenizer: ~3.6 for English page text, ~2.6 for JSON).
CHARS_PER_TOKEN = 2.8
# Tokens a chat template adds around each message.
PER_MESSAGE_TOKENS = 6
ELIDED_KEEP_CHARS = 160
ELIDED = " … [elided to fit the model's context: call the tool again to read it]"


def set_context(model_label: str, tokens: int) -> None:
    """Say that `model_label`'s server holds `tokens` tokens of prompt and reply per request."""
    _CONTEXTS[model_label] = tokens


def context_for(model_label: str) -> int:
    """The model's context in tokens (0: unknown, no fitting)."""
    return _CONTEXTS.get(model_label, 0)


def estimate_tokens(messages: list[BaseMessage], extra_chars: int = 0) -> int:
    """A high estimate of the prompt `messages` (and `extra_chars` of tool text) make."""
    chars = extra_chars
    for message in messages:
        chars += len(message.text) + len(str(getattr(message, "tool_calls", "") or ""))
    return int(chars / CHARS_PER_TOKEN) + PER_MESSAGE_TOKENS * len(messages)


def fit_history(
    messages: list[BaseMessage], budget_tokens: int, *, keep_last: int = 2, extra_chars: int = 0
) -> int:
    """Elide the oldest tool results until `messages` fit `budget_tokens`; returns how many.

    The system prompt, the task and the last `keep_last` messages are kept whole; an elided
    tool result keeps its first characters and says it was elided.
    """
    if budget_tokens <= 0:
        return 0
    elided = 0
    for index, message in enumerate(messages[: max(0, len(messages) - keep_last)]):
        if estimate_tokens(messages, extra_chars) <= budget_tokens:
            break
        text = message.text
        if message.type != "tool" or len(text) <= ELIDED_KEEP_CHARS + len(ELIDED):
            continue
        messages[index] = message.model_copy(update={"content": text[:ELIDED_KEEP_CHARS] + ELIDED})
        elided += 1
    return elided
