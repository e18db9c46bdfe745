"""Run-time configuration: the graph's `context_schema`, rendered by Studio as a form."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Annotated, Any, Literal

import idna

# The LangGraph templates' marker for a model choice, which Studio renders as a model picker. It
# goes on the type (as the templates put it) and into the served JSON schema (json_schema_extra).
MODEL_CHOICE = {"__template_metadata__": {"kind": "llm"}}
ModelChoice = Annotated[str, MODEL_CHOICE]
# The roles a model can be chosen for: each has a Context field `<role>_model`.
Role = Literal["coordinator", "browser", "analyst", "report"]
ROLES: tuple[Role, ...] = ("coordinator", "browser", "analyst", "report")


def _model_extra(*nodes: str) -> dict[str, object]:
    return {"langgraph_nodes": list(nodes), **MODEL_CHOICE}


def _role_model(role: str, does: str) -> str:
    """A per-role model field: empty, so the role uses `Context.model`."""
    description = f"Model that {does}; empty uses `model`."
    return field(
        default="",
        metadata={"description": description, "json_schema_extra": _model_extra(role)},
    )


class ContextError(ValueError):
    """A `Context` field whose value a run cannot use: says which field, and what it takes."""

    def __init__(self, name: str, problem: str) -> None:
        self.field = name
        super().__init__(f"Context.{name}: {problem}")


# The range each numeric field takes, both ends included. Wider values are refused, not clamped:
# a limit a run silently ignored would be worse than one refused by name.
LIMITS: dict[str, tuple[float, float]] = {
    "max_run_tokens": (0, 1_000_000_000),
    "subagent_max_steps": (1, 1_000),
    "subagent_max_tokens": (0, 100_000_000),
    "page_text_chars": (100, 1_000_000),
    "analyst_max_attempts": (1, 20),
    "max_subagents": (1, 100),
    "max_parallel": (1, 64),
    "max_pages": (1, 1_000),
    "subagent_timeout_s": (0.1, 86_400),
    "page_timeout_s": (0.1, 3_600),
    "sandbox_pool_size": (0, 16),
    "sandbox_timeout_s": (0.1, 86_400),
    "sandbox_memory_mb": (64, 1_048_576),
    "checkpoint_ttl_minutes": (0.01, 5_256_000),  # ten years
    "agentcore_session_timeout_s": (60, 28_800),  # what AgentCore accepts
}
_FLOAT_FIELDS = ("subagent_timeout_s", "page_timeout_s", "sandbox_timeout_s")
_TEXT_MAX_CHARS = 1_000
_HOST_MAX_CHARS = 253


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(kw_only=True)
class Context:
    """How one run behaves: brains and models, quotas, sandbox tier and egress allow-list."""

    brain: Literal["auto", "offline", "llm"] = field(
        default_factory=lambda: os.environ.get("FLOTILLA_BRAIN", "auto"),  # type: ignore[arg-type,return-value]
        metadata={
            "description": "Decision policy. 'llm': chat models plan, browse with tools, write "
            "and repair the analysis and write the answer. 'offline': generic, deterministic, no "
            "model. 'auto' (env FLOTILLA_BRAIN): llm when a model is configured (a model field, "
            "env FLOTILLA_MODEL, or AWS credentials for Bedrock), offline otherwise. The run "
            "reports the brain it used."
        },
    )
    model: ModelChoice = field(
        default_factory=lambda: os.environ.get("FLOTILLA_MODEL", ""),
        metadata={
            "description": "Chat model for every role, as 'provider:model' for init_chat_model "
            "(e.g. bedrock_converse:us.anthropic.claude-sonnet-4-5-20250929-v1:0, "
            "ollama:llama3.1). Env FLOTILLA_MODEL. Empty: Amazon Bedrock when AWS credentials "
            "are present, else none (the offline brain runs).",
            "json_schema_extra": _model_extra(*ROLES),
        },
    )
    coordinator_model: ModelChoice = _role_model("coordinator", "plans (structured output)")
    browser_model: ModelChoice = _role_model("browser", "drives each browser subagent's tool loop")
    analyst_model: ModelChoice = _role_model("analyst", "writes and repairs the analysis code")
    report_model: ModelChoice = _role_model("report", "writes the report's answer")
    max_run_tokens: int = field(
        default=0,
        metadata={
            "description": "Token budget for the whole run (input + output, every model call); "
            "when reached, no new model work starts and the run finishes with what it has. "
            "0: no budget."
        },
    )
    subagent_max_steps: int = field(
        default=12,
        metadata={
            "description": "Most model calls one LLM browser subagent makes; at the limit it "
            "returns what it has, marked partial."
        },
    )
    subagent_max_tokens: int = field(
        default=60_000,
        metadata={"description": "Token limit for one LLM browser subagent (0: none)."},
    )
    page_text_chars: int = field(
        default=6_000,
        metadata={
            "description": "Most characters of one page's text that reach a model, fenced as "
            "untrusted data."
        },
    )
    analyst_max_attempts: int = field(
        default=3,
        metadata={
            "description": "Most attempts the LLM analyst gets to write code that runs; it "
            "reads each failure and repairs the code."
        },
    )
    approve_plan: bool = field(
        default=False,
        metadata={
            "description": "Pause after planning so a person can approve, edit (drop a site, "
            "change a goal) or reject the plan before any browser starts."
        },
    )
    max_subagents: int = field(
        default=8,
        metadata={
            "description": "Most browser subagents one run may plan; extra targets are refused."
        },
    )
    max_parallel: int = field(
        default=4,
        metadata={"description": "Most browser subagents running at the same time."},
    )
    max_pages: int = field(
        default=4,
        metadata={"description": "Most pages one subagent reads, start page included."},
    )
    subagent_timeout_s: float = field(
        default=60.0,
        metadata={"description": "Wall-time limit for one browser subagent, in seconds."},
    )
    page_timeout_s: float = field(
        default=15.0,
        metadata={"description": "Wall-time limit for loading one page, in seconds."},
    )
    sandbox_tier: Literal["auto", "gvisor", "bwrap", "none", "agentcore"] = field(
        default_factory=lambda: os.environ.get("FLOTILLA_SANDBOX_TIER", "auto"),  # type: ignore[arg-type,return-value]
        metadata={
            "description": "Code-interpreter isolation. 'auto' picks the first tier that works "
            "here (gvisor, then bwrap with seccomp); 'none' runs without isolation and says so "
            "loudly; 'agentcore' runs the analysis on Amazon Bedrock AgentCore Code "
            "Interpreter (AWS credentials, region and endpoint below)."
        },
    )
    agentcore_region: str = field(
        default_factory=lambda: os.environ.get("FLOTILLA_AGENTCORE_REGION", ""),
        metadata={
            "description": "AWS region of the AgentCore tier; empty: AWS_REGION, else us-east-1."
        },
    )
    agentcore_endpoint: str = field(
        default="",
        metadata={
            "description": "AgentCore data-plane endpoint; empty: "
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE, else the region's. The global "
            "AWS_ENDPOINT_URL is never used (it would move the model calls too)."
        },
    )
    agentcore_session_timeout_s: int = field(
        default=900,
        metadata={
            "description": "Lifetime AgentCore gives a remote session, in seconds (60 to "
            "28800); it is stopped as soon as its work is done."
        },
    )
    sandbox_pool_size: int = field(
        default=0,
        metadata={
            "description": "Warm code-interpreter sessions (pandas and matplotlib imported) "
            "kept ready per process for the analyst; 0 starts a fresh session per analysis. "
            "Each session is used once, then destroyed. Worth 1 in a long-lived server "
            "(langgraph dev): a one-shot CLI run only pays for the spare it never uses."
        },
    )
    sandbox_timeout_s: float = field(
        default=60.0,
        metadata={"description": "Wall-time limit for one analysis execution, in seconds."},
    )
    sandbox_memory_mb: int = field(
        default=1024,
        metadata={"description": "Address-space limit for the analysis sandbox, in MiB."},
    )
    allow_hosts: list[str] = field(
        default_factory=lambda: _env_list("FLOTILLA_ALLOW_HOSTS"),
        metadata={
            "description": "HOST or HOST:PORT entries allowed even on loopback/private "
            "addresses (env FLOTILLA_ALLOW_HOSTS, comma-separated)."
        },
    )
    runs_dir: str = field(
        default_factory=lambda: os.environ.get("FLOTILLA_RUNS_DIR", "runs"),
        metadata={"description": "Folder for reports and artifacts: <runs_dir>/<thread_id>/."},
    )
    memory_namespace: str = field(
        default="default",
        metadata={"description": "Long-term memory namespace (user or project)."},
    )
    checkpoint_ttl_minutes: float | None = field(
        default=None,
        metadata={
            "description": "Expire a thread's checkpoints this many minutes after their last "
            "write or read (the CLI's Redis saver); empty keeps them until deleted."
        },
    )
    memory: Literal["redis", "agentcore"] = field(
        default_factory=lambda: os.environ.get("FLOTILLA_MEMORY", "redis"),  # type: ignore[arg-type,return-value]
        metadata={
            "description": "Where the CLI's runs keep checkpoints, their settings and long-term "
            "insights: 'redis' (env REDIS_URL, else an embedded one) or 'agentcore' (Amazon "
            "Bedrock AgentCore Memory: agentcore_memory_id, region and endpoint). Env "
            "FLOTILLA_MEMORY. LangGraph Server uses its own saver and store either way."
        },
    )
    agentcore_memory_id: str = field(
        default_factory=lambda: os.environ.get("FLOTILLA_AGENTCORE_MEMORY_ID", ""),
        metadata={
            "description": "The AgentCore Memory resource (id or ARN) that memory='agentcore' "
            "uses. Env FLOTILLA_AGENTCORE_MEMORY_ID."
        },
    )
    agentcore_actor_id: str = field(
        default_factory=lambda: os.environ.get("FLOTILLA_AGENTCORE_ACTOR_ID", "flotilla"),
        metadata={
            "description": "The AgentCore Memory actor a run's checkpoints and insights belong "
            "to (a user or a project). Env FLOTILLA_AGENTCORE_ACTOR_ID."
        },
    )

    def __post_init__(self) -> None:
        """Refuse, by field name, any value a run cannot use (a client may send anything)."""
        for name, choices in (
            ("brain", BRAINS),
            ("sandbox_tier", SANDBOX_TIERS),
            ("memory", MEMORIES),
        ):
            value = getattr(self, name)
            if value not in choices:
                raise ContextError(name, f"expected one of {', '.join(choices)}, got {value!r}")
        texts = ("model", *(f"{role}_model" for role in ROLES), "runs_dir", "memory_namespace")
        for name in (*texts, *_AGENTCORE_TEXTS):
            _check_text(name, getattr(self, name), empty=name not in _NON_EMPTY)
        if not isinstance(self.approve_plan, bool):
            raise ContextError("approve_plan", f"expected true or false, got {self.approve_plan!r}")
        self._apply_local_defaults()
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if value is None and name == "checkpoint_ttl_minutes":
                continue
            whole = name not in _FLOAT_FIELDS and name != "checkpoint_ttl_minutes"
            _check_number(name, value, low, high, whole=whole)
        if not isinstance(self.allow_hosts, list):
            raise ContextError(
                "allow_hosts", f"expected a list of HOST or HOST:PORT, got {self.allow_hosts!r}"
            )
        for index, entry in enumerate(self.allow_hosts):
            problem = host_entry_problem(entry)
            if problem:
                raise ContextError(f"allow_hosts[{index}]", problem)
        self._check_memory()

    def _check_memory(self) -> None:
        """AgentCore Memory needs a memory id; ids take AgentCore's shapes; no TTL there."""
        if self.agentcore_actor_id and not _ACTOR_ID.fullmatch(self.agentcore_actor_id):
            raise ContextError(
                "agentcore_actor_id",
                f"{self.agentcore_actor_id[:80]!r} is not an AgentCore actor id (letters, "
                "digits, '-', '_', '/', ':'; starting with a letter or digit)",
            )
        if self.memory != "agentcore":
            return
        memory_id = self.agentcore_memory_id.strip()
        if not memory_id:
            raise ContextError(
                "agentcore_memory_id",
                "is required when memory is 'agentcore': the id of your AgentCore Memory "
                "(CLI --memory-id, env FLOTILLA_AGENTCORE_MEMORY_ID)",
            )
        if not _MEMORY_ID.fullmatch(memory_id):
            raise ContextError(
                "agentcore_memory_id",
                f"{memory_id[:120]!r} is not an AgentCore Memory id: its name, a '-' and 10 "
                "letters or digits (e.g. 'flotilla-a1B2c3D4e5'), or its ARN",
            )
        if not self.agentcore_actor_id:
            raise ContextError("agentcore_actor_id", "must not be empty with memory 'agentcore'")
        if self.checkpoint_ttl_minutes is not None:
            raise ContextError(
                "checkpoint_ttl_minutes",
                "applies to Redis only: AgentCore Memory expires events after the memory's "
                "own event expiry (set when the memory is created)",
            )

    def _apply_local_defaults(self) -> None:
        """With the embedded local model, limits sized from its speed (see LOCAL_DEFAULTS).

        Applied to each field still at its general default: a value the user set is kept
        (a value equal to the general default reads as unset).
        """
        if LOCAL_SPEC not in (self.model.strip(), self.browser_model.strip()):
            return
        for spec in fields(self):
            if spec.name in LOCAL_DEFAULTS and getattr(self, spec.name) == spec.default:
                setattr(self, spec.name, LOCAL_DEFAULTS[spec.name])
        if self.max_parallel == _general_default("max_parallel"):
            # One subagent per request the server serves at once (FLOTILLA_LOCAL_PARALLEL).
            raw = os.environ.get("FLOTILLA_LOCAL_PARALLEL", "")
            self.max_parallel = max(1, int(raw)) if raw.isdigit() else 1


