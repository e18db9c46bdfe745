"""The llm brain's browser subagent: a metered tool-calling loop inside its own browser sandbox.

The model drives the tools of `nodes.browse.tools` in the sandbox `nodes.browse.subagent.run_subagent`
opens for it (the same jail, egress policy, time limit and crash handling as the offline brain).
The loop is bounded by `Context.subagent_max_steps` model calls, `Context.subagent_max_tokens`
tokens, the run's token budget and the subagent's wall time; at any limit, and on a model
error, it returns what it has read, marked partial. Its answer comes through
`submit_findings` and is checked before it becomes `Findings`: facts must come from pages the
subagent visited, and links the egress policy would refuse are removed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.tools import BaseTool

from graph.context import Context
from graph.models import SUMMARY_MAX_CHARS, Fact, Findings, SiteTask, SubagentError
from nodes.browse.findings import build_findings, refused_findings
from nodes.browse.pages import Collected, Progress
from nodes.browse.prompts import BROWSER_SYSTEM
from nodes.browse.subagent import artifacts_dir, run_subagent
from nodes.browse.tools import SUBMIT_TOOL, SubmitFindingsInput, Toolbox
from nodes.llm.chat import model_label
from nodes.llm.constrained import as_tool_call, constrained, supports_schema_turns, tools_text
from nodes.llm.fence import UNTRUSTED_RULES, bound
from nodes.llm.limits import context_for, fit_history, output_bound, was_cut
from nodes.llm.toolcalls import CallStats, argument_error, recover
from nodes.llm.usage import BudgetExhausted, Meter
from nodes.urls import page_identity
from sandbox.browser import BrowserSession
from sandbox.egress import EgressPolicy, EgressRefused

log = logging.getLogger(__name__)

MAX_SUBMITTED_FACTS = 12
CUT_ECHO_CHARS = 300
CUT = (
    "Your reply was cut off at its output limit and was not acted on. Reply with exactly one "
    "short tool call."
)
FACT_MAX_CHARS = 500
LAST_TURN = (
    f"This is your last turn: call {SUBMIT_TOOL} now with the facts you read, each with the "
    "URL of its page."
)
# Kept free of a known context beyond prompt and reply (the estimate's error, the template).
CONTEXT_MARGIN_TOKENS = 256
# Links in what the model writes: scheme URLs, and bare www. hosts a renderer would link.
_LINK = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'`()\[\]{}]+|\bwww\.[^\s<>\"'`()\[\]{}]+")


def system_prompt(task: SiteTask, ctx: Context) -> str:
    """What the browser model is told: its one site, its goal, its limits and the fence rule."""
    return BROWSER_SYSTEM.format(
        url=task.url,
        goal=task.goal,
        fields="\n".join(f"- {f}" for f in task.fields) or "- whatever answers the goal",
        max_pages=ctx.max_pages,
        max_steps=ctx.subagent_max_steps,
        submit_tool=SUBMIT_TOOL,
        summary_max_chars=SUMMARY_MAX_CHARS,
        untrusted_rules=UNTRUSTED_RULES,
    )


class LlmBrain:
    """How an llm subagent uses its browser: the tool loop, and its answer checked as Findings."""

    def __init__(
        self,
        task: SiteTask,
        ctx: Context,
        model: BaseChatModel,
        meter: Meter,
        *,
        artifacts: Path,
        progress: Progress,
    ) -> None:
        self.task, self.ctx, self.model, self.meter = task, ctx, model, meter
        self.artifacts, self.progress = artifacts, progress
        self.label = model_label(model)
        self.toolbox: Toolbox | None = None
        self.summary = ""  # validated: bounded, off-policy links removed
        self.facts: list[Fact] = []
        self.calls = CallStats()
        # Every turn of this loop must be a tool call: where the server takes a JSON schema,
        # the reply is constrained to exactly one call; elsewhere text is repaired.
        self.schema_turns = supports_schema_turns(model)

    async def browse(self, session: BrowserSession, collected: Collected) -> None:
        """Run the loop until the model submits, stops calling tools, or meets a limit."""
        toolbox = Toolbox(
            session,
            collected,
            self.ctx,
            self.artifacts,
            on_event=self._page_event,
            goal=f"{self.task.goal} {' '.join(self.task.fields)}",
        )
        self.toolbox = toolbox
        system = system_prompt(self.task, self.ctx)
        if self.schema_turns:
            system += "\n\n" + tools_text(toolbox.tools)
        messages: list[BaseMessage] = [
            SystemMessage(system),
            HumanMessage(f"Research {self.task.url} for this goal: {self.task.goal}"),
        ]
        stop = await self._loop(toolbox, messages)
        if stop is not None:
            collected.errors.append(stop)
        if toolbox.submission is not None:
            await self._accept(toolbox.submission, session.policy, collected)

    async def _loop(self, toolbox: Toolbox, messages: list[BaseMessage]) -> SubagentError | None:
        """The tool-calling loop; returns the error that stopped it early, or None."""
        tools = toolbox.tools
        steps, token_limit = max(1, self.ctx.subagent_max_steps), self.ctx.subagent_max_tokens
        for step in range(steps):
            offered = self._offered(tools, messages, last=step == steps - 1)
            spent = self.meter.record.total_tokens
            if token_limit > 0 and spent >= token_limit:
                msg = (
                    f"stopped at the subagent's token limit ({spent} of {token_limit} tokens, "
                    "Context.subagent_max_tokens); kept what was read"
                )
                return self._stop("token_limit", msg)
            left = token_limit - spent if token_limit > 0 else None
            # Every call carries an output bound: a runaway reply is cut at the server.
            self._fit(messages, left)
            bounded_model = self.meter.bounded(self.model, left)
            model = (
                constrained(bounded_model, offered)
                if self.schema_turns
                else bounded_model.bind_tools(tools)
            )
            try:
                reply = await self.meter.call(model, messages)
            except BudgetExhausted as exc:
                return self._stop("budget", f"{exc}; kept what was read")
            except Exception as exc:  # a provider error ends this subagent, never the run
                log.warning("browser model failed for %s: %s", self.task.url, exc)
                msg = f"the model failed: {type(exc).__name__}: {exc}; kept what was read"
                return self._stop("model_error", msg[:1000])
            if was_cut(reply):
                # The reply ran to its output bound: not acted on; the step is spent.
                messages += [AIMessage(content=reply.text[:CUT_ECHO_CHARS]), HumanMessage(CUT)]
                continue
            if self.schema_turns:
                reply, repaired = as_tool_call(reply, offered) or reply, False
                self.calls.constrained += bool(reply.tool_calls)
            else:
                reply, repaired = recover(reply, tools)
            self.calls.repaired += repaired
            messages.append(reply)
            if not reply.tool_calls and reply.invalid_tool_calls:
                # Arguments that were not valid JSON: say so, and let the model try again.
                self.calls.made += len(reply.invalid_tool_calls)
                self.calls.refused += len(reply.invalid_tool_calls)
                messages.extend(
                    ToolMessage(
                        content=f"error: the arguments could not be parsed: {bad.get('error')}",
                        tool_call_id=bad.get("id") or "",
                        name=bad.get("name") or "",
                        status="error",
                    )
                    for bad in reply.invalid_tool_calls
                )
                continue
            if not reply.tool_calls:
                said = " ".join(reply.text.split())[:200]
                msg = (
                    "the model replied without calling a tool (neither a tool call nor text that "
                    f"is exactly one): {said!r}; kept what was read"
                )
                return self._stop("no_tool_call", msg)
            for call in reply.tool_calls:
                messages.append(await self._run(toolbox, call, repaired=repaired))
            if toolbox.submission is not None:
                return None
        msg = (
            f"stopped at the subagent's step limit ({steps} model calls, "
            "Context.subagent_max_steps) before it submitted findings; kept what was read"
        )
        return self._stop("step_limit", msg)

    def _offered(
        self, tools: list[BaseTool], messages: list[BaseMessage], *, last: bool
    ) -> list[BaseTool]:
        """The tools a turn may call: on a schema-constrained last turn, only the submission.

        A small model tends to keep browsing until its steps run out; its last turn then
        submits what it read instead of ending partial with no answer.
        """
        if not (self.schema_turns and last):
            return tools
        submit = [t for t in tools if t.name == SUBMIT_TOOL]
        if submit:
            messages.append(HumanMessage(LAST_TURN))
        return submit or tools

    def _fit(self, messages: list[BaseMessage], left: int | None) -> None:
        """Elide old tool results so the prompt and its reply fit the model's context."""
        context = context_for(self.label)
        if context <= 0:
            return
        reply = output_bound("browser", left, self.meter.budget.left)
        fit_history(messages, context - reply - CONTEXT_MARGIN_TOKENS)

    async def _run(self, toolbox: Toolbox, call: ToolCall, *, repaired: bool) -> ToolMessage:
        """One tool call: arguments checked against the tool's schema first, then run."""
        self.calls.made += 1
        problem = argument_error(call, toolbox.tools)
        self.progress(
            "tool",
            {
                "tool": call["name"],
                "url": str(call["args"].get("url") or toolbox.page_url),
                "tokens": self.meter.record.total_tokens,
                "calls": self.meter.record.calls,
                "repaired": repaired,
                "constrained": self.schema_turns,
                "valid": not problem,
            },
        )
        if problem:
            self.calls.refused += 1
            return ToolMessage(
                content=f"error: {problem} Call it again with valid arguments.",
                tool_call_id=call.get("id") or "",
                name=call["name"],
                status="error",
            )
        self.calls.valid += 1
        return await toolbox.run(call)

    def _stop(self, kind: str, message: str) -> SubagentError:
        return SubagentError(where=self.task.url, kind=kind, message=message)

    async def _accept(
        self, submission: SubmitFindingsInput, policy: EgressPolicy, collected: Collected
    ) -> None:
        """Check the model's answer: facts from visited pages only, no off-policy links."""
        # A fact's source is the URL the browser loaded, never the model's spelling of it.
        visited = {page_identity(url): url for url in reversed(collected.pages)}
        notes: list[SubagentError] = []
        for fact in submission.key_facts[:MAX_SUBMITTED_FACTS]:
            source = visited.get(page_identity(fact.source_url))
            if source is None:
                preview = fact.text[:80]
                msg = (
                    f"dropped a key fact whose source_url is not a page this subagent visited "
                    f"({preview!r})"
                )
                notes.append(self._stop("unverified_fact", msg))
                continue
            text = await _drop_links(fact.text, policy, notes, where=self.task.url)
            bounded, _ = bound(text.strip(), FACT_MAX_CHARS)
            if bounded:
                self.facts.append(Fact(text=bounded, source_url=source, score=1.0))
        summary = await _drop_links(submission.summary, policy, notes, where=self.task.url)
        self.summary, _ = bound(summary.strip(), SUMMARY_MAX_CHARS)
        collected.errors.extend(notes)

    def findings(self, collected: Collected, *, artifacts: Path, elapsed_s: float) -> Findings:
        """Findings from what was collected, with the model's checked summary and facts."""
        if self.toolbox is not None:
            self.toolbox.fold_unread()
        if not collected.pages and not collected.errors:
            msg = "the model ended without visiting any page; nothing was read"
            collected.errors.append(self._stop("no_pages", msg))
        findings = build_findings(self.task, collected, artifacts=artifacts, elapsed_s=elapsed_s)
        update: dict[str, object] = {"brain": "llm", "model": self.label}
        if self.summary:
            update["summary"] = self.summary
        if self.facts:
            update["key_facts"] = self.facts
        if self.toolbox is not None and self.toolbox.screenshots:
            update["screenshots"] = list(self.toolbox.screenshots)
        return findings.model_copy(update=update)

    def refused(self, refusal: EgressRefused) -> Findings:
        """Findings for a start URL the egress policy refused (the model never ran)."""
        findings = refused_findings(self.task, refusal)
        return findings.model_copy(update={"brain": "llm", "model": self.label})

    def _page_event(self, step: str, fields: dict[str, object]) -> None:
        self.progress(step, {**fields, "tokens": self.meter.record.total_tokens})


