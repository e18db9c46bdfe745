"""Shared fixtures: local demo/fault sites and an embedded Redis, started once per worker."""

pytest_plugins = ["tests.fixtures_sites", "tests.fixtures_redis"]
