"""Long-term insights on AgentCore Memory: `langgraph-checkpoint-aws`'s `AgentCoreMemoryStore`.

Upstream's store writes chat messages as conversational events (CreateEvent), which AgentCore's
memory strategies later turn into memory records, and reads records back by semantic retrieval
(RetrieveMemoryRecords) or by id (GetMemoryRecord); it cannot list, update or delete. An insight
is a record Flotilla writes itself, word for word: `InsightsMemoryStore` keeps upstream's
message puts and retrieval, and stores any other value as one memory record
(BatchCreateMemoryRecords, or BatchUpdateMemoryRecords when the key is there already) whose
content is the value's JSON and whose metadata holds the store key. Get, delete and listing
without a query find records by that key (ListMemoryRecords with a metadata filter).

Namespaces belong to the actor: `("insights", "default")` is `/actors/<actor>/insights/default`.
Each put costs a ListMemoryRecords (is the key there?); the new records of one batch are
created together (BatchCreateMemoryRecords, 100 a call), a known key is updated. Recall costs
one RetrieveMemoryRecords (at most 100 records: AgentCore's `topK` limit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from langgraph.store.base import GetOp, Item, Op, PutOp, Result, SearchItem, SearchOp
from langgraph_checkpoint_aws import AgentCoreMemoryStore

KEY_METADATA = "flotilla_key"
MAX_RESULTS = 100  # AgentCore's limit on a page, and on retrieval's topK


class RecordFailed(RuntimeError):
    """AgentCore Memory refused a memory record in a batch call."""


class InsightsMemoryStore(AgentCoreMemoryStore):  # type: ignore[misc]
    """Upstream's store, with JSON values kept as memory records of the actor's (see module)."""

    def __init__(self, *, memory_id: str, actor_id: str, **boto3_kwargs: Any) -> None:
        """As upstream's; namespaces are the actor's, searched exactly (not by prefix)."""
        super().__init__(memory_id=memory_id, hierarchical_search=False, **boto3_kwargs)
        self.actor_id = actor_id

    def _convert_namespace_to_string(self, namespace_tuple: tuple[str, ...]) -> str:
        return "/".join(("", "actors", self.actor_id, *namespace_tuple))

    # --- puts -------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Upstream's, with new records created together (one call per 100), in order."""
        results: list[Result] = []
        pending: dict[tuple[str, str], dict[str, Any]] = {}  # new records by (namespace, key)
        for op in ops:
            if isinstance(op, PutOp) and op.value is not None and "message" not in op.value:
                self._put_record(op, pending)
                results.append(None)
                continue
            self._create(pending)  # a later read or delete sees the puts before it
            results.extend(super().batch([op]))
        self._create(pending)
        return results

    def _put_record(self, op: PutOp, pending: dict[tuple[str, str], dict[str, Any]]) -> None:
        namespace = self._convert_namespace_to_string(op.namespace)
        record: dict[str, Any] = {
            "namespaces": [namespace],
            "content": {"text": json.dumps(op.value, separators=(",", ":"))},
            "timestamp": datetime.now(UTC),
            "metadata": {KEY_METADATA: {"stringValue": op.key}},
        }
        if (namespace, op.key) in pending:
            pending[(namespace, op.key)] = record
            return
        found = next(self._records(namespace, key=op.key), None)
        if found is None:
            pending[(namespace, op.key)] = record
            return
        record["memoryRecordId"] = found["memoryRecordId"]
        self._batch("batch_update_memory_records", records=[record])

    def _create(self, pending: dict[tuple[str, str], dict[str, Any]]) -> None:
        records = [{"requestIdentifier": f"r{i}", **r} for i, r in enumerate(pending.values())]
        pending.clear()
        for start in range(0, len(records), MAX_RESULTS):
            self._batch("batch_create_memory_records", records=records[start : start + MAX_RESULTS])

    def _handle_put(self, op: PutOp) -> None:
        if op.value is not None and "message" in op.value:
            super()._handle_put(op)  # a chat message: a conversational event, as upstream
            return
        if op.value is not None:  # (`batch` stores values itself)
            self.batch([op])
            return
        namespace = self._convert_namespace_to_string(op.namespace)
        found = [r["memoryRecordId"] for r in self._records(namespace, key=op.key)]
        if found:
            records = [{"memoryRecordId": r, "namespace": namespace} for r in found]
            self._batch("batch_delete_memory_records", records=records)

    def _batch(self, operation: str, **params: Any) -> None:
        answer = getattr(self.client, operation)(memoryId=self.memory_id, **params)
        failed = answer.get("failedRecords") or []
        if failed:
            first = failed[0]
            msg = f"{operation}: {first.get('errorCode')} {first.get('errorMessage')}"
            raise RecordFailed(msg)

    # --- reads ------------------------------------------------------------------------------

    def _records(self, namespace: str, *, key: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record in `namespace` (with store key `key`), page by page."""
        params: dict[str, Any] = {
            "memoryId": self.memory_id,
            "namespace": namespace,
            "maxResults": MAX_RESULTS,
        }
        if key is not None:
            params["metadataFilters"] = [
                {
                    "left": {"metadataKey": KEY_METADATA},
                    "operator": "EQUALS_TO",
                    "right": {"metadataValue": {"stringValue": key}},
                }
            ]
        while True:
            answer = self.client.list_memory_records(**params)
            yield from answer.get("memoryRecordSummaries") or []
            token = answer.get("nextToken")
            if not token:
                return
            params["nextToken"] = token

    def _handle_get(self, op: GetOp) -> Result:
        namespace = self._convert_namespace_to_string(op.namespace)
        for record in self._records(namespace, key=op.key):
            return self._convert_memory_record_to_item(record, op.namespace)
        return None

    def _handle_search(self, op: SearchOp) -> Result:
        if op.query:
            limited = SearchOp(
                op.namespace_prefix, op.filter, min(op.limit, MAX_RESULTS), 0, op.query
            )
            found = super()._handle_search(limited)
            return found[op.offset :] if isinstance(found, list) else found
        namespace = self._convert_namespace_to_string(op.namespace_prefix)
        items: list[SearchItem] = []
        for index, record in enumerate(self._records(namespace)):
            if index >= op.offset + op.limit:
                break
            if index >= op.offset:
                items.extend(
                    self._convert_memory_records_to_search_items([record], op.namespace_prefix)
                )
        return items

    # --- records as items -------------------------------------------------------------------

    def _convert_memory_record_to_item(
        self, memory_record: dict[str, Any], namespace: tuple[str, ...]
    ) -> Item:
        item: Item = super()._convert_memory_record_to_item(memory_record, namespace)
        key, value = _ours(memory_record)
        if key is None:
            return item
        return Item(
            namespace=namespace,
            key=key,
            value=value,
            created_at=item.created_at,
            updated_at=_when(memory_record.get("timestamp"), item.updated_at),
        )

    def _convert_memory_records_to_search_items(
        self, memory_records: list[Any], namespace: tuple[str, ...]
    ) -> list[SearchItem]:
        items: list[SearchItem] = super()._convert_memory_records_to_search_items(
            memory_records, namespace
        )
        converted = []
        for record, item in zip(memory_records, items, strict=True):
            key, value = _ours(record)
            if key is None:
                converted.append(item)
                continue
            converted.append(
                SearchItem(
                    namespace=namespace,
                    key=key,
                    value=value,
                    created_at=item.created_at,
                    updated_at=_when(record.get("timestamp"), item.updated_at),
                    score=item.score,
                )
            )
        return converted


def _ours(record: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(store key, value) of a record this store wrote; (None, {}) for any other record."""
    key = ((record.get("metadata") or {}).get(KEY_METADATA) or {}).get("stringValue")
    if not key:
        return None, {}
    content = record.get("content") or {}
    try:
        value = json.loads(content.get("text", "") if isinstance(content, dict) else "")
    except ValueError:
        return None, {}
    return (str(key), value) if isinstance(value, dict) else (None, {})


def _when(stamp: Any, default: datetime) -> datetime:
    return stamp if isinstance(stamp, datetime) else default


def insights_store(
    memory_id: str, *, actor_id: str, region: str, endpoint_url: str
) -> InsightsMemoryStore:
    """The insights store on AgentCore Memory `memory_id` at an explicit endpoint.

    Throttling is retried by botocore's standard mode (bounded attempts, backoff).
    """
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10)
    return InsightsMemoryStore(
        memory_id=memory_id,
        actor_id=actor_id,
        region_name=region,
        endpoint_url=endpoint_url,
        config=config,
    )


__all__ = ["KEY_METADATA", "InsightsMemoryStore", "RecordFailed", "insights_store"]
