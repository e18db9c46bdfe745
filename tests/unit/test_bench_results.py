"""The benchmark's results file, the README table made from it, and the pure helpers (no timing)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench import readme_table
from bench.fanout_sites import PAGES, write_sites
from bench.pipeline import phases_from_stderr
from bench.proctree import Proc, browser_trees, descendants
from bench.report import Result
from bench.results import load, payload, problems, result_row, write

FACTS: dict[str, Any] = {
    "started": "2026-12-03T12:00:00+00:00",
    "commit": "abc1234",
    "tree": "clean",
    "machine": {
        "cores": 2,
        "memory_bytes": 24 * 2**30,
        "memory_available_bytes": 20 * 2**30,
        "loadavg_start": [0.2, 0.3, 0.4],
        "loadavg_end": [0.5, 0.4, 0.4],
        "cpu": "test cpu",
        "kernel": "6.1",
    },
    "versions": {"python": "3.11.7", "chromium": "Chromium 156"},
}


def _data(results: list[Result]) -> dict[str, Any]:
    return payload(
        command="make bench", mode="full", facts=copy.deepcopy(FACTS), seconds={"x": 1.0},
        results=results, details={},
    )  # fmt: skip


def test_result_rows_carry_min_p50_p95_max_in_order() -> None:
    row = result_row(Result("b", "m", "s", [3.0, 1.0, 2.0, 10.0], key="b.m"))
    assert (row["min"], row["p50"], row["p95"], row["max"]) == (1.0, 2.5, 10.0, 10.0)
    assert row["key"] == "b.m" and row["n"] == 4 and row["samples"] == [3.0, 1.0, 2.0, 10.0]
    empty = result_row(Result("b", "FAILED", "s"))
    assert empty["p50"] is None and empty["samples"] == []


def test_results_file_round_trips_and_names_machine_versions_commit(tmp_path: Path) -> None:
    data = _data([Result("b", "m", "s", [1.0, 2.0], key="k")])
    assert problems(data) == []
    path = tmp_path / "r" / "latest.json"
    write(data, path)
    again = load(path)
    assert again["commit"] == "abc1234" and again["machine"]["cores"] == 2
    assert again["versions"]["python"] == "3.11.7"
    assert again["results"][0]["p95"] == 2.0


def test_results_file_that_breaks_the_schema_is_refused(tmp_path: Path) -> None:
    data = _data([Result("b", "m", "s", [1.0])])
    del data["machine"]["loadavg_end"]
    data["results"][0]["p95"] = 0.5  # below its p50
    wrong = problems(data)
    assert any("loadavg_end" in w for w in wrong)
    assert any("out of order" in w for w in wrong)
    with pytest.raises(ValueError, match="loadavg_end"):
        write(data, tmp_path / "x.json")
    (tmp_path / "old.json").write_text(json.dumps({"schema": 0, "results": []}))
    with pytest.raises(ValueError, match="not a results file"):
        load(tmp_path / "old.json")


def test_readme_table_reads_every_figure_from_the_file_by_key() -> None:
    results = [
        Result("fanout", "w", "s", [2.0, 2.2, 2.4], key=f"fanout.own.wall.n{n}") for n in (1, 2)
    ] + [
        Result("fanout", "r", "×", [1.27], key="fanout.own.ratio.n4"),
        Result("context", "c", "%", [3.25], key="context.offline.ratio"),
        Result("context", "t", "tokens", [12345.0], key="context.offline.coordinator"),
        Result("redis", "start", "s", [0.0131], key="redis.start"),
    ]
    block, missing = readme_table.table(_data(results))
    assert "`make bench`" in block and "`abc1234`" in block and "2 cores" in block
    assert "0.20 → 0.50" in block
    fanout = next(line for line in block.splitlines() if line.startswith("| **fan-out**"))
    assert "| 2.2 s / 2.2 s / – / – |" in fanout
    assert "1.27×" in block and "3.2%" in block and "12,345 tokens" in block
    assert "13 ms" in block
    assert "fanout.own.wall.n4" in missing and "redis.start" not in missing


def test_readme_block_is_replaced_and_nothing_else(tmp_path: Path) -> None:
    before = "# Title\n\ntext above\n"
    after = "\ntext below <!-- not a marker -->\n"
    readme = f"{before}{readme_table.START}\nold table\n{readme_table.END}{after}"
    new = readme_table.replace_block(readme, "NEW")
    assert new == f"{before}{readme_table.START}\nNEW\n{readme_table.END}{after}"
    assert readme_table.replace_block(new, "NEW") == new
    with pytest.raises(ValueError, match="no"):
        readme_table.replace_block("no markers here", "NEW")


def test_readme_command_rewrites_and_checks(tmp_path: Path) -> None:
    results_path = tmp_path / "latest.json"
    write(_data([Result("redis", "start", "s", [0.02], key="redis.start")]), results_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{readme_table.START}\nold\n{readme_table.END}\nrest\n")
    args = ["--results", str(results_path), "--readme", str(readme)]
    assert readme_table.main([*args, "--check"]) == 1
    assert readme_table.main(args) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "| 20 ms |" in text
    assert readme_table.main([*args, "--check"]) == 0


def test_project_readme_has_the_markers() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert text.count(readme_table.START) == 1 and text.count(readme_table.END) == 1


def test_phases_come_from_the_progress_lines() -> None:
    stderr = "\n".join([
        "demo sites: http://127.0.0.1:1/",
        "[  2.60s] plan: 3 subagent(s), 0 target(s) refused",
        "[  2.63s]   subagent site-1   started   pages=0   0.00s  http://127.0.0.1:1/",
        "[  9.75s] analyst: started tier=auto",
        "[ 12.25s] analyst: done tier=gvisor charts=4",
        "[ 12.30s] report: done path=/x/report.md writer=templated",
        "[ 13.30s] remember: done insights=17",
    ])  # fmt: skip
    phases = phases_from_stderr(stderr)
    assert phases == pytest.approx(
        {"plan": 2.6, "browse": 7.15, "analyse": 2.5, "report": 0.05, "remember": 1.0}
    )
    assert phases_from_stderr("[  1.00s] plan: 1 subagent(s)\n") == {"plan": 1.0}


def test_fanout_sites_have_four_linked_pages_rendered_by_script(tmp_path: Path) -> None:
    names = write_sites(tmp_path, 8)
    assert len(set(names)) == 8
    titles = set()
    for name in names:
        pages = [tmp_path / name / p / "index.html" for p in PAGES]
        assert all(p.is_file() for p in pages)
        home = pages[0].read_text()
        assert all(f'href="/{p}"' in home for p in PAGES[1:])
        assert '<main id="app"><p class="loading">' in home  # empty until the script runs
        assert 'type="application/json"' in home and "per month" in home
        titles.add(home[home.index("<title>") : home.index("</title>")])
    assert len(titles) == 8  # vendors differ


def test_browser_trees_are_what_hangs_below_the_playwright_driver() -> None:
    procs = {
        p.pid: p
        for p in [
            Proc(1, 0, "init", 0.0, 0, 0),
            Proc(10, 1, "python", 1.0, 100, 1),
            Proc(11, 10, "node-MainThread", 1.0, 50, 2),
            Proc(12, 11, "bwrap", 0.0, 2, 3),
            Proc(13, 12, "chromium", 2.0, 200, 4),
            Proc(14, 13, "chromium", 1.0, 80, 5),
            Proc(15, 11, "bwrap", 0.0, 2, 6),
            Proc(16, 15, "chromium", 2.0, 150, 7),
            Proc(20, 1, "other", 9.0, 999, 8),
        ]
    }
    tree = descendants(procs, 10)
    assert {p.pid for p in tree} == {10, 11, 12, 13, 14, 15, 16}
    sizes = sorted(sum(p.rss for p in t) for t in browser_trees(tree))
    assert sizes == [152, 282]


def test_only_a_whole_full_run_writes_the_file_the_readme_is_made_from() -> None:
    from bench.results import LATEST, PARTIAL, QUICK
    from bench.run import parse_args

    assert parse_args([]).out == LATEST
    assert parse_args(["--only", "memory"]).out == PARTIAL
    assert parse_args(["--quick"]).out == parse_args(["--quick", "--only", "memory"]).out == QUICK
    assert parse_args(["--only", "memory", "--out", "x.json"]).out == Path("x.json")
