"""Real ONNX models that misbehave the ways a broken or hostile artifact can: labels
outside their classes, fewer rows than given, and a run slow enough to pass a deadline.

Each starts from a real converted model (or a real graph) and keeps its galgate
signature, so registration accepts it and only the gateway's own checks can stop it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from converters import Conversion, OutputSpec, Signature
from converters.graph import embed_signature


def _rename_output(graph: onnx.GraphProto, name: str, new: str) -> None:
    for node in graph.node:
        node.output[:] = [new if o == name else o for o in node.output]


def tampered_classifier(conversion: Conversion, kind: str) -> bytes:
    """A converted classifier whose label/probability outputs are rewired.

    Args:
        conversion: a real converted classifier (label int64 [N], probabilities [N, C]).
        kind: ``"label_offset"`` (every label is its class + 7: outside the classes),
            ``"label_offset_when_big"`` (the same, only for rows whose first feature
            exceeds 1e6), or ``"first_row_only"`` (answers one row whatever it is given).
    """
    model = onnx.load_from_string(conversion.onnx_bytes)
    graph = model.graph
    signature = conversion.signature
    label, probabilities = signature.label_output, signature.probability_output
    _rename_output(graph, label, "raw_label")
    nodes = []
    constants = {
        "seven": np.array([7], dtype=np.int64),
        "big": np.array([1e6], dtype=np.float32),
        "zero": np.array([0], dtype=np.int64),
        "one": np.array([1], dtype=np.int64),
    }
    if kind == "label_offset":
        nodes.append(helper.make_node("Add", ["raw_label", "seven"], [label]))
    elif kind == "label_offset_when_big":
        nodes += [
            helper.make_node("Gather", [signature.input_name, "zero"], ["first_col"], axis=1),
            helper.make_node("Greater", ["first_col", "big"], ["is_big_2d"]),
            helper.make_node("Cast", ["is_big_2d"], ["big_2d"], to=TensorProto.INT64),
            helper.make_node("Flatten", ["big_2d"], ["big_flat"], axis=0),
            helper.make_node("Squeeze", ["big_flat", "zero"], ["is_big"]),
            helper.make_node("Mul", ["is_big", "seven"], ["offset"]),
            helper.make_node("Add", ["raw_label", "offset"], [label]),
        ]
    elif kind == "first_row_only":
        _rename_output(graph, probabilities, "raw_probabilities")
        nodes += [
            helper.make_node("Slice", ["raw_label", "zero", "one"], [label]),
            helper.make_node("Slice", ["raw_probabilities", "zero", "one"], [probabilities]),
        ]
    else:
        raise ValueError(kind)
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    graph.initializer.extend(
        numpy_helper.from_array(value, name) for name, value in constants.items() if name in used
    )
    return model.SerializeToString()


def slow_regressor(features: tuple[str, ...], iterations: int = 300_000) -> tuple[bytes, Signature]:
    """A regressor that spins ``iterations`` times in an ONNX Loop before answering.

    Its one-row run takes far longer than a real model's, so the gateway runs it in a
    thread, and a caller's deadline passes before it answers.
    """
    n = len(features)
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "tiny"], ["acc_out"]),
        ],
        "spin",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
        initializer=[numpy_helper.from_array(np.array([0.0], dtype=np.float32), "tiny")],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Loop", ["trips", "keep_going", "start"], ["spun"], body=body),
            helper.make_node("MatMul", ["input", "W"], ["product"]),
            helper.make_node("Add", ["product", "spun"], ["variable"]),
        ],
        "slow",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])],
        initializer=[
            numpy_helper.from_array(np.array(iterations, dtype=np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "keep_going"),
            numpy_helper.from_array(np.array([0.0], dtype=np.float32), "start"),
            numpy_helper.from_array(np.ones((n, 1), dtype=np.float32), "W"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    signature = Signature(
        features=tuple(features),
        input_name="input",
        outputs=(OutputSpec("variable", "float32", (None, 1)),),
        task="regression",
        class_labels=(),
        label_output=None,
        probability_output=None,
        value_output="variable",
    )
    embed_signature(model, signature)
    return model.SerializeToString(), signature
