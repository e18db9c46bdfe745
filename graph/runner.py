"""The run's orchestration: one thread of the graph, checkpointed, run or resumed.

A `Runner` compiles the graph with the saver and store of the run's memory (Redis, or AgentCore
Memory: `memory.backend`), records the run's settings with the thread (so `resume` needs nothing
but the thread id and where its memory is), serves a demo run's sites again when it resumes one,
streams progress events to a callback, asks a reviewer at each plan review, and
returns a `RunResult`. The CLI (`flotilla research`, `demo`, `resume`), the bench and the tests
all run threads through it; printing, prompts and exit codes stay with the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from demo_sites.demo import DemoRecord
from graph.context import ROLES, Context

if TYPE_CHECKING:
    from graph.state import ResearchInput
    from memory.backend import MemoryBackend, ThreadMemory
    from nodes.analyse.workbench import SessionFactory
    from nodes.browse.subagent import Subagent
    from nodes.llm.chat import ModelOverrides

OnEvent = Callable[[dict[str, Any]], None]
"""Receives each progress event the nodes emit (LangGraph's "custom" stream)."""

Review = Callable[[dict[str, Any], str], Any]
"""Answers a plan review (the interrupt's request, the thread id): True, False, the plan's
tasks to keep (`{"tasks": [...]}`), or None when nobody can answer and the plan waits. Called
in a thread, so it may block on a person."""

OUTPUT_KEYS = (
    "thread_id",
    "brain",
    "answer",
    "report_path",
    "report_html",
    "charts",
    "sources",
    "subagents",
    "token_usage",
    "cost",
    "errors",
)


class ThreadError(Exception):
    """The thread cannot be run as asked (unknown, or has an unfinished run); says what to do."""


@dataclass(frozen=True)
class RunResult:
    """What a run left: its output (the keys of `OUTPUT_KEYS`) and the thread's final state."""

    output: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict, repr=False)
    waiting: bool = False
    """True when the run stopped at a plan review nobody answered (resume finishes it)."""

    @property
    def thread_id(self) -> str:
        """The thread the run was on."""
        return str(self.output["thread_id"])

    @property
    def usable(self) -> bool:
        """Whether the run produced anything useful: some subagent read something."""
        subagents = self.output.get("subagents") or []
        return any(s["status"] in ("ok", "partial") for s in subagents)


def context_from(data: dict[str, Any]) -> Context:
    """A `Context` from recorded settings; keys this version does not know are ignored."""
    known = {f.name for f in dataclasses.fields(Context)}
    return Context(**{k: v for k, v in data.items() if k in known})


def memory_backend(ctx: Context, *, redis_url: str | None = None) -> MemoryBackend:
    """The memory `ctx` names.

    Redis (`redis_url`, else `$REDIS_URL`, else embedded), or AgentCore Memory at the AgentCore
    tier's region and endpoint (never the global `AWS_ENDPOINT_URL`).
    """
    if ctx.memory != "agentcore":
        from memory.backend import RedisBackend

        return RedisBackend(redis_url)
    from memory.agentcore_backend import AgentCoreBackend
    from sandbox.agentcore.settings import AgentCoreSettings

    where = AgentCoreSettings(region=ctx.agentcore_region, endpoint=ctx.agentcore_endpoint)
    return AgentCoreBackend(
        memory_id=ctx.agentcore_memory_id.strip(),
        actor_id=ctx.agentcore_actor_id,
        region=where.resolved_region,
        endpoint_url=where.resolved_endpoint,
    )


def check_models(ctx: Context) -> None:
    """With the llm brain asked for, every role needs a model: say which lack one, up front.

    Raises `ModelUnavailable` before anything starts, rather than after the plan.
    """
    if ctx.brain != "llm":
        return
    from nodes.llm.chat import ModelUnavailable, configured_spec

    missing = [role for role in ROLES if not configured_spec(ctx, role)]
    if missing:
        msg = (
            f"the llm brain needs a model for the {', '.join(missing)}: pass --model "
            "provider:model (or --role-model ROLE=SPEC; env FLOTILLA_MODEL), provide AWS "
            "credentials for Amazon Bedrock, or use --brain offline"
        )
        raise ModelUnavailable(msg)
    from nodes.llm.chat import local_unavailable

    for spec in dict.fromkeys(configured_spec(ctx, role) for role in ROLES):
        reason = local_unavailable(spec)  # e.g. `--model local` before its setup
        if reason:
            raise ModelUnavailable(reason)


