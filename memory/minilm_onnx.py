"""The MiniLM encoder as an ONNX graph, run by onnxruntime: the same weights, half the time.

`memory.embeddings` runs all-MiniLM-L6-v2 in numpy; numpy's BLAS spends ~16 ms on a short
question here (small row counts are its weak spot), onnxruntime ~8 ms for the same products.
This module writes the encoder out as a graph of standard ONNX operators (opset 17) from the
numpy model's own arrays, which onnxruntime then reads in place (no second copy), so there is one
source of truth for the weights (the checked safetensors file) and the two runtimes agree to
~3e-7. Nothing is downloaded or cached on disk.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from memory.embeddings import Vectors, _Bert, _Linear, _Norm

_OPSET = 17  # LayerNormalization
# Initializers with more numbers than this are handed to onnxruntime as the numpy arrays
# themselves (`add_external_initializers`): no 90 MB serialised copy of the weights (~0.5 s).
_INLINE = 16


class _GraphBuilder:
    """Nodes and initializers of one graph; each `op` returns its output's name."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.external: dict[str, npt.NDArray[Any]] = {}
        self._count = 0

    def const(self, name: str, value: npt.ArrayLike) -> str:
        """An initializer; arrays beyond a few numbers stay numpy arrays outside the graph."""
        from onnx import TensorProto, helper, numpy_helper

        array = np.asarray(value)
        if array.size <= _INLINE:
            self.initializers.append(numpy_helper.from_array(array, name))
            return name
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
        tensor.dims.extend(array.shape)
        tensor.data_location = TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value="flotilla-memory")
        self.initializers.append(tensor)
        self.external[name] = np.ascontiguousarray(array)
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        from onnx import helper

        self._count += 1
        output = f"t{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def norm(self, x: str, norm: _Norm, prefix: str) -> str:
        weight = self.const(f"{prefix}.weight", norm.weight)
        bias = self.const(f"{prefix}.bias", norm.bias)
        return self.op("LayerNormalization", x, weight, bias, axis=-1, epsilon=float(norm.eps))

    def linear(self, x: str, linear: _Linear, prefix: str) -> str:
        product = self.op("MatMul", x, self.const(f"{prefix}.weight", linear.weight))
        return self.op("Add", product, self.const(f"{prefix}.bias", linear.bias))


def encoder_graph(bert: _Bert) -> tuple[bytes, dict[str, npt.NDArray[Any]]]:
    """A serialised ONNX model: (ids, positions, mask) → mean-pooled token states (batch, 384).

    Returned with its external initializers: name → array, to pass to the session.

    Inputs: `ids` int64 (batch, length), `positions` int64 (length,) = 0..length-1, `mask`
    float32 (batch, length) with 1 for real tokens. The layers mirror `_Bert.mean_pooled`.
    """
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    hidden = int(bert.word.shape[1])
    size = hidden // bert.heads
    one = g.const("one", np.float32(1))
    embedded = g.op(
        "Add",
        g.op("Gather", g.const("word", bert.word), "ids"),
        g.op("Gather", g.const("position", bert.position), "positions"),
    )
    x = g.norm(g.op("Add", embedded, g.const("token_type", bert.token_type[0])), bert.norm, "emb")
    # Padding keys get a large negative score: no attention flows to them.
    key_bias = g.op("Mul", g.op("Sub", one, "mask"), g.const("minus_inf", np.float32(-1e9)))
    key_bias = g.op("Unsqueeze", key_bias, g.const("heads_and_rows", np.array([1, 2])))
    split_heads = g.const("split_heads", np.array([0, 0, 3, bert.heads, size]))
    join_heads = g.const("join_heads", np.array([0, 0, hidden]))
    scale = g.const("scale", np.float32(1 / math.sqrt(size)))
    half = g.const("half", np.float32(0.5))
    inv_sqrt2 = g.const("inv_sqrt2", np.float32(1 / math.sqrt(2)))
    for i, layer in enumerate(bert.layers):
        p = f"layer{i}"
        qkv = g.op("Reshape", g.linear(x, layer.qkv, f"{p}.qkv"), split_heads)
        qkv = g.op("Transpose", qkv, perm=[2, 0, 3, 1, 4])  # (3, batch, heads, length, size)
        q, k, v = (
            g.op("Gather", qkv, g.const(f"{p}.part{j}", np.int64(j)), axis=0) for j in range(3)
        )
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        weights = g.op("Softmax", g.op("Add", scores, key_bias), axis=-1)
        context = g.op("Transpose", g.op("MatMul", weights, v), perm=[0, 2, 1, 3])
        attended = g.linear(g.op("Reshape", context, join_heads), layer.attention_out, f"{p}.out")
        x = g.norm(g.op("Add", attended, x), layer.attention_norm, f"{p}.attention_norm")
        inner = g.linear(x, layer.ffn_in, f"{p}.ffn_in")
        erf = g.op("Erf", g.op("Mul", inner, inv_sqrt2))
        gelu = g.op("Mul", g.op("Mul", inner, half), g.op("Add", erf, one))
        out = g.op("Add", g.linear(gelu, layer.ffn_out, f"{p}.ffn_out"), x)
        x = g.norm(out, layer.ffn_norm, f"{p}.ffn_norm")
    mask3 = g.op("Unsqueeze", "mask", g.const("last", np.array([-1])))
    rows = g.const("rows", np.array([1]))
    summed = g.op("ReduceSum", g.op("Mul", x, mask3), rows, keepdims=0)
    count = g.op(
        "Max", g.op("ReduceSum", "mask", rows, keepdims=1), g.const("tiny", np.float32(1e-9))
    )
    g.nodes.append(helper.make_node("Div", [summed, count], ["pooled"]))
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8  # what onnxruntime releases since 1.14 read
    serialised: bytes = model.SerializeToString()
    return serialised, g.external


class OnnxEncoder:
    """`_Bert.mean_pooled` on onnxruntime, one intra-op thread, no spinning threads.

    One thread for the same reason as the numpy path's one BLAS thread: on 2 busy cores,
    threads waiting for each other cost more than the small products gain.
    """

    runtime = "onnxruntime"

    def __init__(self, bert: _Bert) -> None:
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
        # The session reads the arrays in place: they must outlive it.
        self._weights = weights
        values = [onnxruntime.OrtValue.ortvalue_from_numpy(a) for a in weights.values()]
        options.add_external_initializers(list(weights), values)
        self._values = values
        self._session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        feed = {"ids": ids, "positions": np.arange(ids.shape[1], dtype=np.int64), "mask": mask}
        (pooled,) = self._session.run(["pooled"], feed)
        result: Vectors = pooled
        return result
