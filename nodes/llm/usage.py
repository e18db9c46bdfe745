"""Model calls and tokens: counted per node from usage metadata, held to the run's budget.

Every model call in the llm brain goes through `Meter.call`, which refuses to start once the
run's token budget (`Context.max_run_tokens`) is spent, then counts the call's tokens against
the node's record and the run's budget. Branches of one run share the budget in-process; it is
seeded from the state's recorded usage, so a resumed run keeps counting where it stopped.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from graph.models import ModelUsage
from nodes.llm.limits import limited, model_slot, was_cut


class BudgetExhausted(RuntimeError):
    """The run's token budget is spent: no new model work starts."""


@dataclass
class RunBudget:
    """Tokens one run may still spend (limit 0: unlimited)."""

    limit: int
    spent: int = 0

    @property
    def left(self) -> int | None:
        """Tokens left to spend (None: no limit)."""
        return max(0, self.limit - self.spent) if self.limit > 0 else None

    @property
    def exhausted(self) -> bool:
        """Whether a limit is set and spent."""
        return self.limit > 0 and self.spent >= self.limit

    def check(self) -> None:
        """Raise BudgetExhausted when the budget is spent."""
        if self.exhausted:
            raise BudgetExhausted(
                f"the run's token budget ({self.limit} tokens, Context.max_run_tokens) is spent "
                f"({self.spent} used); no new model work was started"
            )


_BUDGETS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, RunBudget]]
_BUDGETS = weakref.WeakKeyDictionary()


def run_budget(thread_id: str, limit: int, recorded: Iterable[ModelUsage] = ()) -> RunBudget:
    """The shared budget of a run, at least what its state already records as spent."""
    per_loop = _BUDGETS.setdefault(asyncio.get_running_loop(), {})
    budget = per_loop.setdefault(thread_id, RunBudget(limit=limit))
    budget.limit = limit
    budget.spent = max(budget.spent, sum(u.total_tokens for u in recorded))
    return budget


def tokens_of(message: BaseMessage) -> tuple[int, int]:
    """(input, output) tokens from a model message's usage metadata; (0, 0) when absent."""
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("input_tokens", 0) or 0), int(usage.get("output_tokens", 0) or 0)


class Meter:
    """Counts one node's (or one subagent's) model calls and holds them to the run's budget."""

    def __init__(self, budget: RunBudget, *, node: str, model: str, task_id: str = "") -> None:
        self.budget = budget
        self.record = ModelUsage(node=node, task_id=task_id, model=model)
        self.queued_s = 0.0  # time spent waiting for a slot on the model's server

    def bounded(self, model: BaseChatModel, *lefts: int | None) -> BaseChatModel:
        """`model` with this role's output bound for one call (`nodes.llm.limits`).

        `lefts` are further budgets the call must fit (a subagent's tokens left).
        """
        bound: BaseChatModel = limited(model, self.record.node, self.budget.left, *lefts)
        return bound

    def charge(self, message: BaseMessage) -> None:
        """Count one model call's tokens on this record and against the run's budget."""
        tokens_in, tokens_out = tokens_of(message)
        self.record.calls += 1
        self.record.input_tokens += tokens_in
        self.record.max_input_tokens = max(self.record.max_input_tokens, tokens_in)
        self.record.output_tokens += tokens_out
        self.budget.spent += tokens_in + tokens_out
        if was_cut(message):
            self.record.truncated += 1

    async def call(
        self, model: BaseChatModel | Runnable[LanguageModelInput, Any], messages: list[BaseMessage]
    ) -> AIMessage:
        """One metered model call; raises BudgetExhausted instead of starting one."""
        self.budget.check()
        async with model_slot(self.record.model) as waited:
            self.queued_s += waited
            reply = await model.ainvoke(messages)
        if not isinstance(reply, AIMessage):
            raise TypeError(f"the model returned {type(reply).__name__}, not an AIMessage")
        self.charge(reply)
        return reply

    async def structured(
        self, model: Runnable[LanguageModelInput, Any], messages: list[BaseMessage]
    ) -> Any:
        """One metered call of `with_structured_output(..., include_raw=True)`; returns parsed.

        Raises ValueError with the parsing error when the model's answer does not fit.
        """
        self.budget.check()
        async with model_slot(self.record.model) as waited:
            self.queued_s += waited
            out = await model.ainvoke(messages)
        raw = out.get("raw") if isinstance(out, dict) else None
        if isinstance(raw, BaseMessage):
            self.charge(raw)
        else:
            self.record.calls += 1
        if isinstance(out, dict) and out.get("parsing_error") is not None:
            raise ValueError(str(out["parsing_error"]))
        return out.get("parsed") if isinstance(out, dict) else out


def summarise_usage(records: Iterable[ModelUsage]) -> dict[str, Any]:
    """Calls and tokens per node and for the run, for the output, the report and the CLI."""
    per_node: dict[str, dict[str, Any]] = {}
    total = {"calls": 0, "input_tokens": 0, "output_tokens": 0}
    for record in records:
        row = per_node.setdefault(
            record.node,
            {"models": [], "calls": 0, "input_tokens": 0, "output_tokens": 0, "max_prompt": 0},
        )
        if record.model not in row["models"]:
            row["models"].append(record.model)
        # The largest prompt one call of the role sent: what must fit the model's context.
        row["max_prompt"] = max(row["max_prompt"], record.max_input_tokens)
        for key in ("calls", "input_tokens", "output_tokens"):
            row[key] += getattr(record, key)
            total[key] += getattr(record, key)
    return {"nodes": per_node, "total": total}
