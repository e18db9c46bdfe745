"""Code-interpreter sandbox: stateful Python sessions in a jail, AgentCore style.

A session is one persistent REPL process (``sandbox/_driver.py``) started inside a tier:

- ``bwrap``: bubblewrap with fresh pid/net/ipc/uts/cgroup (and, when not run as root, user)
  namespaces, a read-only view of only what Python needs, a private ``/work`` and ``/tmp``,
  a scrubbed environment, rlimits, and an unprivileged uid (so RLIMIT_NPROC holds).
- ``none``: a plain subprocess with rlimits and a scrubbed environment. No isolation; only
  used when asked for by name.

Crashes and limit hits come back as an ``ExecResult``; nothing but misuse raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal, Protocol

from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)

LimitName = Literal["wall_time", "cpu_time", "memory", "file_size", "processes", "output"]

KNOWN_TIERS = ("bwrap", "none")
_INSTALL_HINT = {
    "bwrap": "install bubblewrap (Debian: `apt-get install bubblewrap`) and allow user namespaces",
    "gvisor": "the gvisor tier is not implemented yet; use 'bwrap'",
}
_HEADER = struct.Struct(">I")
_DRIVER_SOURCE = (Path(__file__).with_name("_driver.py")).read_text()
_SANDBOX_WORK = "/work"
_VENV_MOUNT = "/opt/flotilla-venv"
_UID_BASE, _UID_SPAN = 200_000, 100_000
_START_TIMEOUT_S = 60.0
_STDERR_TAIL = 4_000
_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "mime.types")


class SandboxUnavailable(RuntimeError):
    """The requested sandbox tier cannot run on this machine."""


class SandboxLimits(BaseModel):
    """Hard resource limits for one session."""

    wall_time_s: float = Field(default=60, description="Wall-clock seconds per execute call.")
    cpu_time_s: int = Field(
        default=60, description="CPU seconds for the whole session (RLIMIT_CPU)."
    )
    memory_mb: int = Field(default=1024, description="Address space in MiB (RLIMIT_AS).")
    file_size_mb: int = Field(
        default=64, description="Largest file the code may write (RLIMIT_FSIZE)."
    )
    processes: int = Field(
        default=64, description="Processes/threads of the sandbox uid (RLIMIT_NPROC)."
    )
    output_bytes: int = Field(
        default=64_000, description="Cap on stdout and on stderr, each, per call."
    )


class ExecResult(BaseModel):
    """Structured outcome of one execute call, shaped for LLM consumption."""

    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = Field(
        default=None, description="0 ok, 1 exception, else process status."
    )
    error_type: str | None = None
    error_message: str | None = None
    truncated: bool = False
    files: list[str] = Field(default_factory=list, description="Work-dir files created/changed.")
    elapsed_s: float = 0.0
    limit_hit: LimitName | None = None
    tier: str = ""


class CodeSession(Protocol):
    """A stateful interpreter session with a private work dir."""

    tier: str

    async def execute(self, code: str) -> ExecResult: ...
    async def write_file(self, path: str, data: bytes) -> None: ...
    async def read_file(self, path: str) -> bytes: ...
    async def list_files(self) -> list[str]: ...
    async def stop(self) -> None: ...


# --- tier selection -------------------------------------------------------------------------


def _python_layout() -> tuple[Path, Path | None, str]:
    """(base prefix, venv prefix or None, python path as seen inside the bwrap jail)."""
    base = Path(sys.base_prefix).resolve()
    venv = Path(sys.prefix).resolve() if sys.prefix != sys.base_prefix else None
    exe = Path(sys.executable)
    if venv is not None and exe.is_relative_to(sys.prefix):
        return base, venv, str(Path(_VENV_MOUNT) / exe.relative_to(sys.prefix))
    return base, venv, str(exe.resolve())


def _ancestor_dirs(target: str, made: set[str]) -> list[str]:
    """``--dir`` args for missing parents of a mount point; bwrap would make them 0700."""
    args: list[str] = []
    for parent in reversed(PurePosixPath(target).parents):
        name = str(parent)
        if name == "/" or any(name == m or name.startswith(m + "/") for m in made):
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
    base, venv, _ = _python_layout()
    made = {"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc", "/dev", "/tmp"}
    args = [*_ancestor_dirs(str(base), made), "--ro-bind", str(base), str(base)]
    made.add(str(base))
    if venv is not None:
        args += [*_ancestor_dirs(_VENV_MOUNT, made), "--ro-bind", str(venv), _VENV_MOUNT]
    return args


def _sandbox_env() -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": _SANDBOX_WORK,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/mpl",
        "XDG_CACHE_HOME": "/tmp/cache",  # fontconfig caches here, not in the work dir
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        **_THREAD_ENV,
    }


def _bwrap_argv(*, work: Path, uid: int | None, command: Sequence[str]) -> list[str]:
    """bwrap command line; ``uid`` set means we are root and drop to it with setpriv."""
    if uid is None:
        ns = ["--unshare-all", "--uid", "65534", "--gid", "65534", "--disable-userns"]
        drop: list[str] = []
    else:
        ns = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        ns += ["--unshare-cgroup-try"]
        ns += [a for cap in ("SETUID", "SETGID", "SETPCAP") for a in ("--cap-add", f"CAP_{cap}")]
        drop = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        drop += ["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]
    env = [a for k, v in _sandbox_env().items() for a in ("--setenv", k, v)]
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
        "--tmpfs",
        "/tmp",
        "--bind",
        str(work),
        _SANDBOX_WORK,
        "--chdir",
        _SANDBOX_WORK,
        "--clearenv",
        *env,
        *drop,
        *command,
    ]


def _probe_bwrap() -> bool:
    """True when bwrap can start Python here with the exact layout sessions use."""
    if shutil.which("bwrap") is None:
        return False
    uid = _pick_uid()
    with tempfile.TemporaryDirectory(prefix="flotilla-probe-") as tmp:
        if uid is not None:
            os.chown(tmp, uid, uid)
        code = "import os; assert os.getuid() != 0; print('ok')"
        argv = _bwrap_argv(work=Path(tmp), uid=uid, command=[_python_layout()[2], "-I", "-c", code])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={})
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0 and done.stdout.strip() == "ok"


@functools.cache
def _probed_tiers() -> tuple[str, ...]:
    return ("bwrap",) if _probe_bwrap() else ()


def available_tiers() -> list[str]:
    """Isolated tiers that work on this machine, best first (probed once, cached)."""
    return list(_probed_tiers())


def resolve_tier(requested: str) -> str:
    """Map "auto" to the best working isolated tier; refuse unknown or unavailable ones."""
    if requested == "none":
        logger.warning(
            "SANDBOX TIER 'none' REQUESTED: code runs as a plain subprocess on this host with "
            "rlimits only - no filesystem, network or process isolation. Use it only for trusted code."
        )
        return "none"
    tiers = available_tiers()
    if requested == "auto" and tiers:
        return tiers[0]
    if requested in tiers:
        return requested
    if requested == "auto":
        msg = f"no isolated sandbox tier works on this machine; {_INSTALL_HINT['bwrap']}, or pass tier='none' explicitly for trusted code"
    elif requested in _INSTALL_HINT:
        msg = f"sandbox tier {requested!r} is not available here: {_INSTALL_HINT[requested]}"
    else:
        msg = f"unknown sandbox tier {requested!r}; choose one of {['auto', *KNOWN_TIERS]!r}"
    raise SandboxUnavailable(msg)


def _pick_uid() -> int | None:
    """A fresh unprivileged host uid when we run as root (RLIMIT_NPROC ignores root)."""
    return _UID_BASE + secrets.randbelow(_UID_SPAN) if os.geteuid() == 0 else None


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


def _write(root: Path, path: str, data: bytes, uid: int | None) -> None:
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


def _read(root: Path, path: str) -> bytes:
    *dirs, name = _parts(path)
    dir_fd = _open_dir(root, dirs, create=False, uid=None)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
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


def _changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(p for p, meta in after.items() if before.get(p) != meta)


# --- the session ----------------------------------------------------------------------------


def _limit_from_status(returncode: int) -> LimitName | None:
    """bwrap reports 128+signal, a plain subprocess -signal."""
    sig = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    by_signal: dict[int, LimitName] = {signal.SIGXCPU: "cpu_time", signal.SIGXFSZ: "file_size"}
    return by_signal.get(sig)


@dataclass(kw_only=True)
class _ProcessSession:
    """One REPL process in a jail; implements ``CodeSession``."""

    tier: str
    limits: SandboxLimits
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="flotilla-sbx-")))
    uid: int | None = None
    proc: asyncio.subprocess.Process | None = None
    ended: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def work(self) -> Path:
        return self.base / "work"

    def _command(self, preload: Sequence[str]) -> list[str]:
        cfg = {**self.limits.model_dump(), "preload": list(preload)}
        if self.tier == "none":
            return [sys.executable, "-I", "-B", "-c", _DRIVER_SOURCE, json.dumps(cfg)]
        inner = [_python_layout()[2], "-I", "-B", "-c", _DRIVER_SOURCE, json.dumps(cfg)]
        return _bwrap_argv(work=self.work, uid=self.uid, command=inner)

    def _host_env(self) -> dict[str, str]:
        if self.tier != "none":
            return {}
        env = {**_sandbox_env(), "HOME": str(self.work), "MPLCONFIGDIR": str(self.base / "mpl")}
        env["XDG_CACHE_HOME"] = str(self.base / "cache")
        return {**env, "PATH": os.defpath}

    async def start(self, *, preload: Sequence[str] = ()) -> None:
        """Launch the REPL and wait until it has imported ``preload``."""
        self.uid = _pick_uid() if self.tier == "bwrap" else None
        self.work.mkdir()
        if self.uid is not None:
            os.chown(self.work, self.uid, self.uid)
        with self._open_log() as errlog:
            self.proc = await asyncio.create_subprocess_exec(
                *self._command(preload),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errlog,
                cwd=self.work,
                env=self._host_env(),
                start_new_session=True,
            )
        hello = await self._recv(deadline_s=_START_TIMEOUT_S)
        if hello is None or hello.get("preload_error"):
            detail = hello.get("preload_error") if hello else self._stderr_tail()
            msg = f"sandbox tier {self.tier!r} failed to start: {detail}"
            raise SandboxUnavailable(msg)

    def _open_log(self) -> BinaryIO:
        return open(self.base / "stderr.log", "wb")

    def _stderr_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.base / "stderr.log").read_text(errors="replace")[-_STDERR_TAIL:]
        return ""

    async def _recv(self, *, deadline_s: float) -> dict | None:
        """Next message from the REPL; None if it died or spoke garbage. TimeoutError passes."""
        assert self.proc is not None and self.proc.stdout is not None
        cap = 4 * self.limits.output_bytes + (1 << 20)
        async with asyncio.timeout(deadline_s):
            try:
                (size,) = _HEADER.unpack(await self.proc.stdout.readexactly(_HEADER.size))
                if size > cap:
                    return None
                return json.loads(await self.proc.stdout.readexactly(size))
            except (asyncio.IncompleteReadError, ValueError):
                return None

    async def _send(self, message: dict) -> bool:
        assert self.proc is not None and self.proc.stdin is not None
        body = json.dumps(message).encode()
        try:
            self.proc.stdin.write(_HEADER.pack(len(body)) + body)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    async def execute(self, code: str) -> ExecResult:
        """Run ``code`` in the session's globals; every outcome is an ``ExecResult``."""
        async with self.lock:
            started = time.monotonic()
            if self.ended is not None:
                return self._ended_result(started)
            before = await asyncio.to_thread(_snapshot, self.work)
            result = await self._round_trip(code, started)
            after = await asyncio.to_thread(_snapshot, self.work)
            files = _changed(before, after)
            return result.model_copy(
                update={"files": files, "elapsed_s": time.monotonic() - started}
            )

    async def _round_trip(self, code: str, started: float) -> ExecResult:
        remaining = self.limits.wall_time_s
        try:
            reply = (
                await self._recv(deadline_s=remaining) if await self._send({"code": code}) else None
            )
        except TimeoutError:
            await self._kill()
            self.ended = f"killed after exceeding the {self.limits.wall_time_s}s wall-time limit"
            msg = f"execution exceeded the {self.limits.wall_time_s}s wall-time limit; the session was destroyed"
            return self._crash(exit_status=None, limit="wall_time", message=msg)
        if reply is None:
            return await self._died()
        limit = reply.get("limit_hit") or ("output" if reply.get("truncated") else None)
        return ExecResult(**{**reply, "limit_hit": limit, "tier": self.tier})

    async def _died(self) -> ExecResult:
        """The REPL vanished mid-call (segfault, os._exit, signal): report it as data."""
        assert self.proc is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.proc.wait()
        code = self.proc.returncode
        await self._kill()
        limit = _limit_from_status(code) if code is not None else None
        self.ended = f"the interpreter exited with status {code}"
        msg = f"{self.ended}; variables are lost, open a new session to continue"
        return self._crash(exit_status=code, limit=limit, message=msg)

    def _crash(
        self, *, exit_status: int | None, limit: LimitName | None, message: str
    ) -> ExecResult:
        return ExecResult(
            exit_status=exit_status,
            error_type="SandboxCrash" if limit is None else "LimitExceeded",
            error_message=message,
            limit_hit=limit,
            tier=self.tier,
            stderr=self._stderr_tail(),
        )

    def _ended_result(self, started: float) -> ExecResult:
        msg = f"this session has ended ({self.ended}); open a new session - files and variables are gone"
        return ExecResult(
            exit_status=None,
            error_type="SessionEnded",
            error_message=msg,
            elapsed_s=time.monotonic() - started,
            tier=self.tier,
        )

    async def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` inside the work dir (parents created)."""
        await asyncio.to_thread(_write, self.work, path, data, self.uid)

    async def read_file(self, path: str) -> bytes:
        """Bytes of ``path`` inside the work dir; symlinks are refused."""
        return await asyncio.to_thread(_read, self.work, path)

    async def list_files(self) -> list[str]:
        """Regular files in the work dir as sorted relative posix paths."""
        return sorted(await asyncio.to_thread(_snapshot, self.work))

    def kill_now(self) -> None:
        """SIGKILL the whole process group (bwrap takes its pid namespace down with it)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def _kill(self) -> None:
        self.kill_now()
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            await self.proc.wait()

    async def stop(self) -> None:
        """Kill the REPL and remove the work dir; safe to call twice."""
        if self.ended is None:
            self.ended = "stopped"
        await self._kill()
        await asyncio.to_thread(shutil.rmtree, self.base, ignore_errors=True)


@asynccontextmanager
async def open_session(
    tier: str = "auto", limits: SandboxLimits | None = None, *, preload: Sequence[str] = ()
) -> AsyncIterator[CodeSession]:
    """A fresh session, destroyed on exit (also on error or cancellation)."""
    resolved = await asyncio.to_thread(resolve_tier, tier)
    session = _ProcessSession(tier=resolved, limits=limits or SandboxLimits())
    try:
        await session.start(preload=preload)
        yield session
    finally:
        session.kill_now()  # before any await, so even a cancelled exit leaves nothing running
        await asyncio.shield(session.stop())
