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
    calls: list[Path], *, fail: bool = False, write: bool = True, loaded: tuple[str, ...] = ()
) -> Callable[[Path], Awaitable[None]]:
    async def build(staging: Path) -> None:
        calls.append(staging)
        await asyncio.sleep(0.05)
        if write:
            (staging / snapshot.IMAGE_FILE).write_bytes(b"image")
            snapshot.write_manifest(staging, loaded)
        if fail:
            raise RuntimeError("checkpoint failed")

    return build


async def test_concurrent_sessions_build_an_image_once(store: Path) -> None:
    calls: list[Path] = []
    found = await asyncio.gather(*(snapshot.image("k1", builder(calls)) for _ in range(4)))
    assert len(calls) == 1
    assert {image.path for image in found} == {store / "k1"}
    assert (store / "k1" / snapshot.IMAGE_FILE).read_bytes() == b"image"
    assert oct(store.stat().st_mode & 0o777) == "0o700"


async def test_a_failed_build_publishes_nothing_and_is_not_retried_for_an_hour(
    store: Path,
) -> None:
    calls: list[Path] = []
    with pytest.raises(snapshot.SnapshotError, match="checkpoint failed"):
        await snapshot.image("k2", builder(calls, fail=True))
    with pytest.raises(snapshot.SnapshotError, match="not retried"):
        await snapshot.image("k2", builder(calls))
    assert len(calls) == 1
    (store / "k2.failed").unlink()
    with pytest.raises(snapshot.SnapshotError, match=r"no checkpoint\.img"):
        await snapshot.image("k2", builder(calls, write=False))
    assert not (store / "k2").exists()
    assert not any(p.exists() for p in calls), "staging dirs are removed"
    (store / "k2.failed").unlink()
    assert (await snapshot.image("k2", builder(calls))).path == store / "k2"
    assert not (store / "k2.failed").exists()


async def test_an_image_whose_loaded_files_changed_is_rebuilt(store: Path, tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("x = 1\n")
    calls: list[Path] = []
    first = await snapshot.image("k3", builder(calls, loaded=(str(module),)))
    assert (await snapshot.image("k3", builder(calls, loaded=(str(module),)))) == first
    module.write_text("x = 22\n")  # edited in place: the directory's mtime may not move
    rebuilt = await snapshot.image("k3", builder(calls, loaded=(str(module),)))
    assert len(calls) == 2
    assert rebuilt.path == first.path and rebuilt.build != first.build


async def test_a_discard_never_removes_an_image_rebuilt_since(store: Path) -> None:
    calls: list[Path] = []
    old = await snapshot.image("k4", builder(calls))
    snapshot.discard(old)
    new = await snapshot.image("k4", builder(calls))
    snapshot.discard(old)  # a late failure report about the image that is gone
    assert (new.path / snapshot.IMAGE_FILE).is_file()


async def test_a_store_others_can_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("FLOTILLA_SNAPSHOT_DIR", str(shared / "store"))
    calls: list[Path] = []
    with pytest.raises(snapshot.SnapshotError, match="not private"):
        await snapshot.image("k5", builder(calls))
    assert not calls


async def test_images_unused_for_a_week_are_pruned_when_another_is_built(store: Path) -> None:
    calls: list[Path] = []
    old, recent = store / "old", store / "recent"
    for image in (old, recent):
        image.mkdir(parents=True)
        (image / snapshot.IMAGE_FILE).write_bytes(b"x")
        snapshot.write_manifest(image, [])
        (image / snapshot.BUILD_FILE).write_text(image.name)
        (store / f"{image.name}.lock").touch()
    week_ago = time.time() - 8 * 86_400
    os.utime(old, (week_ago, week_ago))
    os.utime(recent, (week_ago, week_ago))
    await snapshot.image("recent", builder(calls))  # a hit marks it used
    await snapshot.image("new", builder(calls))
    assert len(calls) == 1
    # lock files stay: another process may be waiting on one
    names = sorted(p.name for p in store.iterdir())
    assert names == ["new", "new.lock", "old.lock", "recent", "recent.lock"]


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
