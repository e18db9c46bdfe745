"""Which chat model plays which role, and which brain a run uses.

A role's model comes from, first to last: an instance or spec passed to `build_graph(models=...)`
(tests inject fakes this way, no patching), the role's `Context` field, `Context.model`
(env FLOTILLA_MODEL), and Amazon Bedrock when AWS credentials are present. Specs are
`provider:model` strings for `init_chat_model`, so any LangChain provider works the same way.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from langchain_core.language_models import BaseChatModel

from graph.context import ROLES, Context, Role
from graph.models import ModelUsage
from nodes.llm.usage import Meter, run_budget

# What `build_graph(models=...)` takes: per role (or "default"), an instance or a spec.
ModelOverrides = Mapping[str, BaseChatModel | str]

# Bedrock serves current Claude models through cross-region inference profiles; the profile's
# prefix follows the region's geography.
BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
_GEO_PREFIXES = {"us": "us", "eu": "eu", "ap": "apac", "ca": "us", "sa": "us"}
# A Bedrock API key (a bearer token boto3 sends to Bedrock instead of signing).
BEDROCK_API_KEY_ENV = "AWS_BEARER_TOKEN_BEDROCK"
_AWS_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


class ModelUnavailable(RuntimeError):
    """The llm brain was asked for but no model is configured for a role, or it cannot load."""


def aws_region() -> str:
    """The AWS region from the environment (us-east-1 when none is set)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def has_aws_credentials() -> bool:
    """Whether AWS credentials or a Bedrock API key are configured; never asks instance metadata.

    The environment and the shared credentials file answer at once; otherwise botocore's own
    chain is asked (profiles in `~/.aws/config`: SSO, `credential_process`, assume-role), without
    its instance-metadata provider, which would probe the metadata address when nothing else is
    set. It reads files and may run a configured credential process: call it off the event loop.
    """
    if any(os.environ.get(name) for name in (*_AWS_CREDENTIAL_ENV, BEDROCK_API_KEY_ENV)):
        return True
    shared = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(Path.home() / ".aws/credentials")
    return Path(shared).is_file() or _botocore_finds_credentials()


def _botocore_finds_credentials() -> bool:
    import botocore.credentials
    import botocore.exceptions
    import botocore.session

    resolver = botocore.credentials.create_credential_resolver(botocore.session.Session())
    resolver.remove("iam-role")  # the instance-metadata provider
    try:
        return resolver.load_credentials() is not None
    except botocore.exceptions.BotoCoreError:
        # Configured but not working (a failing credential_process, a broken profile): the llm
        # brain is chosen and its first model call says what is wrong, rather than a silent
        # fall back to the offline brain.
        return True


def bedrock_default() -> str:
    """The default Bedrock Converse spec for this region's geography."""
    prefix = _GEO_PREFIXES.get(aws_region().split("-", 1)[0], "global")
    return f"bedrock_converse:{prefix}.{BEDROCK_MODEL}"


def _named_spec(ctx: Context, role: Role) -> str:
    """The spec `Context` names for a role (its own field, else `model`); '' when none."""
    return (getattr(ctx, f"{role}_model", "") or ctx.model or "").strip()


def configured_spec(ctx: Context, role: Role) -> str:
    """The spec a role uses from configuration alone ('' when none is configured)."""
    spec = _named_spec(ctx, role)
    if spec:
        return spec
    return bedrock_default() if has_aws_credentials() else ""


def choose_brain(
    ctx: Context, overrides: ModelOverrides | None = None
) -> Literal["llm", "offline"]:
    """'llm' or 'offline' for this run, as `Context.brain` says ('auto': llm if configured)."""
    if ctx.brain in ("llm", "offline"):
        return ctx.brain
    if overrides:
        return "llm"
    # Credentials are looked for once, not once per role (botocore's chain reads files and may
    # run a credential process).
    if any(_named_spec(ctx, role) for role in ROLES) or has_aws_credentials():
        return "llm"
    return "offline"


_CACHE: dict[str, BaseChatModel] = {}
_CACHE_LOCK = threading.Lock()


