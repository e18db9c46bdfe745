"""Where gVisor session images live: one checkpoint per layout, built once, restored many times.

Booting gVisor's user-space kernel and importing pandas and matplotlib through it costs ~3.5 s
on the ptrace platform this machine offers (2.3x an unisolated start). A restored sandbox skips
both: the first ``gvisor`` session with a preload boots a *template* (the REPL with the preload
imported and no limits yet, waiting for its configuration), ``runsc checkpoint`` writes its
image, and every later session is a new sandbox restored from that image (``runsc restore``):
its own sentry, gofer, /tmp and work dir, then configured - limits applied, RNGs reseeded.
It is what a Firecracker snapshot restore is to a MicroVM boot.

This module only keeps the images: a directory per key (a digest of everything that shaped the
template - runsc binary, Python, installed packages, driver, preload, environment), published
by an atomic rename under a file lock, so parallel processes build each image once. Images are
root's (0700): whoever can write one chooses what the next session runs.

``FLOTILLA_GVISOR_SNAPSHOTS=0`` turns restores off; ``FLOTILLA_SNAPSHOT_DIR`` moves the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

logger = logging.getLogger(__name__)

IMAGE_FILE = "checkpoint.img"
UNUSED_DAYS = 7


def enabled() -> bool:
    """Restores are on unless ``FLOTILLA_GVISOR_SNAPSHOTS`` says 0/false/no/off."""
    flag = os.environ.get("FLOTILLA_GVISOR_SNAPSHOTS", "1").strip().lower()
    return flag not in {"0", "false", "no", "off"}


def root() -> Path:
    """The store's directory (read from the environment on every call)."""
    configured = os.environ.get("FLOTILLA_SNAPSHOT_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "flotilla" / "gvisor-snapshots"


def key(material: dict[str, object]) -> str:
    """A stable name for an image built from ``material`` (JSON-able)."""
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _ready(path: Path) -> bool:
    return (path / IMAGE_FILE).is_file()


def _lock(lock_path: Path) -> int:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make_root() -> Path:
    store = root()
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    store.chmod(0o700)
    return store


async def image(name: str, build: Callable[[Path], Awaitable[None]]) -> Path:
    """The image directory for ``name``, building it with ``build(empty_dir)`` if absent.

    ``build`` must fill the directory it is given; it is published only when it returns.
    """
    store = await asyncio.to_thread(_make_root)
    final = store / name
    if await asyncio.to_thread(_touch_if_ready, final):
        return final
    # flock conflicts between open files even inside one process, so concurrent sessions of
    # this process wait here as other processes do; the wait runs in a thread.
    fd = await asyncio.to_thread(_lock, store / f"{name}.lock")
    try:
        if await asyncio.to_thread(_ready, final):
            return final
        staging = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=f".{name}-", dir=store))
        try:
            await build(staging)
            await asyncio.to_thread(_publish, staging, final)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, staging, True))
            raise
    finally:
        os.close(fd)
    logger.info("gVisor snapshot %s built", final)
    await asyncio.to_thread(_prune, store, keep=final)
    return final


def _publish(staging: Path, final: Path) -> None:
    if not _ready(staging):
        msg = f"snapshot build left no {IMAGE_FILE} in {staging}"
        raise RuntimeError(msg)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(staging, final)


def _touch_if_ready(path: Path) -> bool:
    """True for a published image, whose mtime then says it was just used."""
    if not _ready(path):
        return False
    with contextlib.suppress(OSError):
        os.utime(path)
    return True


def _prune(store: Path, *, keep: Path) -> None:
    """Drop images (and their locks) unused for ``UNUSED_DAYS``: layouts that changed."""
    cutoff = time.time() - UNUSED_DAYS * 86_400
    for entry in store.iterdir():
        with contextlib.suppress(OSError):
            if entry != keep and entry.is_dir() and entry.stat().st_mtime < cutoff:
                discard(entry)
                (store / f"{entry.name}.lock").unlink(missing_ok=True)


def discard(path: Path) -> None:
    """Remove an image that failed to restore, so the next session builds a fresh one."""
    with contextlib.suppress(OSError):
        doomed = path.with_name(f".discarded-{path.name}-{os.getpid()}")
        os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
