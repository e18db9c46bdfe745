"""LangChain's standard sandbox suite, run against Flotilla's Deep Agents backend on each tier.

`SandboxIntegrationTests` (langchain-tests) is what LangChain holds every Deep Agents sandbox
integration to (Daytona, Modal, Runloop, LangSmith). One class per isolated tier that works on
this machine; a tier that stops working is caught by tests/security/test_tiers_present.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_tests.integration_tests import SandboxIntegrationTests

from integrations.deepagents.backend import FlotillaSandbox
from sandbox.tier_choice import available_tiers

pytestmark = [
    pytest.mark.slow,
    # The suite's own class-scoped `sandbox_backend` fixture is an instance method (pytest 9
    # deprecates that); ours is a classmethod.
    pytest.mark.filterwarnings(
        "ignore:Class-scoped fixtures defined as instance methods:pytest.PytestRemovedIn10Warning"
    ),
]

TIERS = available_tiers()


class _Standard(SandboxIntegrationTests):
    tier = ""

    @pytest.fixture(scope="class")
    @classmethod
    def sandbox(cls) -> Iterator[FlotillaSandbox]:
        with FlotillaSandbox(cls.tier) as backend:
            assert backend.tier == cls.tier
            yield backend


@pytest.mark.skipif("bwrap" not in TIERS, reason="bwrap does not work here")
class TestFlotillaSandboxBwrap(_Standard):
    """The standard suite on the bwrap tier."""

    tier = "bwrap"


@pytest.mark.skipif("gvisor" not in TIERS, reason="gVisor does not work here")
class TestFlotillaSandboxGvisor(_Standard):
    """The standard suite on the gVisor tier."""

    tier = "gvisor"
