"""Code-interpreter numbers `bench.startup.sandbox` does not take: the warm pool, per tier.

Cold starts per tier (and the isolated/none ratio) come from ``bench.startup.sandbox``; this adds
warm-pool acquire → first result of ``print(1)``. Runs alone as
``.venv/bin/python -m bench.sandbox_bench [--repeats N]``; ``warm_pool()`` is the entry point
for ``bench.run``'s RUNNERS table.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from bench.report import Result, markdown
from sandbox.pool import SessionPool
from sandbox.tier_choice import available_tiers

WARM_TARGET = "issue target: p50 ≤ 50 ms"


async def _ready(pool: SessionPool) -> None:
    # Time only the hand-out: wait (untimed) until the refill has a session waiting.
    while pool._ready.empty():  # noqa: ASYNC110 - the pool exposes no event for this
        await asyncio.sleep(0.02)


async def _warm_samples(tier: str, repeats: int) -> list[float]:
    samples = []
    async with SessionPool(tier, size=1) as pool:
        for _ in range(repeats):
            await _ready(pool)
            started = time.perf_counter()
            async with pool.session() as session:
                result = await session.execute("print(1)")
                samples.append(time.perf_counter() - started)
            if result.stdout != "1\n":
                msg = (
                    f"pooled {tier!r} session answered {result.stdout!r} / {result.error_message!r}"
                )
                raise RuntimeError(msg)
    return samples


async def warm_pool(*, repeats: int) -> list[Result]:
    """Warm-pool acquire → first result of `print(1)`, per tier (pandas + pyplot preloaded)."""
    logging.getLogger("sandbox.interpreter").setLevel(logging.ERROR)  # 'none' warns on purpose
    results = []
    for tier in [*await asyncio.to_thread(available_tiers), "none"]:
        r = Result(
            "sandbox",
            f"{tier}: warm pool acquire → print(1)",
            "s",
            anchor=WARM_TARGET,
            key=f"pool.{tier}",
        )
        r.samples = await _warm_samples(tier, repeats)
        results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    """Print the warm-pool table."""
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args(argv)
    print(markdown(asyncio.run(warm_pool(repeats=args.repeats))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
