"""The CLI's options for the brain and models, the demo's offline rule, and what it prints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cli.common import ProgressPrinter, make_context
from cli.demo import apply_demo_defaults
from cli.main import build_parser, main
from cli.research import print_result
from demo_sites.demo import DemoRecord
from graph.context import Context
from graph.runner import check_models, context_from
from nodes.llm.chat import ModelUnavailable, choose_brain

RESEARCH = ["research", "prices", "--url", "https://a.example/"]


@pytest.fixture(autouse=True)
def no_model_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no model settings and no AWS credentials, whatever this one has."""
    for name in ("FLOTILLA_BRAIN", "FLOTILLA_MODEL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


@pytest.fixture
def aws_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where the llm brain would run by default: credentials and a model set."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("FLOTILLA_MODEL", "bedrock_converse:us.anthropic.claude-test")
    monkeypatch.setenv("FLOTILLA_BRAIN", "llm")


def context_for(*argv: str) -> Context:
    args = build_parser().parse_args(list(argv))
    if args.command == "demo":
        apply_demo_defaults(args)
    return make_context(args)


def test_research_takes_the_brain_models_per_role_and_a_token_budget() -> None:
    ctx = context_for(
        *RESEARCH,
        "--brain", "llm",
        "--model", "bedrock_converse:us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "--role-model", "browser=ollama:llama3.1",
        "--role-model", "report = openai:gpt-4o-mini",
        "--max-run-tokens", "50000",
    )  # fmt: skip
    assert ctx.brain == "llm"
    assert ctx.model == "bedrock_converse:us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert (ctx.coordinator_model, ctx.browser_model) == ("", "ollama:llama3.1")
    assert (ctx.analyst_model, ctx.report_model) == ("", "openai:gpt-4o-mini")
    assert ctx.max_run_tokens == 50_000


def test_a_role_given_twice_keeps_the_last() -> None:
    ctx = context_for(*RESEARCH, "--role-model", "analyst=a:1", "--role-model", "analyst=b:2")
    assert ctx.analyst_model == "b:2"


def test_without_flags_the_context_keeps_its_defaults_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOTILLA_MODEL", "ollama:llama3.1")
    ctx = context_for(*RESEARCH)
    assert (ctx.brain, ctx.model, ctx.max_run_tokens) == ("auto", "ollama:llama3.1", 0)
    assert choose_brain(ctx) == "llm"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--role-model", "planner=ollama:llama3.1"], "unknown role 'planner'"),
        (["--role-model", "browser"], "expected ROLE=SPEC"),
        (["--role-model", "browser="], "expected ROLE=SPEC"),
        (["--role-model", "=ollama:llama3.1"], "expected ROLE=SPEC"),
        (["--brain", "clever"], "invalid choice: 'clever'"),
        (["--max-run-tokens", "-5"], "0 or more"),
        (["--max-run-tokens", "lots"], "0 or more"),
    ],
)
def test_a_bad_model_option_is_a_usage_error_that_says_what_is_expected(
    flags: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*RESEARCH, *flags])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    if "role" in needle:
        assert "coordinator, browser, analyst, report" in err


@pytest.mark.usefixtures("aws_machine")
def test_the_demo_runs_the_offline_brain_even_where_a_model_is_configured() -> None:
    assert choose_brain(context_for(*RESEARCH)) == "llm"  # what research would do here
    demo = context_for("demo")
    assert demo.brain == "offline"
    assert choose_brain(demo) == "offline"


@pytest.mark.usefixtures("aws_machine")
@pytest.mark.parametrize(
    ("brain", "chosen"), [("auto", "llm"), ("llm", "llm"), ("offline", "offline")]
)
def test_the_demo_runs_the_brain_given_explicitly(brain: str, chosen: str) -> None:
    assert choose_brain(context_for("demo", "--brain", brain, "--model", "x:y")) == chosen


def test_a_demo_given_a_model_without_a_brain_says_the_model_is_unused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert context_for("demo", "--model", "ollama:llama3.1").brain == "offline"
    assert "not used without --brain llm" in capsys.readouterr().err


def test_browse_takes_a_brain_and_a_model() -> None:
    ctx = context_for("browse", "https://a.example/", "--brain", "llm", "--model", "ollama:x")
    assert (ctx.brain, ctx.model) == ("llm", "ollama:x")


