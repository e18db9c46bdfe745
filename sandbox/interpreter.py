"""Code-interpreter sandbox: stateful Python sessions in a jail, AgentCore style.

A session is one persistent REPL process (``sandbox/_driver.py``) started inside a tier:

- ``gvisor``: gVisor's ``runsc run`` on an OCI bundle with ``--network=none``: the code talks
  to a user-space kernel (the sentry), never to the host's. Read-only root of only what Python
  needs, a private ``/work`` and ``/tmp``, a scrubbed environment, rlimits, unprivileged uid.
- ``bwrap``: bubblewrap with fresh pid/net/ipc/uts/cgroup (and, when not run as root, user)
  namespaces, the same read-only view and private dirs, a seccomp deny-list
  (``sandbox/seccomp.py``), rlimits, and an unprivileged uid (so RLIMIT_NPROC holds).
- ``none``: a plain subprocess with rlimits and a scrubbed environment. No isolation; only
  used when asked for by name.

Crashes and limit hits come back as an ``ExecResult``; nothing but misuse raises. What each
tier's jail looks like is ``sandbox/tiers.py``; the host's side of the work dir is
``sandbox/workdir.py``; gVisor's snapshot images are ``sandbox/snapshot.py``; which tier
runs is ``sandbox/tier_choice.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
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
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from pydantic import BaseModel, Field

from sandbox import snapshot, workdir
from sandbox.agentcore.settings import AgentCoreSettings
from sandbox.tier_choice import SandboxUnavailable, pick_uid, resolve_tier
from sandbox.tiers import (
    DRIVER_SOURCE,
    SNAPSHOT_UID,
    Launch,
    SyscallFilter,
    command_for,
    container_id,
    host_path,
    python_layout,
    runsc_path,
    sandbox_env,
    snapshot_material,
)

logger = logging.getLogger(__name__)

LimitName = Literal["wall_time", "cpu_time", "memory", "file_size", "disk", "processes", "output"]

_HEADER = struct.Struct(">I")
_START_TIMEOUT_S = 60.0
_STDERR_TAIL = 4_000


class _RestoreFailed(SandboxUnavailable):
    """``runsc restore`` exited without the REPL answering: the image, not the session, is bad."""


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
    tmp_mb: int = Field(
        default=64, description="Size of the private /tmp (a tmpfs; isolated tiers only)."
    )
    work_mb: int = Field(
        default=256,
        description="Size of the work dir: a tmpfs of its own when the host runs as root "
        "(isolated tiers); otherwise only file_size_mb bounds each file.",
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
    syscall_filter: SyscallFilter = Field(
        default="none",
        description="What stood between the code and the host kernel: a seccomp deny-list "
        "(bwrap), gVisor's user-space kernel, a remote MicroVM (agentcore), or nothing (tier "
        "none, or seccomp unavailable).",
    )


def isolation_label(tier: str, syscall_filter: str) -> str:
    """The tier as reports name it, with the syscall filter beside it where it can be missing.

    The bwrap tier runs without its seccomp filter where libseccomp is missing; that is said
    (`bwrap (no seccomp)`), never shown as plain `bwrap`.
    """
    if tier == "bwrap":
        return "bwrap+seccomp" if syscall_filter == "seccomp" else "bwrap (no seccomp)"
    if tier == "agentcore":
        return "agentcore (MicroVM)"
    return tier


class CodeSession(Protocol):
    """A stateful interpreter session with a private work dir."""

    tier: str

    async def execute(self, code: str) -> ExecResult:
        """Run `code` in the session's interpreter; a crash or limit hit is a result."""
        ...

    async def write_file(self, path: str, data: bytes) -> None:
        """Write `data` to `path` in the work dir."""
        ...

    async def read_file(self, path: str) -> bytes:
        """Read the regular file `path` from the work dir."""
        ...

    async def list_files(self) -> list[str]:
        """Every regular file in the work dir, as relative paths."""
        ...

    async def stop(self) -> None:
        """End the session and remove its jail and work dir."""
        ...


# --- the session ----------------------------------------------------------------------------


