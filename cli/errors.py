"""Errors that help: each failure a user can meet, as one short message that names the fix.

`explain` turns an exception from a command into that message and an exit status (None for a
bug, which the command reports as unexpected). `explain_text` rewrites the cloud's own wording
of an access problem (a Bedrock model not enabled, expired credentials) wherever it shows: a
warning, a subagent's error. `browser_problem` checks, before a run starts, what every browser
needs (Chromium, the jail) with the product's own lookups.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

from cli.common import EXIT_SERVICE, EXIT_USAGE

CHROMIUM_ENV = "FLOTILLA_CHROMIUM"
RUNS_DIR_ENV = "FLOTILLA_RUNS_DIR"

_BEDROCK_ACCESS = (
    "AccessDeniedException",
    "don't have access to the model",
    "not authorized to perform: bedrock",
)
_BAD_CREDENTIALS = (
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "security token included in the request is invalid",
    "security token included in the request is expired",
)


def explain_text(text: str) -> str | None:
    """The fix for a cloud access problem named in `text`; None when it names none."""
    if any(marker in text for marker in _BEDROCK_ACCESS):
        from nodes.llm.chat import aws_region

        return (
            f"Amazon Bedrock refused the model (access denied in {aws_region()}): enable access "
            "to it under 'Model access' in the Bedrock console for that region, or choose "
            "another with --model / FLOTILLA_MODEL, or use --brain offline"
        )
    if any(marker in text for marker in _BAD_CREDENTIALS):
        return (
            "AWS rejected the credentials (invalid or expired): refresh them (e.g. `aws sso "
            "login`, new keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or use --brain offline"
        )
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups, each once."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _disk_message(exc: OSError) -> str | None:
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the device{where}: free some space there, or write elsewhere "
            f"(runs: --runs-dir or env {RUNS_DIR_ENV}; sandbox exec: --out)"
        )
    if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM) and exc.filename:
        return (
            f"cannot write{where} ({os.strerror(exc.errno)}): make that folder writable, or "
            f"write elsewhere (runs: --runs-dir or env {RUNS_DIR_ENV}; sandbox exec: --out)"
        )
    return None


def explain(exc: BaseException) -> tuple[str, int] | None:
    """One message naming the fix, and the exit status, for a failure a user can meet."""
    from demo_sites.demo import SitesUnavailable
    from memory.backend import MemoryUnavailable
    from sandbox.egress import EgressRefused
    from sandbox.jail import JailUnavailable
    from sandbox.optins import OptInRequired
    from sandbox.tier_choice import SandboxUnavailable

    service = (MemoryUnavailable, SandboxUnavailable, JailUnavailable, SitesUnavailable)
    usage = (EgressRefused, OptInRequired)
    for cause in _chain(exc):
        if isinstance(cause, service):
            return str(cause), EXIT_SERVICE
        if isinstance(cause, usage):
            return str(cause), EXIT_USAGE
        if type(cause).__name__ == "ModelUnavailable":  # nodes.llm.chat, imported lazily there
            return explain_text(str(cause)) or str(cause), EXIT_USAGE
        if isinstance(cause, OSError):
            message = _disk_message(cause)
            if message is not None:
                return message, EXIT_SERVICE
        helpful = explain_text(f"{type(cause).__name__}: {cause}")
        if helpful is not None:
            return helpful, EXIT_USAGE
    return None


def urls_problem(urls: list[str]) -> str | None:
    """When no URL given is a well-formed http(s) URL: why, and what to give instead."""
    from sandbox.egress import EgressRefused, validate_url

    reasons = []
    for url in urls:
        try:
            validate_url(url)
        except EgressRefused as refusal:
            reasons.append(str(refusal))
        else:
            return None
    return f"no URL to research: {'; '.join(reasons)}. Give full URLs, e.g. https://example.com/"


def chromium_problem() -> str | None:
    """What keeps Chromium from starting here, with the fix; None when it can start."""
    from sandbox.browser import chromium_executable
    from sandbox.jail import jail_requested

    configured = os.environ.get(CHROMIUM_ENV)
    if configured and not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
        return (
            f"Chromium not found: {CHROMIUM_ENV}={configured!r} is not an executable file. "
            f"Point {CHROMIUM_ENV} at a Chromium binary, or unset it to use Debian's chromium "
            "(`apt-get install chromium`; make setup does)"
        )
    if chromium_executable() is None and jail_requested():
        return (
            "Chromium not found: no `chromium` on PATH. Install it (`apt-get install chromium`; "
            f"make setup does), or set {CHROMIUM_ENV} to a Chromium binary"
        )
    return None


def browser_problem() -> str | None:
    """What keeps a jailed browser from starting here (Chromium, the jail), with the fix."""
    from sandbox.browser import chromium_executable
    from sandbox.jail import JailUnavailable, plan

    problem = chromium_problem()
    if problem is not None:
        return problem
    try:
        plan(chromium_executable())
    except JailUnavailable as exc:
        return str(exc)
    return None