LOCAL_SPEC = "local"
# Measured here (2 cores, Qwen2.5-Coder-1.5B Q4_K_M): prompts at 50-63 tokens/s, replies at
# 16-18 tokens/s, one request at a time. A browser turn with a page costs 15-40 s, so the
# general 60 s subagent limit would be all time-outs; fewer, shorter turns fit the 8k context.
LOCAL_DEFAULTS: dict[str, Any] = {
    "subagent_timeout_s": 900.0,
    "subagent_max_steps": 8,
    "subagent_max_tokens": 40_000,
    "page_text_chars": 2_500,
    "analyst_max_attempts": 2,
}


def _general_default(name: str) -> Any:
    spec = Context.__dataclass_fields__[name]
    return spec.default if spec.default is not MISSING else None


BRAINS: tuple[str, ...] = ("auto", "offline", "llm")
SANDBOX_TIERS: tuple[str, ...] = ("auto", "gvisor", "bwrap", "none", "agentcore")
MEMORIES: tuple[str, ...] = ("redis", "agentcore")
_NON_EMPTY = ("runs_dir", "memory_namespace")
_AGENTCORE_TEXTS = (
    "agentcore_region",
    "agentcore_endpoint",
    "agentcore_memory_id",
    "agentcore_actor_id",
)
# AgentCore's own patterns (the service model's MemoryId and ActorId shapes).
_MEMORY_ID = re.compile(
    r"(arn:(aws|aws-cn|aws-us-gov):bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:memory/)?"
    r"[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}"
)
_ACTOR_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-_/]*(?::[a-zA-Z0-9-_/]+)*[a-zA-Z0-9-_/]*")


