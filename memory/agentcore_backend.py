"""A run's memory on Amazon Bedrock AgentCore Memory (`memory.backend`'s second backend).

Checkpoints go through `memory.agentcore`'s saver (events in session `<thread>` of the actor),
insights through `memory.agentcore_store` (memory records under the actor's namespace). A
thread's recorded settings are one blob event per run in session `<thread>` of the actor
`<actor>:settings` — beside the checkpoints, never in their session — and reading them back is
one ListEvents of one event (newest first).

Throttling and transient faults are retried by botocore's standard mode, with backoff; a
CreateEvent carries a client token (botocore fills it once per call), so a retried write is
stored once. When the retries run out mid-run, the run stops with a message naming
`flotilla resume`: what finished is in the events already.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore

from memory.backend import (
    MemoryUnavailable,
    Savers,
    ThreadMemory,
    settings_from_json,
    settings_json,
)

# Errors after which the same call can succeed later: the memory is away, not wrong.
TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "InternalServerException",
        "RequestTimeout",
    }
)
SETTINGS_ACTOR = "{actor}:settings"


@dataclass(frozen=True)
class AgentCoreBackend:
    """AgentCore Memory `memory_id`, as `actor_id`, at an explicit endpoint and region."""

    memory_id: str
    actor_id: str
    region: str
    endpoint_url: str

    @asynccontextmanager
    async def open(self) -> AsyncIterator[ThreadMemory]:
        """A client on the endpoint (no call is made until the run reads or writes)."""
        client = await asyncio.to_thread(self._client)
        yield _AgentCoreMemory(self, client)

    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10)
        return boto3.Session().client(
            "bedrock-agentcore",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=config,
        )


class _AgentCoreMemory:
    def __init__(self, backend: AgentCoreBackend, client: Any) -> None:
        self.backend = backend
        self.client = client
        self.where = f"AgentCore Memory {backend.memory_id!r} at {backend.endpoint_url!r}"
        self._settings_actor = SETTINGS_ACTOR.format(actor=backend.actor_id)

    async def load_settings(self, thread_id: str) -> dict[str, Any] | None:
        answer = await asyncio.to_thread(
            self.client.list_events,
            memoryId=self.backend.memory_id,
            actorId=self._settings_actor,
            sessionId=thread_id,
            includePayloads=True,
            maxResults=1,
        )
        for event in answer.get("events") or []:
            for item in event.get("payload") or []:
                if "blob" in item:
                    return settings_from_json(item["blob"])
        return None

    async def save_settings(
        self, thread_id: str, settings: dict[str, Any], *, ttl_minutes: float | None
    ) -> None:
        # (No TTL: AgentCore expires events by the memory's own setting; Context refuses one.)
        await asyncio.to_thread(
            self.client.create_event,
            memoryId=self.backend.memory_id,
            actorId=self._settings_actor,
            sessionId=thread_id,
            eventTimestamp=datetime.now(UTC),
            payload=[{"blob": settings_json(settings)}],
        )

    @asynccontextmanager
    async def checkpoints(self, *, ttl_minutes: float | None) -> AsyncIterator[Savers]:
        from memory.agentcore import agentcore_saver
        from memory.agentcore_store import insights_store

        backend = self.backend
        where = {"region": backend.region, "endpoint_url": backend.endpoint_url}
        saver, store = await asyncio.gather(
            asyncio.to_thread(
                agentcore_saver, backend.memory_id, actor_id=backend.actor_id, **where
            ),
            asyncio.to_thread(
                insights_store, backend.memory_id, actor_id=backend.actor_id, **where
            ),
        )
        yield saver, store

    @asynccontextmanager
    async def insights(self) -> AsyncIterator[BaseStore]:
        from memory.agentcore_store import insights_store

        backend = self.backend
        yield await asyncio.to_thread(
            insights_store,
            backend.memory_id,
            actor_id=backend.actor_id,
            region=backend.region,
            endpoint_url=backend.endpoint_url,
        )

    def lost(self, exc: BaseException, thread_id: str) -> MemoryUnavailable | None:
        reason = transient_failure(exc)
        if reason is None:
            return None
        msg = (
            f"{self.where} failed during the run ({reason}), after retries. Finished steps are "
            f"checkpointed: once it answers again, run `flotilla resume {thread_id}`."
        )
        return MemoryUnavailable(msg)


def transient_failure(exc: BaseException) -> str | None:
    """'Code: message' of the AWS error in `exc`'s chain that a later call may not meet."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ClientError):
            error = cause.response.get("Error") or {}
            code = str(error.get("Code") or "")
            if code in TRANSIENT:
                return f"{code}: {error.get('Message') or ''}".rstrip(": ")
        if isinstance(cause, ConnectionError | ReadTimeoutError):
            return f"{type(cause).__name__}: {cause}"
        cause = cause.__cause__ or cause.__context__
    return None


__all__ = ["SETTINGS_ACTOR", "TRANSIENT", "AgentCoreBackend", "transient_failure"]
