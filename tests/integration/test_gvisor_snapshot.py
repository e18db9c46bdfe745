"""gVisor sessions restored from a snapshot: as fresh, private and limited as booted ones.

A gVisor session with a preload is a new sandbox restored from an image of a template that has
already imported pandas and matplotlib. Every restored session therefore starts from the same
memory; these tests hold that nothing of one session reaches another, that each session's own
limits (not the template's) apply, that a broken image costs a boot rather than a session, and
that the image store builds each layout once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import snapshot
from sandbox.interpreter import SandboxLimits, _ProcessSession, open_session
from sandbox.pool import DEFAULT_PRELOAD
from sandbox.tier_choice import available_tiers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or "gvisor" not in available_tiers(),
        reason="gVisor (runsc, as root) is not available here",
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One image store for this module: its first session builds, the rest restore."""
    root = tmp_path_factory.mktemp("snapshots")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLOTILLA_SNAPSHOT_DIR", str(root))
        mp.delenv("FLOTILLA_GVISOR_SNAPSHOTS", raising=False)
        yield root


def images(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def restored(session: object) -> bool:
    assert isinstance(session, _ProcessSession)
    return session.restored


RANDOMS = "import random, numpy\nprint(random.random(), numpy.random.rand())"


async def test_restored_sessions_share_no_state_files_or_random_numbers(store: Path) -> None:
    async with open_session("gvisor", preload=DEFAULT_PRELOAD) as first:
        mark = await first.execute(
            "import sys\nsecret = 'session-one'\nopen('mine.txt', 'w').write(secret)\n"
            "print('pandas' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
        )
        one = await first.execute(RANDOMS)
        async with (
            open_session("gvisor", preload=DEFAULT_PRELOAD) as second,
            open_session("gvisor", preload=DEFAULT_PRELOAD) as third,
        ):
            seen = await second.execute(
                "import os\nprint('secret' in globals(), sorted(os.listdir('.')))"
            )
            two, three = await asyncio.gather(second.execute(RANDOMS), third.execute(RANDOMS))
            assert restored(second) and restored(third)
            assert not (second.work / "mine.txt").exists()  # type: ignore[attr-defined]
    assert restored(first), "the first session builds the image, then is restored from it"
    assert mark.stdout == "True True\n"
    assert seen.stdout == "False []\n"
    assert len({one.stdout, two.stdout, three.stdout}) == 3, "RNGs are reseeded per session"
    (image,) = images(store)
    # the files the template imported, as the host sees them, are checked before each restore
    loaded = json.loads((image / snapshot.MANIFEST_FILE).read_text())
    assert any(name.endswith("pandas/__init__.py") for name in loaded)
    assert all(Path(name).is_file() for name in loaded)


async def test_each_session_gets_its_own_limits_not_the_templates(store: Path) -> None:
    limits = SandboxLimits(cpu_time_s=2, wall_time_s=30, memory_mb=768, output_bytes=200)
    async with open_session("gvisor", limits, preload=DEFAULT_PRELOAD) as session:
        # the template's import CPU is not charged to the session: 1 s of work still fits
        busy = await session.execute(
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\n"
            "print('worked')"
        )
        chatty = await session.execute("print('x' * 1000)")
        bomb = await session.execute("hog = bytearray(2 << 30)")
        spin = await session.execute("while True: pass")
    assert restored(session)
    assert busy.stdout == "worked\n", busy
    assert chatty.truncated and chatty.limit_hit == "output"
    assert bomb.limit_hit == "memory", bomb
    assert spin.limit_hit == "cpu_time", spin
    assert len(images(store)) == 1, "one image serves every set of limits"


async def test_restored_session_is_as_isolated_as_a_booted_one(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-host-secret")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6399/0")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    probe = (
        "import os, socket\n"
        f"s = socket.socket()\ns.settimeout(2)\nprint(s.connect_ex(('127.0.0.1', {port})) != 0)\n"
        "print(os.getuid() != 0)\n"
        "for p in ['/etc/shadow', '/root/.aws/credentials', %r]:\n"
        "    try:\n        open(p, 'rb'); print('READABLE', p)\n    except OSError:\n        pass"
    )
    try:
        async with open_session("gvisor", preload=DEFAULT_PRELOAD) as session:
            env = await session.execute("import os\nprint(' '.join(sorted(os.environ)))")
            result = await session.execute(probe % str(Path.cwd() / "pyproject.toml"))
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert restored(session)
    names = env.stdout.split()
    assert "MPLBACKEND" in names
    assert not {"AWS_SECRET_ACCESS_KEY", "REDIS_URL"} & set(names), names
    assert result.stdout == "True\nTrue\n", result


async def test_a_broken_image_costs_a_boot_not_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLOTILLA_SNAPSHOT_DIR", str(tmp_path))
    async with open_session("gvisor", preload=DEFAULT_PRELOAD) as built:
        assert restored(built)
    (image,) = images(tmp_path)
    (image / snapshot.IMAGE_FILE).write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING, logger="sandbox.interpreter"):
        async with open_session("gvisor", preload=DEFAULT_PRELOAD) as booted:
            answer = await booted.execute("import pandas\nprint(pandas.__name__)")
    assert not restored(booted)
    assert answer.stdout == "pandas\n"
    assert any("restore" in r.getMessage() for r in caplog.records)
    assert not image.exists(), "the broken image is dropped"
    async with open_session("gvisor", preload=DEFAULT_PRELOAD) as rebuilt:
        assert restored(rebuilt)
    assert images(tmp_path) == [image]


async def test_snapshots_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOTILLA_GVISOR_SNAPSHOTS", "0")
    async with open_session("gvisor", preload=("json",)) as session:
        result = await session.execute("import json\nprint(json.dumps([1]))")
    assert not restored(session)
    assert result.stdout == "[1]\n"
