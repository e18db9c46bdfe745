"""The few ONNX messages the MiniLM graph needs, written in protobuf's wire format.

An ONNX model is a protocol buffer (`onnx.proto`, whose field numbers its compatibility rules
fix). The `onnx` package writes one too, but importing it costs ~0.6 s of CPU here (it loads
`ml_dtypes`) in a process that builds one small graph once: these ~80 lines write the same
messages — tensors (inline or external), nodes with int and float attributes, typed inputs and
outputs, the graph and the model — and onnxruntime reads them. `tests/unit/test_embeddings.py`
parses the result with `onnx` and runs it against the numpy reference.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FLOAT, INT32, INT64 = 1, 6, 7  # TensorProto.DataType
_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int32): INT32, np.dtype(np.int64): INT64}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_ATTRIBUTE_FLOAT, _ATTRIBUTE_INT = 1, 2  # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: two's complement, ten bytes
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _text(field: int, text: str) -> bytes:
    return _bytes(field, text.encode())


def tensor_type(dtype: npt.DTypeLike) -> int:
    """The ONNX element type of a numpy dtype (float32, int32, int64)."""
    return _TYPES[np.dtype(dtype)]


def inline_tensor(name: str, array: npt.NDArray[Any]) -> bytes:
    """A TensorProto holding `array`'s numbers (little-endian raw data)."""
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return dims + _int(2, tensor_type(array.dtype)) + _text(8, name) + _bytes(9, raw)


def external_tensor(name: str, array: npt.NDArray[Any], location: str) -> bytes:
    """A TensorProto of `array`'s type and shape whose numbers are stored elsewhere."""
    dims = b"".join(_int(1, d) for d in array.shape)
    entry = _text(1, "location") + _text(2, location)
    return (
        dims
        + _int(2, tensor_type(array.dtype))
        + _text(8, name)
        + _bytes(13, entry)
        + _int(14, _EXTERNAL)
    )


def _attribute(name: str, value: float) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"attribute {name}: only int and float values are written, got {value!r}"
        raise TypeError(msg)
    if isinstance(value, int):
        return _text(1, name) + _int(3, value) + _int(20, _ATTRIBUTE_INT)
    return (
        _text(1, name) + _varint(2 << 3 | 5) + struct.pack("<f", value) + _int(20, _ATTRIBUTE_FLOAT)
    )


def node(
    op_type: str, inputs: Sequence[str], outputs: Sequence[str], domain: str = "", **attrs: float
) -> bytes:
    """A NodeProto; its attributes sorted by name, as `onnx.helper.make_node` writes them."""
    out = b"".join(_text(1, i) for i in inputs) + b"".join(_text(2, o) for o in outputs)
    out += _text(4, op_type)
    out += b"".join(_bytes(5, _attribute(k, v)) for k, v in sorted(attrs.items()))
    return out + (_text(7, domain) if domain else b"")


def value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    """A ValueInfoProto: a tensor input or output, each dimension a size or a name."""
    shape = b"".join(_bytes(1, _text(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor = _int(1, elem_type) + _bytes(2, shape)
    return _text(1, name) + _bytes(2, _bytes(1, tensor))


def model(
    nodes: Sequence[bytes],
    name: str,
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    initializers: Sequence[bytes],
    *,
    opsets: Sequence[tuple[str, int]],
    ir_version: int,
) -> bytes:
    """A serialised ModelProto of one graph."""
    graph = b"".join(_bytes(1, n) for n in nodes) + _text(2, name)
    graph += b"".join(_bytes(5, t) for t in initializers)
    graph += b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs)
    imports = b"".join(_bytes(8, _text(1, domain) + _int(2, version)) for domain, version in opsets)
    return _int(1, ir_version) + _bytes(7, graph) + imports


__all__ = [
    "FLOAT",
    "INT32",
    "INT64",
    "external_tensor",
    "inline_tensor",
    "model",
    "node",
    "tensor_type",
    "value_info",
]
