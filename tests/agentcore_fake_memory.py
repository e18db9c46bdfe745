"""The fake AgentCore's Memory data plane: events per actor and session, and memory records.

Events: CreateEvent (a repeated ``clientToken`` is the same event, as AWS documents),
ListEvents (newest first, ``maxResults`` pages and ``nextToken``), GetEvent, DeleteEvent and
ListSessions; what ``langgraph-checkpoint-aws``'s ``AgentCoreMemorySaver`` calls. Payloads are
kept exactly as sent.

Memory records (what ``AgentCoreMemoryStore`` and Flotilla's insights store call):
BatchCreate (a repeated ``clientToken`` is the same batch)/BatchUpdate/BatchDeleteMemoryRecords, GetMemoryRecord, DeleteMemoryRecord,
ListMemoryRecords (by exact namespace or namespace path, metadata filters EQUALS_TO / EXISTS /
NOT_EXISTS, newest first, real pages) and RetrieveMemoryRecords. Retrieval here is plain word
overlap — the share of the query's words a record's text holds, as its score — not AgentCore's
semantic search; records sharing no word are not returned. The fake runs no memory strategy:
events never turn into records by themselves.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

Answer = tuple[int, dict[str, Any], str]  # status, body, error type ("" when ok)
DEFAULT_PAGE = 20
MAX_PAGE = 100


def _page(items: list[Any], body: dict[str, Any]) -> tuple[list[Any], str | None]:
    size = max(1, min(int(body.get("maxResults") or DEFAULT_PAGE), MAX_PAGE))
    start = int(body.get("nextToken") or 0)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


@dataclass
class FakeMemory:
    """Events by (memory, actor, session), in the order they were created."""

    events: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    records: FakeRecords = field(default_factory=lambda: FakeRecords())
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    _seq: Any = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def route(method: str, path: str) -> tuple[str, list[str]] | None:
        """(operation, path segments) for a Memory path, or None when it is not Memory's."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 3 or parts[0] != "memories":
            return None
        if method == "POST" and parts[2:] == ["events"]:
            return "CreateEvent", parts
        records = _record_route(method, parts[2:])
        if records is not None:
            return records, parts
        if len(parts) >= 5 and parts[2] == "actor" and parts[4] == "sessions":
            if method == "POST" and len(parts) in (5, 6):
                return ("ListSessions" if len(parts) == 5 else "ListEvents"), parts
            if len(parts) == 8 and parts[6] == "events" and method in ("DELETE", "GET"):
                return ("DeleteEvent" if method == "DELETE" else "GetEvent"), parts
        return None

    def handle(self, operation: str, parts: list[str], body: dict[str, Any]) -> Answer:
        """Answer one routed Memory operation."""
        memory = parts[1]
        with self._lock:
            if operation == "CreateEvent":
                return self._create(memory, body)
            if operation in _RECORD_OPERATIONS:
                return self.records.handle(operation, memory, parts, body)
            actor = parts[3]
            if operation == "ListSessions":
                return self._sessions(memory, actor, body)
            if operation == "ListEvents":
                return self._list(memory, actor, parts[5], body)
            key = (memory, actor, parts[5])
            if operation == "DeleteEvent":
                return self._delete(key, parts[7])
            return self._get(key, parts[7])

    def _create(self, memory: str, body: dict[str, Any]) -> Answer:
        if not body.get("actorId") or not body.get("sessionId") or not body.get("payload"):
            return (
                400,
                {"message": "actorId, sessionId and payload are required"},
                ("ValidationException"),
            )
        token = body.get("clientToken")
        if token and token in self._tokens:  # a retry of a request already served
            return 200, {"event": _public(self._tokens[token], payloads=True)}, ""
        event = {
            "memoryId": memory,
            "actorId": body["actorId"],
            "sessionId": body["sessionId"],
            "eventId": f"{next(self._seq):012d}-{uuid.uuid4().hex[:8]}",
            "eventTimestamp": body.get("eventTimestamp"),
            "payload": body["payload"],
            "metadata": body.get("metadata") or {},
            "_seq": next(self._seq),
        }
        if body.get("branch"):
            event["branch"] = body["branch"]
        self.events.setdefault((memory, body["actorId"], body["sessionId"]), []).append(event)
        if token:
            self._tokens[token] = event
        return 200, {"event": _public(event, payloads=True)}, ""

    def _list(self, memory: str, actor: str, session: str, body: dict[str, Any]) -> Answer:
        stored = self.events.get((memory, actor, session), [])
        newest_first = sorted(
            stored, key=lambda e: (e["eventTimestamp"] or 0, e["_seq"]), reverse=True
        )
        page, token = _page(newest_first, body)
        payloads = body.get("includePayloads", True)
        answer: dict[str, Any] = {"events": [_public(e, payloads=payloads) for e in page]}
        if token:
            answer["nextToken"] = token
        return 200, answer, ""

    def _sessions(self, memory: str, actor: str, body: dict[str, Any]) -> Answer:
        ids = sorted(
            s for (m, a, s), events in self.events.items() if (m, a) == (memory, actor) and events
        )
        page, token = _page(ids, body)
        summaries = [{"sessionId": s, "actorId": actor, "createdAt": 0} for s in page]
        answer: dict[str, Any] = {"sessionSummaries": summaries}
        if token:
            answer["nextToken"] = token
        return 200, answer, ""

    def _find(self, key: tuple[str, str, str], event_id: str) -> dict[str, Any] | None:
        return next((e for e in self.events.get(key, []) if e["eventId"] == event_id), None)

    def _delete(self, key: tuple[str, str, str], event_id: str) -> Answer:
        event = self._find(key, event_id)
        if event is None:
            return 404, {"message": f"no event {event_id}"}, "ResourceNotFoundException"
        self.events[key].remove(event)
        return 200, {"eventId": event_id}, ""

    def _get(self, key: tuple[str, str, str], event_id: str) -> Answer:
        event = self._find(key, event_id)
        if event is None:
            return 404, {"message": f"no event {event_id}"}, "ResourceNotFoundException"
        return 200, {"event": _public(event, payloads=True)}, ""


