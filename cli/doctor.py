"""`flotilla doctor`: is this machine ready for a run? Each part checked with the product's probes.

Chromium and the browser jail (`sandbox.browser`, `sandbox.jail`), each code-sandbox tier
(`sandbox.tier_choice`, the gVisor snapshot store, the seccomp filter), Redis with its JSON and
Search modules (`memory.redis_*`: `REDIS_URL`, or the embedded one started for the check), the
MiniLM embeddings, AWS credentials and the models each role would use (no model is called),
and free disk under the runs folder. Each part is ready, degraded (a run works, with less) or
missing (a run fails); the exit status is 1 when something is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cli.common import EXIT_NOTHING, EXIT_OK
from graph.context import ROLES, Context

Status = Literal["ready", "degraded", "missing"]
MIN_FREE_MB, LOW_FREE_MB = 100, 1024


@dataclass
class Check:
    """One part of the machine: its status, what was found, and the fix when it is not ready."""

    component: str
    status: Status
    detail: str
    fix: str = ""


def register(sub: Any) -> None:
    """Add `doctor` to the CLI."""
    doctor = sub.add_parser(
        "doctor", help="check that this machine can run research (browser, sandboxes, Redis, …)"
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    doctor.set_defaults(handler=doctor_command)


def _split(message: str) -> tuple[str, str]:
    """A product's error message as (what is wrong, its last sentence: the fix)."""
    detail, _, fix = message.strip().rstrip(".").rpartition(". ")
    return (detail, fix) if detail else (fix, "")


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({exc})"
    return (
        (done.stdout.strip() or done.stderr.strip()).splitlines()[0] if done.returncode == 0 else ""
    )


def check_chromium() -> Check:
    """Chromium: found where the browser sandbox looks, and its version."""
    from cli.errors import chromium_problem
    from sandbox.browser import chromium_executable

    problem = chromium_problem()
    if problem is not None:
        return Check("chromium", "missing", *_split(problem))
    path = chromium_executable()
    if path is None:
        return Check(
            "chromium",
            "degraded",
            "no system Chromium: Playwright's own build runs (unjailed, FLOTILLA_BROWSER_JAIL=0)",
            "apt-get install chromium",
        )
    version = _version([path, "--version"])
    if not version:
        return Check("chromium", "missing", f"{path} does not start", "reinstall chromium")
    return Check("chromium", "ready", f"{version.split(' built on ')[0]} ({path})")


def check_browser_jail() -> Check:
    """The browser jail as a run would plan it: bwrap, its own network namespace, uid."""
    from cli.errors import chromium_problem
    from sandbox.browser import chromium_executable
    from sandbox.jail import JAIL_ENV, JailUnavailable, plan

    if chromium_problem() is not None:
        return Check("browser jail", "missing", "no Chromium to jail", "see chromium")
    try:
        jail = plan(chromium_executable())
    except JailUnavailable as exc:
        return Check("browser jail", "missing", *_split(str(exc)))
    if jail.mode == "bwrap+netns":
        return Check("browser jail", "ready", f"{jail.mode}: {jail.reason}")
    fix = "run as root for the own network namespace and uid"
    if jail.mode == "none":
        fix = f"unset {JAIL_ENV} (needs bubblewrap and Debian's chromium)"
    return Check("browser jail", "degraded", f"{jail.mode}: {jail.reason}", fix)


