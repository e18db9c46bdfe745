"""`flotilla sandbox exec FILE`: run a Python file in a fresh code-interpreter session."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from cli.common import EXIT_NOTHING, EXIT_OK, EXIT_USAGE, fail, limit
from sandbox.interpreter import SandboxLimits, SandboxUnavailable, open_session
from sandbox.pool import DEFAULT_PRELOAD
from sandbox.tier_choice import KNOWN_TIERS


def register(sub: Any) -> None:
    """Add `sandbox exec` to the CLI."""
    sandbox = sub.add_parser("sandbox", help="run code in an isolated code-interpreter session")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True)
    run = actions.add_parser("exec", help="run FILE in a fresh session, copy its files out")
    run.add_argument("file", type=Path, help="a Python file; it runs with the work dir as cwd")
    run.add_argument("--tier", choices=["auto", *KNOWN_TIERS, "agentcore"], default="auto")
    run.add_argument(
        "--timeout", type=limit("sandbox_timeout_s"), default=60.0, help="wall-time limit, seconds"
    )
    run.add_argument(
        "--memory", type=limit("sandbox_memory_mb"), default=1024, help="address-space limit, MiB"
    )
    run.add_argument("--out", type=Path, default=None, help="where produced files go")
    run.add_argument(
        "--preload",
        default=",".join(DEFAULT_PRELOAD),
        metavar="MODULES",
        help="modules imported before FILE runs, comma-separated (default: the analyst's, "
        "%(default)s; a gVisor session with a preload is restored from a snapshot); '' for none",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    run.set_defaults(handler=exec_command)


async def exec_command(args: argparse.Namespace) -> int:
    """Run the file; print the result; 0 if the code succeeded, 1 if it failed, 2 on misuse."""
    try:
        code = args.file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"cannot read {str(args.file)!r}: {exc}", as_json=args.json, code=EXIT_USAGE)
    if args.timeout <= 0 or args.memory <= 0:
        msg = "--timeout and --memory must be positive"
        return fail(msg, as_json=args.json, code=EXIT_USAGE)
    out = args.out or Path("runs") / f"sandbox-{uuid.uuid4().hex[:12]}"
    limits = SandboxLimits(wall_time_s=args.timeout, memory_mb=args.memory)
    preload = [name.strip() for name in args.preload.split(",") if name.strip()]
    try:
        async with open_session(args.tier, limits, preload=preload) as session:
            result = await session.execute(code)
            files = await _copy_out(session, out)
    except SandboxUnavailable as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_USAGE, tier=args.tier)
    payload = {**result.model_dump(), "out_dir": str(out), "host_files": files}
    print(json.dumps(payload, indent=2) if args.json else _text(payload))
    if result.stderr and not args.json:
        print(result.stderr, file=sys.stderr, end="")
    return EXIT_OK if result.exit_status == 0 else EXIT_NOTHING


async def _copy_out(session: Any, out: Path) -> dict[str, str]:
    """Copy every work-dir file to ``out`` (same relative paths); work path -> host path."""
    copied: dict[str, str] = {}
    for name in await session.list_files():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(await session.read_file(name))
        copied[name] = str(target.resolve())
    return copied


def _text(payload: dict[str, Any]) -> str:
    status = "ok" if payload["exit_status"] == 0 else f"failed ({payload['error_type']})"
    limit = f", limit hit: {payload['limit_hit']}" if payload["limit_hit"] else ""
    lines = [
        payload["stdout"].rstrip("\n"),
        f"[{payload['tier']} sandbox, syscall filter {payload['syscall_filter']}: {status}"
        f"{limit}, {payload['elapsed_s']:.2f}s]",
    ]
    lines += [f"file: {path}" for path in payload["host_files"].values()]
    return "\n".join(line for line in lines if line)
