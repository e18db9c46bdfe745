"""Shared fixtures: local demo/fault sites and an embedded Redis, started once per worker.

The suite runs as on a machine with no model and no cloud account, whatever the developer's
shell holds: a real AWS profile or FLOTILLA_MODEL would otherwise switch `brain="auto"` runs to
Bedrock, and no test may reach a cloud endpoint or the instance-metadata address. Tests that
need a model or credentials set them themselves (fakes, the loopback Converse stub).
"""

import os

import pytest

pytest_plugins = ["tests.fixtures_sites", "tests.fixtures_redis"]

_MODEL_ENV = (
    "FLOTILLA_BRAIN",
    "FLOTILLA_MODEL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
)


def pytest_configure(config: pytest.Config) -> None:
    # Before any fixture starts a server or a CLI subprocess, which inherit this environment.
    for name in _MODEL_ENV:
        os.environ.pop(name, None)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
