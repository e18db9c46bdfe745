"""Checkpoint cost per superstep on the demo's real state: Redis saver against `InMemorySaver`.

After an in-process demo run (`bench.pipeline.demo_in_process`), its thread's checkpoints are
read back from Redis — the states the run really wrote, findings, plan, analysis and all — and
replayed, oldest first, into a fresh thread of each saver: per superstep, ``aput`` of the
checkpoint with the channels that changed since the one before, then ``aput_writes`` of its
pending writes per task, as the graph's loop does with ``durability="sync"``. Both savers get
the same sequence in the same process, alternating superstep by superstep.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver

from graph.builder import trust_only_our_models
from memory.checkpoint import redis_saver


@dataclass
class Step:
    """One superstep to replay."""

    checkpoint: Any
    metadata: Any
    new_versions: dict[str, Any]
    writes: dict[str, list[tuple[str, Any]]]


async def read_steps(url: str, thread_id: str) -> list[Step]:
    """The thread's checkpoints, oldest first, with what changed and their pending writes."""
    async with redis_saver(url) as saver:
        saver = trust_only_our_models(saver)
        config: Any = {"configurable": {"thread_id": thread_id}}
        tuples: list[CheckpointTuple] = [t async for t in saver.alist(config)]
    tuples.reverse()
    steps, before = [], {}
    for t in tuples:
        versions = t.checkpoint["channel_versions"]
        changed = {k: v for k, v in versions.items() if before.get(k) != v}
        before = dict(versions)
        writes: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in t.pending_writes or []:
            writes.setdefault(task_id, []).append((channel, value))
        steps.append(Step(t.checkpoint, t.metadata, changed, writes))
    return steps


async def _put(saver: BaseCheckpointSaver[Any], config: Any, step: Step) -> tuple[Any, float]:
    started = time.perf_counter()
    config = await saver.aput(config, step.checkpoint, step.metadata, step.new_versions)
    for task_id, writes in step.writes.items():
        await saver.aput_writes(config, writes, task_id)
    return config, (time.perf_counter() - started) * 1000


async def replay(url: str, steps: list[Step], rounds: int = 3) -> dict[str, list[float]]:
    """Per-superstep milliseconds for each saver, `rounds` replays of the whole sequence."""
    out: dict[str, list[float]] = {"redis": [], "memory": []}
    async with redis_saver(url) as redis:
        savers = {"redis": trust_only_our_models(redis), "memory": InMemorySaver()}
        for _ in range(rounds):
            configs: dict[str, Any] = {
                name: {"configurable": {"thread_id": f"replay-{uuid.uuid4().hex[:8]}",
                                        "checkpoint_ns": ""}}
                for name in savers
            }  # fmt: skip
            for step in steps:
                for name, saver in savers.items():
                    configs[name], ms = await _put(saver, configs[name], step)
                    out[name].append(ms)
    return out
