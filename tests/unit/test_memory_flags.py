"""Choosing the run's memory by configuration: `Context.memory`, its CLI flags and environment.

No service is reached: these check the settings and the backend they pick.
"""

from __future__ import annotations

import pytest

from cli.common import make_context
from cli.main import build_parser, main
from graph.context import Context, ContextError
from graph.runner import memory_backend
from memory.agentcore_backend import AgentCoreBackend
from memory.backend import RedisBackend

MEMORY_ID = "flotillaunit-a1b2c3d4e5"
RESEARCH = ["research", "q", "--url", "https://example.com/"]


def test_redis_is_the_default_and_its_path_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOTILLA_MEMORY", raising=False)
    ctx = make_context(build_parser().parse_args(RESEARCH))
    assert ctx.memory == "redis"
    assert memory_backend(ctx, redis_url="redis://127.0.0.1:6399/0") == RedisBackend(
        "redis://127.0.0.1:6399/0"
    )


def test_flags_choose_agentcore_memory_at_the_agentcore_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/")  # never used for AgentCore
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", "http://127.0.0.1:2/")
    args = build_parser().parse_args(
        [*RESEARCH, "--memory", "agentcore", "--memory-id", MEMORY_ID, "--actor-id", "team/a"]
    )
    ctx = make_context(args)
    assert (ctx.memory, ctx.agentcore_memory_id, ctx.agentcore_actor_id) == (
        "agentcore",
        MEMORY_ID,
        "team/a",
    )
    ctx.agentcore_region = "eu-west-1"
    assert memory_backend(ctx) == AgentCoreBackend(
        memory_id=MEMORY_ID,
        actor_id="team/a",
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:2",
    )


def test_the_environment_chooses_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOTILLA_MEMORY", "agentcore")
    monkeypatch.setenv("FLOTILLA_AGENTCORE_MEMORY_ID", MEMORY_ID)
    monkeypatch.setenv("FLOTILLA_AGENTCORE_ACTOR_ID", "alice")
    ctx = Context()
    assert (ctx.memory, ctx.agentcore_memory_id, ctx.agentcore_actor_id) == (
        "agentcore",
        MEMORY_ID,
        "alice",
    )


@pytest.mark.parametrize(
    ("fields", "name", "says"),
    [
        ({"memory": "dynamo"}, "memory", "expected one of redis, agentcore"),
        ({"memory": "agentcore"}, "agentcore_memory_id", "is required"),
        ({"memory": "agentcore", "agentcore_memory_id": "x"}, "agentcore_memory_id", "not an"),
        ({"agentcore_actor_id": "no spaces"}, "agentcore_actor_id", "not an AgentCore actor"),
        (
            {"memory": "agentcore", "agentcore_memory_id": MEMORY_ID, "checkpoint_ttl_minutes": 1},
            "checkpoint_ttl_minutes",
            "applies to Redis only",
        ),
    ],
)
def test_bad_memory_settings_are_refused_by_name(
    fields: dict[str, object], name: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOTILLA_AGENTCORE_MEMORY_ID", raising=False)
    with pytest.raises(ContextError, match=says) as raised:
        Context(**fields)  # type: ignore[arg-type]
    assert raised.value.field == name


def test_agentcore_memory_without_an_id_is_a_usage_error_naming_the_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FLOTILLA_AGENTCORE_MEMORY_ID", raising=False)
    assert main(["resume", "t-1", "--memory", "agentcore"]) == 2
    err = capsys.readouterr().err
    assert "Context.agentcore_memory_id: is required" in err and "--memory-id" in err


def test_studio_shows_the_memory_fields() -> None:
    from graph.builder import build_graph

    schema = build_graph().get_context_jsonschema()
    props = schema["properties"]
    assert props["memory"]["enum"] == ["redis", "agentcore"]
    assert "description" in props["agentcore_memory_id"]
    assert "description" in props["agentcore_actor_id"]
