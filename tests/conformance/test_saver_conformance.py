"""`langgraph-checkpoint-conformance` against the savers the project uses.

The project's saver is built exactly as the CLI builds it: `memory.checkpoint.redis_saver` on an
embedded Redis, then made strict by `graph.builder.trust_only_our_models`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES
from langgraph.checkpoint.conformance.report import CapabilityReport, ProgressCallbacks
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.redis.aio import AsyncRedisSaver

from graph.builder import trust_only_our_models
from memory.checkpoint import redis_saver
from memory.redis_server import async_client
from memory.saver import COVERED_UPSTREAM_FAILURES

pytestmark = pytest.mark.slow

Failure = tuple[str, str]


async def _conformance(
    name: str, make: Callable[[], AbstractAsyncContextManager[BaseCheckpointSaver]]
) -> tuple[CapabilityReport, set[Failure]]:
    """Run the whole suite; return the report and the failing (capability, test) pairs."""
    failures: set[Failure] = set()

    def on_result(capability: str, test: str, passed: bool, error: str | None) -> None:
        if not passed:
            failures.add((capability, test))

    async def factory() -> AsyncIterator[BaseCheckpointSaver]:
        async with make() as saver:
            yield saver

    registered = checkpointer_test(name=name)(factory)
    report = await validate(registered, progress=ProgressCallbacks(on_test_result=on_result))
    return report, failures


def _summary(report: CapabilityReport) -> dict[str, Any]:
    return {
        cap: (r.tests_passed, r.tests_failed) for cap, r in report.results.items() if r.detected
    }


# With a TTL, the saver's writes also set expiries (in the same round trip for a checkpoint).
@pytest.mark.parametrize("ttl_minutes", [None, 60.0])
async def test_project_saver_passes_every_capability_it_has(
    redis_server_url: str, ttl_minutes: float | None
) -> None:
    report, failures = await _conformance(
        "flotilla-redis", lambda: _project_saver(redis_server_url, ttl_minutes)
    )

    assert not failures, f"{sorted(failures)}; per capability: {_summary(report)}"
    assert report.passed_all_base() and report.passed_all()
    detected = {cap for cap, r in report.results.items() if r.detected}
    assert {c.value for c in BASE_CAPABILITIES} | {"prune"} <= detected


async def test_in_memory_saver_passes_everything() -> None:
    report, failures = await _conformance("in-memory", _in_memory_saver)

    assert not failures and report.passed_all()


async def test_upstream_saver_fails_exactly_what_our_layer_covers(redis_server_url: str) -> None:
    """Informative: when upstream fixes a gap, this fails and names the override to drop."""

    report, failures = await _conformance(
        "upstream-redis", lambda: _upstream_saver(redis_server_url)
    )

    fixed_upstream = COVERED_UPSTREAM_FAILURES - failures
    assert not fixed_upstream, (
        f"upstream now passes {sorted(fixed_upstream)}: shrink memory/saver.py and "
        "COVERED_UPSTREAM_FAILURES"
    )
    new_gaps = failures - COVERED_UPSTREAM_FAILURES
    assert not new_gaps, f"upstream fails tests our layer does not cover: {sorted(new_gaps)}"
    assert report.passed_all_base() is False


@asynccontextmanager
async def _project_saver(
    url: str, ttl_minutes: float | None = None
) -> AsyncIterator[BaseCheckpointSaver]:
    async with redis_saver(url, ttl_minutes=ttl_minutes) as saver:
        yield trust_only_our_models(saver)


@asynccontextmanager
async def _upstream_saver(url: str) -> AsyncIterator[BaseCheckpointSaver]:
    """Upstream's `AsyncRedisSaver`, built the way `redis_saver` builds ours."""
    async with async_client(url) as client, AsyncRedisSaver(redis_client=client) as saver:
        yield trust_only_our_models(saver)


@asynccontextmanager
async def _in_memory_saver() -> AsyncIterator[BaseCheckpointSaver]:
    yield InMemorySaver()
