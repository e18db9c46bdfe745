"""all-MiniLM-L6-v2's forward pass in plain numpy: the tests' reference for the ONNX graph.

`MiniLM(encoder=NumpyEncoder)` embeds with it; the run-time path is onnxruntime
(`memory.minilm_onnx`). Written from the BERT paper and sentence-transformers' pooling, on the
same arrays (`memory.minilm_weights`), so the two must agree to float32 rounding.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from memory.minilm_weights import BertWeights, Linear, Norm, Vectors

# erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32's resolution here):
# BERT's GELU is the exact erf form and numpy has no erf.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736))
_ERF_A_LAST = np.float32(0.254829592)
_SQRT_HALF = np.float32(1 / math.sqrt(2))


def gelu(x: Vectors) -> Vectors:
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


def _norm(norm: Norm, x: Vectors) -> Vectors:
    """Layer normalisation over the last axis, in place on `x`."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[-1])
    var += norm.eps
    np.sqrt(var, out=var)
    x /= var
    x *= norm.weight
    x += norm.bias
    return x


def _linear(linear: Linear, x: Vectors) -> Vectors:
    out: Vectors = x @ linear.weight
    out += linear.bias
    return out


class NumpyEncoder:
    """BERT's encoder and mean pooling over `BertWeights`, on one BLAS thread."""

    runtime = "numpy"

    def __init__(self, weights: BertWeights) -> None:
        """Run on `weights`."""
        self.weights = weights
        self._threads = ThreadpoolController()

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        """Token states after the last layer, averaged over the unpadded tokens."""
        with self._threads.limit(limits=1, user_api="blas"):
            return self._mean_pooled(ids, mask)

    def _mean_pooled(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        w = self.weights
        batch, length = ids.shape
        hidden = w.word.shape[1]
        size = hidden // w.heads
        # Rows are tokens (batch × length): every product is one 2-D matmul.
        x = (w.word[ids] + w.position[:length] + w.token_type[0]).reshape(-1, hidden)
        x = _norm(w.norm, x)
        # Padding keys get a large negative score: no attention flows to them.
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1 / math.sqrt(size))
        for layer in w.layers:
            qkv = _linear(layer.qkv, x).reshape(batch, length, 3, w.heads, size)
            q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # each (batch, heads, length, size)
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(-1, hidden)
            attended = _linear(layer.attention_out, context)
            attended += x
            x = _norm(layer.attention_norm, attended)
            out = _linear(layer.ffn_out, gelu(_linear(layer.ffn_in, x)))
            out += x
            x = _norm(layer.ffn_norm, out)
        states = x.reshape(batch, length, hidden)
        summed = np.einsum("blh,bl->bh", states, mask)
        pooled: Vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        return pooled
