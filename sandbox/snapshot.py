"""Where gVisor session images live: one checkpoint per layout, built once, restored many times.

Booting gVisor's user-space kernel and importing pandas and matplotlib through it costs ~3 s on
the ptrace platform this machine offers (4-5x an unisolated start). A restored sandbox skips
both: the first ``gvisor`` session with a preload boots a *template* (the REPL with the preload
imported and no limits yet, waiting for its configuration), ``runsc checkpoint`` writes its
image, and every later session is a new sandbox restored from that image (``runsc restore``):
its own sentry, gofer, /tmp and work dir, then configured - limits applied, RNGs reseeded.
It is what a Firecracker snapshot restore is to a MicroVM boot.

This module only keeps the images: a directory per key (a digest of everything that shaped the
template - runsc binary, Python, installed packages, driver, preload, environment) holding the
checkpoint and a manifest of the files the template had loaded (size and mtime each, checked
before every use, so an edited module means a new image). Images are published by an atomic
rename under a file lock, so parallel processes build each one once; a build that failed is not
retried for an hour. The store must be ours alone - whoever can write an image chooses what the
next session runs - so a store that another user could write or swap is refused.

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
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

IMAGE_FILE = "checkpoint.img"
MANIFEST_FILE = "manifest.json"
BUILD_FILE = "build-id"
UNUSED_DAYS = 7
FAILED_RETRY_S = 3600
_LOCK_POLL_S = 0.05


class SnapshotError(RuntimeError):
    """No image to restore: the store is not safe to use, or building the image failed."""


@dataclass(frozen=True)
class Image:
    """A published image: its directory, and which build it is.

    The build matters because a discard must not hit a rebuild that took its place.
    """

    path: Path
    build: str


def enabled() -> bool:
    """Restores are on unless ``FLOTILLA_GVISOR_SNAPSHOTS`` says 0/false/no/off."""
    flag = os.environ.get("FLOTILLA_GVISOR_SNAPSHOTS", "1").strip().lower()
    return flag not in {"0", "false", "no", "off"}


def root() -> Path:
    """The store's directory (read from the environment on every call)."""
    configured = os.environ.get("FLOTILLA_SNAPSHOT_DIR")
    if configured:
        return Path(configured).absolute()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).absolute() / "flotilla" / "gvisor-snapshots"


