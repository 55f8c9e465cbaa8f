"""Write an MLP actor as an ONNX model: a small protobuf encoder for the few messages an MLP needs.

torch.onnx needs the ``onnx`` package (and ``onnxscript`` for its default exporter), which rtopt does not
depend on; an MLP is a chain of MatMul, Add and activations, so writing the protobuf directly is short and
exact. Field numbers are those of ``onnx/onnx.proto`` (IR version 8, opset 17); ONNX Runtime loading the
result and matching the torch actor is the test of this encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IR_VERSION = 8
OPSET = 17
_FLOAT = 1  # TensorProto.DataType.FLOAT
_VARINT, _LENGTH = 0, 2


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields encode negatives as ten-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _int(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint(value)


def _bytes(field: int, payload: bytes) -> bytes:
    return _key(field, _LENGTH) + _varint(len(payload)) + payload


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode())


def tensor(name: str, values: npt.NDArray[np.float32]) -> bytes:
    """TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian float32)."""
    array = np.ascontiguousarray(values, dtype="<f4")
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, _FLOAT) + _str(8, name) + _bytes(9, array.tobytes())


def _value_info(name: str, width: int) -> bytes:
    """ValueInfoProto of a float tensor shaped ``[batch, width]`` (TypeProto.Tensor and TensorShapeProto)."""
    batch = _bytes(1, _str(2, "batch"))  # Dimension.dim_param = 2
    fixed = _bytes(1, _int(1, width))  # Dimension.dim_value = 1
    tensor_type = _int(1, _FLOAT) + _bytes(2, batch + fixed)  # elem_type = 1, shape = 2
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))  # name = 1, type = 2 (tensor_type = 1)


def node(op_type: str, inputs: Sequence[str], output: str) -> bytes:
    """NodeProto without attributes: input = 1, output = 2, name = 3, op_type = 4."""
    return b"".join(_str(1, i) for i in inputs) + _str(2, output) + _str(3, output) + _str(4, op_type)


class _Graph:
    """Accumulates nodes and initializers, naming each intermediate after its step."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self.count = 0

    def constant(self, name: str, values: npt.NDArray[np.float32]) -> str:
        self.initializers.append(tensor(name, values))
        return name

    def op(self, op_type: str, *inputs: str) -> str:
        self.count += 1
        output = f"{op_type.lower()}_{self.count}"
        self.nodes.append(node(op_type, inputs, output))
        return output


def mlp_model(
    weights: Sequence[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
    *,
    activation: str,
    output: str,
    action_low: npt.NDArray[np.float32],
    action_high: npt.NDArray[np.float32],
) -> bytes:
    """Serialized ModelProto of the actor: input ``obs`` [batch, in], output ``action`` [batch, out].

    ``weights`` are torch-layout ``(out, in)`` matrices with biases; ``output`` is ``tanh_rescale``
    (``low + 0.5 (tanh(x) + 1) (high - low)``, SB3's ``unscale_action``) or ``clip`` (to ``[low, high]``).
    """
    graph = _Graph()
    x = "obs"
    for k, (weight, bias) in enumerate(weights):
        x = graph.op("MatMul", x, graph.constant(f"w{k}", np.ascontiguousarray(weight.T)))
        x = graph.op("Add", x, graph.constant(f"b{k}", bias))
        if k < len(weights) - 1:
            x = graph.op({"relu": "Relu", "tanh": "Tanh"}[activation], x)
    low, high = action_low.astype(np.float32), action_high.astype(np.float32)
    if output == "tanh_rescale":
        x = graph.op("Tanh", x)
        x = graph.op("Add", x, graph.constant("one", np.ones(1, np.float32)))
        x = graph.op("Mul", graph.constant("half", np.full(1, 0.5, np.float32)), x)
        x = graph.op("Mul", x, graph.constant("range", high - low))
        x = graph.op("Add", graph.constant("low", low), x)
    else:
        x = graph.op("Max", x, graph.constant("low", low))
        x = graph.op("Min", x, graph.constant("high", high))
    graph.nodes.append(node("Identity", [x], "action"))
    in_width, out_width = int(weights[0][0].shape[1]), int(weights[-1][0].shape[0])
    body = (
        b"".join(_bytes(1, n) for n in graph.nodes)
        + _str(2, "rtopt_actor")
        + b"".join(_bytes(5, t) for t in graph.initializers)
        + _bytes(11, _value_info("obs", in_width))
        + _bytes(12, _value_info("action", out_width))
    )
    opset = _str(1, "") + _int(2, OPSET)
    return _int(1, IR_VERSION) + _str(2, "rtopt") + _bytes(7, body) + _bytes(8, opset)
