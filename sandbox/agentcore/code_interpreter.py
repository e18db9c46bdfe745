"""Code sessions on AgentCore Code Interpreter, through the ``bedrock-agentcore`` SDK.

One ``CodeInterpreter`` session (StartCodeInterpreterSession) per Flotilla session: code runs
with ``executeCode`` in AgentCore's stateful Python, files go in with ``writeFiles`` and come
back with ``readFiles``; the session is stopped (StopCodeInterpreterSession) on every exit path.
Results take the same ``ExecResult`` shape as the local tiers. The work dir is listed by a
Python walk inside the session (regular files only, as the local tiers' hosts read them back).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sandbox.agentcore.settings import AgentCoreSettings
from sandbox.interpreter import ExecResult, SandboxLimits
from sandbox.tier_choice import SandboxUnavailable

log = logging.getLogger(__name__)

TIER = "agentcore"
# Seconds beyond the call's wall-time limit before the client gives up on an answer.
_READ_SLACK_S = 30
# Prints the work dir's regular files as one JSON line (symlinks and the rest left out).
_LIST_FILES = (
    "import json as _fj, os as _fo, stat as _fs\n"
    "_fl = []\n"
    "for _fr, _fd, _fn in _fo.walk('.', followlinks=False):\n"
    "    _fd[:] = [d for d in _fd if not d.startswith('.')]\n"
    "    for _n in _fn:\n"
    "        _p = _fo.path.join(_fr, _n)\n"
    "        if _fs.S_ISREG(_fo.lstat(_p).st_mode):\n"
    "            _fl.append(_fo.path.relpath(_p, '.'))\n"
    "print('\\n' + _fj.dumps(sorted(_fl)))\n"
)


class AgentCoreError(SandboxUnavailable):
    """AgentCore refused or lost a session: the message says which call and why.

    ``kind`` names the failure for reports (``throttled``, ``quota``, ``session_ended``, …);
    ``retry_later`` says the same call may work once the account's load or quota allows.
    """

    def __init__(self, message: str, *, kind: str = "agentcore_error", retry_later: bool = False):
        super().__init__(message)
        self.kind = kind
        self.retry_later = retry_later


# Errors that clear by themselves (load, concurrent sessions): the run can be resumed.
_RETRY_LATER = {"ThrottlingException": "throttled", "ServiceQuotaExceededException": "quota"}


def explain(call: str, exc: Exception) -> AgentCoreError:
    """One readable message for a failed AgentCore call (code, message; no traceback)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = error.get("Code") or type(exc).__name__
    message = error.get("Message") or str(exc)
    kind = _RETRY_LATER.get(code, "agentcore_error")
    hint = {
        "ThrottlingException": "AgentCore is throttling this account; retry later or lower "
        "max_parallel",
        "ServiceQuotaExceededException": "the account's concurrent-session quota is reached; "
        "lower max_parallel or ask AWS for a higher quota",
        "AccessDeniedException": "the credentials lack the bedrock-agentcore permission for "
        "this call (see the README's IAM list)",
        "ResourceNotFoundException": "the session or interpreter does not exist (expired?)",
    }.get(code, "")
    text = f"AgentCore {call} failed: {code}: {message}"
    return AgentCoreError(
        f"{text} ({hint})" if hint else text, kind=kind, retry_later=code in _RETRY_LATER
    )


def _events(response: dict[str, Any]) -> dict[str, Any]:
    """Fold an InvokeCodeInterpreter event stream into its last ``result``."""
    result: dict[str, Any] = {}
    for event in response.get("stream", []):
        if "result" in event:
            result = event["result"]
        else:  # a modelled exception event: throttling, validation, ...
            name, body = next(iter(event.items()))
            message = body.get("message", "") if isinstance(body, dict) else str(body)
            raise AgentCoreError(f"AgentCore invoke failed: {name}: {message}")
    return result


