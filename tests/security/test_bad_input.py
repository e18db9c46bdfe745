"""Bad input at every door: each gets a refusal that names the field, never a traceback.

The doors: a run's `Context` and input as a client of the dev server sends them (a dict the graph
coerces; driven here the way the server drives the graph, `ainvoke(..., context={...})`), the
answer to the plan review (`Command(resume=...)`), and the `flotilla` command's arguments. The
findings a model submits are held in tests/security/test_bad_findings.py. Properties are drawn
by hypothesis, with few examples each: the whole file runs in seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graph.builder import build_graph
from graph.context import LIMITS, Context, ContextError, host_entry_problem
from nodes.plan.node import review_plan, review_problem
from nodes.plan.rules import plan_tasks
from sandbox.egress import validate_url
from sandbox.optins import host_allowed
from tests.fake_sandboxes import FakeCodeSessions, FakeSubagents

SITE, OTHER = "http://127.0.0.1:9301/", "http://127.0.0.1:9302/"
PRICES = {SITE: [("Basic", "$4/mo")], OTHER: [("Solo", "$6/mo")]}
HOSTS = ["127.0.0.1:9301", "127.0.0.1:9302"]
QUESTION = "Compare the monthly prices"

FEW = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _json_values(bits: int) -> st.SearchStrategy[Any]:
    """Anything JSON can carry (NaN and infinities too), integers up to `bits` wide."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2 ** (bits - 1)), max_value=2 ** (bits - 1) - 1)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=8,
    )


# What a client or a model may send. Input the graph checkpoints keeps its integers to 64 bits:
# a wider one fails LangGraph's checkpoint serializer before any node runs (a known limit).
json_values = _json_values(72)
state_values = _json_values(64)
hostish = st.text(
    alphabet=st.sampled_from("abcxyz019.-:[]/@_ äü€\u0131\u212a%"), min_size=0, max_size=24
) | st.from_regex(r"\A[a-z0-9.-]{1,20}(:[0-9]{1,6})?\Z")


def _field_named(exc: ContextError, name: str) -> None:
    assert exc.field.split("[")[0] == name
    assert f"Context.{exc.field}" in str(exc)


# The Context: every field a client can send.


@FEW
@given(name=st.sampled_from(sorted(LIMITS)), value=json_values)
def test_a_limit_outside_its_range_or_of_the_wrong_type_is_refused_by_name(
    name: str, value: Any
) -> None:
    low, high = LIMITS[name]
    try:
        ctx = Context(**{name: value})
    except ContextError as exc:
        _field_named(exc, name)
        return
    kept = getattr(ctx, name)
    if kept is None:
        assert name == "checkpoint_ttl_minutes"
        return
    assert not isinstance(kept, bool) and isinstance(kept, int | float)
    assert math.isfinite(kept) and low <= kept <= high


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_pages", -1),
        ("max_pages", 0),
        ("max_pages", 10**18),
        ("max_parallel", 2.5),
        ("max_subagents", "4"),
        ("max_run_tokens", True),
        ("page_timeout_s", float("nan")),
        ("subagent_timeout_s", float("inf")),
        ("sandbox_memory_mb", 2**63),  # would overflow the sandbox's rlimit
        ("sandbox_timeout_s", -5.0),
        ("checkpoint_ttl_minutes", 0),
        ("approve_plan", "false"),  # a string is truthy: it would have asked for a review
        ("brain", "LLM"),
        ("sandbox_tier", "off"),
        ("sandbox_tier", None),
        ("model", 42),
        ("runs_dir", ""),
        ("memory_namespace", "ns\x00"),
        ("allow_hosts", "127.0.0.1:9301"),  # a string, not a list: would be one host per letter
    ],
)
def test_each_bad_value_is_refused_naming_its_field(name: str, value: Any) -> None:
    with pytest.raises(ContextError) as refused:
        Context(**{name: value})
    _field_named(refused.value, name)


