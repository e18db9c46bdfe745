"""Checkpoints on Amazon Bedrock AgentCore Memory (``langgraph-checkpoint-aws``'s saver).

``AgentCoreMemorySaver`` keeps each checkpoint and each task's writes as AgentCore Memory events
under (actor, session = thread) and reads a thread back by listing its events: every read pays
for a ListEvents walk over the thread's events (pages of ``max_results``), so it costs more the
longer a thread is. Flotilla's saver gives every config its ``actor_id`` (a run's, else the one
it was built with), which the upstream saver requires on every call.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.config import Config
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    SerializerProtocol,
)
from langgraph_checkpoint_aws import AgentCoreMemorySaver
from langgraph_checkpoint_aws.checkpoint.agentcore.helpers import EventSerializer

DEFAULT_ACTOR = "flotilla"


class ActorMemorySaver(AgentCoreMemorySaver):
    """``AgentCoreMemorySaver`` whose configs default their ``actor_id`` to one actor."""

    def __init__(self, memory_id: str, *, actor_id: str = DEFAULT_ACTOR, **kwargs: Any) -> None:
        """As upstream's; ``actor_id`` is used wherever a config names none."""
        super().__init__(memory_id, **kwargs)
        self.actor_id = actor_id

    @property
    def serde(self) -> SerializerProtocol:
        """The serde the saver's events are written and read with."""
        serde: SerializerProtocol = self.__dict__.get("_serde") or BaseCheckpointSaver.serde
        return serde

    @serde.setter
    def serde(self, value: SerializerProtocol) -> None:
        # Upstream serialises events with a serializer made from the serde at start; a copy of
        # the saver given a stricter serde (`memory.serde.trust_only`) must use it too, in a
        # client of its own (the copy shares the original's).
        self._serde = value
        self.serializer = EventSerializer(value)
        client = getattr(self, "checkpoint_event_client", None)
        if client is not None:
            self.checkpoint_event_client = copy.copy(client)
            self.checkpoint_event_client.serializer = self.serializer

    def _actor(self, config: RunnableConfig | None) -> RunnableConfig | None:
        if config is None:
            return None
        configurable = dict(config.get("configurable") or {})
        if configurable.get("actor_id"):
            return config
        configurable["actor_id"] = self.actor_id
        return {**config, "configurable": configurable}

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Upstream's, with the default actor."""
        return super().get_tuple(self._actor(config) or config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Upstream's, with the default actor."""
        return super().list(self._actor(config), filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Upstream's, with the default actor."""
        return super().put(self._actor(config) or config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Upstream's, with the default actor."""
        super().put_writes(self._actor(config) or config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str, actor_id: str = "") -> None:
        """Upstream's, with the default actor."""
        super().delete_thread(thread_id, actor_id or self.actor_id)


def agentcore_saver(
    memory_id: str, *, region: str, endpoint_url: str, actor_id: str = DEFAULT_ACTOR
) -> ActorMemorySaver:
    """A saver on AgentCore Memory ``memory_id`` at an explicit endpoint (never the global one).

    Throttling is retried by botocore's standard mode; upstream retries its own conflicts.
    """
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10)
    return ActorMemorySaver(
        memory_id,
        actor_id=actor_id,
        region_name=region,
        endpoint_url=endpoint_url,
        config=config,
    )
