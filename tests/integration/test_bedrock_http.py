"""The Bedrock path at the HTTP level: the real `ChatBedrockConverse` against a local Converse stub.

Request signing (SigV4), the tool schema sent for structured output, and the parsing of the
response (tool use, token usage) are langchain-aws's and botocore's own; only the server is ours
(`tests/bedrock_stub.py`), on loopback. Clients get fake credentials and a loopback endpoint,
and the instance-metadata lookup is disabled, so nothing leaves the machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from langchain_aws import ChatBedrockConverse
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graph.builder import build_graph
from graph.context import Context
from nodes.llm import chat
from nodes.llm.chat import chat_model, choose_brain, has_aws_credentials
from nodes.llm.limits import OUTPUT_CEILINGS
from nodes.plan.llm import ResearchPlan
from tests.bedrock_stub import (
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    REGION,
    BedrockStub,
    ConverseCall,
    ConverseError,
    text,
    tool_use,
)

MODEL_ID = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
QUESTION = "Compare the monthly price of the storage plans"
A, B = "https://a.example/", "https://b.example/pricing"
PLAN = {
    "tasks": [
        {"url": B, "goal": "Monthly price per TB", "fields": ["plan", "price per TB (EUR)"]},
        {"url": A, "goal": "Monthly price per plan", "fields": ["plan", "monthly price"]},
    ],
    "notes": ["B first: it lists prices per TB"],
}


@pytest.fixture(autouse=True)
def aws_sandboxed(no_model: pytest.MonkeyPatch) -> None:
    """No credentials, config or endpoint from this machine; never the metadata address."""
    no_model.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Models resolved from a spec are cached per process; start each test without them.
    no_model.setattr(chat, "_CACHE", {})


def _planner(call: ConverseCall) -> dict[str, Any]:
    return tool_use(ResearchPlan.__name__, PLAN, input_tokens=812, output_tokens=96)


async def test_the_planner_plans_through_the_converse_api_signed_and_metered(tmp_path):
    with BedrockStub(_planner) as stub:
        model = stub.chat_model(MODEL_ID)
        app = build_graph(checkpointer=InMemorySaver(), models={"coordinator": model})
        config = {"configurable": {"thread_id": "t-bedrock"}}
        ctx = Context(brain="llm", approve_plan=True, runs_dir=str(tmp_path))
        await app.ainvoke({"question": QUESTION, "urls": [A, B]}, config, context=ctx)
        (pending,) = [i for t in (await app.aget_state(config)).tasks for i in t.interrupts]
        await app.ainvoke(
            Command(resume=True), config, context=ctx, interrupt_after=["coordinator"]
        )
        values = (await app.aget_state(config)).values
    assert stub.failures == []

    # One request, to the model's path, signed with SigV4 for bedrock in the client's region.
    (call,) = stub.calls
    assert call.path == f"/model/{quote(MODEL_ID, safe='')}/converse"
    assert call.model_id == MODEL_ID
    assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    auth = call.authorization
    assert (auth["key"], auth["region"], auth["service"]) == (FAKE_ACCESS_KEY, REGION, "bedrock")
    assert {"host", "x-amz-date"} <= set(auth["signed"].split(";"))
    assert call.signature_is_valid(FAKE_SECRET_KEY)
    assert not call.signature_is_valid("another-secret")

    # Structured output went out as one forced tool whose input schema is our plan schema.
    body = call.body
    (tool,) = body["toolConfig"]["tools"]
    expected = convert_to_openai_tool(ResearchPlan)["function"]
    assert tool["toolSpec"]["name"] == "ResearchPlan"
    assert tool["toolSpec"]["inputSchema"]["json"] == expected["parameters"]
    schema = tool["toolSpec"]["inputSchema"]["json"]
    assert schema["required"] == ["tasks"]
    assert set(schema["properties"]["tasks"]["items"]["properties"]) == {"url", "goal", "fields"}
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "ResearchPlan"}}
    # Every call carries an output bound: the planner's per-call ceiling.
    assert body["inferenceConfig"]["maxTokens"] == OUTPUT_CEILINGS["coordinator"]
    sent = str(body["messages"]) + str(body["system"])
    assert QUESTION in sent and A in sent and B in sent and "max_subagents" in sent

    # The toolUse answer became the plan (in the model's order), shown and then run as shown.
    plan = values["plan"]
    assert [(t.task_id, t.url, t.goal, t.fields) for t in plan.tasks] == [
        ("site-1", B, "Monthly price per TB", ["plan", "price per TB (EUR)"]),
        ("site-2", A, "Monthly price per plan", ["plan", "monthly price"]),
    ]
    assert pending.value["plan"]["tasks"] == plan.model_dump(mode="json")["tasks"]
    assert (plan.planner, plan.notes, plan.review) == (
        MODEL_ID,
        ["B first: it lists prices per TB"],
        "approved",
    )
    # Bedrock's usage (inputTokens/outputTokens) reached the node's record.
    assert [u.model_dump() for u in values["usage"]] == [
        {
            "node": "coordinator",
            "task_id": "",
            "model": MODEL_ID,
            "calls": 1,
            "input_tokens": 812,
            "output_tokens": 96,
            "truncated": 0,
            "max_input_tokens": 812,  # the largest prompt of the role's calls
        }
    ]


async def test_a_bedrock_error_plans_offline_and_names_the_cause(tmp_path):
    def denied(call: ConverseCall) -> dict[str, Any]:
        raise ConverseError(403, "AccessDeniedException", "You don't have access to the model")

    with BedrockStub(denied) as stub:
        app = build_graph(
            checkpointer=InMemorySaver(), models={"coordinator": stub.chat_model(MODEL_ID)}
        )
        config = {"configurable": {"thread_id": "t-denied"}}
        await app.ainvoke(
            {"question": QUESTION, "urls": [A, B]},
            config,
            context=Context(brain="llm", runs_dir=str(tmp_path)),
            interrupt_after=["coordinator"],
        )
        values = (await app.aget_state(config)).values
    assert len(stub.calls) == 1
    plan = values["plan"]
    assert [(t.url, t.goal) for t in plan.tasks] == [(A, QUESTION), (B, QUESTION)]
    assert plan.planner == "offline"
    (error,) = [e for e in values["errors"] if e.startswith("coordinator:")]
    assert "AccessDeniedException" in error and MODEL_ID in error
    assert [(u.calls, u.total_tokens) for u in values["usage"]] == [(0, 0)]


def test_a_bedrock_converse_spec_resolves_with_the_region_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    spec = "bedrock_converse:apac.amazon.nova-pro-v1:0"
    model = chat_model(Context(model=spec), "coordinator")
    assert isinstance(model, ChatBedrockConverse)
    assert (model.model_id, model.region_name) == ("apac.amazon.nova-pro-v1:0", "ap-southeast-2")
    assert model.client.meta.region_name == "ap-southeast-2"
    assert model.client.meta.endpoint_url == "https://bedrock-runtime.ap-southeast-2.amazonaws.com"
    # A role's own field wins over the shared one.
    other = chat_model(
        Context(model=spec, coordinator_model="bedrock_converse:x.y-v1"), "coordinator"
    )
    assert isinstance(other, ChatBedrockConverse) and other.model_id == "x.y-v1"


def test_aws_credentials_make_bedrock_the_default_and_the_llm_brain_auto(monkeypatch, tmp_path):
    nothing = Context(brain="auto", model="")
    assert not has_aws_credentials()
    assert choose_brain(nothing) == "offline"
    with pytest.raises(chat.ModelUnavailable, match="no model is configured for the coordinator"):
        chat_model(nothing, "coordinator")

    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    assert has_aws_credentials() and choose_brain(nothing) == "llm"
    model = chat_model(nothing, "coordinator")
    assert isinstance(model, ChatBedrockConverse)
    assert model.model_id == f"us.{chat.BEDROCK_MODEL}" and model.region_name == "us-west-2"
    assert choose_brain(Context(brain="offline", model="")) == "offline"

    # A shared credentials file counts too (a profile, as `aws configure` writes it).
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    assert not has_aws_credentials()
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = x\naws_secret_access_key = y\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    assert has_aws_credentials()


async def test_the_default_model_from_the_aws_environment_plans_through_the_stub(
    monkeypatch, tmp_path
):
    """Configured by the environment alone, as in production, but with the endpoint on loopback."""
    with BedrockStub(_planner) as stub:
        monkeypatch.setenv("AWS_REGION", "eu-central-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
        # botocore's per-service endpoint override: the one change from a real deployment.
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stub.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", stub.url)
        ctx = Context(brain="auto", model="", runs_dir=str(tmp_path))
        model = chat_model(ctx, "coordinator")
        assert isinstance(model, ChatBedrockConverse)
        assert model.client.meta.endpoint_url == stub.url  # checked before any request
        app = build_graph(checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": "t-default-bedrock"}}
        await app.ainvoke(
            {"question": QUESTION, "urls": [A, B]},
            config,
            context=ctx,
            interrupt_after=["coordinator"],
        )
        values = (await app.aget_state(config)).values
    (call,) = stub.calls
    default_id = f"eu.{chat.BEDROCK_MODEL}"
    assert call.model_id == default_id
    assert call.authorization["region"] == "eu-central-1" and call.signature_is_valid()
    assert values["brain"] == "llm" and values["plan"].planner == default_id
    assert [t.url for t in values["plan"].tasks] == [B, A]
    assert [(u.model, u.input_tokens, u.output_tokens) for u in values["usage"]] == [
        (default_id, 812, 96)
    ]


# The whole llm path over HTTP: one Converse model id per role, one stub playing all four.

ROLE_IDS = {
    "coordinator": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "browser": "eu.amazon.nova-pro-v1:0",
    "analyst": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
    "report": "eu.amazon.nova-lite-v1:0",
}
PRICING_PAGES = {"nimbus_vault": "pricing.html", "strato_cask": "tiers.html"}
ANALYSIS = """\
import json, os
import pandas as pd
import matplotlib
matplotlib.use("Agg")
os.makedirs("out", exist_ok=True)
manifest = json.load(open("manifest.json"))
rows = {{t["site"]: len(pd.read_csv(t["path"])) for t in manifest[{key!r}]}}
ax = pd.Series(rows).plot.bar(title="Plans per site")
ax.get_figure().savefig("out/plans.png")
json.dump({{"highlights": [f"{{s}}: {{n}} plans" for s, n in sorted(rows.items())]}},
          open("out/summary.json", "w"))
