"""Start -> first command latency of the Deep Agents backend, per tier (numbers, no assertions).

    .venv/bin/python -m bench.deepagents_start [runs]

Each run constructs a ``FlotillaSandbox`` and runs ``echo ok`` in it; gVisor is measured booting
and restored from a snapshot that preloaded pandas (the image is built before timing starts).
"""

from __future__ import annotations

import statistics
import sys
import time

from integrations.deepagents.backend import FlotillaSandbox
from sandbox.tier_choice import available_tiers


def start_to_first_command(tier: str, preload: tuple[str, ...]) -> float:
    """Seconds from construction to the first command's answer."""
    started = time.perf_counter()
    with FlotillaSandbox(tier, preload=preload) as sandbox:
        assert sandbox.execute("echo ok").output == "ok\n"
        return time.perf_counter() - started


def main(runs: int = 5) -> None:
    """Print the median and range per tier."""
    cases = [(t, ()) for t in available_tiers()]
    if "gvisor" in available_tiers():
        cases.append(("gvisor", ("pandas",)))
    for tier, preload in cases:
        start_to_first_command(tier, preload)  # warm: caches, snapshot image
        times = [start_to_first_command(tier, preload) for _ in range(runs)]
        label = f"{tier} (snapshot, preload pandas)" if preload else tier
        print(
            f"{label:32} median {statistics.median(times) * 1000:6.0f} ms"
            f"  min {min(times) * 1000:6.0f}  max {max(times) * 1000:6.0f}  (n={runs})"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
