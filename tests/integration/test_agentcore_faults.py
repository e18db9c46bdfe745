"""AgentCore faults in a whole run of the graph, against the local fake (no AWS, no network).

One site's browser start stays throttled: botocore retries it with backoff (standard mode, the
call and four retries), then that subagent is `failed` with the fix named, and the other sites' findings,
the analysis and the report go on. A browser session that ends mid-task (as at its lifetime)
leaves its subagent `partial` with what it read, the reason named. A code-interpreter session
refused for quota or throttling stops the run at the analyst with a message naming the fix and
`flotilla resume`; once the fault clears, resuming finishes the run without browsing again.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_sites.demo import DEMO_QUESTION
from graph.context import Context
from graph.runner import Runner
from sandbox.tier_choice import SandboxUnavailable, available_tiers
from tests.agentcore_fake import FakeAgentCore, demo_context, serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not available_tiers(), reason="no local tier for the fake"),
]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAgentCore]:
    with serving(monkeypatch, available_tiers()[-1]) as service:
        yield service


def _context(demo_sites: Any, tmp_path: Path) -> Context:
    return demo_context(demo_sites, tmp_path, memory_namespace=f"faults-{uuid.uuid4().hex[:8]}")


def _no_traceback(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in capfd.readouterr().err


def _by_site(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["site"]: row for row in output["subagents"]}


async def test_one_sites_throttled_browser_start_fails_that_subagent_alone(
    fake: FakeAgentCore, demo_sites, redis_server_url: str, tmp_path: Path, caplog, capfd
) -> None:
    caplog.set_level(logging.INFO)
    urls = list(demo_sites.urls.values())
    victim = urls[1]
    port = victim.split(":")[2].strip("/")
    fake.refuse_browsers[f"-127-0-0-1-{port}-"] = "ThrottlingException"
    result = await Runner(redis_url=redis_server_url).run(
        DEMO_QUESTION, urls, _context(demo_sites, tmp_path)
    )

    rows = _by_site(result.output)
    assert rows[victim]["status"] == "failed"
    (error,) = rows[victim]["errors"]
    assert "StartBrowserSession failed: ThrottlingException" in error
    assert "retry later or lower max_parallel" in error
    others = [rows[u] for u in urls if u != victim]
    assert [r["status"] for r in others] == ["ok", "ok"] and all(r["tables"] for r in others)
    # Retried with backoff (botocore's standard mode: the call and four retries), then failed.
    assert fake.calls.count("StartBrowserSession") == 2 + 5
    assert result.values["analysis"].sandbox_tier == "agentcore (MicroVM)"
    report = Path(result.output["report_path"]).read_text()
    failed = report[report.index("## What failed") :]
    assert f"127.0.0.1:{port}/ (throttled)" in failed and "ThrottlingException" in failed
    assert any(victim in e and "throttling" in e for e in result.output["errors"])
    cost = result.output["cost"]
    assert cost["available"] and cost["scope"] == "This run on AgentCore"
    browser_cpu = next(x for x in cost["lines"] if x["item"].startswith("Browser sessions: CPU"))
    assert "2 sessions on agentcore" in browser_cpu["basis"]  # the refused one never ran
    _no_traceback(caplog, capfd)


async def test_a_browser_session_that_ends_mid_task_leaves_a_partial_finding(
    fake: FakeAgentCore, demo_sites, redis_server_url: str, tmp_path: Path, caplog, capfd
) -> None:
    caplog.set_level(logging.INFO)
    fake.browsers.expire_after_navigations = 2  # a session ends when asked for a third page
    urls = list(demo_sites.urls.values())
    result = await Runner(redis_url=redis_server_url).run(
        DEMO_QUESTION, urls, _context(demo_sites, tmp_path)
    )

    assert fake.browsers.expired, "no session ran out of navigations"
    cut = [f for f in result.values["findings"] if any(e.kind == "session_ended" for e in f.errors)]
    assert len(cut) == len(fake.browsers.expired)
    for finding in cut:
        assert finding.status == "partial", (finding.site, finding.errors)
        # The start page was read before the end and is kept; the pages then open in parallel
        # tabs (the second round) end with the session.
        assert finding.pages_visited[:1] == [finding.site], "the pages read before the end are kept"
        ended = [e for e in finding.errors if e.kind == "session_ended"]
        assert len(ended) == 1, finding.errors  # said once, not once per page left unread
        assert "AgentCore ended the browser session" in ended[0].message
        assert "raise subagent_timeout_s" in ended[0].message
    assert all(f.status in ("ok", "partial") for f in result.values["findings"])
    report = Path(result.output["report_path"]).read_text()
    assert "AgentCore ended the browser session" in report
    assert fake.live_sessions == []
    _no_traceback(caplog, capfd)


@pytest.mark.parametrize("fault", ["ServiceQuotaExceededException", "ThrottlingException"])
async def test_a_refused_code_interpreter_stops_the_run_and_resume_finishes_it(
    fake: FakeAgentCore,
    demo_sites,
    redis_server_url: str,
    tmp_path: Path,
    caplog,
    capfd,
    fault: str,
) -> None:
    caplog.set_level(logging.INFO)
    # Throttling is retried four times by botocore before it counts as refused; quota is not.
    fake.faults["StartCodeInterpreterSession"] = [fault] * (
        5 if fault == "ThrottlingException" else 1
    )
    urls = list(demo_sites.urls.values())
    thread = f"t-faults-{uuid.uuid4().hex[:10]}"
    runner = Runner(redis_url=redis_server_url)
    with pytest.raises(SandboxUnavailable) as stopped:
        await runner.run(DEMO_QUESTION, urls, _context(demo_sites, tmp_path), thread=thread)
    message = str(stopped.value)
    assert f"StartCodeInterpreterSession failed: {fault}" in message
    assert f"run `flotilla resume {thread}`" in message
    hint = "lower max_parallel" if fault != "ThrottlingException" else "retry later"
    assert hint in message
    assert not fake.faults["StartCodeInterpreterSession"], "every injected fault was met"
    browsed = fake.calls.count("StartBrowserSession")
    assert browsed == len(urls)

    result = await runner.resume(thread)  # the fault has cleared
    assert fake.calls.count("StartBrowserSession") == browsed, "finished branches kept"
    assert result.values["analysis"].sandbox_tier == "agentcore (MicroVM)"
    assert [s["status"] for s in result.output["subagents"]] == ["ok"] * len(urls)
    assert Path(result.output["report_path"]).is_file() and result.output["cost"]["available"]
    _no_traceback(caplog, capfd)


@pytest.mark.e2e
def test_the_cli_says_what_to_do_and_resume_finishes_the_run(
    fake: FakeAgentCore, tmp_path: Path
) -> None:
    fake.faults["StartCodeInterpreterSession"] = ["ServiceQuotaExceededException"]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLOTILLA_ALLOW_HOSTS")}
    env |= {
        "FLOTILLA_RUNS_DIR": str(tmp_path / "runs"),
        "FLOTILLA_STATE_DIR": str(tmp_path / "state"),
        "FLOTILLA_SANDBOX_TIER": "agentcore",
    }

    def flotilla(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cli.main", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=400)

    thread = f"t-cli-faults-{uuid.uuid4().hex[:8]}"
    stopped = flotilla("demo", "--thread", thread, "--json")
    assert stopped.returncode != 0
    assert "Traceback" not in stopped.stderr
    assert "ServiceQuotaExceededException" in stopped.stderr + stopped.stdout
    assert f"flotilla resume {thread}" in stopped.stderr + stopped.stdout

    finished = flotilla("resume", thread, "--json")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Traceback" not in finished.stderr
    out = json.loads(finished.stdout)
    assert [s["status"] for s in out["subagents"]] == ["ok"] * 3
    assert out["cost"]["scope"] == "This run on AgentCore"
    assert "## Cost estimate" in Path(out["report_path"]).read_text()