@FEW
@given(entry=hostish)
def test_allow_hosts_entries_are_host_or_host_port_or_refused_by_index(entry: str) -> None:
    try:
        ctx = Context(allow_hosts=[*HOSTS, entry])
    except ContextError as exc:
        assert exc.field == "allow_hosts[2]"
        assert str(exc) == f"Context.allow_hosts[2]: {host_entry_problem(entry)}"
        return
    kept = ctx.allow_hosts[2].strip()
    assert kept.isascii() and "/" not in kept and "@" not in kept
    head, sep, port = kept.rpartition(":")
    if sep and not kept.endswith("]") and (not head.count(":") or head.startswith("[")):
        assert 1 <= int(port) <= 65_535
    host_allowed(kept)  # the operator's check reads every accepted entry


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("bücher.example", "'xn--bcher-kva.example'"),
        ("127.0.0.1:0", "from 1 to 65535"),
        ("127.0.0.1:65536", "from 1 to 65535"),
        ("127.0.0.1:-1", "from 1 to 65535"),
        ("http://127.0.0.1:8001/", "not a URL"),
        ("[::1", "[IPV6]"),
        ("[127.0.0.1]:80", "IPv6"),
        ("1.2.3.4:80:90", "one colon"),
        ("a..b", "not a valid host name"),
        ("", "empty"),
    ],
)
def test_each_bad_host_entry_says_what_is_wrong(entry: str, says: str) -> None:
    with pytest.raises(ContextError, match=r"allow_hosts\[0\]") as refused:
        Context(allow_hosts=[entry])
    assert says in str(refused.value)


def test_good_entries_are_kept_as_given() -> None:
    good = ["127.0.0.1:8001", "localhost", "[::1]:9000", "::1", "Example.COM.", "10.0.0.5:443"]
    assert Context(allow_hosts=good).allow_hosts == good


@pytest.mark.parametrize("name", ["FLOTILLA_BRAIN", "FLOTILLA_SANDBOX_TIER"])
def test_a_bad_default_from_the_environment_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "bogus")
    with pytest.raises(ContextError, match="'bogus'"):
        Context()


# The server's door: the graph invoked as `langgraph dev` invokes it, a dict for context.


def _app() -> tuple[Any, FakeSubagents, FakeCodeSessions]:
    subagents, sessions = FakeSubagents(PRICES), FakeCodeSessions()
    app = build_graph(checkpointer=InMemorySaver(), subagent=subagents, code_sessions=sessions)
    return app, subagents, sessions


def _server_context(tmp_path: Path, **fields: Any) -> dict[str, Any]:
    return {"brain": "offline", "allow_hosts": HOSTS, "runs_dir": str(tmp_path)} | fields


