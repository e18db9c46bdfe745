"""The benchmark's results file: what was measured, on what, at which commit.

`make bench` writes ``bench/results/latest.json``; the README's table
(`bench.readme_table`) and the plots (`bench.plots`) are made from that file only, so every
figure in the README can be traced to it. Schema (version 1)::

    {"schema": 1, "command": str, "mode": "full" | "quick", "started": ISO-8601 UTC,
     "commit": str, "tree": "clean" | "dirty",
     "machine": {"cores": int, "memory_bytes": int, "memory_available_bytes": int,
                 "loadavg_start": [1, 5, 15 min], "loadavg_end": [...], "cpu": str, "kernel": str},
     "versions": {name: version},
     "seconds": {bench: wall seconds it took},
     "results": [{"bench", "metric", "key", "unit", "n", "samples",
                  "min", "p50", "p95", "max", "anchor"}],
     "details": {...}}
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.report import Result

SCHEMA = 1
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LATEST = RESULTS_DIR / "latest.json"
QUICK = RESULTS_DIR / "quick" / "latest.json"
"""Where `--quick` writes by default: never the file the README is made from."""
PARTIAL = RESULTS_DIR / "partial" / "latest.json"
"""Where `--only` writes by default: a few benchmarks never replace the whole run's file."""

SUMMARY_FIELDS = ("min", "p50", "p95", "max")
RESULT_FIELDS = ("bench", "metric", "key", "unit", "n", "samples", *SUMMARY_FIELDS, "anchor")
PACKAGES = (
    "langgraph",
    "langgraph-checkpoint-redis",
    "playwright",
    "pandas",
    "matplotlib",
    "redis",
    "tokenizers",
    "onnxruntime",
)


def first_line(argv: list[str]) -> str:
    """The first line a command prints, or why there is none."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def _meminfo() -> dict[str, int]:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name] = int(parts[0]) * 1024
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Cores, memory, load and kernel of the machine the numbers come from."""
    mem = _meminfo()
    return {
        "cores": len(os.sched_getaffinity(0)),
        "memory_bytes": mem.get("MemTotal", 0),
        "memory_available_bytes": mem.get("MemAvailable", 0),
        "loadavg_start": list(os.getloadavg()),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
    }


def versions() -> dict[str, str]:
    """Python, Chromium, the sandboxes' tools and the packages the numbers depend on."""
    from sandbox.browser import chromium_executable

    chromium = chromium_executable()
    out = {
        "python": platform.python_version(),
        "chromium": first_line([chromium, "--version"]) if chromium else "Playwright's build",
    }
    for tool, flag in (("runsc", "--version"), ("bwrap", "--version")):
        path = shutil.which(tool)
        out[tool] = first_line([path, flag]) if path else "absent"
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "absent"
    return out


def git_facts() -> dict[str, str]:
    """The commit the numbers were measured at, and whether the tree had edits."""
    dirty = first_line(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "commit": first_line(["git", "rev-parse", "--short", "HEAD"]),
        "tree": "dirty" if dirty and dirty != "unavailable" else "clean",
    }


def result_row(result: Result) -> dict[str, Any]:
    """One result as the file keeps it: samples with min / p50 / p95 / max."""
    full = result.to_json()
    return {name: full.get(name) for name in RESULT_FIELDS}


def payload(
    *,
    command: str,
    mode: str,
    facts: dict[str, Any],
    seconds: dict[str, float],
    results: list[Result],
    details: dict[str, Any],
) -> dict[str, Any]:
    """The whole results file; `facts` holds `machine`, `versions`, `commit`, `tree`, `started`."""
    return {
        "schema": SCHEMA,
        "command": command,
        "mode": mode,
        "started": facts["started"],
        "commit": facts["commit"],
        "tree": facts["tree"],
        "machine": facts["machine"],
        "versions": facts["versions"],
        "seconds": seconds,
        "results": [result_row(r) for r in results],
        "details": details,
    }


def gather_facts() -> dict[str, Any]:
    """Everything about the run but its results, taken before it starts."""
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **git_facts(),
        "machine": machine(),
        "versions": versions(),
    }


def problems(data: dict[str, Any]) -> list[str]:
    """What makes `data` not a results file of this schema (empty when it is one)."""
    out = []
    if data.get("schema") != SCHEMA:
        out.append(f"schema is {data.get('schema')!r}, not {SCHEMA}")
    for name in ("command", "mode", "commit", "started"):
        if not isinstance(data.get(name), str) or not data.get(name):
            out.append(f"{name!r} missing")
    mach = data.get("machine") or {}
    for name in ("cores", "memory_bytes", "loadavg_start", "loadavg_end"):
        if name not in mach:
            out.append(f"machine.{name} missing")
    if not isinstance(data.get("versions"), dict) or "python" not in data["versions"]:
        out.append("versions missing")
    for i, row in enumerate(data.get("results") or []):
        missing = [f for f in RESULT_FIELDS if f not in row]
        if missing:
            out.append(f"results[{i}] lacks {missing}")
        elif row["samples"]:
            ordered = [row[f] for f in SUMMARY_FIELDS]
            if any(v is None for v in ordered) or ordered != sorted(ordered):
                out.append(f"results[{i}] ({row['metric']!r}): min/p50/p95/max out of order")
    if not data.get("results"):
        out.append("no results")
    return out


def write(data: dict[str, Any], path: Path) -> None:
    """Write the results file (its folder made if needed); refuse one that breaks the schema."""
    wrong = problems(data)
    if wrong:
        msg = f"not writing {path}: {'; '.join(wrong)}"
        raise ValueError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def load(path: Path) -> dict[str, Any]:
    """Read a results file, refusing one that breaks the schema."""
    data = json.loads(path.read_text())
    wrong = problems(data)
    if wrong:
        msg = f"{path} is not a results file: {'; '.join(wrong)}"
        raise ValueError(msg)
    return data
