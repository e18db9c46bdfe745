"""The security suite attacks the tiers it finds; here it fails when one it should find is missing.

Elsewhere in this folder a case runs for each tier that works on the machine, so a tier that
stopped working would make its cases vanish. Run as root (as `make test` and CI do), every tier
is expected: gVisor and bwrap for code, the browser jail with its own network namespace. A
machine where one cannot exist says so with FLOTILLA_TEST_ABSENT_TIERS (comma-separated:
`gvisor`, `bwrap`, `browser-netns`), and only those are excused.
"""

from __future__ import annotations

import os

import pytest

from sandbox import jail
from sandbox.browser import chromium_executable
from sandbox.tier_choice import available_tiers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the tiers are expected as root")

ABSENT_ENV = "FLOTILLA_TEST_ABSENT_TIERS"
EXPECTED = ("gvisor", "bwrap", "browser-netns")


def _excused() -> set[str]:
    declared = {t.strip() for t in os.environ.get(ABSENT_ENV, "").split(",") if t.strip()}
    unknown = declared - set(EXPECTED)
    assert not unknown, f"{ABSENT_ENV} names unknown tiers {sorted(unknown)}; known: {EXPECTED}"
    return declared


@pytest.mark.parametrize("tier", ["gvisor", "bwrap"])
def test_each_code_sandbox_tier_is_usable(tier: str) -> None:
    if tier in _excused():
        pytest.skip(f"declared absent by {ABSENT_ENV}")
    assert tier in available_tiers(), (
        f"the {tier} code sandbox does not work on this machine, so its security cases would "
        f"not run; fix the machine (make setup) or declare it with {ABSENT_ENV}={tier}"
    )


def test_the_browser_jail_has_its_own_network_namespace() -> None:
    if "browser-netns" in _excused():
        pytest.skip(f"declared absent by {ABSENT_ENV}")
    plan = jail.plan(chromium_executable())
    assert plan.mode == "bwrap+netns", (
        f"the browser jail runs as {plan.mode!r} ({plan.reason}); declare it with "
        f"{ABSENT_ENV}=browser-netns if this machine cannot do better"
    )