def test_the_llm_brain_without_a_model_fails_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ModelUnavailable, match="coordinator, browser, analyst, report"):
        check_models(context_for(*RESEARCH, "--brain", "llm"))
    check_models(context_for(*RESEARCH, "--brain", "llm", "--model", "ollama:llama3.1"))
    with pytest.raises(ModelUnavailable, match=r"for the analyst: pass --model"):
        check_models(
            context_for(*RESEARCH, "--brain", "llm", "--role-model", "coordinator=a:b",
                        "--role-model", "browser=a:b", "--role-model", "report=a:b")
        )  # fmt: skip
    # Through the command: exit 2, one line, before Redis or a browser is touched.
    assert main([*RESEARCH, "--brain", "llm", "--json"]) == 2
    out, err = capsys.readouterr()
    assert "--brain offline" in json.loads(out)["error"]
    assert err.count("\n") == 1


def test_a_demo_record_travels_with_the_threads_settings_without_disturbing_them() -> None:
    record = DemoRecord(latency_s=0.3, ports={"cumulo_crate": 40001, "nimbus_vault": 40002})
    settings = json.loads(json.dumps(dataclasses.asdict(Context()) | record.recorded()))
    assert DemoRecord.from_recorded(settings) == record
    assert context_from(settings) == Context()
    assert DemoRecord.from_recorded(dataclasses.asdict(Context())) is None


@pytest.mark.parametrize(
    "entry",
    [
        "ports",
        {"latency_s": 0, "ports": ["cumulo_crate"]},
        {"latency_s": "slow", "ports": {}},
        {"latency_s": 0, "ports": {"cumulo_crate": 70000}},
    ],
)
def test_a_malformed_demo_record_is_no_demo(entry: object) -> None:
    assert DemoRecord.from_recorded({"cli:demo_sites": entry}) is None


def test_progress_lines_show_the_tool_and_tokens_when_events_carry_them() -> None:
    base = {"event": "subagent", "task_id": "site-1", "site": "https://a.example/"}
    offline = ProgressPrinter.line(base | {"state": "page", "pages": 2, "elapsed": 1.5})
    assert "tokens" not in offline and "tool" not in offline
    assert offline.endswith("1.50s  https://a.example/")
    llm = ProgressPrinter.line(
        base | {"state": "tool", "pages": 1, "elapsed": 2.0, "tool": "navigate", "tokens": 12345}
    )
    assert "tool=navigate  tokens=12,345  https://a.example/" in llm
    step = ProgressPrinter.line({"event": "analyst", "state": "done", "tokens": 1000})
    assert step == "analyst: done tokens=1,000"
    done = ProgressPrinter.line({"event": "analyst", "state": "done", "tier": "bwrap", "charts": 4})
    assert done == "analyst: done tier=bwrap charts=4"
    plan = {"event": "plan", "tasks": ["https://a.example/"], "refused": 0}
    assert ProgressPrinter.line(plan | {"planner": "offline"}).endswith("0 target(s) refused")
    assert "(planned by eu.amazon.nova-pro-v1:0)" in ProgressPrinter.line(
        plan | {"planner": "eu.amazon.nova-pro-v1:0"}
    )


USAGE = {
    "nodes": {
        "coordinator": {
            "models": ["m-plan"],
            "calls": 1,
            "input_tokens": 1200,
            "output_tokens": 300,
        },
        "browser": {
            "models": ["m-browse"],
            "calls": 9,
            "input_tokens": 40000,
            "output_tokens": 2100,
        },
    },
    "total": {"calls": 10, "input_tokens": 41200, "output_tokens": 2400},
}
OUTPUT = {
    "thread_id": "t-1",
    "brain": "llm",
    "report_path": "runs/t-1/report.md",
    "charts": [],
    "subagents": [],
    "token_usage": USAGE,
    "errors": [],
}


def test_the_summary_prints_tokens_per_node_and_the_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_result(OUTPUT, as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert "Brain:  llm" in lines
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("  ")}
    assert rows["coordinator"] == ["1", "1,200", "300", "m-plan"]
    assert rows["browser"] == ["9", "40,000", "2,100", "m-browse"]
    assert rows["total"] == ["10", "41,200", "2,400"]


def test_json_output_carries_the_token_usage(capsys: pytest.CaptureFixture[str]) -> None:
    print_result(OUTPUT, as_json=True)
    assert json.loads(capsys.readouterr().out)["token_usage"] == USAGE


def test_the_offline_summary_has_no_token_table(capsys: pytest.CaptureFixture[str]) -> None:
    print_result(OUTPUT | {"brain": "offline", "token_usage": None}, as_json=False)
    assert "Tokens" not in capsys.readouterr().out


def test_browse_with_the_llm_brain_and_no_model_says_what_to_configure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["browse", "https://a.example/", "--brain", "llm", "--json"]) == 2
    out, err = capsys.readouterr()
    assert "no model is configured for the browser" in json.loads(out)["error"]
    assert err.count("\n") == 1
