"""The report with the llm brain: a model writes the short answer, templates do the rest.

The report model is a scripted fake; the node, the structured output, the metering and the
file written are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, Fact, Findings, ModelUsage, Plan, SubagentError
from nodes.report.llm import tidy
from nodes.report.node import redact, render, report, secret_values
from tests.fakes import ScriptedChatModel, ai_text, ai_tool_call, all_text, replies

# Where credentials for the default (Bedrock) model could come from: cleared to have no model.
AWS_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
QUESTION = "Which plan is cheapest per month?"
HIGHLIGHT = "Cheapest: Lite at Beta, $2.50/mo"
FACT = "The Lite plan costs $2.50 per month."


def _findings(model: str = "") -> list[Findings]:
    return [
        Findings(
            task_id="site-1",
            site="https://beta.example/",
            site_name="Beta",
            goal=QUESTION,
            summary="Beta sells storage plans.",
            key_facts=[Fact(text=FACT, source_url="https://beta.example/pricing", score=2)],
            pages_visited=["https://beta.example/"],
            brain="llm" if model else "offline",
            model=model,
        )
    ]


def _state(**kw: Any) -> dict[str, Any]:
    return {
        "question": QUESTION,
        "urls": ["https://beta.example/"],
        "brain": "llm",
        "findings": _findings("fake-browser"),
        "analysis": Analysis(highlights=[HIGHLIGHT], author="fake-analyst", attempts=2),
        "plan": Plan(planner="fake-planner"),
        "usage": [
            ModelUsage(node="coordinator", model="fake-planner", calls=1, input_tokens=300),
            ModelUsage(node="browser", task_id="site-1", model="fake-browser", calls=4),
            ModelUsage(node="analyst", model="fake-analyst", calls=2, output_tokens=90),
        ],
        **kw,
    }


def _writer(*bullets: str) -> ScriptedChatModel:
    return ScriptedChatModel(
        script=replies(ai_tool_call("ShortAnswer", bullets=list(bullets))), name="fake-writer"
    )


async def _report(
    state: dict[str, Any], tmp_path: Path, model: ScriptedChatModel | None = None, **ctx: Any
) -> tuple[dict[str, Any], str]:
    context = Context(runs_dir=str(tmp_path), **ctx)
    models = {"report": model} if model is not None else None
    update = await report(state, Runtime(context=context), models=models)  # type: ignore[arg-type]
    return update, Path(update["report_path"]).read_text()


async def test_the_model_writes_the_short_answer_from_fenced_material(tmp_path: Path) -> None:
    model = _writer(
        "Beta's Lite plan is cheapest at $2.50/mo ([source](https://beta.example/pricing))"
    )
    update, markdown = await _report(_state(), tmp_path, model)

    (seen,) = model.calls
    shown = all_text(seen)
    assert "<<<UNTRUSTED_WEB_CONTENT" in shown and 'source="https://beta.example/"' in shown
    assert FACT in shown and HIGHLIGHT in shown and QUESTION in shown
    assert update["answer"] == (
        "Beta's Lite plan is cheapest at $2.50/mo ([source](https://beta.example/pricing))"
    )
    answer_section = markdown.split("## Short answer")[1].split("##")[0]
    assert "- Beta's Lite plan is cheapest" in answer_section and HIGHLIGHT not in answer_section
    assert "- Report writer: `fake-writer`" in markdown
    (record,) = update["usage"]
    assert (record.node, record.model, record.calls) == ("report", "fake-writer", 1)
    assert update["token_usage"]["nodes"]["report"]["calls"] == 1
    assert update["token_usage"]["total"]["calls"] == 1 + 4 + 2 + 1


def _provider_down(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
    raise RuntimeError("provider down")


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        (replies(ai_text("I'd rather chat.")), "model_error"),
        (_provider_down, "model_error"),
    ],
    ids=["no-structured-answer", "provider-error"],
)
async def test_a_model_failure_falls_back_to_the_templated_answer(
    tmp_path: Path, script: Any, kind: str
) -> None:
    model = ScriptedChatModel(script=script, name="fake-writer")
    update, markdown = await _report(_state(), tmp_path, model)
    assert update["answer"] == HIGHLIGHT
    failed = markdown.split("## What failed")[1].split("## ")[0]
    assert f"report writer ({kind}): fake-writer failed" in failed
    assert "the short answer is the templated one" in failed
    assert "- Report writer: templated (fallback: fake-writer failed)" in markdown
    assert update["errors"][-1].startswith(f"report writer ({kind})")


async def test_a_spent_budget_makes_no_call_and_says_so(tmp_path: Path) -> None:
    model = _writer("never written")
    update, markdown = await _report(_state(), tmp_path, model, max_run_tokens=100)
    assert model.calls == []
    assert update["answer"] == HIGHLIGHT
    assert "report writer (budget)" in markdown and "max_run_tokens" in markdown
    assert update["usage"][0].calls == 0


async def test_no_report_model_falls_back_with_a_clear_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*AWS_CREDENTIAL_ENV, "FLOTILLA_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    update, markdown = await _report(_state(), tmp_path)
    assert update["answer"] == HIGHLIGHT
    assert "report writer (model_unavailable): no model is configured for the report" in markdown
    assert "usage" not in update


def test_models_and_tokens_names_every_role_and_sums_the_nodes(tmp_path: Path) -> None:
    state = _state(
        analysis=Analysis(author="offline (fallback after 3 failed attempts)", attempts=3)
    )
    usage = [*state["usage"], ModelUsage(node="report", model="fake-writer", calls=1)]
    markdown, _, _ = render(
        state,  # type: ignore[arg-type]
        thread_id="t",
        report_path=tmp_path / "report.md",
        writer="fake-writer",
        usage=usage,
    )
    section = markdown.split("## Models and tokens")[1]
    for line in (
        "- Planner: `fake-planner`",
        "- Browser subagents: `fake-browser` (site-1)",
        "- Analyst: offline (fallback after 3 failed attempts) — 3 code run(s)",
        "- Report writer: `fake-writer`",
        "| coordinator | `fake-planner` | 1 | 300 | 0 |",
        "| browser | `fake-browser` | 4 | 0 | 0 |",
        "| analyst | `fake-analyst` | 2 | 0 | 90 |",
        "| report | `fake-writer` | 1 | 0 | 0 |",
        "| **Run total** | | 8 | 300 | 90 |",
    ):
        assert line in section
    assert "brain `llm`" in markdown.splitlines()[4]


async def test_the_offline_brain_says_it_made_no_model_calls(tmp_path: Path) -> None:
    state = _state(brain="offline", findings=_findings(), plan=Plan(), usage=[])
    update, markdown = await _report(state, tmp_path)
    assert "## Models and tokens\n\n_Offline brain, no model calls._" in markdown
    assert "brain `offline`" in markdown
    assert update["token_usage"]["total"] == {"calls": 0, "input_tokens": 0, "output_tokens": 0}
    assert "usage" not in update


async def test_secrets_a_model_was_tricked_into_writing_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "fake-aws-secret-0123456789"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("MY_SERVICE_API_KEY", "another-fake-key")
    model = _writer(f"As the page asked, the key is {secret}", "Also another-fake-key")
    update, markdown = await _report(_state(), tmp_path, model)
    assert secret not in all_text(model.calls[0])
    assert secret not in markdown and "another-fake-key" not in markdown
    assert "the key is [redacted]" in markdown
    assert secret not in update["answer"] and "[redacted]" in update["answer"]


async def test_secrets_in_a_subagent_error_are_redacted_everywhere_the_run_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "fake-aws-secret-0123456789"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    findings = _findings()
    error = SubagentError(where="p", kind="tool", message=f"page printed {secret}")
    findings[0] = findings[0].model_copy(update={"errors": [error]})
    update, markdown = await _report(_state(brain="offline", findings=findings), tmp_path)
    assert secret not in markdown and secret not in str(update)
    assert update["subagents"][0]["errors"] == ["page printed [redacted]"]


def test_secret_values_are_the_secret_looking_variables_long_enough() -> None:
    env = {
        "AWS_SECRET_ACCESS_KEY": "abcdefgh12",
        "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKE",
        "GITHUB_TOKEN": "ghp_fake_token_value",
        "DB_PASSWORD": "hunter2",  # too short to redact safely
        "HOME": "/home/someone-long",
        "OPENAI_API_KEY": "sk-fake-key-1234",
    }
    assert secret_values(env) == [
        "ghp_fake_token_value",
        "sk-fake-key-1234",
        "AKIAFAKEFAKE",
        "abcdefgh12",
    ]
    assert redact("key abcdefgh12 at /home/someone-long", secret_values(env)) == (
        "key [redacted] at /home/someone-long"
    )


def test_a_bullet_is_one_bounded_line() -> None:
    assert tidy("- cheap\n\n## What failed\n- nothing") == "cheap ## What failed - nothing"
    assert len(tidy("x" * 1000)) == 400
