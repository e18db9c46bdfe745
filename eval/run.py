"""`make eval`: each brain researches the same sites; the run is scored against truth files.

    python -m eval.run                       # the offline brain, and the llm brain on `local`
    python -m eval.run --brains offline      # the offline brain only
    python -m eval.run --model openai:NAME   # the llm brain on another model

For each run: whether the plan covers every site with the model's own plan (not the offline
fallback), tool calls made / valid / repaired / refused (from the subagents' progress events),
pages read, the asked-for values found against the truth (recall; precision of the numbers the
subagents' key facts state), analyst attempts and whether its code ran, whether the report
names every item with its values, tokens per role and wall time per phase. Prints a table and
writes `eval/results/latest.json`. Sites: the bundled demo sites (`eval/truth/demo.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from demo_sites.server import DemoSites
from graph.context import Context
from graph.runner import Runner
from memory.redis_server import EmbeddedRedis
from nodes.report.grounding import NUMBER, values
from sandbox.optins import trust_this_process

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "latest.json"
VERBOSE = False


def _numbers(text: str) -> set[float]:
    return {round(v, 4) for v in values(text)}


def _site_text(finding: Any) -> str:
    parts = [finding.summary, *(f.text for f in finding.key_facts)]
    for table in finding.tables:
        try:
            parts.append(Path(table.artifact.path).read_text(errors="replace"))
        except OSError:
            continue
    return "\n".join(parts)


def score(truth: dict[str, Any], urls: dict[str, str], state: dict[str, Any]) -> dict[str, Any]:
    """The run's scores against `truth` (site name → item → field → value as shown)."""
    findings = {f.site: f for f in state.get("findings") or []}
    report = Path(state["report_path"]).read_text() if state.get("report_path") else ""
    lines = report.splitlines()
    asked = found = named = items = 0
    fact_numbers = fact_true = 0
    for site, table in truth["sites"].items():
        finding = findings.get(urls.get(site, ""))
        held = _numbers(_site_text(finding)) if finding else set()
        true_values = {n for item in table.values() for v in item.values() for n in _numbers(v)}
        for item, fields in table.items():
            items += 1
            asked += len(fields)
            found += sum(1 for v in fields.values() if _numbers(v) & held)
            # Each value on a line of the report that names the item (a table row or a bullet).
            named += all(
                any(item in line and _numbers(v) & _numbers(line) for line in lines)
                for v in fields.values()
            )
        if finding:
            # Each number a fact states (all its readings: 9,99 is 9.99 or 999) is true or not.
            stated = [
                _numbers(m.group(0)) for f in finding.key_facts for m in NUMBER.finditer(f.text)
            ]
            fact_numbers += len(stated)
            fact_true += sum(1 for readings in stated if readings & true_values)
    plan = state.get("plan")
    analysis = state.get("analysis")
    return {
        "plan_valid": plan is not None and {t.url for t in plan.tasks} == set(urls.values()),
        "planner": plan.planner if plan else "",
        "pages": sum(len(f.pages_visited) for f in findings.values()),
        "statuses": {f.task_id: f.status for f in findings.values()},
        "recall": round(found / asked, 3) if asked else 0.0,
        "fact_precision": round(fact_true / fact_numbers, 3) if fact_numbers else None,
        "report_items": f"{named}/{items}",
        "analyst_attempts": analysis.attempts if analysis else 0,
        "analysis_ran": bool(analysis and (analysis.highlights or analysis.charts)),
        "analyst": analysis.author if analysis else "",
    }