def _public(event: dict[str, Any], *, payloads: bool) -> dict[str, Any]:
    shown = {k: v for k, v in event.items() if not k.startswith("_")}
    if not payloads:
        shown.pop("payload", None)
    return shown


# (method, path segments after the memory id) → operation.
_RECORD_ROUTES = {
    ("POST", "memoryRecords", "batchCreate"): "BatchCreateMemoryRecords",
    ("POST", "memoryRecords", "batchUpdate"): "BatchUpdateMemoryRecords",
    ("POST", "memoryRecords", "batchDelete"): "BatchDeleteMemoryRecords",
    ("POST", "memoryRecords"): "ListMemoryRecords",
    ("POST", "retrieve"): "RetrieveMemoryRecords",
}
_RECORD_OPERATIONS = {*_RECORD_ROUTES.values(), "GetMemoryRecord", "DeleteMemoryRecord"}


def _record_route(method: str, rest: list[str]) -> str | None:
    if method == "GET" and len(rest) == 2 and rest[0] == "memoryRecord":
        return "GetMemoryRecord"
    if method == "DELETE" and len(rest) == 2 and rest[0] == "memoryRecords":
        return "DeleteMemoryRecord"
    return _RECORD_ROUTES.get((method, *rest))


_WORD = re.compile(r"\w+")
MAX_TEXT = 16_000


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