def key(material: dict[str, object]) -> str:
    """A stable name for an image built from ``material`` (JSON-able)."""
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def stamp(path: str) -> list[int] | None:
    """[size, mtime_ns] of ``path``, or None when it cannot be read: what says it changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def write_manifest(image_dir: Path, files: Iterable[str]) -> None:
    """Record size and mtime of the host files a template loaded, beside its checkpoint."""
    stamps = {name: found for name in sorted(set(files)) if (found := stamp(name)) is not None}
    (image_dir / MANIFEST_FILE).write_text(json.dumps(stamps))


def _current(path: Path) -> bool:
    """A complete image whose loaded files are all unchanged since it was taken."""
    if not (path / IMAGE_FILE).is_file():
        return False
    try:
        stamps = json.loads((path / MANIFEST_FILE).read_text())
        for name, recorded in stamps.items():
            if stamp(name) != recorded:
                logger.info("gVisor snapshot %s is stale: %s changed", path.name, name)
                return False
    except (OSError, ValueError, TypeError, AttributeError):
        return False
    return True


def _use(path: Path) -> Image | None:
    """The image at ``path`` if it is current, marked as just used (its mtime); else None."""
    if not _current(path):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    try:
        return Image(path, (path / BUILD_FILE).read_text())
    except OSError:
        return None


def check_private(path: Path) -> None:
    """Refuse a store that a user other than us (or root) could write into or swap out."""
    euid = os.geteuid()
    for part in (path, *path.parents):
        st = os.lstat(part)
        mode = st.st_mode
        shared = mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX
        if stat.S_ISLNK(mode) or st.st_uid not in (0, euid) or shared:
            msg = (
                f"snapshot store {path} is not private ({part} is a symlink, another user's, "
                "or writable by others); set FLOTILLA_SNAPSHOT_DIR to a directory only you own"
            )
            raise SnapshotError(msg)


def _make_root() -> Path:
    store = root()
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    store.chmod(0o700)
    check_private(store)
    return store


def _open_lock(lock_path: Path) -> int:
    return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)


async def _lock(lock_path: Path) -> int:
    """An fd holding an exclusive flock on ``lock_path``, waited for without a thread.

    flock conflicts between open files even inside one process, so this process's concurrent
    sessions queue here as other processes' do; a cancelled waiter closes its fd.
    """
    fd = await asyncio.to_thread(_open_lock, lock_path)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL_S)
    except BaseException:
        os.close(fd)
        raise


def _failed_recently(marker: Path) -> float | None:
    """Seconds since a build of this image failed, if that was under ``FAILED_RETRY_S`` ago."""
    with contextlib.suppress(OSError):
        age = time.time() - marker.stat().st_mtime
        if age < FAILED_RETRY_S:
            return age
    return None


async def image(name: str, build: Callable[[Path], Awaitable[None]]) -> Image:
    """The current image for ``name``, built with ``build(empty_dir)`` when missing or stale.

    ``build`` fills the directory it is given; it is published only when ``build`` returns.
    Raises ``SnapshotError`` when no image can be had (the caller boots).
    """
    try:
        store = await asyncio.to_thread(_make_root)
    except OSError as exc:
        msg = f"snapshot store unusable: {exc}"
        raise SnapshotError(msg) from exc
    final = store / name
    found = await asyncio.to_thread(_use, final)
    if found is not None:
        return found
    fd = await _lock(store / f"{name}.lock")
    try:
        found = await asyncio.to_thread(_use, final)
        if found is not None:
            return found
        marker = store / f"{name}.failed"
        age = await asyncio.to_thread(_failed_recently, marker)
        if age is not None:
            msg = f"building this gVisor snapshot failed {age:.0f} s ago; not retried for an hour"
            raise SnapshotError(msg)
        staging = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=f".{name}-", dir=store))
        try:
            await build(staging)
            await asyncio.to_thread(_publish, staging, final)
        except Exception as exc:
            await asyncio.to_thread(shutil.rmtree, staging, True)
            await asyncio.to_thread(marker.touch)
            msg = f"building a gVisor snapshot failed: {exc}"
            raise SnapshotError(msg) from exc
        except BaseException:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, staging, True))
            raise
        await asyncio.to_thread(marker.unlink, missing_ok=True)
        published = await asyncio.to_thread(_use, final)
    finally:
        os.close(fd)
    if published is None:
        msg = f"the gVisor snapshot {final} was not usable right after it was built"
        raise SnapshotError(msg)
    logger.info("gVisor snapshot %s built", final)
    await asyncio.to_thread(_prune, store, keep=final)
    return published


def _publish(staging: Path, final: Path) -> None:
    if not (staging / IMAGE_FILE).is_file():
        msg = f"snapshot build left no {IMAGE_FILE} in {staging}"
        raise SnapshotError(msg)
    (staging / BUILD_FILE).write_text(staging.name)  # unique: mkdtemp's name
    shutil.rmtree(final, ignore_errors=True)  # a stale image (we hold its lock)
    os.rename(staging, final)


def _prune(store: Path, *, keep: Path) -> None:
    """Drop images unused for ``UNUSED_DAYS`` (layouts that changed) and old failure marks.

    Lock files stay: a process may be waiting on one, and a new file would not exclude it.
    """
    cutoff = time.time() - UNUSED_DAYS * 86_400
    for entry in store.iterdir():
        with contextlib.suppress(OSError):
            if entry == keep or entry.suffix == ".lock" or entry.stat().st_mtime >= cutoff:
                continue
            if entry.is_dir():
                _remove(entry)
            else:
                entry.unlink()


def discard(found: Image) -> None:
    """Remove an image that failed to restore, so the next session builds a fresh one.

    An image rebuilt since is left alone.
    """
    with contextlib.suppress(OSError):
        if (found.path / BUILD_FILE).read_text() == found.build:
            _remove(found.path)


def _remove(path: Path) -> None:
    """Take an image out of use at once (a rename), then delete it."""
    with contextlib.suppress(OSError):
        doomed = path.with_name(f".discarded-{path.name}-{os.getpid()}")
        os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