def chat_model(ctx: Context, role: Role, overrides: ModelOverrides | None = None) -> BaseChatModel:
    """The chat model for `role`; raises ModelUnavailable with what to configure."""
    chosen = (overrides or {}).get(role) or (overrides or {}).get("default")
    if isinstance(chosen, BaseChatModel):
        return chosen
    spec = (chosen or configured_spec(ctx, role)).strip()
    if not spec:
        raise ModelUnavailable(
            f"no model is configured for the {role}: set Context.{role}_model or Context.model "
            "(env FLOTILLA_MODEL, e.g. bedrock_converse:<model id>, or `local` for the embedded "
            "local model), provide AWS credentials for Bedrock, or use brain=offline"
        )
    with _CACHE_LOCK:
        if spec not in _CACHE:
            _CACHE[spec] = _init(spec)
        return _CACHE[spec]


async def achat_model(
    ctx: Context, role: Role, overrides: ModelOverrides | None = None
) -> BaseChatModel:
    """`chat_model` for async code: the client is built in a thread.

    Building one reads boto3's data and config files, and `langgraph dev` refuses blocking calls
    on its event loop.
    """
    chosen = (overrides or {}).get(role) or (overrides or {}).get("default")
    if isinstance(chosen, BaseChatModel):
        return chosen
    return await asyncio.to_thread(chat_model, ctx, role, overrides)


async def metered_model(
    ctx: Context,
    role: Role,
    overrides: ModelOverrides | None,
    thread_id: str,
    recorded: Iterable[ModelUsage] = (),
    *,
    task_id: str = "",
) -> tuple[BaseChatModel, Meter]:
    """The role's model and a meter holding its calls to the run's token budget.

    The budget starts from at least what `recorded` says was spent. Raises `ModelUnavailable`
    when the role has no model.
    """
    model = await achat_model(ctx, role, overrides)
    budget = run_budget(thread_id, ctx.max_run_tokens, recorded)
    return model, Meter(budget, node=role, model=model_label(model), task_id=task_id)


LOCAL_SPEC = "local"


def local_unavailable(spec: str) -> str:
    """Why `spec` cannot run here ('' when it can): only the local model is checked up front."""
    if spec.strip() != LOCAL_SPEC:
        return ""
    from nodes.llm.local_model import missing

    return missing()


def _local() -> BaseChatModel:
    """A chat model on the process's embedded local model server (started on first use)."""
    import httpx
    from langchain_openai import ChatOpenAI

    from nodes.llm.limits import set_context, set_slots
    from nodes.llm.local_model import MODEL_NAME, LocalModelMissing, shared_server

    try:
        server = shared_server()
    except LocalModelMissing as exc:
        raise ModelUnavailable(f"cannot start the local model: {exc}") from exc
    # One request per slot: the others wait in line, their queue time not charged to them.
    set_slots(MODEL_NAME, server.settings.parallel)
    set_context(MODEL_NAME, server.settings.context_tokens)
    # No kept-alive connections: a pooled connection belongs to the event loop that opened it,
    # and the model is shared by runs on different loops (a loopback connect costs ~nothing).
    no_pool = httpx.Limits(max_keepalive_connections=0)
    return ChatOpenAI(
        http_async_client=httpx.AsyncClient(limits=no_pool, timeout=None),
        http_client=httpx.Client(limits=no_pool, timeout=None),
        base_url=server.base_url,
        api_key=LOCAL_SPEC,  # type: ignore[arg-type]  # the server asks for none
        model=MODEL_NAME,
        temperature=0,
        seed=7,
        max_retries=0,
    )


def _init(spec: str) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    if spec == LOCAL_SPEC:
        return _local()
    provider, _, name = spec.partition(":")
    try:
        if provider.startswith("bedrock") and name:
            return init_chat_model(name, model_provider=provider, region_name=aws_region())
        return init_chat_model(spec)
    except Exception as exc:  # an unknown provider or a missing integration package
        raise ModelUnavailable(f"cannot load model {spec!r}: {exc}") from exc


def model_label(model: BaseChatModel) -> str:
    """A short name for reports: the model id where the class exposes one."""
    for attr in ("model_id", "model", "model_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