"""


def _converse_text(body: dict[str, Any]) -> str:
    """Everything a Converse request carries as text: messages, tool results, system."""
    return json.dumps(body.get("messages", [])) + json.dumps(body.get("system", []))


def _whole_run_script(urls: dict[str, str]) -> Any:
    def script(call: ConverseCall) -> dict[str, Any]:
        body = call.body
        if call.model_id == ROLE_IDS["coordinator"]:
            tasks = [
                {"url": u, "goal": f"Plan prices at {n}", "fields": ["price"]}
                for n, u in urls.items()
            ]
            return tool_use("ResearchPlan", {"tasks": tasks}, input_tokens=500, output_tokens=80)
        if call.model_id == ROLE_IDS["browser"]:
            first = json.dumps(body["messages"][0])
            name, url = next((n, u) for n, u in urls.items() if u in first)
            done = sum(m["role"] == "assistant" for m in body["messages"])
            turns = [
                ("navigate", {"url": url + PRICING_PAGES[name]}),
                ("extract_tables", {}),
                ("submit_findings", {"summary": f"{name}: prices read.", "key_facts": []}),
            ]
            tool, args = turns[min(done, len(turns) - 1)]
            return tool_use(tool, args, input_tokens=300, output_tokens=40)
        if call.model_id == ROLE_IDS["analyst"]:
            key = "tables" if "KeyError" in _converse_text(body) else "table"
            return text(f"```python\n{ANALYSIS.format(key=key)}```", input_tokens=900)
        if call.model_id == ROLE_IDS["report"]:
            answer = {"bullets": ["Both vendors list their plans."]}
            return tool_use("ShortAnswer", answer, input_tokens=700, output_tokens=30)
        return ConverseError(404, "ResourceNotFoundException", f"no model {call.model_id}")

    return script


@pytest.mark.slow
async def test_the_whole_llm_run_goes_through_the_converse_api(demo_sites, tmp_path):
    urls = {name: demo_sites.urls[name] for name in PRICING_PAGES}
    with BedrockStub(_whole_run_script(urls)) as stub:
        models = {role: stub.chat_model(model_id) for role, model_id in ROLE_IDS.items()}
        app = build_graph(checkpointer=InMemorySaver(), models=models)
        ctx = Context(allow_hosts=demo_sites.allow_hosts, runs_dir=str(tmp_path / "runs"))
        values = await app.ainvoke(
            {"question": QUESTION, "urls": list(urls.values())},
            {"configurable": {"thread_id": "t-bedrock-run"}},
            context=ctx,
        )
    assert stub.failures == []
    assert all(call.signature_is_valid() for call in stub.calls)

    by_model = {
        role: [c for c in stub.calls if c.model_id == mid] for role, mid in ROLE_IDS.items()
    }
    assert [len(by_model[r]) for r in ("coordinator", "analyst", "report")] == [1, 2, 1]
    assert len(by_model["browser"]) == 6  # three turns per site
    # The browser's tools went out as Converse tool specs; results came back as toolResult.
    offered = {t["toolSpec"]["name"] for t in by_model["browser"][0].body["toolConfig"]["tools"]}
    assert {"navigate", "read_text", "extract_tables", "submit_findings"} <= offered
    later = _converse_text(by_model["browser"][-1].body)
    assert "toolResult" in later and "UNTRUSTED_WEB_CONTENT" in later

    assert values["brain"] == "llm"
    assert all(row["status"] == "ok" and row["tables"] for row in values["subagents"])
    per_node = values["token_usage"]["nodes"]
    assert per_node["browser"]["models"] == [ROLE_IDS["browser"]]
    assert per_node["browser"]["input_tokens"] == 6 * 300
    assert per_node["coordinator"]["output_tokens"] == 80
    assert "Both vendors list their plans." in values["answer"]
    report = Path(values["report_path"]).read_text()
    for model_id in ROLE_IDS.values():
        assert model_id in report
    assert Path(values["charts"][0]).read_bytes()[:4] == b"\x89PNG"