def _limit_from_status(returncode: int) -> LimitName | None:
    """Bwrap reports 128+signal, a plain subprocess -signal."""
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
    syscall_filter: SyscallFilter = "none"
    work_mounted: bool = False
    restored: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def work(self) -> Path:
        return self.base / "work"

    def _prepare(
        self, preload: Sequence[str], *, template: bool = False, image: Path | None = None
    ) -> Launch:
        """Make the work dir and the tier's command line (blocking file work; run in a thread).

        ``template`` boots a snapshot template; ``image`` restores one (gVisor only).
        """
        snap = template or image is not None
        self.uid = SNAPSHOT_UID if snap else pick_uid(self.tier)
        self.work.mkdir()
        if self.tier != "none" and os.geteuid() == 0 and not template:
            self.work_mounted = workdir.mount_tmpfs(self.work, self.limits.work_mb)
        if self.uid is not None:
            os.chown(self.work, self.uid, self.uid)
            self.work.chmod(0o700)
        # A template gets its limits after the restore, in a "configure" message.
        cfg: dict[str, object] = {"template": True} if snap else self.limits.model_dump()
        cfg["preload"] = list(preload)
        if self.tier == "none":
            return Launch([sys.executable, "-I", "-B", "-c", DRIVER_SOURCE, json.dumps(cfg)])
        inner = [python_layout()[2], "-I", "-B", "-c", DRIVER_SOURCE, json.dumps(cfg)]
        return command_for(
            self.tier,
            base=self.base,
            work=self.work,
            uid=self.uid,
            command=inner,
            tmp_mb=self.limits.tmp_mb,
            image=image,
        )

    def _reset(self) -> None:
        """Back to a fresh, empty base dir after a failed restore (blocking; run in a thread)."""
        if self.work_mounted:
            self.work_mounted = not workdir.umount(self.work)
        for name in ("work", "bundle", "runsc"):
            shutil.rmtree(self.base / name, ignore_errors=True)

    def _host_env(self) -> dict[str, str]:
        if self.tier != "none":
            return {}
        env = {**sandbox_env(), "HOME": str(self.work), "MPLCONFIGDIR": str(self.base / "mpl")}
        env["XDG_CACHE_HOME"] = str(self.base / "cache")
        return {**env, "PATH": os.defpath}

    async def start(self, *, preload: Sequence[str] = ()) -> None:
        """Launch the REPL and wait until it has imported ``preload``.

        A gVisor session with a preload is restored from a snapshot of a template that already
        imported it (built on first use); a snapshot that cannot be built or restored is
        logged, dropped, and the session boots the ordinary way.
        """
        snap = self.tier == "gvisor" and preload and os.geteuid() == 0 and snapshot.enabled()
        if not (snap and await self._start_from_snapshot(preload)):
            await self._boot(preload)

    async def _start_from_snapshot(self, preload: Sequence[str]) -> bool:
        material = await asyncio.to_thread(snapshot_material, preload, self.limits.tmp_mb)
        build = functools.partial(_build_image, preload=tuple(preload), limits=self.limits)
        try:
            image = await snapshot.image(snapshot.key(material), build)
        except snapshot.SnapshotError as exc:
            logger.warning("gVisor snapshot unavailable, booting instead: %s", exc)
            return False
        try:
            await self._boot(preload, image=image.path)
        except SandboxUnavailable as exc:
            broken = isinstance(exc, _RestoreFailed)
            dropped = ", image dropped" if broken else ""
            logger.warning("gVisor restore of %s failed%s: %s", image.path, dropped, exc)
            await self._kill()
            self.proc = None
            if broken:
                await asyncio.to_thread(snapshot.discard, image)
            await asyncio.to_thread(self._reset)
            return False
        self.restored = True
        return True

    async def _boot(
        self, preload: Sequence[str], *, template: bool = False, image: Path | None = None
    ) -> dict:
        """Start the REPL (boot, template boot, or restore of ``image``); its hello message."""
        launch = await asyncio.to_thread(self._prepare, preload, template=template, image=image)
        self.syscall_filter = launch.syscall_filter
        try:
            with await asyncio.to_thread(self._open_log) as errlog:
                self.proc = await asyncio.create_subprocess_exec(
                    *launch.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=errlog,
                    cwd=self.work,
                    env=self._host_env(),
                    start_new_session=True,
                    pass_fds=launch.pass_fds,
                )
        finally:
            launch.close()
        if image is not None:  # the restored template waits for its limits
            await self._send({"configure": self.limits.model_dump()})
        timed_out = False
        try:
            hello = await self._recv(deadline_s=_START_TIMEOUT_S)
        except TimeoutError:
            hello, timed_out = None, True
        if hello is None:
            detail = f"no answer in {_START_TIMEOUT_S:.0f} s" if timed_out else self._stderr_tail()
        else:
            detail = hello.get("preload_error") or hello.get("configure_error") or ""
            if not detail and bool(hello.get("template")) != template:
                detail = f"unexpected first message {hello!r}"
        if detail or hello is None:
            msg = f"sandbox tier {self.tier!r} failed to start: {detail}"
            # runsc itself failed to restore (not our limits, not a slow machine): a bad image
            broken = image is not None and hello is None and not timed_out
            raise (_RestoreFailed if broken else SandboxUnavailable)(msg)
        return hello

    async def _checkpoint(self, image: Path) -> None:
        """Write this (template) sandbox's image to ``image``; the sandbox exits."""
        runsc = await asyncio.to_thread(runsc_path)  # which() stats PATH: not on the event loop
        argv = [runsc, "--root", str(self.base / "runsc"), "checkpoint"]
        argv += ["--image-path", str(image), container_id(self.base)]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={}
        )
        try:
            async with asyncio.timeout(_START_TIMEOUT_S):
                _, err = await proc.communicate()
        except BaseException as exc:  # timed out or cancelled: never leave it writing
            if proc.returncode is None:
                proc.kill()
            await asyncio.shield(proc.wait())
            if not isinstance(exc, TimeoutError):
                raise
            err = b"timed out"
        if proc.returncode != 0:
            msg = f"runsc checkpoint failed: {err.decode(errors='replace')[-_STDERR_TAIL:]}"
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
            before = await asyncio.to_thread(workdir.listing, self.work)
            result = await self._round_trip(code, started)
            after = await asyncio.to_thread(workdir.listing, self.work)
            files = workdir.changed(before, after)
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
        return ExecResult(
            **{
                **reply,
                "limit_hit": limit,
                "tier": self.tier,
                "syscall_filter": self.syscall_filter,
            }
        )

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
            syscall_filter=self.syscall_filter,
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
            syscall_filter=self.syscall_filter,
        )

    async def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` inside the work dir (parents created)."""
        await asyncio.to_thread(workdir.write, self.work, path, data, self.uid)

    async def read_file(self, path: str) -> bytes:
        """Bytes of ``path`` inside the work dir; symlinks are refused."""
        return await asyncio.to_thread(workdir.read, self.work, path)

    async def list_files(self) -> list[str]:
        """Regular files in the work dir as sorted relative posix paths."""
        return sorted(await asyncio.to_thread(workdir.listing, self.work))

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
        await asyncio.to_thread(self._remove)

    def _remove(self) -> None:
        if self.work_mounted:
            self.work_mounted = not workdir.umount(self.work)
        shutil.rmtree(self.base, ignore_errors=True)


async def _build_image(image: Path, *, preload: tuple[str, ...], limits: SandboxLimits) -> None:
    """Boot a gVisor template that imports ``preload``, then checkpoint it into ``image``."""
    template = await asyncio.to_thread(_ProcessSession, tier="gvisor", limits=limits)
    try:
        hello = await template._boot(preload, template=True)
        loaded = [host_path(str(name)) for name in hello.get("modules", [])]
        await asyncio.to_thread(snapshot.write_manifest, image, loaded)
        await template._checkpoint(image)
    finally:
        template.kill_now()
        await asyncio.shield(template.stop())


@asynccontextmanager
async def open_session(
    tier: str = "auto",
    limits: SandboxLimits | None = None,
    *,
    preload: Sequence[str] = (),
    agentcore: AgentCoreSettings | None = None,
) -> AsyncIterator[CodeSession]:
    """A fresh session, destroyed on exit (also on error or cancellation).

    Tier ``agentcore`` starts the session on Amazon Bedrock AgentCore Code Interpreter
    (``agentcore``: where; default from the environment); ``preload`` is a local-tier matter.
    """
    if tier == "agentcore":
        from sandbox.agentcore.code_interpreter import open_agentcore_session  # imports this module

        async with open_agentcore_session(agentcore, limits) as remote:
            yield remote
        return
    resolved = await asyncio.to_thread(resolve_tier, tier)
    # Construction makes the session's temp dir: file work, kept off the event loop.
    session = await asyncio.to_thread(
        _ProcessSession, tier=resolved, limits=limits or SandboxLimits()
    )
    try:
        await session.start(preload=preload)
        yield session
    finally:
        session.kill_now()  # before any await, so even a cancelled exit leaves nothing running
        await asyncio.shield(session.stop())
