"""Artifacts on disk, references in state: where a run's files go and how they are named."""

from __future__ import annotations

import csv
import hashlib
import io
import mimetypes
import re
from pathlib import Path

from graph.models import ArtifactRef


def run_dir(runs_dir: str, thread_id: str) -> Path:
    """The folder that holds one thread's report and artifacts (created if missing)."""
    path = Path(runs_dir).expanduser().resolve() / slug(thread_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def slug(text: str, *, max_len: int = 60) -> str:
    """A filesystem-safe name for `text` (URLs, thread ids)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned[:max_len] or "item"


def ref_for(path: Path, media_type: str | None = None) -> ArtifactRef:
    """An `ArtifactRef` for an existing file."""
    data = path.read_bytes()
    kind = media_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    digest = hashlib.sha256(data).hexdigest()
    return ArtifactRef(path=str(path), media_type=kind, size=len(data), sha256=digest)


def write_artifact(path: Path, data: bytes, media_type: str | None = None) -> ArtifactRef:
    """Write `data` to `path` and return its reference."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ref_for(path, media_type)


def write_csv(path: Path, columns: list[str], rows: list[list[str]]) -> ArtifactRef:
    """Write a table as CSV, every cell kept as the text shown on the page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    return write_artifact(path, buffer.getvalue().encode(), "text/csv")
