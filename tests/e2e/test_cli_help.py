"""The CLI as a user meets it when something is missing: `flotilla doctor`, errors that name the
fix and show no traceback, plain lines in a pipe and the live view on a terminal.

Each case hides a real part from a real `flotilla` subprocess: Chromium (FLOTILLA_CHROMIUM
pointing nowhere), Redis (a closed loopback port; a Redis without its modules), the sandbox
tiers (a PATH without bwrap and runsc), disk space (a 64 KiB tmpfs in a mount namespace of the
test's own), Bedrock model access (the loopback Converse stub answering AccessDeniedException).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from memory.redis_binaries import find_binaries
from memory.redis_process import free_port, ping_once
from tests.bedrock_stub import (
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    BedrockStub,
    ConverseCall,
    ConverseError,
)
from tests.e2e.test_cli import closed_port, flotilla

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Escape sequences, carriage returns, and other C0 controls but newline and tab.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
NOWHERE = "/nonexistent/flotilla-test/chromium"


def assert_helpful(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """Exit `code`, every needle (the fix) in stderr, and no traceback anywhere."""
    assert result.returncode == code, result.stderr[-3000:]
    for needle in needles:
        assert needle in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout


def test_doctor_names_a_hidden_chromium_and_an_unreachable_redis_with_their_fixes(tmp_path):
    env = {"FLOTILLA_CHROMIUM": NOWHERE, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    result = flotilla("doctor", "--json", tmp_path=tmp_path, env=env, timeout=180)
    assert result.returncode == 1, result.stderr[-3000:]
    out = json.loads(result.stdout)
    checks = {check["component"]: check for check in out["checks"]}
    assert out["ready"] is False
    assert checks["chromium"]["status"] == "missing"
    assert NOWHERE in checks["chromium"]["detail"]
    assert "FLOTILLA_CHROMIUM" in checks["chromium"]["fix"]
    assert checks["redis"]["status"] == "missing"
    assert "REDIS_URL" in checks["redis"]["fix"]
    # What was not hidden is found: each sandbox tier and the disk are checked.
    assert {"sandbox: gvisor", "sandbox: bwrap", "embeddings", "models", "disk"} <= set(checks)
    assert checks["disk"]["status"] == "ready"

    text = flotilla("doctor", tmp_path=tmp_path, env=env, timeout=180)
    assert_helpful(text, 1)
    assert "missing" in text.stdout and "FLOTILLA_CHROMIUM" in text.stdout
    assert "not ready" in text.stdout and not CONTROL.search(text.stdout)


def test_a_run_without_chromium_stops_before_it_starts_naming_the_setting(tmp_path):
    result = flotilla(
        "browse", "http://127.0.0.1:9/", "--allow-host", "127.0.0.1:9",
        tmp_path=tmp_path, env={"FLOTILLA_CHROMIUM": NOWHERE}, timeout=120,
    )  # fmt: skip
    assert_helpful(result, 3, "Chromium not found", "FLOTILLA_CHROMIUM", "apt-get install")
    research = flotilla(
        "research", "prices", "--url", "https://a.example/",
        tmp_path=tmp_path, env={"FLOTILLA_CHROMIUM": NOWHERE}, timeout=120,
    )  # fmt: skip
    assert_helpful(research, 3, "FLOTILLA_CHROMIUM")


def test_redis_unreachable_names_the_url_and_what_to_do(tmp_path):
    url = f"redis://127.0.0.1:{closed_port()}/0"
    result = flotilla("history", "some-thread", tmp_path=tmp_path, env={"REDIS_URL": url})
    assert_helpful(result, 3, url, "Start that server", "unset REDIS_URL")


def test_a_redis_without_its_modules_is_named_with_the_fix(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [str(find_binaries().server), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not ping_once(port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        result = flotilla("memory", "list", tmp_path=tmp_path, env=env, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert_helpful(result, 3, "lacks the ReJSON, search module(s)", "Redis 8 or Redis Stack")


def test_no_sandbox_tier_names_what_to_install(tmp_path):
    bare = tmp_path / "bin"  # a PATH with neither bwrap nor runsc on it
    bare.mkdir()
    code = tmp_path / "hello.py"
    code.write_text("print('hello')\n")
    result = flotilla(
        "sandbox", "exec", str(code), "--preload", "",
        tmp_path=tmp_path, env={"PATH": str(bare)}, timeout=60,
    )  # fmt: skip
    assert_helpful(result, 2, "no isolated sandbox tier works", "apt-get install bubblewrap")


def test_a_bad_url_names_the_rule_and_what_to_give(tmp_path):
    result = flotilla("research", "prices", "--url", "::bad::", tmp_path=tmp_path, timeout=60)
    assert_helpful(result, 2, "scheme", "https://example.com/")


def test_the_llm_brain_without_credentials_names_what_to_set(tmp_path):
    result = flotilla(
        "research", "prices", "--url", "https://a.example/", "--brain", "llm",
        tmp_path=tmp_path, timeout=60,
    )  # fmt: skip
    assert_helpful(result, 2, "--model provider:model", "AWS credentials", "--brain offline")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)
def test_a_full_disk_is_named_with_where_to_write_instead(tmp_path):
    """`sandbox exec` copies a 1 MB file out onto a 64 KiB tmpfs of the test's own."""
    code = tmp_path / "big.py"
    code.write_text("open('big.bin', 'wb').write(b'x' * 1_000_000)\n")
    small = tmp_path / "small"
    small.mkdir()
    cli = [sys.executable, "-m", "cli.main", "sandbox", "exec", str(code),
           "--tier", "bwrap", "--preload", "", "--out", str(small / "out")]  # fmt: skip
    script = f"mount -t tmpfs -o size=64k tmpfs {small} && exec {shlex.join(cli)}"
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, timeout=120, check=False, cwd=Path.cwd(),
    )  # fmt: skip
    assert_helpful(result, 3, "no space left on the device", "--out", "--runs-dir")


