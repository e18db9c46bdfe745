"""Subagents start at the same time: the browser jail's once-per-process setup must not race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox import jail
from sandbox.browser import chromium_executable

pytestmark = pytest.mark.slow


def test_concurrent_first_launches_share_one_jail_setup():
    for cached in (jail._runtime_dir, jail._policy_dir, jail._launcher):
        cached.cache_clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        plans = list(pool.map(lambda _: jail.plan(chromium_executable()), range(8)))
    # Before the setup lock, two threads raced to create the policy folder and one subagent
    # crashed with FileExistsError (seen in `make bench` on a loaded machine).
    assert {p.mode for p in plans} == {"bwrap+netns"}
    assert len({p.executable for p in plans}) == 1


def test_without_root_the_jail_keeps_its_previous_form_and_says_why(monkeypatch):
    jail._bwrap_works.cache_clear()
    monkeypatch.setattr(jail.os, "geteuid", lambda: 1000)
    try:
        fallback = jail.plan(chromium_executable())
    finally:
        jail._bwrap_works.cache_clear()
    assert fallback.mode == "bwrap"
    assert "not root" in fallback.reason
    launcher = Path(fallback.executable or "").read_text()
    assert "--unshare-net" not in launcher and "setpriv" not in launcher


def test_the_netns_jail_drops_root_and_the_network():
    argv = jail.bwrap_argv("bwrap", "/usr/lib/chromium/chromium", netns=True)
    assert "--unshare-net" in argv and "--share-net" not in argv
    assert argv[-1] == "/usr/lib/chromium/chromium"
    drop = argv[argv.index("/usr/bin/setpriv") :]
    assert f"--reuid={jail.JAIL_UID}" in drop and "--bounding-set=-all" in drop
    assert "--no-new-privs" in drop


def test_without_bwrap_the_browser_does_not_start_unjailed_by_itself(monkeypatch):
    real_which = jail.shutil.which
    monkeypatch.setattr(jail.shutil, "which", lambda n: None if n == "bwrap" else real_which(n))
    monkeypatch.delenv(jail.JAIL_ENV, raising=False)
    with pytest.raises(jail.JailUnavailable, match="bwrap is not installed") as refused:
        jail.plan(chromium_executable())
    assert f"{jail.JAIL_ENV}=0" in str(refused.value)  # names the operator's opt-out
    # Playwright's own build (no system Chromium) cannot be jailed either: said so, not run.
    monkeypatch.setattr(jail.shutil, "which", real_which)
    with pytest.raises(jail.JailUnavailable, match="no system Chromium"):
        jail.plan(None)
    # The operator's explicit opt-out runs it without a jail, and the plan says why.
    monkeypatch.setenv(jail.JAIL_ENV, "0")
    unjailed = jail.plan(chromium_executable())
    assert unjailed.mode == "none" and jail.JAIL_ENV in unjailed.reason
