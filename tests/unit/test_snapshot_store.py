"""The gVisor image store: each layout built once, published whole, stale ones pruned."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sandbox import snapshot


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOTILLA_SNAPSHOT_DIR", str(tmp_path / "store"))
    return tmp_path / "store"


def builder(
    calls: list[Path], *, fail: bool = False, write: bool = True
) -> Callable[[Path], Awaitable[None]]:
    async def build(staging: Path) -> None:
        calls.append(staging)
        await asyncio.sleep(0.05)
        if write:
            (staging / snapshot.IMAGE_FILE).write_bytes(b"image")
        if fail:
            raise RuntimeError("checkpoint failed")

    return build


async def test_concurrent_sessions_build_an_image_once(store: Path) -> None:
    calls: list[Path] = []
    paths = await asyncio.gather(*(snapshot.image("k1", builder(calls)) for _ in range(4)))
    assert len(calls) == 1
    assert set(paths) == {store / "k1"}
    assert (store / "k1" / snapshot.IMAGE_FILE).read_bytes() == b"image"
    assert oct(store.stat().st_mode & 0o777) == "0o700"


async def test_a_failed_or_empty_build_publishes_nothing(store: Path) -> None:
    calls: list[Path] = []
    with pytest.raises(RuntimeError, match="checkpoint failed"):
        await snapshot.image("k2", builder(calls, fail=True))
    with pytest.raises(RuntimeError, match=r"no checkpoint\.img"):
        await snapshot.image("k2", builder(calls, write=False))
    assert not (store / "k2").exists()
    assert not any(p.exists() for p in calls), "staging dirs are removed"
    assert await snapshot.image("k2", builder(calls)) == store / "k2"


async def test_images_unused_for_a_week_are_pruned_when_another_is_built(store: Path) -> None:
    calls: list[Path] = []
    old, recent = store / "old", store / "recent"
    for image in (old, recent):
        image.mkdir(parents=True)
        (image / snapshot.IMAGE_FILE).write_bytes(b"x")
        (store / f"{image.name}.lock").touch()
    week_ago = time.time() - 8 * 86_400
    os.utime(old, (week_ago, week_ago))
    os.utime(recent, (week_ago, week_ago))
    await snapshot.image("recent", builder(calls))  # a hit marks it used
    await snapshot.image("new", builder(calls))
    assert sorted(p.name for p in store.iterdir()) == ["new", "new.lock", "recent", "recent.lock"]


def test_keys_follow_every_part_of_the_layout() -> None:
    base = {"preload": ["pandas"], "driver": "abc", "env": {"A": "1"}}
    assert snapshot.key(base) == snapshot.key(dict(reversed(base.items())))
    for change in ({"preload": ["numpy"]}, {"driver": "abd"}, {"env": {"A": "2"}}):
        assert snapshot.key({**base, **change}) != snapshot.key(base)


def test_snapshots_are_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOTILLA_GVISOR_SNAPSHOTS", raising=False)
    assert snapshot.enabled()
    for off in ("0", "false", "Off"):
        monkeypatch.setenv("FLOTILLA_GVISOR_SNAPSHOTS", off)
        assert not snapshot.enabled()
