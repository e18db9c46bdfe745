"""The CLI's logging and its last line of defence: warnings once, short; tracebacks only with
--debug; a failure a command did not handle told as one message with the fix."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cli import doctor, logs
from cli.errors import explain, explain_text, urls_problem
from cli.main import build_parser, main


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the root logger and Flotilla's loggers as this test found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    own = {name: logging.getLogger(name).level for name in logs.OWN_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in own.items():
        logging.getLogger(name).setLevel(value)
    logging.captureWarnings(False)


def failing_handler(exc: BaseException) -> Any:
    async def handler(args: Any) -> int:
        raise exc

    return handler


def broken() -> ValueError:
    try:
        raise ValueError("deep inside")
    except ValueError as exc:
        return exc


def test_a_warning_shows_once_as_a_short_line(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure()
    log = logging.getLogger("sandbox.jail")
    for _ in range(3):
        log.warning("browser jail without its own network namespace: %s", "not root")
    log.info("not shown by default")
    err = capsys.readouterr().err
    assert err == "flotilla: warning: browser jail without its own network namespace: not root\n"


def test_verbose_shows_info_quiet_hides_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(verbose=1)
    logging.getLogger("nodes.browse").info("reading page 2")
    assert "flotilla: info: reading page 2" in capsys.readouterr().err
    logs.configure(quiet=True)
    logging.getLogger("nodes.browse").warning("a warning")
    logging.getLogger("nodes.browse").error("an error")
    assert capsys.readouterr().err == "flotilla: error: an error\n"


def test_a_logged_exception_has_its_traceback_only_with_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = broken()
    logs.configure()
    logging.getLogger("nodes.browse.subagent").error("sandbox failed", exc_info=error)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "sandbox failed (ValueError: deep inside)" in err
    logs.configure(debug=True)
    logging.getLogger("nodes.browse.subagent").error("sandbox failed", exc_info=error)
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_bedrock_access_warning_is_told_as_its_fix(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure()
    logging.getLogger("nodes.browse.llm").warning(
        "browser model failed for %s: %s",
        "https://a.example/",
        "An error occurred (AccessDeniedException) when calling the Converse operation: "
        "You don't have access to the model with the specified model ID.",
    )
    err = capsys.readouterr().err
    assert "Model access" in err and "--model" in err and "Converse operation" not in err


def test_verbosity_flags_go_before_or_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["-v", "--debug", "doctor"])
    after = parser.parse_args(["memory", "list", "-q"])
    assert (before.verbose, before.debug, before.quiet) == (1, True, False)
    assert (after.verbose, after.quiet) == (0, True)


def test_an_unhandled_disk_full_names_the_fix_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "runs/t/report.md")
    wrapped = RuntimeError("the graph failed")
    wrapped.__cause__ = full
    monkeypatch.setattr(doctor, "doctor_command", failing_handler(wrapped))
    assert main(["doctor"]) == 3
    err = capsys.readouterr().err
    assert "no space left on the device writing runs/t/report.md" in err
    assert "--runs-dir" in err and "Traceback" not in err


def test_an_unexpected_error_is_one_line_and_debug_adds_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(doctor, "doctor_command", failing_handler(broken()))
    assert main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected error: ValueError: deep inside" in err
    assert "--debug" in err
    assert main(["doctor", "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_explain_finds_known_failures_inside_groups_and_causes() -> None:
    from memory.redis_client import RedisUnavailable

    group = ExceptionGroup("tasks", [ValueError("x"), RedisUnavailable("Redis at 'u' is down")])
    assert explain(group) == ("Redis at 'u' is down", 3)
    assert explain(ValueError("x")) is None
    assert explain_text("UnrecognizedClientException: The security token ... is invalid")
    assert explain_text("a page had no table") is None


def test_urls_problem_only_when_no_url_can_be_researched() -> None:
    assert urls_problem(["https://a.example/", "::bad::"]) is None
    problem = urls_problem(["::bad::", "ftp://b.example/"])
    assert problem is not None and "scheme" in problem and "https://example.com/" in problem
