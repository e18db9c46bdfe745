"""Where and how the AgentCore tier reaches AWS: region, data-plane endpoint, session lifetime.

The endpoint is the one named for AgentCore alone — an explicit setting, else
``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE``, else the region's public endpoint — and is always passed
to the client explicitly, so the global ``AWS_ENDPOINT_URL`` (which would also move the model
calls) never decides where sandboxes run.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any

ENDPOINT_ENV = "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"
# AgentCore's managed code interpreter and browser: no resource of the user's to create first.
DEFAULT_CODE_INTERPRETER = "aws.codeinterpreter.v1"
DEFAULT_BROWSER = "aws.browser.v1"
# AgentCore's own default session lifetime is 15 minutes; it accepts up to 8 hours.
MAX_SESSION_TIMEOUT_S = 8 * 3600
# What decides which credentials a new client gets (a digest of them: never kept in clear).
_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)
_CLIENTS: dict[tuple[str, str, float, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _credentials_identity() -> str:
    """A digest of the environment that picks the credentials (keys, profile, files)."""
    seen = "\0".join(f"{name}={os.environ.get(name, '')}" for name in _CREDENTIAL_ENV)
    return hashlib.sha256(seen.encode()).hexdigest()


def default_region() -> str:
    """The region from the usual AWS environment variables, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@dataclass(frozen=True)
class AgentCoreSettings:
    """Where AgentCore sessions start and how long AgentCore keeps one alive."""

    region: str = ""
    endpoint: str = ""
    code_interpreter_id: str = DEFAULT_CODE_INTERPRETER
    browser_id: str = DEFAULT_BROWSER
    session_timeout_s: int = 900

    @property
    def resolved_region(self) -> str:
        """The region asked for, else the environment's."""
        return self.region or default_region()

    @property
    def resolved_endpoint(self) -> str:
        """The data-plane endpoint: explicit, else the AgentCore-only variable, else AWS's."""
        explicit = self.endpoint or os.environ.get(ENDPOINT_ENV, "")
        if explicit:
            return explicit.rstrip("/")
        return f"https://bedrock-agentcore.{self.resolved_region}.amazonaws.com"

    @property
    def lifetime_s(self) -> int:
        """The session lifetime AgentCore is asked for, within what it accepts."""
        return max(60, min(int(self.session_timeout_s), MAX_SESSION_TIMEOUT_S))

    def data_plane_client(self, *, read_timeout_s: float = 300) -> Any:
        """A boto3 ``bedrock-agentcore`` client on the resolved endpoint and region.

        Throttling is retried by botocore's standard retry mode (the call and four retries,
        with backoff). Clients are shared (boto3's are thread-safe): one per endpoint, region,
        read timeout and credentials in use, since making one costs tens of milliseconds.
        """
        key = (
            self.resolved_endpoint,
            self.resolved_region,
            read_timeout_s,
            _credentials_identity(),
        )
        with _CLIENTS_LOCK:
            if key not in _CLIENTS:
                if len(_CLIENTS) >= 32:  # endpoints and keys come and go (tests): stay small
                    _CLIENTS.clear()
                _CLIENTS[key] = self._new_client(read_timeout_s)
            return _CLIENTS[key]

    def _new_client(self, read_timeout_s: float) -> Any:
        import boto3  # only the AgentCore tier pays for its import
        from botocore.config import Config

        config = Config(
            read_timeout=read_timeout_s,
            connect_timeout=10,
            retries={"mode": "standard", "max_attempts": 4},
        )
        return boto3.Session().client(
            "bedrock-agentcore",
            region_name=self.resolved_region,
            endpoint_url=self.resolved_endpoint,
            config=config,
        )
