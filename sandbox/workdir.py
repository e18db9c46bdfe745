"""The session's work dir, seen from the host.

File access that never follows a symlink the sandboxed code made, change listings, and (as root)
a size-limited tmpfs under it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)


# --- work-dir file access (host side, never follows symlinks) -------------------------------


def _parts(path: str) -> list[str]:
    """Components of a work-dir relative path; ValueError for anything that could escape."""
    pure = PurePosixPath(path)
    parts = [p for p in pure.parts if p != "."]
    if not path or "\x00" in path or pure.is_absolute() or ".." in parts or not parts:
        msg = f"path {path!r} must be relative to the sandbox work dir, without '..'"
        raise ValueError(msg)
    return parts


def _open_dir(root: Path, parts: Sequence[str], *, create: bool, uid: int | None) -> int:
    """Open a directory below ``root`` component by component, refusing symlinks."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
                    if uid is not None:
                        os.chown(name, uid, uid, dir_fd=fd, follow_symlinks=False)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def write(root: Path, path: str, data: bytes, uid: int | None) -> None:
    """Write ``data`` to ``path`` under ``root``, making its folders (owned by ``uid``)."""
    *dirs, name = _parts(path)
    dir_fd = _open_dir(root, dirs, create=True, uid=uid)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "wb") as fh:
        if uid is not None:
            os.fchown(fh.fileno(), uid, uid)
        fh.write(data)


# The most the host reads back of one file the sandboxed code wrote.
MAX_READ_BYTES = 256 * 1024 * 1024


def read(root: Path, path: str, *, limit: int = MAX_READ_BYTES) -> bytes:
    """Read the regular file ``path`` under ``root``, never following a symlink on the way.

    Anything else the sandboxed code may have left there — a FIFO that would stall the read, a
    device, a socket, a symlink — and a file over ``limit`` bytes are refused with a ValueError
    that names what was found.
    """
    *dirs, name = _parts(path)
    dir_fd = _open_dir(root, dirs, create=False, uid=None)
    try:
        _regular(path, os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        # Checked again on what was opened (the code may swap the file in between); O_NONBLOCK:
        # opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            raise ValueError(f"refused {path!r}: swapped while read, not a regular file") from None
        raise
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as fh:
        _regular(path, os.fstat(fh.fileno()).st_mode)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"refused {path!r}: larger than {limit} bytes")
    return data


def _regular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "special file")
        raise ValueError(f"refused {path!r}: a {kind}, not a regular file")


_KINDS = {
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFDIR: "directory",
}


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Regular files below ``root`` (symlinks not followed) -> (mtime_ns, size)."""
    found: dict[str, tuple[int, int]] = {}
    stack = [root]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    rel = Path(entry.path).relative_to(root).as_posix()
                    found[rel] = (st.st_mtime_ns, st.st_size)
    return found


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """The paths of ``after`` that are new or whose (mtime, size) differs from ``before``."""
    return sorted(p for p, meta in after.items() if before.get(p) != meta)


# --- the work dir as a size-limited tmpfs (root only) ----------------------------------------

_MNT_DETACH = 2


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(target: Path, size_mb: int) -> bool:
    """Mount a private tmpfs of ``size_mb`` on ``target``; False (logged) if the kernel refuses."""
    opts = f"size={size_mb}m,nr_inodes=65536,mode=0700".encode()
    flags = 0x2 | 0x4 | 0x8  # MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _libc().mount(b"tmpfs", bytes(target), b"tmpfs", flags, opts) == 0:
        return True
    err = ctypes.get_errno()
    logger.warning(
        "work dir quota off: mounting a tmpfs on %s failed: %s", target, os.strerror(err)
    )
    return False


def umount(target: Path) -> bool:
    """Detach the mount at ``target``; True when it went."""
    return _libc().umount2(bytes(target), _MNT_DETACH) == 0
