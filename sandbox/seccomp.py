"""A seccomp-BPF deny-list for the bwrap tier, built with libseccomp through ctypes.

bwrap loads the program (``--seccomp FD``) right before it execs the sandboxed command, so
everything inside runs under it. Denied calls fail with EPERM; syscalls of a foreign ABI
(i386/x32 entry points into an x86-64 process) kill the process, libseccomp's default.
The program is built once per process; ``filter_program()`` returns None when libseccomp is
missing or refuses, and callers must then report the filter as off rather than pretend.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import socket
import tempfile

logger = logging.getLogger(__name__)

# Kernel surfaces a data-analysis sandbox never needs and that have a history of escapes.
DENIED_SYSCALLS = (
    # debugging / reading other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    # namespaces, mounts and filesystem roots
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    # kernel, modules, keys, tracing
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "fanotify_init",
    "lookup_dcookie",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "io_uring_setup",  # io_uring requests are not seen by seccomp
    "io_uring_enter",
    "io_uring_register",
    # machine administration
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "vhangup",
    "uselib",
    "personality",
    "mbind",
    "migrate_pages",
    "move_pages",
    "set_mempolicy",
)
# clone3 passes its flags in memory seccomp cannot read; ENOSYS makes glibc fall back to clone.
ENOSYS_SYSCALLS = ("clone3",)
_CLONE_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
ALLOWED_SOCKET_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)

_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_EQ, _SCMP_CMP_GE, _SCMP_CMP_MASKED_EQ = 4, 5, 7
_AF_MAX = 64


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _Filter:
    """A thin, checked wrapper around one libseccomp filter context."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = (ctypes.c_uint32,)
        lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_rule_add_array.argtypes = (
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        )
        lib.seccomp_export_bpf.argtypes = (ctypes.c_void_p, ctypes.c_int)
        lib.seccomp_release.argtypes = (ctypes.c_void_p,)
        self.ctx = lib.seccomp_init(_SCMP_ACT_ALLOW)
        if not self.ctx:
            raise OSError(errno.ENOMEM, "seccomp_init failed")

    def rule(self, action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        """Add ``action`` for ``name`` when all ``(arg, op, a, b)`` comparisons hold.

        For MASKED_EQ, ``a`` is the mask and ``b`` the value; other ops use ``a`` only.
        """
        nr = self.lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # not a syscall on this architecture (e.g. uselib on arm64)
        array = (_ArgCmp * max(len(cmps), 1))(*(_ArgCmp(*cmp) for cmp in cmps))
        rc = self.lib.seccomp_rule_add_array(self.ctx, action, nr, len(cmps), array)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name!r} refused: {os.strerror(-rc)}")

    def export(self) -> bytes:
        with tempfile.TemporaryFile() as fh:
            rc = self.lib.seccomp_export_bpf(self.ctx, fh.fileno())
            if rc < 0:
                raise OSError(-rc, f"seccomp_export_bpf failed: {os.strerror(-rc)}")
            fh.seek(0)
            return fh.read()

    def release(self) -> None:
        self.lib.seccomp_release(self.ctx)


def _build(lib: ctypes.CDLL) -> bytes:
    flt = _Filter(lib)
    try:
        eperm = _errno_action(errno.EPERM)
        for name in DENIED_SYSCALLS:
            flt.rule(eperm, name)
        for name in ENOSYS_SYSCALLS:
            flt.rule(_errno_action(errno.ENOSYS), name)
        for flag in _CLONE_NAMESPACE_FLAGS:
            flt.rule(eperm, "clone", (0, _SCMP_CMP_MASKED_EQ, flag, flag))
        # Only local, IPv4 and IPv6 sockets (netlink, packet, vsock, bluetooth… are refused);
        # the net namespace is empty anyway.
        for family in range(_AF_MAX):
            if family not in ALLOWED_SOCKET_FAMILIES:
                flt.rule(_errno_action(errno.EAFNOSUPPORT), "socket", (0, _SCMP_CMP_EQ, family, 0))
        flt.rule(_errno_action(errno.EAFNOSUPPORT), "socket", (0, _SCMP_CMP_GE, _AF_MAX, 0))
        return flt.export()
    finally:
        flt.release()


@functools.cache
def filter_program() -> bytes | None:
    """The BPF program (cached), or None when libseccomp is unusable here (logged)."""
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        return _build(ctypes.CDLL(name))
    except (OSError, AttributeError) as exc:
        logger.warning(
            "seccomp filter unavailable (%s): bwrap sessions run WITHOUT a syscall filter; "
            "install libseccomp2 (Debian: `apt-get install libseccomp2`)",
            exc,
        )
        return None


def filter_fd() -> int | None:
    """A fresh memfd holding the program, positioned at 0, for ``bwrap --seccomp FD``."""
    program = filter_program()
    if program is None:
        return None
    fd = os.memfd_create("flotilla-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
