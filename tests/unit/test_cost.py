"""The run's cost estimate: its arithmetic, its price file, and where it shows (report, output)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from graph.models import Analysis, Findings, ModelUsage, Plan, SandboxUsage, SiteTask
from nodes.report.cost import (
    DEFAULT_PRICES,
    PRICES_ENV,
    PriceFileError,
    estimate,
    load_prices,
    memory_events,
    run_estimate,
)
from nodes.report.node import write_report
from sandbox.usage import SessionMeter

GIB = 2**30


def _prices(tmp_path: Path, **changes: str) -> Path:
    """A copy of the shipped price file with some lines replaced (old text -> new text)."""
    text = DEFAULT_PRICES.read_text()
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "prices.toml"
    path.write_text(text)
    return path


def _by_item(result: dict) -> dict[str, dict]:
    return {line["item"]: line for line in result["lines"]}


def test_the_arithmetic_on_a_known_usage(tmp_path: Path) -> None:
    path = _prices(
        tmp_path,
        **{
            "vcpu_hour = 0.0895": "vcpu_hour = 0.1",
            "gb_hour = 0.00945": "gb_hour = 0.01",
            "min_memory_gb = 0.125": "min_memory_gb = 0.5",
            "memory_event_per_1000 = 0.25": "memory_event_per_1000 = 2.0",
        },
    )
    prices = load_prices(path)
    sessions = [
        # 36 CPU seconds and 1 GiB for 3600 s: 0.01 vCPU-h, 1 GB-h.
        SandboxUsage(kind="browser", tier="bwrap+netns", wall_s=3600, cpu_s=36, rss_byte_s=3600.0 * GIB, peak_rss_bytes=GIB),
        # 0.1 GiB for 360 s is below the 0.5 GB floor: 0.5 × 360 GB-s = 0.05 GB-h.
        SandboxUsage(kind="browser", tier="bwrap+netns", wall_s=360, cpu_s=0, rss_byte_s=36.0 * GIB, peak_rss_bytes=GIB // 10),
        # Remote: the assumed size (1 vCPU, 2 GB) for 1800 s.
        SandboxUsage(kind="code_interpreter", tier="agentcore", wall_s=1800),
    ]  # fmt: skip
    usage = [
        ModelUsage(node="browser", model="global.anthropic.claude-sonnet-4-5-2025", input_tokens=1_000_000, output_tokens=200_000),
        ModelUsage(node="report", model="global.anthropic.claude-sonnet-4-5-2025", input_tokens=500_000),
        ModelUsage(node="analyst", model="my-local.gguf", input_tokens=7, output_tokens=3),
    ]  # fmt: skip
    result = estimate(sessions, usage, events=500, prices=prices)
    lines = _by_item(result)
    cpu = lines["Browser sessions: active CPU"]
    assert (cpu["quantity"], cpu["unit"], cpu["unit_price"]) == (0.01, "vCPU-hour", 0.1)
    assert cpu["cost"] == pytest.approx(0.001)
    memory = lines["Browser sessions: memory"]
    assert memory["quantity"] == pytest.approx(1.05)
    assert memory["cost"] == pytest.approx(0.0105)
    remote_cpu = lines["Code-interpreter sessions: CPU (assumed size)"]
    assert remote_cpu["quantity"] == pytest.approx(0.5) and "agentcore" in remote_cpu["basis"]
    remote_memory = lines["Code-interpreter sessions: memory (assumed size)"]
    assert remote_memory["quantity"] == pytest.approx(1.0)
    events = lines["Memory: short-term events"]
    assert (events["quantity"], events["cost"]) == (0.5, 1.0)
    tokens_in = lines["Model global.anthropic.claude-sonnet-4-5-2025: input tokens"]
    assert tokens_in["quantity"] == pytest.approx(1.5) and tokens_in["cost"] == pytest.approx(4.5)
    tokens_out = lines["Model global.anthropic.claude-sonnet-4-5-2025: output tokens"]
    assert tokens_out["cost"] == pytest.approx(3.0)
    expected = 0.001 + 0.0105 + 0.05 + 0.01 + 1.0 + 4.5 + 3.0
    assert result["total"] == pytest.approx(expected)
    assert result["unpriced"] == [
        "model my-local.gguf: 7 input and 3 output tokens, no price in the price file"
    ]
    assert result["scope"] == "This run on AgentCore"
    assert result["prices"]["file"] == str(path)
    assert result["prices"]["sources"][0] == "https://aws.amazon.com/bedrock/agentcore/pricing/"


def test_editing_the_price_file_changes_the_estimate(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PRICES_ENV, str(_prices(tmp_path)))
    sessions = [SandboxUsage(kind="browser", wall_s=10, cpu_s=5, rss_byte_s=GIB * 10.0)]
    before = run_estimate(sessions, [], browser_tasks=1)
    text = (
        Path(tmp_path / "prices.toml")
        .read_text()
        .replace("vcpu_hour = 0.0895", "vcpu_hour = 0.895")
    )
    (tmp_path / "prices.toml").write_text(text)
    after = run_estimate(sessions, [], browser_tasks=1)
    cpu_before = _by_item(before)["Browser sessions: active CPU"]["cost"]
    cpu_after = _by_item(after)["Browser sessions: active CPU"]["cost"]
    assert cpu_after == pytest.approx(cpu_before * 10, rel=1e-4)
    assert after["total"] > before["total"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot be read"),
        ("[source\ntaken = ", "not valid TOML"),
        ('[source]\ntaken = "x"\nurls = []\n', "lacks a figure"),
    ],
)
def test_a_missing_or_broken_price_file_marks_the_estimate_unavailable(
    tmp_path: Path, monkeypatch, content: str | None, says: str
) -> None:
    path = tmp_path / "prices.toml"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv(PRICES_ENV, str(path))
    with pytest.raises(PriceFileError, match=says):
        load_prices()
    result = run_estimate([], [], browser_tasks=3)
    assert result["available"] is False
    assert says in result["reason"] and str(path) in result["reason"]
    assert PRICES_ENV in result["reason"]


def test_a_negative_price_is_refused(tmp_path: Path) -> None:
    path = _prices(tmp_path, **{"gb_hour = 0.00945": "gb_hour = -1"})
    with pytest.raises(PriceFileError, match="gb_hour must be a number"):
        load_prices(path)


def test_memory_events_follow_the_graph_steps() -> None:
    # 5 steps + the input's checkpoint, and 7 tasks' writes + the input's.
    assert memory_events(3) == 6 + 8


def _state(tmp_path: Path) -> dict:
    tasks = [SiteTask(task_id=f"t{i}", url=f"https://s{i}.example/", goal="g") for i in (1, 2)]
    usage = SandboxUsage(kind="browser", tier="bwrap+netns", wall_s=4, cpu_s=2, rss_byte_s=GIB * 2.0, peak_rss_bytes=GIB)  # fmt: skip
    findings = [
        Findings(task_id="t1", site="https://s1.example/", goal="g", sandbox=usage),
        # An earlier run's findings on the thread: not this run's cost.
        Findings(task_id="old", site="https://s0.example/", goal="g", sandbox=usage),
    ]
    analysis = Analysis(
        sandboxes=[SandboxUsage(kind="code_interpreter", tier="gvisor", wall_s=3, cpu_s=1.5, rss_byte_s=GIB * 1.0)]
    )  # fmt: skip
    return {"question": "q", "plan": Plan(tasks=tasks), "findings": findings, "analysis": analysis}


def test_the_report_shows_the_estimate_with_its_prices(tmp_path: Path) -> None:
    path, _, _ = write_report(_state(tmp_path), runs_dir=str(tmp_path / "runs"), thread_id="t")
    markdown = path.read_text()
    section = markdown[markdown.index("## Cost estimate") :]
    assert "What this run would have cost on AgentCore" in section
    assert (
        "Browser sessions: active CPU" in section and "Code-interpreter sessions: memory" in section
    )
    assert "measured: 2.0 CPU seconds" in section  # the earlier run's browser is not counted
    assert "aws.amazon.com/bedrock/agentcore/pricing" in section and "taken 2026-12-03" in section
    assert "not fetched" in section
    html = path.with_suffix(".html").read_text()
    assert '<section id="cost">' in html and "Browser sessions: active CPU" in html


def test_a_broken_price_file_still_writes_the_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PRICES_ENV, str(tmp_path / "missing.toml"))
    path, _, _ = write_report(_state(tmp_path), runs_dir=str(tmp_path / "runs"), thread_id="t")
    assert "_Cost estimate unavailable: price file" in path.read_text()


async def test_a_meter_measures_a_process_tree() -> None:
    meter = SessionMeter("code_interpreter", interval_s=0.05)
    busy = "import time\nx = bytearray(64 << 20)\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"  # fmt: skip
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", busy)
    try:
        meter.attach(child.pid, "bwrap")
        while child.returncode is None and meter.usage().samples < 200:
            await asyncio.sleep(0.05)
            if (meter.usage().cpu_s or 0) >= 0.5:
                break
        await meter.stop_sampling()
    finally:
        await child.wait()
    meter.end()
    usage = meter.usage()
    assert usage.samples >= 3 and usage.tier == "bwrap"
    assert usage.cpu_s is not None and 0.3 <= usage.cpu_s <= 5
    assert usage.peak_rss_bytes is not None and usage.peak_rss_bytes >= 64 << 20
    assert usage.rss_byte_s is not None and usage.rss_byte_s > 0 and usage.wall_s > 0


async def test_a_remote_session_is_timed_only() -> None:
    meter = SessionMeter("browser", "t1")
    meter.attach(None, "agentcore")
    await asyncio.sleep(0.05)
    await meter.stop_sampling()
    meter.end()
    usage = meter.usage()
    assert (usage.cpu_s, usage.rss_byte_s, usage.tier, usage.task_id) == (
        None,
        None,
        "agentcore",
        "t1",
    )
    assert usage.wall_s >= 0.05