@dataclass
class Runner:
    """Runs and resumes threads against one memory, with its progress and review hooks.

    `memory`: where checkpoints, thread settings and insights live; None: the one the run's
    `Context.memory` names (a resume: the environment's). `redis_url`: with Redis, a server to
    use; None takes `$REDIS_URL`, else starts an embedded one for the run. `on_event` gets every progress event; `review` answers plan reviews (without one, a
    run that asks stops there and waits for a resume). `models`, `subagent` and
    `code_sessions` go to `build_graph` (chat models; stand-ins for the browser and code
    sandboxes, e.g. a test's).
    """

    redis_url: str | None = None
    on_event: OnEvent | None = None
    review: Review | None = None
    models: ModelOverrides | None = None
    subagent: Subagent | None = None
    code_sessions: SessionFactory | None = None
    memory: MemoryBackend | None = None

    async def run(
        self,
        question: str,
        urls: list[str],
        ctx: Context,
        *,
        thread: str | None = None,
        demo: DemoRecord | None = None,
    ) -> RunResult:
        """Research `question` over `urls` on `thread` (default: a new one).

        On an existing thread the run continues it: the new question is planned afresh and the
        thread's earlier findings stay in its state (the report marks them). `demo` records
        that the URLs are the bundled demo sites this process serves, so a resume can serve
        them again. Raises `ModelUnavailable` before anything starts when the llm brain lacks
        a model, and what `run_thread` raises.
        """
        check_models(ctx)
        thread_id = thread or f"run-{uuid.uuid4().hex[:12]}"
        inputs: ResearchInput = {"question": question, "urls": urls}
        return await self.run_thread(thread_id, inputs, ctx, demo=demo)

    async def resume(self, thread_id: str) -> RunResult:
        """Finish the thread's interrupted run with the settings it was started with.

        Branches that finished before the interruption are not run again: their results are
        in the last checkpoint's pending writes. A demo thread gets its sites served again.
        """
        return await self.run_thread(thread_id, None, None)

    async def run_thread(
        self,
        thread_id: str,
        inputs: ResearchInput | None,
        ctx: Context | None,
        *,
        demo: DemoRecord | None = None,
    ) -> RunResult:
        """Run `inputs` on `thread_id`, or with `inputs=None` finish its interrupted run.

        `ctx=None` runs with the settings recorded when the thread last ran; when that run was
        on the demo sites, they are served again on the ports its plan uses. The memory is
        `self.memory`, else the one `ctx` names (`Context.memory`; on a resume, the
        environment's). Raises `MemoryUnavailable` (`RedisUnavailable` for Redis) when the
        memory is down or goes away mid-run (finished steps stay checkpointed), `ThreadError`
        when the thread cannot run as asked, `SitesUnavailable` when the demo sites cannot be
        served on their ports again.
        """
        from memory.backend import MemoryUnavailable

        backend = self.memory or memory_backend(ctx or Context(), redis_url=self.redis_url)
        async with backend.open() as memory:
            try:
                return await self._run_on(memory, thread_id, inputs, ctx, demo)
            except Exception as exc:
                lost = None if isinstance(exc, MemoryUnavailable) else memory.lost(exc, thread_id)
                if lost is None:
                    raise
                raise lost from None

    async def _run_on(
        self,
        memory: ThreadMemory,
        thread_id: str,
        inputs: ResearchInput | None,
        ctx: Context | None,
        demo: DemoRecord | None,
    ) -> RunResult:
        from graph.builder import build_graph
        from memory.insights import embedder_loading

        config: Any = {"configurable": {"thread_id": thread_id}}
        if ctx is None:
            recorded = await memory.load_settings(thread_id) or {}
            ctx = context_from(recorded)
            demo = DemoRecord.from_recorded(recorded)
        ttl = ctx.checkpoint_ttl_minutes
        async with (
            memory.checkpoints(ttl_minutes=ttl) as (saver, store),
            embedder_loading(store),  # the model loads while the run plans and browses
        ):
            app = build_graph(
                checkpointer=saver,
                store=store,
                models=self.models,
                subagent=self.subagent,
                code_sessions=self.code_sessions,
            )
            state = await app.aget_state(config)
            _check_can_run(state, thread_id, resume=inputs is None, where=memory.where)
            if inputs is not None or state.next:
                with contextlib.ExitStack() as stack:
                    if inputs is None and demo is not None:
                        # This process serves the sites the killed one did, where the plan
                        # expects them.
                        stack.enter_context(demo.serve_again(thread_id))
                    record = dataclasses.asdict(ctx) | (demo.recorded() if demo else {})
                    await memory.save_settings(thread_id, record, ttl_minutes=ttl)
                    state = await self._drive(app, config, ctx, inputs, thread_id)
        return _result(state)

    async def _drive(
        self, app: Any, config: Any, ctx: Context, inputs: ResearchInput | None, thread_id: str
    ) -> Any:
        """Stream the run to `on_event`, asking `review` at each plan review; the end state."""
        from langgraph.types import Command

        step: Any = inputs
        while True:
            # "sync": a step counts as done only once its checkpoint is in Redis, so losing
            # Redis stops the run at the next step rather than after the report.
            stream = app.astream(step, config, context=ctx, stream_mode="custom", durability="sync")
            async for event in stream:
                if self.on_event is not None:
                    self.on_event(event)
            state = await app.aget_state(config)
            pending = [i for task in state.tasks for i in task.interrupts]
            if not pending or self.review is None:
                return state
            decision = await asyncio.to_thread(self.review, pending[0].value, thread_id)
            if decision is None:
                return state
            step = Command(resume=decision)


def _result(state: Any) -> RunResult:
    output = {key: state.values.get(key) for key in OUTPUT_KEYS}
    if output["token_usage"] is None and state.values.get("usage"):
        from nodes.llm.usage import summarise_usage

        output["token_usage"] = summarise_usage(state.values["usage"])
    waiting = any(task.interrupts for task in state.tasks)
    return RunResult(output=output, values=dict(state.values), waiting=waiting)


def _check_can_run(state: Any, thread_id: str, *, resume: bool, where: str) -> None:
    if resume and state.created_at is None:
        msg = f"there is no thread {thread_id!r} in {where}: check the id"
        raise ThreadError(msg)
    if not resume and state.next:
        msg = (
            f"thread {thread_id!r} has an unfinished run (next: {', '.join(state.next)}): "
            f"finish it with `flotilla resume {thread_id}`, or use another --thread"
        )
        raise ThreadError(msg)
