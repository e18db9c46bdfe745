"""Shared fixtures: local demo/fault sites and an embedded Redis, started once per worker.

The suite runs as on a machine with no model and no cloud account, whatever the developer's
shell holds: a real AWS profile or FLOTILLA_MODEL would otherwise switch `brain="auto"` runs to
Bedrock, and no test may reach a cloud endpoint or the instance-metadata address. Tests that
need a model or credentials set them themselves (fakes, the loopback Converse stub).
"""

import os

import pytest

from sandbox import optins
from tests.bedrock_stub import MODEL_ENV

pytest_plugins = ["tests.fixtures_sites", "tests.fixtures_redis"]


def pytest_configure(config: pytest.Config) -> None:
    # Before any fixture starts a server or a CLI subprocess, which inherit this environment.
    for name in MODEL_ENV:
        os.environ.pop(name, None)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    # The suite is the operator of its own loopback sites and may run the unsandboxed tier on
    # purpose; the tests of the opt-ins themselves take these away.
    os.environ[optins.PRIVATE_HOSTS_ENV] = "127.0.0.1,localhost,::1"
    os.environ[optins.UNSANDBOXED_ENV] = "1"


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    """No model and no AWS credentials or region anywhere, even if an earlier test set some."""
    for name in (*MODEL_ENV, "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    return monkeypatch
