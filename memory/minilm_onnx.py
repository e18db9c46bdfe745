"""The MiniLM encoder as an ONNX graph, run by onnxruntime.

This module writes all-MiniLM-L6-v2's encoder out as an ONNX graph (opset 17 and onnxruntime's
fused BERT operators) from the arrays `memory.minilm_weights` reads, which onnxruntime then
reads in place (no second copy): one source of truth for the weights (the checked safetensors
file). onnxruntime spends ~8 ms on a short question here; the same model in numpy (kept as the
tests' reference, tests/minilm_numpy.py) ~16 ms, and the two agree to ~3e-7. Nothing is
downloaded or cached on disk. The graph's messages are written by `memory.onnx_proto`, not the
`onnx` package (whose import costs more than the rest of the load).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from memory import onnx_proto as proto
from memory.minilm_weights import BertWeights, Linear, Norm, Vectors

_OPSET = 17  # LayerNormalization
_MS = "com.microsoft"  # onnxruntime's own operators
# Initializers with more numbers than this are handed to onnxruntime as the numpy arrays
# themselves (`add_external_initializers`): no 90 MB serialised copy of the weights (~0.5 s).
_INLINE = 16


class _GraphBuilder:
    """Nodes and initializers of one graph; each `op` returns its output's name."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self.external: dict[str, npt.NDArray[Any]] = {}
        self._count = 0

    def const(self, name: str, value: npt.ArrayLike) -> str:
        """An initializer; arrays beyond a few numbers stay numpy arrays outside the graph."""
        array = np.asarray(value)
        if array.size <= _INLINE:
            self.initializers.append(proto.inline_tensor(name, array))
            return name
        self.initializers.append(proto.external_tensor(name, array, "flotilla-memory"))
        self.external[name] = np.ascontiguousarray(array)
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", **attributes: float) -> str:
        """A node of `op_type` on `inputs`; returns its output's name."""
        self._count += 1
        output = f"t{self._count}"
        self.nodes.append(proto.node(op_type, inputs, [output], domain, **attributes))
        return output

    def norm(self, x: str, norm: Norm, prefix: str) -> str:
        """Layer normalisation of `x`."""
        weight = self.const(f"{prefix}.weight", norm.weight)
        bias = self.const(f"{prefix}.bias", norm.bias)
        return self.op("LayerNormalization", x, weight, bias, axis=-1, epsilon=float(norm.eps))

    def skip_norm(self, x: str, skip: str, linear: Linear, norm: Norm, prefix: str) -> str:
        """norm(x @ weight + bias + skip): a dense layer, the residual and layer norm in one."""
        product = self.op("MatMul", x, self.const(f"{prefix}.weight", linear.weight))
        return self.op(
            "SkipLayerNormalization",
            product,
            skip,
            self.const(f"{prefix}.norm.weight", norm.weight),
            self.const(f"{prefix}.norm.bias", norm.bias),
            self.const(f"{prefix}.bias", linear.bias),
            domain=_MS,
            epsilon=float(norm.eps),
        )


def encoder_graph(bert: BertWeights) -> tuple[bytes, dict[str, npt.NDArray[Any]]]:
    """A serialised ONNX model: (ids, positions, mask) → mean-pooled token states (batch, 384).

    Returned with its external initializers: name → array, to pass to the session. Inputs:
    `ids` int64 (batch, length), `positions` int64 (length,) = 0..length-1, `mask` float32
    (batch, length) with 1 for real tokens. The layers mirror BERT's, written with
    onnxruntime's fused BERT operators (com.microsoft `Attention`, `SkipLayerNormalization`,
    `BiasGelu`: exact erf GELU), ~10% faster than the same graph in standard operators.
    """
    g = _GraphBuilder()
    hidden = int(bert.word.shape[1])
    embedded = g.op(
        "Add",
        g.op("Gather", g.const("word", bert.word), "ids"),
        g.op("Gather", g.const("position", bert.position), "positions"),
    )
    x = g.norm(g.op("Add", embedded, g.const("token_type", bert.token_type[0])), bert.norm, "emb")
    # Attention's 2-D mask: padding keys get no attention.
    keys = g.op("Cast", "mask", to=proto.INT32)
    for i, layer in enumerate(bert.layers):
        p = f"layer{i}"
        qkv = layer.qkv
        attended = g.op(
            "Attention",
            x,
            g.const(f"{p}.qkv.weight", qkv.weight),
            g.const(f"{p}.qkv.bias", qkv.bias),
            keys,
            domain=_MS,
            num_heads=bert.heads,
        )
        x = g.skip_norm(attended, x, layer.attention_out, layer.attention_norm, f"{p}.attention")
        inner = g.op("MatMul", x, g.const(f"{p}.ffn_in.weight", layer.ffn_in.weight))
        gelu = g.op("BiasGelu", inner, g.const(f"{p}.ffn_in.bias", layer.ffn_in.bias), domain=_MS)
        x = g.skip_norm(gelu, x, layer.ffn_out, layer.ffn_norm, f"{p}.ffn")
    mask3 = g.op("Unsqueeze", "mask", g.const("last", np.array([-1])))
    rows = g.const("rows", np.array([1]))
    summed = g.op("ReduceSum", g.op("Mul", x, mask3), rows, keepdims=0)
    tiny = g.const("tiny", np.float32(1e-9))
    count = g.op("Max", g.op("ReduceSum", "mask", rows, keepdims=1), tiny)
    g.nodes.append(proto.node("Div", [summed, count], ["pooled"]))
    serialised = proto.model(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            proto.value_info("ids", proto.INT64, ["batch", "length"]),
            proto.value_info("positions", proto.INT64, ["length"]),
            proto.value_info("mask", proto.FLOAT, ["batch", "length"]),
        ],
        [proto.value_info("pooled", proto.FLOAT, ["batch", hidden])],
        g.initializers,
        opsets=[("", _OPSET), (_MS, 1)],
        ir_version=8,  # what onnxruntime releases since 1.14 read
    )
    return serialised, g.external


class OnnxEncoder:
    """Mean-pooled token states on onnxruntime, one intra-op thread, no spinning threads.

    One thread: on 2 busy cores, threads waiting for each other cost more than the small
    products gain (numpy's BLAS made one sentence 13x slower that way at load 7).
    """

    runtime = "onnxruntime"

    def __init__(self, bert: BertWeights) -> None:
        """Build the graph from `bert` and open an onnxruntime session on it."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No arena or shape-keyed plans: a batch of long claims (remember) would keep ~200 MB.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        options.log_severity_level = 3  # warnings about the host's CPU are not the user's concern
        graph, weights = encoder_graph(bert)
        values = [onnxruntime.OrtValue.ortvalue_from_numpy(a) for a in weights.values()]
        options.add_external_initializers(list(weights), values)
        # The session reads the arrays in place: they (held by their OrtValues) must outlive it.
        self._values = values
        self._session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        """Token states after the last layer, averaged over the unpadded tokens (mask 1)."""
        feed = {"ids": ids, "positions": np.arange(ids.shape[1], dtype=np.int64), "mask": mask}
        (pooled,) = self._session.run(["pooled"], feed)
        result: Vectors = pooled
        return result
