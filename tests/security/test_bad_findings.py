"""The findings a model submits: whatever arguments it sends, a refusal naming the field, or
`Findings` within their bounds — never an exception that ends the subagent.

One real jailed Chromium on a local site with a table, one `Toolbox` on it, as the llm brain
uses them; hypothesis draws what the model submits through the `submit_findings` tool, and what
the tool accepts goes through the brain's own checks (`LlmBrain._accept`) into `Findings`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.context import Context
from graph.models import SUMMARY_MAX_CHARS, Findings, SiteTask
from nodes.browse.llm import FACT_MAX_CHARS, MAX_SUBMITTED_FACTS, LlmBrain
from nodes.browse.pages import Collected
from nodes.browse.tools import SUBMIT_TOOL, Toolbox
from nodes.llm.usage import Meter, RunBudget
from sandbox.browser import browser_sandbox
from sandbox.egress import EgressPolicy
from tests.fakes import ScriptedChatModel

pytestmark = pytest.mark.slow

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def _facts(visited: str) -> st.SearchStrategy[Any]:
    source = st.sampled_from(
        [visited, visited + "#x", " " + visited, "http://evil.example/", "file:///etc/passwd", ""]
    )
    fact = st.fixed_dictionaries(
        {"text": st.text(max_size=60) | st.just("€ 7,50 " * 200), "source_url": source}
    )
    return st.lists(fact | json_values, max_size=20) | json_values


def _submissions(visited: str) -> st.SearchStrategy[dict[str, Any]]:
    summary = st.text(max_size=80) | st.just("word " * 2_000) | json_values
    return st.fixed_dictionaries(
        {}, optional={"summary": summary, "key_facts": _facts(visited), "extra": json_values}
    )


def test_whatever_a_model_submits_is_refused_by_field_or_bounded_findings(
    tmp_path: Path, site_server: Any
) -> None:
    site = site_server("static_table")
    ctx = Context(brain="llm", allow_hosts=[site.host], runs_dir=str(tmp_path), max_pages=1)
    task = SiteTask(task_id="site-1", url=site.url, goal="Compare the monthly prices")
    policy = EgressPolicy.for_sites([site.url], allow_hosts=[site.host])
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    try:
        session = loop.run_until_complete(stack.enter_async_context(browser_sandbox(policy)))
        collected = Collected()
        toolbox = Toolbox(session, collected, ctx, tmp_path)
        loop.run_until_complete(toolbox.navigate(site.url))
        (visited,) = collected.pages
        checked = {"refused": 0, "accepted": 0}

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(args=_submissions(visited))
        def submitting(args: dict[str, Any]) -> None:
            toolbox.submission = None
            call = {"name": SUBMIT_TOOL, "args": args, "id": "call-1", "type": "tool_call"}
            reply = loop.run_until_complete(toolbox.run(call))  # type: ignore[arg-type]
            if toolbox.submission is None:
                checked["refused"] += 1
                assert reply.status == "error"
                assert str(reply.content).startswith("error: invalid arguments: ")
                named = ("summary", "key_facts", "arguments")
                assert any(name in str(reply.content) for name in named), reply.content
                return
            checked["accepted"] += 1
            model = ScriptedChatModel(script=lambda _: None, name="fake-browser")
            meter = Meter(RunBudget(limit=0), node="browser", model="fake-browser")
            brain = LlmBrain(task, ctx, model, meter, artifacts=tmp_path, progress=lambda *a: None)
            seen = Collected(pages=[visited])
            loop.run_until_complete(brain._accept(toolbox.submission, policy, seen))
            assert len(brain.summary) <= SUMMARY_MAX_CHARS
            assert len(brain.facts) <= MAX_SUBMITTED_FACTS
            for fact in brain.facts:
                assert fact.source_url == visited and len(fact.text) <= FACT_MAX_CHARS
            findings = brain.findings(seen, artifacts=tmp_path, elapsed_s=0.1)
            assert Findings.model_validate(findings.model_dump()) == findings

        submitting()
        assert checked["refused"] and checked["accepted"], checked
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
