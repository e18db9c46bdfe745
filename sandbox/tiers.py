"""How each code-interpreter tier jails the REPL: the view it gets and the command that starts it.

- ``bwrap``: a bubblewrap command line (namespaces, read-only binds of ``/usr``, a few ``/etc``
  files and the Python runtime, private ``/tmp`` and ``/work``, a seccomp filter, a uid drop).
- ``gvisor``: an OCI bundle with the same view for ``runsc run``, or ``runsc restore`` of a
  snapshot image taken of the same layout (``sandbox/snapshot.py``).

The session that runs the command, talks to the REPL and enforces wall time lives in
``sandbox/interpreter.py``; this module only decides what the jail looks like.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from sandbox import seccomp, snapshot

GVISOR_PLATFORM = os.environ.get("FLOTILLA_GVISOR_PLATFORM", "ptrace")
SyscallFilter = Literal["seccomp", "gvisor", "microvm", "none"]
DRIVER_SOURCE = (Path(__file__).with_name("_driver.py")).read_text()
_DRIVER_DIGEST = hashlib.sha256(DRIVER_SOURCE.encode()).hexdigest()
SANDBOX_WORK = "/work"
VENV_MOUNT = "/opt/flotilla-venv"
UID_BASE, UID_SPAN = 200_000, 100_000
SNAPSHOT_UID = UID_BASE  # the uid gVisor templates (so every restored session) run as
_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "mime.types")


@functools.cache
def python_layout() -> tuple[Path, Path | None, str]:
    """(base prefix, venv prefix or None, python path as seen inside the jail).

    Fixed for the process, so worked out once (host_path asks it for every module a template
    loaded).
    """
    base = Path(sys.base_prefix).resolve()
    venv = Path(sys.prefix).resolve() if sys.prefix != sys.base_prefix else None
    exe = Path(sys.executable)
    if venv is not None and exe.is_relative_to(sys.prefix):
        return base, venv, str(Path(VENV_MOUNT) / exe.relative_to(sys.prefix))
    return base, venv, str(exe.resolve())


def _ancestor_dirs(target: str, mounts: set[str], made: set[str]) -> list[str]:
    """``--dir`` args for missing parents of a mount point; bwrap would make them 0700.

    Every missing level gets one (``/root/.pyenv`` as well as ``/root``), so the sandbox uid
    can reach the interpreter by path, e.g. from a shell; nothing under ``mounts`` is made.
    """
    args: list[str] = []
    for parent in reversed(PurePosixPath(target).parents):
        name = str(parent)
        if name in ("/", *made) or any(name == m or name.startswith(m + "/") for m in mounts):
            continue
        made.add(name)
        args += ["--perms", "0755", "--dir", name]
    return args


def _root_mounts() -> list[str]:
    """Read-only /usr plus the merged-/usr symlinks (or binds) and a minimal /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _python_mounts() -> list[str]:
    """Read-only binds of the interpreter (and venv, away from /work) the REPL runs on."""
    base, venv, _ = python_layout()
    mounts = {"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc", "/dev", "/tmp"}
    made: set[str] = set()
    args = [*_ancestor_dirs(str(base), mounts, made), "--ro-bind", str(base), str(base)]
    mounts.add(str(base))
    if venv is not None:
        args += [*_ancestor_dirs(VENV_MOUNT, mounts, made), "--ro-bind", str(venv), VENV_MOUNT]
    return args