class AgentCoreCodeSession:
    """A Flotilla code session on one AgentCore Code Interpreter session."""

    tier = TIER

    def __init__(self, settings: AgentCoreSettings, limits: SandboxLimits) -> None:
        """Build the SDK client; nothing is started until ``start``."""
        from bedrock_agentcore.tools.code_interpreter_client import (  # remote tier only
            CodeInterpreter,
        )

        self.settings = settings
        self.limits = limits
        self._client = CodeInterpreter(settings.resolved_region)
        # The SDK resolves its own endpoint from the global variables; ours is explicit.
        self._client.data_plane_client = settings.data_plane_client(
            read_timeout_s=limits.wall_time_s + _READ_SLACK_S
        )
        self.session_id = ""
        self.started_at = 0.0

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """StartCodeInterpreterSession, its lifetime set from the settings."""
        try:
            self.session_id = await asyncio.to_thread(
                self._client.start,
                identifier=self.settings.code_interpreter_id,
                name=f"flotilla-{uuid.uuid4().hex[:12]}",
                session_timeout_seconds=self.settings.lifetime_s,
            )
        except Exception as exc:  # botocore raises many types; each becomes one message
            raise explain("StartCodeInterpreterSession", exc) from exc
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        """StopCodeInterpreterSession; a failure is logged (AgentCore ends it at its lifetime)."""
        if not self.session_id:
            return
        try:
            await asyncio.to_thread(self._client.stop)
        except Exception as exc:
            log.warning("%s", explain("StopCodeInterpreterSession", exc))
        self.session_id = ""

    # --- the protocol -----------------------------------------------------------------------

    async def _invoke(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await asyncio.to_thread(self._client.invoke, method, arguments)
            return await asyncio.to_thread(_events, response)
        except AgentCoreError:
            raise
        except Exception as exc:
            raise explain(f"InvokeCodeInterpreter {method}", exc) from exc

    async def execute(self, code: str) -> ExecResult:
        """Run ``code`` in the session's Python; a failure of the call is a result too."""
        started = time.monotonic()
        try:
            result = await self._invoke("executeCode", {"code": code, "language": "python"})
        except AgentCoreError as exc:
            timed_out = _read_timed_out(exc)
            return ExecResult(
                exit_status=None,
                error_type="Timeout" if timed_out else "AgentCoreError",
                error_message=str(exc),
                elapsed_s=time.monotonic() - started,
                limit_hit="wall_time" if timed_out else None,
                tier=TIER,
                syscall_filter="microvm",
            )
        structured = result.get("structuredContent") or {}
        cap = self.limits.output_bytes
        stdout, stderr = str(structured.get("stdout", "")), str(structured.get("stderr", ""))
        exit_code = structured.get("exitCode")
        failed = bool(result.get("isError")) or (exit_code not in (None, 0))
        error_line = stderr.strip().splitlines()[-1] if failed and stderr.strip() else ""
        error_type, _, error_message = error_line.partition(":")
        return ExecResult(
            stdout=stdout[:cap],
            stderr=stderr[:cap],
            exit_status=1 if failed else 0,
            error_type=error_type.strip() or ("Error" if failed else None),
            error_message=error_message.strip() or (error_line if failed else None),
            truncated=len(stdout) > cap or len(stderr) > cap,
            elapsed_s=float(structured.get("executionTime") or time.monotonic() - started),
            tier=TIER,
            # AgentCore runs each session in its own MicroVM: the kernel between it and the
            # host is AWS's.
            syscall_filter="microvm",
        )

    async def write_file(self, path: str, data: bytes) -> None:
        """WriteFiles: ``data`` at ``path`` in the session's work dir (text or base64 blob)."""
        try:
            item: dict[str, Any] = {"path": path, "text": data.decode()}
        except UnicodeDecodeError:
            item = {"path": path, "blob": data}
        result = await self._invoke("writeFiles", {"content": [item]})
        if result.get("isError"):
            raise OSError(f"AgentCore writeFiles refused {path!r}: {_text(result)}")

    async def read_file(self, path: str) -> bytes:
        """ReadFiles: the bytes of ``path`` (bounded like the local tiers' work-dir reads)."""
        result = await self._invoke("readFiles", {"paths": [path]})
        if result.get("isError"):
            raise OSError(f"AgentCore readFiles refused {path!r}: {_text(result)}")
        for item in result.get("content", []):
            resource = item.get("resource") or {}
            if "blob" in resource:
                blob = resource["blob"]
                return blob if isinstance(blob, bytes) else base64.b64decode(blob)
            if "text" in resource:
                return str(resource["text"]).encode()
        raise OSError(f"AgentCore readFiles returned nothing for {path!r}")

    async def list_files(self) -> list[str]:
        """Every regular file under the work dir, as relative paths."""
        listed = await self.execute(_LIST_FILES)
        if listed.exit_status != 0 or not listed.stdout.strip():
            raise OSError(f"listing the AgentCore work dir failed: {listed.stderr[-500:]}")
        names = json.loads(listed.stdout.strip().splitlines()[-1])
        return [str(name) for name in names]


def _read_timed_out(exc: BaseException) -> bool:
    """Whether botocore gave up waiting for the answer (its ReadTimeoutError, in the causes)."""
    from botocore.exceptions import ReadTimeoutError

    seen: BaseException | None = exc
    for _ in range(10):  # a cause chain is short; a cycle must not hang
        if seen is None:
            return False
        if isinstance(seen, ReadTimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _text(result: dict[str, Any]) -> str:
    return " ".join(str(item.get("text", "")) for item in result.get("content", []))[:500]


@asynccontextmanager
async def open_agentcore_session(
    settings: AgentCoreSettings | None = None, limits: SandboxLimits | None = None
) -> AsyncIterator[AgentCoreCodeSession]:
    """A fresh AgentCore session, stopped on exit (also on error or cancellation)."""
    session = await asyncio.to_thread(
        AgentCoreCodeSession, settings or AgentCoreSettings(), limits or SandboxLimits()
    )
    try:
        await session.start()
        yield session
    finally:
        await asyncio.shield(session.stop())