async def _drop_links(
    text: str, policy: EgressPolicy, notes: list[SubagentError], *, where: str
) -> str:
    """`text` with every link the egress policy refuses replaced by a marker (and a note)."""
    verdicts: dict[str, str] = {}
    for link in dict.fromkeys(m.group(0).rstrip(".,;:!?") for m in _LINK.finditer(text)):
        url = link if "://" in link else f"http://{link}"
        try:
            await asyncio.to_thread(policy.check, url)  # may resolve DNS: off the event loop
        except EgressRefused as refusal:
            verdicts[link] = refusal.rule
    if not verdicts:
        return text
    for link, rule in verdicts.items():
        text = text.replace(link, f"[link removed: {rule}]")
        # The note names the rule, not the link: the report should not carry it either.
        msg = f"removed a link the egress policy refuses (rule {rule}) from the model's findings"
        notes.append(SubagentError(where=where, kind="offplan_link", rule=rule, message=msg))
    return text


async def run_llm_subagent(
    task: SiteTask,
    ctx: Context,
    model: BaseChatModel,
    meter: Meter,
    *,
    artifacts_root: str,
    thread_id: str,
    progress: Progress,
) -> Findings:
    """Research one site with `model` driving the browser tools; never raises."""
    artifacts = await asyncio.to_thread(artifacts_dir, artifacts_root, thread_id, task.task_id)
    brain = LlmBrain(task, ctx, model, meter, artifacts=artifacts, progress=progress)
    return await run_subagent(
        task,
        ctx,
        artifacts_root=artifacts_root,
        thread_id=thread_id,
        progress=progress,
        brain=brain,
    )