async def run_once(brain: str, model: str, truth: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One research run of the demo sites with `brain`, scored."""
    events: list[tuple[float, dict[str, Any]]] = []
    started = time.monotonic()
    with DemoSites() as sites:
        ctx = Context(
            brain=brain,  # type: ignore[arg-type]
            model=model if brain == "llm" else "",
            runs_dir=str(tmp / "runs"),
            # A local model serves one request at a time at ~17 tokens/s here: the defaults
            # (60 s a subagent) would be all time-outs.
            subagent_timeout_s=900.0 if brain == "llm" else 60.0,
        )
        ctx.allow_hosts = [*ctx.allow_hosts, *sites.allow_hosts]
        redis = EmbeddedRedis(tmp / f"redis-{brain}")
        await asyncio.to_thread(redis.start)
        try:
            runner = Runner(
                redis_url=redis.url,
                on_event=lambda e: _event(events, started, e),
            )
            urls = dict(sites.urls)
            result = await runner.run(
                truth["question"], list(urls.values()), ctx, thread=f"eval-{uuid.uuid4().hex[:8]}"
            )
        finally:
            await asyncio.to_thread(redis.stop)
    wall = time.monotonic() - started
    if result.values.get("report_path"):
        kept = RESULTS.parent / f"report-{brain}.md"
        await asyncio.to_thread(shutil.copyfile, result.values["report_path"], kept)
    row = score(truth, urls, result.values)
    tools = [e for _, e in events if e.get("state") == "tool"]
    row.update(
        brain=brain,
        model=model if brain == "llm" else "",
        wall_s=round(wall, 1),
        phases=_phases(events),
        tool_calls=len(tools),
        tool_calls_repaired=sum(1 for e in tools if e.get("repaired")),
        tool_calls_refused=sum(1 for e in tools if e.get("valid") is False),
        tool_calls_constrained=sum(1 for e in tools if e.get("constrained")),
        tokens={
            node: row_["input_tokens"] + row_["output_tokens"]
            for node, row_ in (result.output.get("token_usage") or {}).get("nodes", {}).items()
        },
        # The largest prompt one call of each role sent (must fit the model's context).
        max_prompt={
            node: row_.get("max_prompt", 0)
            for node, row_ in (result.output.get("token_usage") or {}).get("nodes", {}).items()
        },
        errors=len(result.output.get("errors") or []),
    )
    return row


def _event(events: list[tuple[float, dict[str, Any]]], started: float, event: Any) -> None:
    at = time.monotonic() - started
    events.append((at, dict(event)))
    if VERBOSE:
        shown = {k: v for k, v in dict(event).items() if k not in ("usage", "findings")}
        print(f"[{at:7.1f} s] {json.dumps(shown, default=str)[:300]}", file=sys.stderr)


def _phases(events: list[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    """Seconds from the start to each phase's last event (plan, browse, analyst, report)."""
    ends: dict[str, float] = {}
    for at, event in events:
        name = {"subagent": "browse"}.get(str(event.get("event")), str(event.get("event")))
        ends[name] = round(at, 1)
    return ends


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table, one column per run."""
    keys: list[tuple[str, Any]] = [
        ("brain", "brain"),
        ("model", "model"),
        ("plan valid (planner)", lambda r: f"{r['plan_valid']} ({r['planner']})"),
        ("pages read", "pages"),
        ("subagent statuses", lambda r: ", ".join(sorted(r["statuses"].values()))),
        (
            "tool calls (schema-constrained / repaired from text / refused)",
            lambda r: (
                f"{r['tool_calls']} ({r.get('tool_calls_constrained', 0)} / "
                f"{r['tool_calls_repaired']} / {r['tool_calls_refused']})"
            ),
        ),
        ("asked-for values found (recall)", "recall"),
        ("numbers in key facts that are true", "fact_precision"),
        ("report names item with its values", "report_items"),
        ("analyst attempts / ran", lambda r: f"{r['analyst_attempts']} / {r['analysis_ran']}"),
        (
            "tokens per role",
            lambda r: ", ".join(f"{k} {v:,}" for k, v in r["tokens"].items()) or "0",
        ),
        (
            "largest prompt per role (tokens)",
            lambda r: ", ".join(f"{k} {v:,}" for k, v in r.get("max_prompt", {}).items()) or "-",
        ),
        (
            "wall s (phase ends)",
            lambda r: f"{r['wall_s']} ({', '.join(f'{k} {v}' for k, v in r['phases'].items())})",
        ),
    ]
    head = "| | " + " | ".join(str(r["brain"]) for r in rows) + " |"
    lines = [head, "|---|" + "---|" * len(rows)]
    for label, key in keys:
        cells = [key(r) if callable(key) else r.get(str(key)) for r in rows]
        lines.append(f"| {label} | " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


async def main_async(brains: list[str], model: str) -> list[dict[str, Any]]:
    """Run each brain over the demo sites; write and return the rows."""
    truth = json.loads((HERE / "truth" / "demo.json").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="flotilla-eval-"))
    try:
        rows = [await run_once(brain, model, truth, tmp) for brain in brains]
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"sites": "demo", "runs": rows}, indent=2, default=str) + "\n")
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m eval.run [--brains offline,llm] [--model SPEC]`."""
    parser = argparse.ArgumentParser(prog="python -m eval.run")
    parser.add_argument("--brains", default="offline,llm")
    parser.add_argument("--model", default="local")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each event")
    args = parser.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose
    brains = [b for b in re.split(r"[,\s]+", args.brains) if b]
    trust_this_process()  # run by the operator, like the CLI: demo sites on loopback
    rows = asyncio.run(main_async(brains, args.model))
    print(table(rows))
    print(f"\nwritten: {RESULTS}")


if __name__ == "__main__":
    main()
