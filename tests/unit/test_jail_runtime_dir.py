"""A killed process's browser-jail launchers do not stay behind in the temp folder.

Each process keeps its jail launchers and browser policies in `flotilla-jail-<pid>-*`, removed
at exit; a process killed with SIGKILL runs no exit handler, so the next process removes the
folders of this user's processes that are gone (and only those).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sandbox.jail import RUNTIME_DIR_PREFIX, _remove_stale_runtime_dirs


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_only_the_folders_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{RUNTIME_DIR_PREFIX}{_dead_pid()}-abc"
    alive = tmp_path / f"{RUNTIME_DIR_PREFIX}{os.getpid()}-def"
    init = tmp_path / f"{RUNTIME_DIR_PREFIX}1-ghi"  # alive, and not ours to signal unless root
    unnamed = tmp_path / f"{RUNTIME_DIR_PREFIX}xyz-jkl"  # not a pid: left alone
    for folder in (dead, alive, init, unnamed):
        (folder / "policies").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    link = tmp_path / f"{RUNTIME_DIR_PREFIX}{_dead_pid()}-lnk"
    link.symlink_to(outside)  # a planted link is never followed

    _remove_stale_runtime_dirs(tmp_path)

    assert not dead.exists()
    assert alive.is_dir() and init.is_dir() and unnamed.is_dir()
    assert link.is_symlink() and outside.is_dir()