def check_tiers() -> list[Check]:
    """Each isolated code-sandbox tier's probe, gVisor's platform and snapshot store, seccomp."""
    from sandbox import snapshot
    from sandbox.optins import unsandboxed_allowed
    from sandbox.seccomp import filter_program
    from sandbox.tier_choice import AUTO_ORDER, SandboxUnavailable, available_tiers, resolve_tier
    from sandbox.tiers import GVISOR_PLATFORM

    working = available_tiers()
    checks: list[Check] = []
    for tier in AUTO_ORDER:
        if tier in working:
            checks.append(Check(f"sandbox: {tier}", "ready", _tier_detail(tier)))
            continue
        try:
            resolve_tier(tier)
        except SandboxUnavailable as exc:
            detail, _, fix = str(exc).partition(": ")
            status: Status = "degraded" if working else "missing"
            checks.append(Check(f"sandbox: {tier}", status, detail, fix))
    if "gvisor" in working:
        store = snapshot.root()
        if not snapshot.enabled():
            checks.append(
                Check(
                    "gvisor snapshots",
                    "degraded",
                    "off (FLOTILLA_GVISOR_SNAPSHOTS): every session boots "
                    f"(platform {GVISOR_PLATFORM})",
                    "unset FLOTILLA_GVISOR_SNAPSHOTS",
                )
            )
        else:
            checks.append(_snapshot_store(store, GVISOR_PLATFORM))
    if "bwrap" in working:
        if filter_program() is None:
            checks.append(
                Check(
                    "seccomp",
                    "degraded",
                    "bwrap sessions run without a syscall filter",
                    "apt-get install libseccomp2",
                )
            )
        else:
            checks.append(Check("seccomp", "ready", "syscall filter for bwrap sessions"))
    if not working and unsandboxed_allowed():
        checks.append(
            Check("sandbox: none", "degraded", "unsandboxed code allowed by the operator")
        )
    return checks


def _tier_detail(tier: str) -> str:
    from sandbox.tiers import runsc_path

    if tier == "gvisor":
        version = _version([runsc_path(), "--version"])
        return f"{version or 'runsc'}: code runs on gVisor's kernel"
    return "bubblewrap namespaces, no network, own uid"


def _snapshot_store(store: Path, platform: str) -> Check:
    from sandbox.snapshot import SnapshotError, check_private

    where = store
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        check_private(where)
    except SnapshotError as exc:
        detail, _, fix = str(exc).partition("; ")
        return Check("gvisor snapshots", "degraded", detail, fix)
    images = len(list(store.glob("*/checkpoint.img"))) if store.is_dir() else 0
    detail = f"platform {platform}; store {store} ({images} image(s), private)"
    return Check("gvisor snapshots", "ready", detail)


def check_redis() -> Check:
    """Redis answers and has the JSON and Search modules: REDIS_URL, or the embedded one."""
    from memory.redis_client import REDIS_URL_ENV, RedisUnavailable, check_redis_sync
    from memory.redis_server import redis_url_sync

    configured = os.environ.get(REDIS_URL_ENV)
    try:
        with redis_url_sync() as url:
            check_redis_sync(url)
    except RedisUnavailable as exc:
        return Check("redis", "missing", *_split(str(exc)))
    if configured:
        return Check("redis", "ready", f"{REDIS_URL_ENV}={configured}: PING, JSON and Search")
    return Check("redis", "ready", "embedded Redis started: PING, JSON and Search modules")


def check_embeddings() -> Check:
    """Long-term memory's recall by meaning: the MiniLM embeds a text here (no cloud call)."""
    from memory.embeddings import EMBEDDINGS_ENV, EmbeddingsUnavailable, MiniLM, embedder_from_env

    try:
        embedder = embedder_from_env()
    except EmbeddingsUnavailable as exc:
        return Check("embeddings", "missing", str(exc), f"fix or unset {EMBEDDINGS_ENV}")
    if embedder is None:
        return Check(
            "embeddings",
            "degraded",
            "recall by words only",
            f"make setup installs the MiniLM; or set {EMBEDDINGS_ENV}=minilm",
        )
    if not isinstance(embedder, MiniLM):
        return Check("embeddings", "ready", f"{embedder.name} (configured, not called)")
    vector = embedder.embed(["flotilla doctor"])
    return Check("embeddings", "ready", f"{embedder.name}: {vector.shape[1]} dimensions")