context_fields = st.fixed_dictionaries(
    {},
    optional={
        name: json_values
        for name in (*LIMITS, "brain", "sandbox_tier", "approve_plan", "model", "allow_hosts")
    },
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=context_fields)
def test_a_clients_context_is_refused_before_anything_starts_or_runs(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    app, subagents, sessions = _app()
    sent = _server_context(tmp_path, **fields)
    config = {"configurable": {"thread_id": "t-ctx"}}
    inputs = {"question": QUESTION, "urls": [SITE]}
    try:
        Context(**sent)
    except ContextError as exc:
        with pytest.raises(ContextError) as refused:
            asyncio.run(app.ainvoke(inputs, config, context=sent))
        assert str(refused.value) == str(exc) and exc.field.split("[")[0] in fields
        assert subagents.calls == [] and sessions.opened == []
        return
    # A context the form accepts runs (or pauses for review) without an exception.
    out = asyncio.run(app.ainvoke(inputs, config, context=sent))
    assert "__interrupt__" in out or out["report_path"]


async def test_an_unknown_context_key_is_named(tmp_path: Path) -> None:
    app, subagents, _ = _app()
    config = {"configurable": {"thread_id": "t-key"}}
    sent = _server_context(tmp_path, max_page=2)
    with pytest.raises(TypeError, match="max_page"):
        await app.ainvoke({"question": QUESTION, "urls": [SITE]}, config, context=sent)
    assert subagents.calls == []


url_lists = st.lists(
    st.sampled_from(
        [SITE, " " + OTHER, "file:///etc/passwd", "http://[::1", "http://h:99999/", "ftp://x/", ""]
    )
    | st.text(max_size=40),
    max_size=5,
)


@settings(max_examples=20, deadline=None)
@given(question=state_values, urls=state_values | url_lists)
def test_any_question_and_urls_end_in_a_report_or_a_refusal_naming_the_field(
    question: Any, urls: Any
) -> None:
    # Any well-formed URL gets a site's table from the stand-in browser.
    subagents = FakeSubagents(defaultdict(lambda: [("Basic", "$1/mo")], PRICES))
    app = build_graph(
        checkpointer=InMemorySaver(), subagent=subagents, code_sessions=FakeCodeSessions()
    )
    config = {"configurable": {"thread_id": "t-input"}}
    runs = tempfile.mkdtemp(prefix="flotilla-bad-input-")
    sent = {"brain": "offline", "allow_hosts": HOSTS, "runs_dir": runs}
    try:
        out = asyncio.run(app.ainvoke({"question": question, "urls": urls}, config, context=sent))
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    plan = app.get_state(config).values["plan"]
    errors = out["errors"]
    if question is not None and not isinstance(question, str):
        assert any(e.startswith("question: expected text") for e in errors)
    if urls is not None and not isinstance(urls, list):
        assert any(e.startswith("urls: expected a list") for e in errors)
    elif urls is not None and any(not isinstance(u, str) for u in urls):
        assert any(e.startswith("urls[") for e in errors)
    # Each URL is planned (well-formed http(s)) or refused by a named rule; only planned ones ran.
    assert all(validate_url(task.url) == task.url for task in plan.tasks)
    assert all(r.rule for r in plan.refused)
    assert sorted(subagents.calls) == sorted(task.url for task in plan.tasks)
    assert out["report_path"]


# The plan review's door: whatever a person (or a client) resumes with.


task_entries = st.dictionaries(
    st.sampled_from(["url", "goal", "fields", "task_id", "site"]),
    st.sampled_from([SITE, OTHER, " " + OTHER, "file:///etc/passwd", "javascript:x"]) | json_values,
)
decisions = json_values | st.fixed_dictionaries(
    {"tasks": st.lists(task_entries, max_size=4)}, optional={"approve": json_values}
)


@FEW
@given(decision=decisions)
def test_any_review_answer_is_applied_or_named_as_wrong(decision: Any) -> None:
    plan = plan_tasks(QUESTION, [SITE, OTHER], max_subagents=4)
    if review_problem(decision):
        return
    reviewed = review_plan(plan, decision, max_subagents=4)
    assert reviewed.review in ("approved", "edited", "rejected")
    edited = decision.get("tasks", []) if isinstance(decision, dict) else []
    assert {t.url for t in reviewed.tasks} <= {SITE, OTHER} | {e["url"].strip() for e in edited}
    assert all(t.url.startswith("http") for t in reviewed.tasks)
    assert len(reviewed.tasks) <= 4


@pytest.mark.parametrize(
    ("decision", "named"),
    [
        ("yes", "expected true, false"),
        ("null", "expected true, false"),  # (None itself: LangGraph 1.2 fails to resume at all)
        (1, "expected true, false"),
        ({"task": []}, "unknown key 'task'"),
        ({"approve": "no"}, "approve: expected true or false"),
        ({"tasks": "http://127.0.0.1:9301/"}, "tasks: expected a list"),
        ({"tasks": ["http://127.0.0.1:9301/"]}, "tasks[0]: expected"),
        ({"tasks": [{"goal": "x"}]}, "tasks[0].url: expected a URL"),
        ({"tasks": [{"url": SITE, "goal": 3}]}, "tasks[0].goal: expected text"),
        ({"tasks": [{"url": SITE, "fields": "price"}]}, "tasks[0].fields: expected a list"),
        ({"tasks": [{"url": SITE, "site": SITE}]}, "tasks[0]: unknown key 'site'"),
    ],
)
async def test_a_bad_review_answer_asks_again_naming_what_was_wrong(
    tmp_path: Path, decision: Any, named: str
) -> None:
    app, subagents, _ = _app()
    config = {"configurable": {"thread_id": "t-review"}}
    ctx = _server_context(tmp_path, approve_plan=True)
    await app.ainvoke({"question": QUESTION, "urls": [SITE, OTHER]}, config, context=ctx)
    out = await app.ainvoke(Command(resume=decision), config, context=ctx)
    (asked,) = out["__interrupt__"]
    assert named in asked.value["problem"]
    assert [t["url"] for t in asked.value["plan"]["tasks"]] == [SITE, OTHER]
    assert subagents.calls == []
    # A good answer after the bad one runs the plan as edited.
    edit = {"tasks": [{"url": OTHER, "goal": "Only the storage\nlimits " + "x" * 400}]}
    await app.ainvoke(Command(resume=edit), config, context=ctx)
    values = (await app.aget_state(config)).values
    assert subagents.calls == [OTHER]
    (task,) = values["plan"].tasks
    assert task.task_id == "site-2" and "\n" not in task.goal and len(task.goal) <= 300


# The command line's door.


def _context_of(argv: list[str]) -> Context:
    from cli.common import make_context
    from cli.main import build_parser

    args = build_parser().parse_args(argv)
    ctx = make_context(args)
    ctx.checkpoint_ttl_minutes = getattr(args, "checkpoint_ttl", None)
    return dataclasses.replace(ctx)  # validated again, as a whole


CLI_NUMBERS = {
    "--max-pages": "max_pages",
    "--max-subagents": "max_subagents",
    "--max-parallel": "max_parallel",
    "--max-run-tokens": "max_run_tokens",
    "--checkpoint-ttl": "checkpoint_ttl_minutes",
}
numberish = st.one_of(
    st.integers(min_value=-(2**66), max_value=2**66).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789.-+eEinfa x_", max_size=12),
)


@FEW
@given(flag=st.sampled_from(sorted(CLI_NUMBERS)), value=numberish)
def test_a_cli_number_out_of_range_is_a_usage_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    argv = ["research", QUESTION, "--url", SITE, f"{flag}={value}"]
    try:
        ctx = _context_of(argv)
    except SystemExit as exit_:
        assert exit_.code == 2
        err = capsys.readouterr().err
        assert f"argument {flag}" in err and "Traceback" not in err
        return
    low, high = LIMITS[CLI_NUMBERS[flag]]
    kept = getattr(ctx, CLI_NUMBERS[flag])
    assert kept is not None and low <= kept <= high


@pytest.mark.parametrize(
    "argv",
    [
        ["research", QUESTION, "--url", SITE, "--allow-host", "bücher.example"],
        ["research", QUESTION, "--url", SITE, "--allow-host", "127.0.0.1:99999"],
        ["research", QUESTION, "--url", SITE, "--max-pages", "-3"],
        ["research", QUESTION, "--url", SITE, "--checkpoint-ttl", "nan"],
        ["browse", SITE, "--max-pages", "0"],
        ["demo", "--max-parallel", "1000000"],
        ["demo", "--latency", "-1"],
        ["sandbox", "exec", "x.py", "--timeout", "inf"],
        ["sandbox", "exec", "x.py", "--memory", "-5"],
    ],
)
def test_each_bad_argument_is_one_usage_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    from cli.main import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --" in err and "Traceback" not in err


def test_a_bracketed_v6_entry_with_a_port_allows_that_address_and_port() -> None:
    from sandbox.egress import EgressPolicy

    # The form the refusal's own hint suggests (`--allow-host [::1]:9000`) now matches.
    policy = EgressPolicy.for_sites(
        ["http://[::1]:9000/"], Context(allow_hosts=["[::1]:9000"]).allow_hosts
    )
    assert policy.is_allow_listed("::1", 9000)
    assert not policy.is_allow_listed("::1", 9001)


@pytest.mark.parametrize(
    ("env", "argv"),
    [
        ({"FLOTILLA_BRAIN": "bogus"}, ["research", QUESTION, "--url", SITE]),
        ({"FLOTILLA_SANDBOX_TIER": "off"}, ["memory", "list"]),
    ],
)
def test_a_bad_setting_in_the_environment_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    argv: list[str],
) -> None:
    from cli.main import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("flotilla: Context.")


@pytest.mark.parametrize(
    ("planned", "on_the_wire"),
    [
        ("http://bücher.example/", "http://xn--bcher-kva.example/preise"),
        ("https://Straße.example/", "https://xn--strae-oqa.example/"),  # IDNA 2008, not "strasse"
    ],
)
def test_a_unicode_site_is_planned_in_the_form_the_browser_navigates_to(
    planned: str, on_the_wire: str
) -> None:
    from sandbox.egress import EgressPolicy, origin

    # (Compared without resolving: no name leaves this machine.)
    policy = EgressPolicy.for_sites([planned])
    assert origin(on_the_wire) in policy.sites
    assert origin("http://xn--bcher-kva.example.org/") not in policy.sites
