"""Which code-interpreter tier runs a session: probe each jail once, pick the best that works.

"auto" takes the first isolated tier (``AUTO_ORDER``) whose probe starts Python in the exact
layout sessions use; a tier asked for by name must work, or ``SandboxUnavailable`` says what to
install. Each session also gets a fresh unprivileged uid (``pick_uid``).
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from sandbox.optins import UNSANDBOXED_ENV, unsandboxed_allowed
from sandbox.tiers import UID_BASE, UID_SPAN, command_for, python_layout

# The interpreter's logger: tier choice has always logged (and been silenced) under its name.
logger = logging.getLogger("sandbox.interpreter")

KNOWN_TIERS = ("gvisor", "bwrap", "none")
# What "auto" tries, in order; the first tier whose probe passes wins. gVisor first: the code
# never talks to the host kernel. Its sessions with a preload are restored from a snapshot
# (sandbox/snapshot.py), which starts them faster than an unisolated import of pandas +
# matplotlib; what it still costs is syscalls (~60 us each on the ptrace platform, where bwrap's
# are native), e.g. FreeType reading glyphs while charts are drawn. bwrap where runsc cannot run.
AUTO_ORDER = ("gvisor", "bwrap")
_INSTALL_HINT = {
    "bwrap": "install bubblewrap (Debian: `apt-get install bubblewrap`) and allow user namespaces",
    "gvisor": "install gVisor's runsc (Debian: `apt-get install runsc`) and run as root, or use 'bwrap'",
}
_STDERR_TAIL = 4_000


class SandboxUnavailable(RuntimeError):
    """The requested sandbox tier cannot run on this machine."""


def _probe(tier: str) -> bool:
    """True when ``tier`` can start Python here with the exact layout sessions use."""
    if shutil.which("runsc" if tier == "gvisor" else "bwrap") is None:
        return False
    if tier == "gvisor" and os.geteuid() != 0:
        return False  # rootless runsc cannot bind the host's /usr and venv the same way
    uid = pick_uid(tier)
    with tempfile.TemporaryDirectory(prefix="flotilla-probe-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        if uid is not None:
            os.chown(work, uid, uid)
        code = "import os; assert os.getuid() != 0; print('ok')"
        command = [python_layout()[2], "-I", "-c", code]
        launch = command_for(tier, base=Path(tmp), work=work, uid=uid, command=command, tmp_mb=16)
        try:
            done = subprocess.run(
                launch.argv,
                capture_output=True,
                text=True,
                timeout=30,
                env={},
                pass_fds=launch.pass_fds,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        finally:
            launch.close()
    if done.returncode != 0:
        logger.info("sandbox tier %r probe failed: %s", tier, done.stderr[-_STDERR_TAIL:])
    return done.returncode == 0 and done.stdout.strip() == "ok"


@functools.cache
def _works(tier: str) -> bool:
    return _probe(tier)


def available_tiers() -> list[str]:
    """Isolated tiers that work on this machine, in "auto" order (each probed once, cached)."""
    return [tier for tier in AUTO_ORDER if _works(tier)]


def resolve_tier(requested: str) -> str:
    """Map "auto" to the best working isolated tier; refuse unknown or unavailable ones."""
    if requested == "none":
        if not unsandboxed_allowed():
            msg = (
                "sandbox tier 'none' runs code on the host unsandboxed: the operator must allow "
                f"it with {UNSANDBOXED_ENV}=1"
            )
            raise SandboxUnavailable(msg)
        logger.warning(
            "SANDBOX TIER 'none' REQUESTED: code runs as a plain subprocess on this host with "
            "rlimits only - no filesystem, network or process isolation. Use it only for trusted code."
        )
        return "none"
    if requested == "agentcore":
        return "agentcore"  # remote: its credentials and quota are checked where it starts
    if requested == "auto":
        # Probe lazily: the first working tier wins, later ones are never started.
        found = next((tier for tier in AUTO_ORDER if _works(tier)), None)
        if found is not None:
            return found
    elif requested in AUTO_ORDER and _works(requested):
        return requested
    if requested == "auto":
        msg = f"no isolated sandbox tier works on this machine; {_INSTALL_HINT['bwrap']}, or pass tier='none' explicitly for trusted code"
    elif requested in _INSTALL_HINT:
        msg = f"sandbox tier {requested!r} is not available here: {_INSTALL_HINT[requested]}"
    else:
        choices = ["auto", *KNOWN_TIERS, "agentcore"]
        msg = f"unknown sandbox tier {requested!r}; choose one of {choices!r}"
    raise SandboxUnavailable(msg)


def pick_uid(tier: str) -> int | None:
    """A fresh unprivileged uid for one session; None where the tier picks its own.

    RLIMIT_NPROC ignores root, and gVisor writes /work files as it. Rootless bwrap maps to
    65534 itself (None).
    """
    if tier == "none" or (tier == "bwrap" and os.geteuid() != 0):
        return None
    return UID_BASE + 1 + secrets.randbelow(UID_SPAN - 1)
