"""The fake AgentCore's Memory data plane: events per actor and session, with real pagination.

CreateEvent, ListEvents (newest first, ``maxResults`` pages and ``nextToken``), GetEvent,
DeleteEvent and ListSessions, as rest-json; what ``langgraph-checkpoint-aws``'s
``AgentCoreMemorySaver`` calls. Payloads are kept exactly as sent.
"""

from __future__ import annotations

import itertools
import threading
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
