"""Settings that weaken isolation take effect only with the operator's opt-in.

A run's `Context` comes from whoever starts the run: through Studio, `langgraph dev` or LangGraph
Server that is any client. Two of its settings open a boundary, so a client alone cannot use them:

- `sandbox_tier="none"` runs model-written code unsandboxed on the host. The operator allows it
  with `FLOTILLA_ALLOW_UNSANDBOXED=1` (or by making it the default, `FLOTILLA_SANDBOX_TIER=none`).
- `allow_hosts` exempts hosts from the egress range rules (loopback, private, link-local and
  metadata addresses). The operator lists what may be allowed in `FLOTILLA_ALLOW_PRIVATE_HOSTS`
  (`HOST` for any port, or `HOST:PORT`, comma-separated); `FLOTILLA_ALLOW_HOSTS`, the default
  allow-list, is the operator's too.

The `flotilla` command is run by the operator, so it trusts its own flags
(`trust_this_process`); so may a program that embeds the graph. The browser jail's opt-out,
`FLOTILLA_BROWSER_JAIL=0`, is an environment setting only, so it is the operator's already.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

UNSANDBOXED_ENV = "FLOTILLA_ALLOW_UNSANDBOXED"
PRIVATE_HOSTS_ENV = "FLOTILLA_ALLOW_PRIVATE_HOSTS"
_DEFAULT_TIER_ENV = "FLOTILLA_SANDBOX_TIER"
_DEFAULT_HOSTS_ENV = "FLOTILLA_ALLOW_HOSTS"
_TRUE = ("1", "true", "yes", "on")

_trusted = False


class OptInRequired(ValueError):
    """A setting that weakens isolation, asked for without the operator's opt-in."""

    def __init__(self, setting: str, value: str, opt_in: str) -> None:
        self.setting, self.value, self.opt_in = setting, value, opt_in
        super().__init__(
            f"{setting}={value!r} weakens isolation and needs the operator's opt-in: start the "
            f"process with {opt_in} (the flotilla command counts as the operator)"
        )


def trust_this_process() -> None:
    """Let every setting this process asks for take effect: its operator chose them."""
    global _trusted
    _trusted = True


def _split(raw: str) -> set[str]:
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def operator_hosts() -> frozenset[str]:
    """The `HOST` and `HOST:PORT` entries the operator lets runs allow-list."""
    hosts = _split(os.environ.get(PRIVATE_HOSTS_ENV, ""))
    return frozenset(hosts | _split(os.environ.get(_DEFAULT_HOSTS_ENV, "")))


def _host_of(entry: str) -> str:
    """`HOST` of a `HOST:PORT` entry (`[v6]:PORT` too); the entry itself when it has no port."""
    head, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and (not head.count(":") or head.startswith("[")):
        return head.strip("[]")
    return entry.strip("[]")


def host_allowed(entry: str) -> bool:
    """Whether the operator lets a run allow-list `entry` (a `HOST` entry covers every port)."""
    if _trusted:
        return True
    entry = entry.strip().lower()
    allowed = operator_hosts()
    return entry in allowed or _host_of(entry) in allowed


def unsandboxed_allowed() -> bool:
    """Whether the operator lets a run choose the unsandboxed code tier."""
    if _trusted:
        return True
    if os.environ.get(UNSANDBOXED_ENV, "").strip().lower() in _TRUE:
        return True
    return os.environ.get(_DEFAULT_TIER_ENV, "").strip().lower() == "none"


def refusals(*, sandbox_tier: str, allow_hosts: Iterable[str]) -> list[OptInRequired]:
    """Every setting of a run that needs an opt-in the operator did not give."""
    refused: list[OptInRequired] = []
    if sandbox_tier == "none" and not unsandboxed_allowed():
        refused.append(OptInRequired("sandbox_tier", "none", f"{UNSANDBOXED_ENV}=1"))
    for entry in allow_hosts:
        if entry.strip() and not host_allowed(entry):
            opt_in = f"{PRIVATE_HOSTS_ENV}={entry.strip()}"
            refused.append(OptInRequired("allow_hosts", entry.strip(), opt_in))
    return refused
