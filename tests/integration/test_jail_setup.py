"""Subagents start at the same time: the browser jail's once-per-process setup must not race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import jail
from sandbox.browser import chromium_executable

pytestmark = pytest.mark.slow


def test_concurrent_first_launches_share_one_jail_setup():
    for cached in (jail._runtime_dir, jail._policy_dir, jail._launcher):
        cached.cache_clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        plans = list(pool.map(lambda _: jail.plan(chromium_executable()), range(8)))
    # Before the setup lock, two threads raced to create the policy folder and one subagent
    # crashed with FileExistsError (seen in `make bench` on a loaded machine).
    assert {p.mode for p in plans} == {"bwrap"}
    assert len({p.executable for p in plans}) == 1