def sandbox_env() -> dict[str, str]:
    """The whole environment sandboxed code gets: fixed paths, locale and thread counts, no secrets."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": SANDBOX_WORK,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/mpl",
        "XDG_CACHE_HOME": "/tmp/cache",  # fontconfig caches here, not in the work dir
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        **_THREAD_ENV,
    }


def bwrap_argv(
    *,
    work: Path,
    uid: int | None,
    command: Sequence[str],
    seccomp_fd: int | None = None,
    tmp_mb: int = 64,
) -> list[str]:
    """Bwrap command line; ``uid`` set means we are root and drop to it with setpriv."""
    if uid is None:
        ns = ["--unshare-all", "--uid", "65534", "--gid", "65534", "--disable-userns"]
        drop: list[str] = []
    else:
        ns = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        ns += ["--unshare-cgroup-try"]
        ns += [a for cap in ("SETUID", "SETGID", "SETPCAP") for a in ("--cap-add", f"CAP_{cap}")]
        drop = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        drop += ["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]
    env = [a for k, v in sandbox_env().items() for a in ("--setenv", k, v)]
    return [
        "bwrap",
        *ns,
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        *_root_mounts(),
        *_python_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(tmp_mb << 20),
        "--tmpfs",
        "/tmp",
        "--bind",
        str(work),
        SANDBOX_WORK,
        "--chdir",
        SANDBOX_WORK,
        "--clearenv",
        *env,
        *([] if seccomp_fd is None else ["--seccomp", str(seccomp_fd)]),
        *drop,
        *command,
    ]


# --- gVisor: an OCI bundle for `runsc run` ----------------------------------------------------


def _gvisor_mounts(work: Path, tmp_mb: int) -> list[dict[str, object]]:
    """The same view as the bwrap jail: read-only system and Python, private /work and /tmp."""
    base, venv, _ = python_layout()

    def ro(source: str, dest: str | None = None) -> dict[str, object]:
        return {
            "destination": dest or source,
            "type": "bind",
            "source": source,
            "options": ["rbind", "ro"],
        }

    mounts: list[dict[str, object]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["mode=1777", f"size={tmp_mb}m"],
        },
        ro("/usr"),
        *(ro(f"/etc/{n}") for n in _ETC_FILES if os.path.exists(f"/etc/{n}")),
        ro(str(base)),
    ]
    if venv is not None:
        mounts.append(ro(str(venv), VENV_MOUNT))
    mounts.append(
        {
            "destination": SANDBOX_WORK,
            "type": "bind",
            "source": str(work),
            "options": ["rbind", "rw"],
        }
    )
    return mounts


def _gvisor_rootfs(root: Path, mounts: list[dict[str, object]]) -> None:
    """An empty read-only root: merged-/usr symlinks and the mount points, nothing else."""
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(name):
            (root / name.lstrip("/")).symlink_to(os.readlink(name))
    for mount in mounts:
        point = root / str(mount["destination"]).lstrip("/")
        if Path(str(mount["source"])).is_file():
            point.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            point.touch(mode=0o644)
        else:
            point.mkdir(mode=0o755, parents=True, exist_ok=True)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def gvisor_argv(
    *,
    base: Path,
    work: Path,
    uid: int,
    command: Sequence[str],
    tmp_mb: int = 64,
    image: Path | None = None,
) -> list[str]:
    """Write an OCI bundle under ``base`` and return the command line that starts it.

    That is ``runsc run``, or ``runsc restore`` when ``image`` is a checkpoint of the same layout.
    """
    bundle, state = base / "bundle", base / "runsc"
    mounts = _gvisor_mounts(work, tmp_mb)
    (bundle / "rootfs").mkdir(parents=True)
    state.mkdir(mode=0o700)
    _gvisor_rootfs(bundle / "rootfs", mounts)
    caps: dict[str, list[str]] = {
        k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")
    }
    spec = {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": uid},
            "args": list(command),
            "env": [f"{k}={v}" for k, v in sandbox_env().items()],
            "cwd": SANDBOX_WORK,
            "noNewPrivileges": True,
            "capabilities": caps,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "sandbox",
        "mounts": mounts,
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
    }
    (bundle / "config.json").write_text(json.dumps(spec))
    verb = ["run"] if image is None else ["restore", "--image-path", str(image)]
    runsc = [runsc_path(), "--root", str(state), "--network=none", f"--platform={GVISOR_PLATFORM}"]
    return [*runsc, *verb, "--bundle", str(bundle), container_id(base)]


def container_id(base: Path) -> str:
    """The gVisor container id of the session whose state lives under ``base``."""
    return f"flotilla-{base.name}"


def runsc_path() -> str:
    """Runsc by absolute path: what runs is what the snapshot key stamped."""
    return shutil.which("runsc") or "runsc"


def host_path(inside: str) -> str:
    """Where a file the REPL sees lives on the host (the venv is mounted elsewhere inside)."""
    _, venv, _ = python_layout()
    if venv is not None and (inside == VENV_MOUNT or inside.startswith(VENV_MOUNT + "/")):
        return str(venv) + inside[len(VENV_MOUNT) :]
    return inside


def snapshot_material(preload: Sequence[str], tmp_mb: int) -> dict[str, object]:
    """Everything a template's image depends on; a change to any of it means a new image."""

    def stamp(path: str) -> list[object]:
        found = snapshot.stamp(path)
        return [path, None] if found is None else [path, *found]

    paths = sysconfig.get_paths()
    code_dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    libs = ["/usr/lib", f"/usr/lib/{sysconfig.get_config_var('MULTIARCH') or ''}"]
    libs.append("/usr/share/fonts")  # matplotlib's font list is in the image
    return {
        "format": 2,
        "runsc": stamp(runsc_path()),
        "platform": GVISOR_PLATFORM,
        "python": [str(p) for p in python_layout()] + [sys.version],
        "interpreter": stamp(os.path.realpath(sys.executable)),
        "code": [stamp(d) for d in sorted(code_dirs)],
        "system": [stamp(d) for d in libs] + [stamp(f"/etc/{n}") for n in _ETC_FILES],
        "driver": _DRIVER_DIGEST,
        "env": sandbox_env(),
        "preload": list(preload),
        "tmp_mb": tmp_mb,
        "uid": SNAPSHOT_UID,
    }


@dataclass
class Launch:
    """How to start one jailed command: its argv and the fds it inherits."""

    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    syscall_filter: SyscallFilter = "none"

    def close(self) -> None:
        """Close the file descriptors handed to the jail (the parent's copies)."""
        for fd in self.pass_fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def command_for(
    tier: str,
    *,
    base: Path,
    work: Path,
    uid: int | None,
    command: Sequence[str],
    tmp_mb: int,
    image: Path | None = None,
) -> Launch:
    """The command line that runs ``command`` (a path inside the jail) in ``tier``.

    For gVisor with an ``image``, the command restores that image instead.
    """
    if tier == "gvisor":
        assert uid is not None
        argv = gvisor_argv(
            base=base, work=work, uid=uid, command=command, tmp_mb=tmp_mb, image=image
        )
        return Launch(argv, syscall_filter="gvisor")
    fd = seccomp.filter_fd()
    argv = bwrap_argv(work=work, uid=uid, command=command, seccomp_fd=fd, tmp_mb=tmp_mb)
    return Launch(argv, () if fd is None else (fd,), "none" if fd is None else "seccomp")
