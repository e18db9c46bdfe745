"""Pytest plugin: one embedded Redis (JSON + Search) per test session (per xdist worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memory.redis_server import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private embedded Redis, stopped when the session (or xdist worker) ends.

    Tests share it: give keys, thread ids and namespaces unique names per test.
    """
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url
