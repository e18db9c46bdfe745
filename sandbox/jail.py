"""The jail each browser subagent's Chromium runs in: bubblewrap namespaces around one process tree.

Playwright starts "the browser executable" and talks to it over inherited pipes (fds 3 and 4).
We point it at a small generated launcher that execs ``bwrap … chromium "$@"``: bwrap keeps
inherited fds, so the pipes still work, and everything Chromium spawns lives in the jail's pid
namespace, which the kernel empties when the jail's init (bwrap) dies. The launcher also merges
Chromium's feature switches (Chromium honours only the last ``--disable-features``, so ours
would otherwise erase Playwright's list); an unjailed Chromium gets the same launcher minus bwrap.

What the jail gives: own pid/ipc/uts/cgroup namespaces, a read-only view of only the system
directories Chromium needs (no /root, /home, /work, /var, and only a few files of /etc), a
private tmpfs /tmp (the profile lives there and vanishes with the jail), no capabilities, a
scrubbed environment, death with its parent, and a Chromium enterprise policy that blocks
file:/chrome: URLs and downloads inside the browser itself.

Mode "bwrap+netns" (the default where we run as root) adds two things:

- its own network namespace (``--unshare-net``): nothing but a loopback of its own, so a
  compromised Chromium process cannot open a socket to the host's loopback or anywhere else.
  The only way out is the egress proxy: `listen_in_jail` creates the proxy's listening socket
  *inside* the jail's namespace (from a short-lived host thread that enters it with setns), so
  Chromium's ``--proxy-server=socks5://127.0.0.1:PORT`` reaches the proxy, which resolves and
  connects from the host's namespace after its checks. No forwarder process, no extra hop.
- an unprivileged uid: bwrap keeps only CAP_SETUID/SETGID/SETPCAP, and ``setpriv`` drops to
  uid/gid 65534 (no groups, empty bounding set, no_new_privs) before exec'ing Chromium, so the
  browser is not root on the host either (no user namespace maps it back to 0).

Where either cannot be had (not root, a kernel that refuses), the jail starts in its previous
form, mode "bwrap", and `JailPlan.reason` says why.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

JailMode = Literal["bwrap+netns", "bwrap", "none", "agentcore"]
JAILED_MODES = ("bwrap+netns", "bwrap")
JAIL_ENV = "FLOTILLA_BROWSER_JAIL"
PIDFILE_ENV = "FLOTILLA_JAIL_PIDFILE"
# Chromium's uid/gid in a "bwrap+netns" jail (nobody): never root, on the host or inside.
JAIL_UID = 65534
# The proxy's port inside a jail's own network namespace (nothing else listens there).
JAIL_PROXY_PORT = 1080
_CLONE_NEWNET = 0x40000000

# Read-only binds: what Chromium needs to start, render text and verify TLS, nothing more.
# /etc/shadow, /etc/ssh, the repo, home directories and credentials stay outside the jail.
_ETC_FILES = (
    "fonts",
    "ssl",
    "ca-certificates",
    "alternatives",
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "passwd",
    "group",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
)
# Debian's /usr/bin/chromium is a shell launcher; the jail runs the binary itself.
_DEBIAN_BINARY = Path("/usr/lib/chromium/chromium")
# Chromium's own enterprise policy, bound into the jail: the browser itself refuses file: URLs
# (Playwright's route gate never sees them) and every download. chrome:// is left out: blocking
# it this way crashes Chromium 156 on navigation, and pages cannot navigate to chrome:// anyway.
BROWSER_POLICY = {
    "URLBlocklist": ["file://*", "view-source:*", "filesystem:*", "ftp://*"],
    "DownloadRestrictions": 3,
    # No speculative preconnects: a page's links would otherwise open connections unasked.
    "NetworkPredictionOptions": 2,
    "WebRtcIPHandlingPolicy": "disable_non_proxied_udp",
}
_POLICY_DIRS = ("/etc/chromium/policies", "/etc/opt/chrome/policies")
# The environment Chromium sees inside the jail; nothing of the host's (keys, REDIS_URL) leaks.
_JAIL_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "XDG_CONFIG_HOME": "/tmp/.config",
    "XDG_CACHE_HOME": "/tmp/.cache",
}


@dataclass(frozen=True)
class JailPlan:
    """How this process launches browsers: the executable to give Playwright, and why.

    `merges_features`: the executable is our launcher, which merges every --enable-features and
    --disable-features into one of each, so a caller may add its own without erasing Playwright's.
    """

    mode: JailMode
    executable: str | None
    reason: str
    merges_features: bool = False


def real_chromium(executable: str | None) -> str | None:
    """The Chromium binary behind `executable` (Debian's launcher script is skipped)."""
    debian = executable and Path(executable).resolve() == Path("/usr/bin/chromium")
    return str(_DEBIAN_BINARY) if debian and _DEBIAN_BINARY.exists() else executable


class JailUnavailable(RuntimeError):
    """The browser jail cannot be used here and the operator did not opt out of it."""


def jail_requested() -> bool:
    """False when a person opted out with FLOTILLA_BROWSER_JAIL=0 (or no/off/false)."""
    return os.environ.get(JAIL_ENV, "1").strip().lower() not in ("0", "no", "off", "false")


@cache
def _bwrap_works(bwrap: str, *, netns: bool = False) -> str | None:
    """None if bwrap can create the namespaces here, else what went wrong."""
    if netns and os.geteuid() != 0:
        return "not root: cannot drop Chromium to another uid or enter its network namespace"
    probe = [bwrap, *_namespace_args(netns=netns), "--ro-bind", "/usr", "/usr", *_usr_links()]
    probe += [*_drop_privileges(netns), "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return (
        None if result.returncode == 0 else (result.stderr.strip() or f"exit {result.returncode}")
    )


def plan(executable: str | None) -> JailPlan:
    """Decide, once per launch, how Chromium runs jailed.

    Without root the jail keeps its namespaces but shares the host network (logged, and named in
    every finding). Where no jail can run at all, Chromium does not start unjailed by itself:
    ``JailUnavailable`` names what is missing, and only the operator's ``FLOTILLA_BROWSER_JAIL=0``
    runs it without one.
    """
    binary = real_chromium(executable)
    # Subagents plan their jails at the same time, from worker threads: the once-per-process
    # probe and files below must be made by one of them while the others wait.
    with _SETUP_LOCK:
        if not jail_requested():
            _warn_once(f"{JAIL_ENV}=0 was set: Chromium runs WITHOUT a jail")
            return _unjailed(binary, f"{JAIL_ENV}=0 was set")
        bwrap = shutil.which("bwrap")
        problem = "bwrap is not installed" if bwrap is None else _bwrap_works(bwrap)
        if binary is None:
            problem = "no system Chromium to jail (Playwright's bundled build is used)"
        if bwrap is None or binary is None or problem is not None:
            raise JailUnavailable(
                f"browser jail unavailable: {problem or 'unknown'}. Install bubblewrap and "
                "Debian's chromium (make setup does), or, as the operator, set "
                f"{JAIL_ENV}=0 to run Chromium without a jail"
            )
        netns_problem = _bwrap_works(bwrap, netns=True)
        if netns_problem is None:
            argv = bwrap_argv(bwrap, binary, netns=True)
            jailed = _launcher("chromium-jailed-netns", tuple(argv))
            reason = f"bwrap namespaces, own network namespace, uid {JAIL_UID}"
            return JailPlan("bwrap+netns", str(jailed), reason, merges_features=True)
        _warn_once(
            f"browser jail without its own network namespace, Chromium as root: {netns_problem}"
        )
        jailed = _launcher("chromium-jailed", tuple(bwrap_argv(bwrap, binary)))
        reason = f"bwrap namespaces; shares the host network, runs as root: {netns_problem}"
        return JailPlan("bwrap", str(jailed), reason, merges_features=True)


def _unjailed(binary: str | None, reason: str) -> JailPlan:
    """No jail: the same launcher without bwrap (Playwright's bundled build runs as it is)."""
    if binary is None:
        return JailPlan("none", None, reason)
    return JailPlan("none", str(_launcher("chromium", (binary,))), reason, merges_features=True)


@cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _namespace_args(*, netns: bool = False) -> list[str]:
    args = [
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "flotilla-browser",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]
    if netns:
        # Only what setpriv needs to drop to JAIL_UID; setpriv then drops these too.
        args.insert(0, "--unshare-net")
        args += [a for cap in ("SETUID", "SETGID", "SETPCAP") for a in ("--cap-add", f"CAP_{cap}")]
    return args


def _drop_privileges(netns: bool) -> list[str]:
    """The command prefix that makes Chromium uid/gid JAIL_UID with no capabilities at all."""
    if not netns:
        return []
    return [
        "/usr/bin/setpriv",
        f"--reuid={JAIL_UID}",
        f"--regid={JAIL_UID}",
        "--clear-groups",
        "--bounding-set=-all",
        "--inh-caps=-all",
        "--no-new-privs",
        "--",
    ]


def _usr_links() -> list[str]:
    links: list[str] = []
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        path = Path("/") / name
        if path.is_symlink():
            links += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            links += ["--ro-bind", str(path), str(path)]
    return links


def bwrap_argv(bwrap: str, binary: str, *, netns: bool = False) -> list[str]:
    """The bwrap command line that jails `binary` (its own arguments follow; `binary` is last).

    `netns`: own network namespace, and Chromium dropped to JAIL_UID ("bwrap+netns").
    """
    argv = [bwrap, *_namespace_args(netns=netns), "--ro-bind", "/usr", "/usr", *_usr_links()]
    binary_dir = str(Path(binary).resolve().parent)
    if not binary_dir.startswith("/usr/"):
        argv += ["--ro-bind", binary_dir, binary_dir]
    # bwrap makes the parents of mount points root-only: Chromium (not root in a "bwrap+netns"
    # jail) could not read its fonts, certificates or policy, and would run without them.
    argv += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC_FILES:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # /dev/shm is a private tmpfs too: renderers share memory there, never with the host.
    # Both are writable by Chromium's uid (1777: it is not root in a "bwrap+netns" jail).
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
    argv += ["--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    argv += ["--perms", "0777", "--dir", "/tmp/.config", "--perms", "0777", "--dir", "/tmp/.cache"]
    for policy_dir in _POLICY_DIRS:
        for parent in reversed(Path(policy_dir).parents[:-2]):
            argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", str(_policy_dir()), policy_dir]
    argv += ["--remount-ro", "/", "--clearenv"]
    for key, value in _JAIL_ENV.items():
        argv += ["--setenv", key, value]
    return [*argv, "--chdir", "/tmp", *_drop_privileges(netns), binary]


_SETUP_LOCK = threading.Lock()


RUNTIME_DIR_PREFIX = "flotilla-jail-"
"""Each process's launchers and policies: `<prefix><pid>-<random>` in the temp folder."""


@cache
def _runtime_dir() -> Path:
    _remove_stale_runtime_dirs(Path(tempfile.gettempdir()))
    path = Path(tempfile.mkdtemp(prefix=f"{RUNTIME_DIR_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def _remove_stale_runtime_dirs(base: Path) -> None:
    """Remove the runtime dirs of this user's processes that were killed (no atexit ran)."""
    for path in base.glob(f"{RUNTIME_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(RUNTIME_DIR_PREFIX).partition("-")[0]
        try:
            owned = path.lstat().st_uid == os.getuid() and path.is_dir() and not path.is_symlink()
            if pid.isdigit() and owned:
                os.kill(int(pid), 0)
        except ProcessLookupError:  # its process is gone: nothing of it runs any more
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive (or not ours to signal), or gone meanwhile
            continue


@cache
def _policy_dir() -> Path:
    managed = _runtime_dir() / "policies" / "managed"
    managed.mkdir(parents=True, exist_ok=True)
    (managed / "flotilla.json").write_text(json.dumps(BROWSER_POLICY))
    return managed.parent


# Chromium keeps only the last --enable-features and the last --disable-features it is given:
# the launcher folds every occurrence into one of each, then passes the rest on in order.
_MERGE_FEATURE_SWITCHES = """on= off=
for arg do
  shift
  case $arg in
    --enable-features=*) on="$on,${arg#*=}" ;;
    --disable-features=*) off="$off,${arg#*=}" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
"""


@cache
def _launcher(name: str, command: tuple[str, ...]) -> Path:
    """Write a launcher once per process.

    It records its pid (the jail's, bwrap keeps it), merges Chromium's feature switches, then
    execs `command` with Chromium's arguments.
    """
    script = _runtime_dir() / name
    merged = '${on:+"--enable-features=${on#,}"} ${off:+"--disable-features=${off#,}"}'
    script.write_text(
        f'#!/bin/sh\n[ -n "${PIDFILE_ENV}" ] && echo $$ > "${PIDFILE_ENV}"\n'
        f"{_MERGE_FEATURE_SWITCHES}"
        f'exec {shlex.join(command)} {merged} "$@"\n'
    )
    script.chmod(0o700)
    return script


def new_pidfile() -> Path:
    """A fresh path where one launch's launcher will write the jail's pid."""
    with _SETUP_LOCK:
        base = _runtime_dir()
    fd, name = tempfile.mkstemp(prefix="pid-", dir=base)
    os.close(fd)
    return Path(name)


def launch_env(pidfile: Path) -> dict[str, str | float | bool]:
    """The environment Playwright passes to the launcher (bwrap clears it again inside)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), PIDFILE_ENV: str(pidfile)}


def read_pid(pidfile: Path) -> int | None:
    """The jail's pid the launcher wrote, or None."""
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, grandchildren, …), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def is_jail(pid: int) -> bool:
    """Whether `pid` is still a bwrap jail (not a recycled pid)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return Path(argv0.decode(errors="replace")).name == "bwrap"


def kill_jail(pid: int | None) -> None:
    """SIGKILL the jail; its pid namespace takes every process Chromium spawned with it."""
    if pid is not None and is_jail(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _jail_member(pid: int) -> int | None:
    """A process inside the jail whose outermost process is `pid` (bwrap's first child)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        found = descendants(pid)
        return found[0] if found else None
    return int(children[0]) if children else None


def listen_in_jail(jail_pid: int, port: int = JAIL_PROXY_PORT) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:`port` inside the jail's own network namespace.

    A socket stays in the namespace it was made in: a short-lived thread enters the jail's
    namespace, makes it, and ends (a thread that failed to come back dies with it). The host
    process serves it; the jail sees only this one port, the host's loopback not at all.
    """
    member = _jail_member(jail_pid) if is_jail(jail_pid) else None
    if member is None:
        msg = f"no process in jail {jail_pid} to find its network namespace by"
        raise OSError(msg)
    target = os.open(f"/proc/{member}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    if os.fstat(target).st_ino == os.stat("/proc/self/ns/net").st_ino:
        os.close(target)
        msg = f"jail {jail_pid} shares the host's network namespace"
        raise OSError(msg)
    made: list[socket.socket | BaseException] = []

    def inside() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                made.append(socket.create_server(("127.0.0.1", port), backlog=128))
            finally:
                _setns(own)
        except BaseException as exc:  # handed to the caller's thread
            made.append(exc)
        finally:
            os.close(own)

    thread = threading.Thread(target=inside, name="jail-netns", daemon=True)
    try:
        thread.start()
        thread.join()
    finally:
        os.close(target)
    result = made[0] if made else OSError("listener thread failed")
    if isinstance(result, BaseException):
        raise result
    return result


def _setns(fd: int) -> None:
    if _libc().setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)
