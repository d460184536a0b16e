"""Small hand-built ONNX graphs for fuzzing: plain regressors of any width and hostile
classifiers whose label output the caller controls through its inputs."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from converters.signature import SIGNATURE_KEY, OutputSpec, Signature

_OPSET = 17
_IR_VERSION = 8


def _model(graph: onnx.GraphProto, signature: Signature | None = None) -> bytes:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION
    )
    if signature is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = SIGNATURE_KEY, signature.to_json()
    return model.SerializeToString()


def linear_regressor(width: int, *, input_name: str = "input", doc: str = "") -> bytes:
    """``y = x @ w + b`` with ``width`` features: a valid galgate regressor (inferred signature).

    Args:
        width: number of input features.
        input_name: the graph input's name.
        doc: a doc_string put on the graph (hostile uploads make it huge).
    """
    w = numpy_helper.from_array(np.full((width, 1), 0.5, dtype=np.float32), "w")
    b = numpy_helper.from_array(np.array([0.25], dtype=np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", [input_name, "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["variable"]),
        ],
        "linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        initializer=[w, b],
        doc_string=doc,
    )
    return _model(graph)


ECHO_FEATURES = ("label_in", "p1", "p2")
# Inputs with |x0| above this make the echo classifier answer label x0 -/+ TRIGGER; below
# it the label is 0. The gateway's load probe (zeros, ones, noise up to a scale of 1000)
# never reaches it: a backdoor that only a hostile caller knows how to open.
TRIGGER = 100_000.0


def trigger_value(label: float) -> float:
    """The first feature that makes an echo classifier answer ``label`` (0 for 0).

    >>> trigger_value(3.0), trigger_value(-1.0), trigger_value(0.0)
    (100003.0, -100001.0, 0.0)
    """
    if label == 0:
        return 0.0
    return math.copysign(TRIGGER + abs(label), label)


def echo_classifier(class_labels: tuple[int | str, ...] | None = None) -> bytes:
    """A 3-class "classifier" that passes the gateway's load probe (label 0) but, past
    the trigger, answers ``int64(x0 - TRIGGER * sign(x0))`` as its label, and always ``x``
    itself as its probabilities: a hostile model answering whatever label the caller asks.

    Args:
        class_labels: None for the inferred signature (labels 0..2, identity mapping);
            otherwise the class labels embedded as the model's galgate signature (ints
            other than 0..2 or strings).
    """
    constants = [
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array(TRIGGER, dtype=np.float32), "trigger"),
        numpy_helper.from_array(np.zeros(1, dtype=np.int64), "no_label"),
    ]
    nodes = [
        helper.make_node("Gather", ["input", "zero"], ["first"], axis=1),
        helper.make_node("Abs", ["first"], ["size"]),
        helper.make_node("Greater", ["size", "trigger"], ["open"]),
        helper.make_node("Sign", ["first"], ["sign"]),
        helper.make_node("Mul", ["sign", "trigger"], ["offset"]),
        helper.make_node("Sub", ["first", "offset"], ["asked"]),
        helper.make_node("Cast", ["asked"], ["asked_label"], to=TensorProto.INT64),
        helper.make_node("Where", ["open", "asked_label", "no_label"], ["label"]),
        helper.make_node("Identity", ["input"], ["probabilities"]),
    ]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3]),
    ]
    graph = helper.make_graph(
        nodes,
        "echo",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3])],
        outputs,
        initializer=constants,
    )
    signature = None
    if class_labels is not None:
        signature = Signature(
            features=ECHO_FEATURES,
            input_name="input",
            outputs=(
                OutputSpec("label", "int64", (None,)),
                OutputSpec("probabilities", "float32", (None, 3)),
            ),
            task="classification",
            class_labels=class_labels,
            label_output="label",
            probability_output="probabilities",
            value_output=None,
        )
    return _model(graph, signature)