@dataclass
class FakeRecords:
    """Memory records by memory, in the order they were created (see the module)."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _answered: dict[str, Answer] = field(default_factory=dict)  # by client token
    _seq: Any = field(default_factory=itertools.count)

    def handle(self, operation: str, memory: str, parts: list[str], body: dict[str, Any]) -> Answer:
        """Answer one memory-record operation (the caller holds the lock)."""
        stored = self.records.setdefault(memory, [])
        if operation == "BatchCreateMemoryRecords":
            return self._create(stored, body)
        if operation == "BatchUpdateMemoryRecords":
            return self._update(stored, body)
        if operation == "BatchDeleteMemoryRecords":
            ids = [r.get("memoryRecordId", "") for r in body.get("records") or []]
            return self._delete(stored, ids)
        if operation == "DeleteMemoryRecord":
            answer = self._delete(stored, [parts[3]])
            if answer[1]["failedRecords"]:
                return 404, {"message": f"no memory record {parts[3]}"}, "ResourceNotFoundException"
            return 200, {"memoryRecordId": parts[3]}, ""
        if operation == "GetMemoryRecord":
            found = next((r for r in stored if r["memoryRecordId"] == parts[3]), None)
            if found is None:
                return 404, {"message": f"no memory record {parts[3]}"}, "ResourceNotFoundException"
            return 200, {"memoryRecord": _record(found)}, ""
        selected, problem = _select(stored, body, (body.get("searchCriteria") or {}))
        if problem:
            return 400, {"message": problem}, "ValidationException"
        if operation == "RetrieveMemoryRecords":
            return self._retrieve(selected, body)
        newest_first = sorted(selected, key=lambda r: (r["timestamp"], r["_seq"]), reverse=True)
        page, token = _page(newest_first, body)
        answer: dict[str, Any] = {"memoryRecordSummaries": [_record(r) for r in page]}
        if token:
            answer["nextToken"] = token
        return 200, answer, ""

    def _create(self, stored: list[dict[str, Any]], body: dict[str, Any]) -> Answer:
        token = body.get("clientToken")
        if token and token in self._answered:  # a retry of a batch already stored
            return self._answered[token]
        answer = self._create_records(stored, body)
        if token:
            self._answered[token] = answer
        return answer

    def _create_records(self, stored: list[dict[str, Any]], body: dict[str, Any]) -> Answer:
        ok, failed = [], []
        for item in body.get("records") or []:
            problem = _invalid(item)
            outcome = {"requestIdentifier": item.get("requestIdentifier")}
            if problem:
                failed.append({**outcome, "memoryRecordId": "", "status": "FAILED",
                               "errorCode": 400, "errorMessage": problem})  # fmt: skip
                continue
            record = {
                "memoryRecordId": f"mem-{uuid.uuid4()}",
                "content": {"text": item["content"]["text"]},
                "memoryStrategyId": item.get("memoryStrategyId") or "flotilla-direct",
                "namespaces": list(item["namespaces"]),
                "createdAt": time.time(),
                "timestamp": item.get("timestamp") or time.time(),
                "metadata": item.get("metadata") or {},
                "_seq": next(self._seq),
            }
            stored.append(record)
            ok.append(
                {**outcome, "memoryRecordId": record["memoryRecordId"], "status": "SUCCEEDED"}
            )
        return 201, {"successfulRecords": ok, "failedRecords": failed}, ""

    def _update(self, stored: list[dict[str, Any]], body: dict[str, Any]) -> Answer:
        ok, failed = [], []
        for item in body.get("records") or []:
            record_id = item.get("memoryRecordId", "")
            found = next((r for r in stored if r["memoryRecordId"] == record_id), None)
            if found is None:
                failed.append({"memoryRecordId": record_id, "status": "FAILED",
                               "errorCode": 404, "errorMessage": "no such record"})  # fmt: skip
                continue
            for name in ("content", "namespaces", "metadata", "timestamp", "memoryStrategyId"):
                if item.get(name) is not None:
                    found[name] = item[name]
            found["_seq"] = next(self._seq)
            ok.append({"memoryRecordId": record_id, "status": "SUCCEEDED"})
        return 200, {"successfulRecords": ok, "failedRecords": failed}, ""

    @staticmethod
    def _delete(stored: list[dict[str, Any]], ids: list[str]) -> Answer:
        ok, failed = [], []
        for record_id in ids:
            found = next((r for r in stored if r["memoryRecordId"] == record_id), None)
            if found is None:
                failed.append({"memoryRecordId": record_id, "status": "FAILED",
                               "errorCode": 404, "errorMessage": "no such record"})  # fmt: skip
                continue
            stored.remove(found)
            ok.append({"memoryRecordId": record_id, "status": "SUCCEEDED"})
        return 200, {"successfulRecords": ok, "failedRecords": failed}, ""

    @staticmethod
    def _retrieve(selected: list[dict[str, Any]], body: dict[str, Any]) -> Answer:
        criteria = body.get("searchCriteria") or {}
        query = _words(str(criteria.get("searchQuery") or ""))
        if not query:
            return 400, {"message": "searchCriteria.searchQuery is required"}, "ValidationException"
        scored = []
        for record in selected:
            shared = len(query & _words(record["content"].get("text", "")))
            if shared:
                scored.append((shared / len(query), record))
        scored.sort(key=lambda pair: (pair[0], pair[1]["_seq"]), reverse=True)
        top = scored[: int(criteria.get("topK") or 10)]
        page, token = _page(top, body)
        answer: dict[str, Any] = {
            "memoryRecordSummaries": [{**_record(r), "score": score} for score, r in page]
        }
        if token:
            answer["nextToken"] = token
        return 200, answer, ""


def _invalid(item: dict[str, Any]) -> str:
    text = (item.get("content") or {}).get("text") or ""
    namespaces = item.get("namespaces")
    if not text or len(text) > MAX_TEXT:
        return f"content.text must be 1 to {MAX_TEXT} characters"
    if not isinstance(namespaces, list) or len(namespaces) != 1:
        return "namespaces must hold one namespace"
    if len(item.get("metadata") or {}) > 20:
        return "at most 20 metadata entries"
    return ""


def _select(
    stored: list[dict[str, Any]], body: dict[str, Any], criteria: dict[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """The records in the asked namespace (exact) or under the path, passing the filters."""
    exact, path = body.get("namespace"), body.get("namespacePath")
    selected = [
        r
        for r in stored
        if (exact is None or exact in r["namespaces"])
        and (path is None or any(n.startswith(path) for n in r["namespaces"]))
    ]
    for rule in body.get("metadataFilters") or criteria.get("metadataFilters") or []:
        key = (rule.get("left") or {}).get("metadataKey")
        operator = rule.get("operator")
        value = ((rule.get("right") or {}).get("metadataValue") or {}).get("stringValue")
        if operator == "EQUALS_TO":
            selected = [
                r for r in selected if (r["metadata"].get(key) or {}).get("stringValue") == value
            ]
        elif operator in ("EXISTS", "NOT_EXISTS"):
            selected = [r for r in selected if (key in r["metadata"]) == (operator == "EXISTS")]
        else:
            return [], f"the fake does not evaluate metadata operator {operator!r}"
    return selected, ""


def _record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}