def check_models() -> list[Check]:
    """AWS credentials and the model each role would use; nothing is called."""
    from nodes.llm.chat import aws_region, choose_brain, configured_spec, has_aws_credentials

    ctx = Context()
    credentials = has_aws_credentials()
    aws = Check("aws credentials", "ready", f"found; region {aws_region()}")
    if not credentials:
        aws = Check(
            "aws credentials",
            "degraded",
            "none found (Bedrock unavailable)",
            "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and AWS_REGION",
        )
    specs = {role: configured_spec(ctx, role) for role in ROLES}
    brain = choose_brain(ctx)
    missing = [role for role, spec in specs.items() if not spec]
    named = "; ".join(f"{role}: {spec}" for role, spec in specs.items() if spec)
    if brain == "llm" and missing:
        fix = "set FLOTILLA_MODEL=provider:model or AWS credentials, or FLOTILLA_BRAIN=offline"
        detail = f"brain llm, but no model for the {', '.join(missing)}"
        return [aws, Check("models", "missing", detail, fix)]
    if brain == "offline":
        detail = f"brain {ctx.brain} → offline" + (f" ({named} configured)" if named else "")
        fix = "" if ctx.brain == "offline" else "FLOTILLA_MODEL=provider:model for the llm brain"
        status: Status = "ready" if ctx.brain == "offline" else "degraded"
        return [aws, Check("models", status, detail, fix)]
    return [aws, Check("models", "ready", f"brain {ctx.brain} → llm; {named}")]


def check_disk() -> Check:
    """Free space (and write access) where reports and artifacts go."""
    runs = Path(Context().runs_dir).absolute()
    where = runs
    while not where.exists() and where != where.parent:
        where = where.parent
    free_mb = shutil.disk_usage(where).free // 2**20
    detail = f"{free_mb:,} MiB free at {runs}"
    if not os.access(where, os.W_OK):
        return Check(
            "disk", "missing", f"{where} is not writable", "--runs-dir / FLOTILLA_RUNS_DIR"
        )
    if free_mb < MIN_FREE_MB:
        return Check("disk", "missing", detail, "free space, or FLOTILLA_RUNS_DIR on another disk")
    if free_mb < LOW_FREE_MB:
        return Check("disk", "degraded", detail, "free space, or FLOTILLA_RUNS_DIR elsewhere")
    return Check("disk", "ready", detail)


CHECKS: tuple[Callable[[], Check | list[Check]], ...] = (
    check_chromium,
    check_browser_jail,
    check_tiers,
    check_redis,
    check_embeddings,
    check_models,
    check_disk,
)


def _guarded(check: Callable[[], Check | list[Check]]) -> list[Check]:
    """A check's rows; a check that breaks says so as a missing part rather than stopping."""
    try:
        found = check()
    except Exception as exc:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        return [Check(name, "missing", f"the check failed: {type(exc).__name__}: {exc}")]
    return found if isinstance(found, list) else [found]


async def run_checks() -> list[Check]:
    """Every check, side by side in threads, in the order of `CHECKS`."""
    from cli import logs

    dropped: list[str] = []
    with logs.show_in(dropped.append):  # the table says what the probes would warn about
        rows = await asyncio.gather(*(asyncio.to_thread(_guarded, check) for check in CHECKS))
    return [check for row in rows for check in row]


STYLES = {"ready": "green", "degraded": "yellow", "missing": "red"}


async def doctor_command(args: argparse.Namespace) -> int:
    """`flotilla doctor`: the table (or JSON); exit 1 when a run would fail."""
    checks = await run_checks()
    ready = not any(check.status == "missing" for check in checks)
    if args.json:
        print(json.dumps({"ready": ready, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        print_table(checks, ready)
    return EXIT_OK if ready else EXIT_NOTHING


def print_table(checks: list[Check], ready: bool) -> None:
    """The checks as a table on stdout, and one line saying whether a run would work."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="flotilla doctor", title_justify="left")
    for column in ("component", "status", "found", "fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        status = f"[{STYLES[check.status]}]{check.status}[/]"
        table.add_row(check.component, status, Text(check.detail), Text(check.fix))
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 120  # piped: wide enough that a row stays on a line or two
    console.print(table)
    verdict = "ready: a run can start" if ready else "not ready: a run would fail (see 'missing')"
    console.print(verdict)