def test_bedrock_model_access_denied_is_told_as_its_fix(tmp_path, site_server):
    site = site_server("static_table")

    def denied(call: ConverseCall) -> dict[str, Any]:
        raise ConverseError(403, "AccessDeniedException", "You don't have access to the model")

    with BedrockStub(denied) as stub:
        env = {
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": stub.url,
        }
        result = flotilla(
            "browse", site.url, "--allow-host", site.host, "--brain", "llm",
            "--model", "bedrock_converse:eu.anthropic.claude-test",
            tmp_path=tmp_path, env=env, timeout=180,
        )  # fmt: skip
    assert stub.calls, "the model was asked (through the stub)"
    assert "Traceback" not in result.stderr
    assert "enable access" in result.stderr + result.stdout
    assert "Model access" in result.stderr + result.stdout and "eu-west-1" in result.stderr


def test_a_piped_run_prints_plain_lines_without_control_characters(tmp_path, site_server):
    site = site_server("static_table")
    result = flotilla(
        "browse", site.url, "--goal", "plan prices", "--allow-host", site.host,
        tmp_path=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "subagent site-1" in result.stderr and "ok" in result.stderr
    assert not CONTROL.search(result.stderr), repr(result.stderr[:500])
    assert not CONTROL.search(result.stdout), repr(result.stdout[:500])


def test_on_a_terminal_the_run_is_drawn_as_a_live_table(tmp_path, site_server):
    site = site_server("static_table")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = os.environ | {
        "TERM": "xterm-256color",
        "FLOTILLA_RUNS_DIR": str(tmp_path / "runs"),
        "FLOTILLA_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("NO_COLOR", None)
    cli = [sys.executable, "-m", "cli.main", "browse", site.url, "--allow-host", site.host]
    proc = subprocess.Popen(cli, stderr=follower, stdout=subprocess.PIPE, env=env)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, drawn[-3000:]
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode(errors="replace"))
    assert "┏" in screen and "site-1" in screen and "running" in screen
    last_frame = screen[screen.rindex("site-1") :]
    assert "done" in last_frame.splitlines()[0]
    assert b"Traceback" not in drawn and "┏".encode() not in out, "the view is on stderr only"
