"""The arrays of all-MiniLM-L6-v2, read from its safetensors file and laid out for inference.

Only the weights live here, not a forward pass: `memory.minilm_onnx` writes them into an ONNX
graph that onnxruntime runs. Each dense layer's matrix is stored transposed, (in, out) and
contiguous, with query, key and value joined in one (384, 1152) product.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Norm:
    """Layer normalisation's scale and shift, and its epsilon."""

    weight: Vectors
    bias: Vectors
    eps: np.float32


@dataclass(frozen=True)
class Linear:
    """A dense layer: `x @ weight + bias`, with `weight` as (in, out)."""

    weight: Vectors
    bias: Vectors


@dataclass(frozen=True)
class Layer:
    """One encoder layer: attention and its norm, the feed-forward block and its norm."""

    qkv: Linear  # query, key and value in one (384, 1152) product
    attention_out: Linear
    attention_norm: Norm
    ffn_in: Linear
    ffn_out: Linear
    ffn_norm: Norm


@dataclass(frozen=True)
class BertWeights:
    """Embedding tables, their norm, the encoder layers and the attention head count."""

    word: Vectors
    position: Vectors
    token_type: Vectors
    norm: Norm
    layers: tuple[Layer, ...]
    heads: int

    @classmethod
    def from_safetensors(cls, path: Path, config: dict[str, Any]) -> BertWeights:
        """Read a BERT checkpoint (Hugging Face names) and lay its arrays out as above."""
        from safetensors.numpy import load_file

        raw = load_file(str(path))
        eps = np.float32(config["layer_norm_eps"])

        def linear(*prefixes: str) -> Linear:
            weights = [raw[f"{p}.weight"].T for p in prefixes]
            biases = [raw[f"{p}.bias"] for p in prefixes]
            return Linear(
                np.ascontiguousarray(np.concatenate(weights, axis=1)), np.concatenate(biases)
            )

        def norm(prefix: str) -> Norm:
            return Norm(raw[f"{prefix}.LayerNorm.weight"], raw[f"{prefix}.LayerNorm.bias"], eps)

        layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}"
            layers.append(
                Layer(
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
            heads=int(config["num_attention_heads"]),
        )


__all__ = ["BertWeights", "Layer", "Linear", "Norm", "Vectors"]
