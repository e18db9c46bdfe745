"""The CLI as a user runs it: the demo end to end, one-site browsing, and bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def flotilla(
    *args: str, tmp_path: Path, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLOTILLA_ALLOW_HOSTS")
    }
    env = (
        inherited
        | (env or {})
        | {
            "FLOTILLA_RUNS_DIR": str(tmp_path / "runs"),
            "FLOTILLA_STATE_DIR": str(tmp_path / "state"),
        }
    )
    cmd = [sys.executable, "-m", "cli.main", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_plotted_png(path: str) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(path)
    # A chart with data has many colours; a blank canvas has one or two.
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20


# Where the llm brain would run by default; the demo still runs on the embedded defaults.
MODEL_CONFIGURED = {
    "FLOTILLA_BRAIN": "llm",
    "FLOTILLA_MODEL": "bedrock_converse:us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "example",
    "AWS_REGION": "us-east-1",
}


def test_demo_runs_the_whole_pipeline_and_writes_a_sourced_report(tmp_path):
    result = flotilla("demo", "--json", tmp_path=tmp_path, env=MODEL_CONFIGURED)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)
    assert out["brain"] == "offline"
    assert "token_usage" in out
    assert [s["status"] for s in out["subagents"]] == ["ok", "ok", "ok"]
    assert all(s["pages"] >= 2 and s["tables"] >= 1 for s in out["subagents"])
    # Live progress: one line per subagent event, then analyst and report.
    assert result.stderr.count("subagent site-") >= 6 and "analyst:" in result.stderr

    report = Path(out["report_path"]).read_text()
    for section in (
        "## Short answer",
        "## Comparison",
        "## Charts",
        "## Findings by site",
        "## Sources",
        "## What failed",
    ):
        assert section in report
    # Numbers keep their currency and unit, from each vendor's own format.
    assert "$" in report and "€" in report and "£" in report
    assert len(out["charts"]) >= 2
    for chart in out["charts"]:
        assert_plotted_png(chart)
        assert os.path.relpath(chart, Path(out["report_path"]).parent) in report
    sites = {s["site"] for s in out["subagents"]}
    assert all(any(src.startswith(site) for src in out["sources"]) for site in sites)
    assert any("pric" in src for src in out["sources"]), (
        "the pricing pages should be among the sources"
    )
    # What the run would have cost on AgentCore, from what its local sandboxes spent.
    cost = out["cost"]
    assert cost["available"] and "What this run would have cost on AgentCore" in cost["scope"]
    items = {line["item"]: line for line in cost["lines"]}
    browser_cpu = items["Browser sessions: active CPU"]
    assert browser_cpu["quantity"] > 0 and "3 local sessions" in browser_cpu["basis"]
    assert items["Code-interpreter sessions: active CPU"]["quantity"] > 0
    assert cost["total"] == pytest.approx(sum(line["cost"] for line in cost["lines"]), abs=1e-6)
    assert "## Cost estimate" in report and "Browser sessions: memory" in report


def test_browse_refuses_loopback_without_allow_host_and_names_the_rule(tmp_path):
    result = flotilla("browse", "http://127.0.0.1:9/", "--json", tmp_path=tmp_path, timeout=60)
    assert result.returncode == 2
    out = json.loads(result.stdout)
    assert out["rule"] == "private_address" and "--allow-host" in out["error"]


def test_browse_prints_findings_for_an_allow_listed_site(tmp_path, site_server):
    site = site_server("static_table")
    result = flotilla(
        "browse",
        site.url,
        "--goal",
        "plan prices",
        "--allow-host",
        site.host,
        "--json",
        tmp_path=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    findings = json.loads(result.stdout)
    assert findings["status"] == "ok"
    assert any("$12.50" in fact["text"] for fact in findings["key_facts"])
    assert findings["tables"][0]["columns"] == ["Plan", "Price", "Storage"]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["research", "  ", "--url", "https://a.example/"], 2, "question is empty"),
        (["browse", "notaurl", "--json"], 2, "scheme"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, args, code, needle):
    result = flotilla(*args, tmp_path=tmp_path, timeout=60)
    assert result.returncode == code
    assert needle in result.stderr


def test_research_where_nothing_works_exits_non_zero_but_still_writes_the_report(tmp_path):
    port = closed_port()
    result = flotilla(
        "research",
        "prices",
        "--url",
        f"http://127.0.0.1:{port}/",
        "--url",
        "::bad::",
        "--allow-host",
        f"127.0.0.1:{port}",
        "--json",
        tmp_path=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    out = json.loads(result.stdout)
    report = Path(out["report_path"]).read_text()
    assert "unreachable" in report and "::bad::" in report
    assert out["subagents"][0]["status"] == "failed"


def test_research_with_approve_asks_before_browsing_and_runs_what_was_kept(tmp_path, site_server):
    first, second = site_server("static_table"), site_server("offsite")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLOTILLA_ALLOW_HOSTS")}
    env |= {
        "FLOTILLA_RUNS_DIR": str(tmp_path / "runs"),
        "FLOTILLA_STATE_DIR": str(tmp_path / "state"),
    }
    args = ["research", "plan prices", "--url", first.url, "--url", second.url, "--approve",
            "--allow-host", first.host, "--allow-host", second.host, "--max-pages", "1",
            "--json"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input="2\n", capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"1. {first.url}" in result.stderr and f"2. {second.url}" in result.stderr
    out = json.loads(result.stdout)
    assert [s["site"] for s in out["subagents"]] == [second.url]


def test_research_over_a_working_a_refusing_and_a_hanging_site_keeps_the_working_one(
    tmp_path, site_server
):
    """One site answers, one refuses connections, one accepts them and never answers.

    The run finishes (a hard 180 s limit on the whole command), the report has the working
    site's findings and names both failures, and nothing on stderr is a traceback or an
    asyncio complaint about a cancelled transfer.
    """
    working, refusing = site_server("static_table"), closed_port()
    with socket.socket() as silent:  # the kernel completes the handshake; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        hanging = silent.getsockname()[1]
        urls = [working.url, f"http://127.0.0.1:{refusing}/", f"http://127.0.0.1:{hanging}/"]
        args = ["research", "plan prices"]
        for url in urls:
            args += ["--url", url]
        for host in (working.host, f"127.0.0.1:{refusing}", f"127.0.0.1:{hanging}"):
            args += ["--allow-host", host]
        result = flotilla(*args, "--json", tmp_path=tmp_path, timeout=180)

    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)
    status = {s["site"]: s["status"] for s in out["subagents"]}
    assert status == {urls[0]: "ok", urls[1]: "failed", urls[2]: "failed"}, out["subagents"]
    report = Path(out["report_path"]).read_text()
    assert "$12.50" in report  # the working site's findings
    failed = report[report.index("## What failed") :]
    assert f"127.0.0.1:{refusing}" in failed and f"127.0.0.1:{hanging}" in failed
    for noise in ("Traceback", "never retrieved", "Exception in callback", "CancelledError"):
        assert noise not in result.stderr, result.stderr[-3000:]
