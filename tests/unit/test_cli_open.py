"""`flotilla open THREAD`: the report's path on stdout; a browser only where one can show it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import open_cmd
from cli.main import main


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(open_cmd.webbrowser, "open", lambda url: calls.append(url) or True)
    monkeypatch.setattr(open_cmd.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    return calls


def _run_dir(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "runs" / "t-1"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_text("report")
    return folder


def test_prints_the_html_report_and_opens_no_browser_without_a_display(
    tmp_path: Path, opened: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _run_dir(tmp_path, "report.md", "report.html")
    assert main(["open", "t-1", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "report.html")
    assert opened == []


def test_opens_the_report_where_a_display_exists(
    tmp_path: Path, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _run_dir(tmp_path, "report.md", "report.html")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("FLOTILLA_RUNS_DIR", str(tmp_path / "runs"))
    assert main(["open", "t-1"]) == 0
    assert opened == [(folder / "report.html").as_uri()]
    assert main(["open", "t-1", "--no-browser"]) == 0 and len(opened) == 1


def test_an_older_run_with_only_markdown_gets_its_markdown(
    tmp_path: Path, opened: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _run_dir(tmp_path, "report.md")
    assert main(["open", "t-1", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "report.md")


def test_an_unknown_thread_says_where_it_looked(
    tmp_path: Path, opened: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["open", "t-nobody", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "no report for thread 't-nobody'" in err and str(tmp_path / "runs") in err
    assert "--runs-dir" in err and opened == []


@pytest.mark.parametrize(
    ("env", "platform", "shows"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":1"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_a_browser_is_used_only_where_it_can_show_something(
    env: dict[str, str], platform: str, shows: bool
) -> None:
    assert open_cmd.can_show(env, platform) is shows