def _check_text(name: str, value: Any, *, empty: bool) -> None:
    if not isinstance(value, str):
        raise ContextError(name, f"expected text, got {type(value).__name__} {value!r}"[:300])
    if not empty and not value.strip():
        raise ContextError(name, "must not be empty")
    if len(value) > _TEXT_MAX_CHARS:
        raise ContextError(name, f"longer than {_TEXT_MAX_CHARS} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ContextError(name, f"contains a control character: {value[:80]!r}")


def _check_number(name: str, value: Any, low: float, high: float, *, whole: bool) -> None:
    kind = "a whole number" if whole else "a number"
    wrong_type = isinstance(value, bool) or not isinstance(value, int | float)
    if wrong_type or (whole and not isinstance(value, int)):
        raise ContextError(name, f"expected {kind}, got {type(value).__name__} {value!r}"[:300])
    if not math.isfinite(value) or not low <= value <= high:
        raise ContextError(name, f"expected {kind} {range_text(low, high)}, got {value!r}")


def range_text(low: float, high: float) -> str:
    """'from LOW to HIGH', each number as a person writes it (1,000,000 rather than 1e+06)."""

    def shown(number: float) -> str:
        return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"

    return f"from {shown(low)} to {shown(high)}"


def host_entry_problem(entry: Any) -> str:
    """What is wrong with an `allow_hosts` entry (`HOST`, `HOST:PORT`, `[V6]:PORT`), or ''."""
    if not isinstance(entry, str):
        return f"expected HOST or HOST:PORT as text, got {type(entry).__name__} {entry!r}"[:300]
    text = entry.strip()
    if not text:
        return "is empty: expected HOST or HOST:PORT"
    if "/" in text or "@" in text or "?" in text or "#" in text:
        return f"expected HOST or HOST:PORT, not a URL or path: {text[:120]!r}"
    if not text.isascii():
        head, sep, tail = text.rpartition(":")
        name, port = (head, sep + tail) if sep and tail.isdigit() else (text, "")
        try:  # as the browser sends it (IDNA 2008, UTS #46), which egress compares
            ascii_form = idna.encode(name, uts46=True).decode("ascii") + port
        except idna.IDNAError:
            return f"{text[:120]!r} is not a valid host name"
        return f"{text[:120]!r} is not ASCII: write the host as {ascii_form!r}"
    host, port = text, ""
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            return f"{text[:120]!r}: expected [IPV6] or [IPV6]:PORT"
        port = rest[1:] if rest else ""
        if ":" not in host:
            return f"{text[:120]!r}: only an IPv6 address goes in brackets"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if (port or text.endswith(":")) and not (port.isdigit() and 1 <= int(port) <= 65_535):
        return f"{text[:120]!r}: the port must be a number from 1 to 65535"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{text[:120]!r} is not an IPv6 address (HOST:PORT takes one colon)"
        return ""
    labels = host.rstrip(".").split(".")
    if len(host) > _HOST_MAX_CHARS or not all(_label_ok(label) for label in labels):
        return f"{text[:120]!r} is not a valid host name"
    return ""


def _label_ok(label: str) -> bool:
    return 0 < len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label)
