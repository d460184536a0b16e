"""Vet untrusted ONNX bytes before registration and open onnxruntime sessions the gateway way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import onnx
import onnxruntime
from google.protobuf.message import DecodeError
from onnx import TensorProto

from converters.errors import InvalidOnnxError
from converters.interface import check_expected, read_interface, read_signature
from converters.signature import Signature

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def load_session(data: bytes) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session tuned for a small shared machine.

    One intra-op and one inter-op thread, sequential execution and no spin-waiting:
    the gateway runs many sessions side by side on 2 cores, and spinning threads
    would burn the core the event loop needs.

    Args:
        data: serialized ONNX model (vetted with ``validate_onnx`` beforehand).

    Returns:
        The session; raises InvalidOnnxError when onnxruntime refuses the model.
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(
            bytes(data), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own, unexported exception types
        raise InvalidOnnxError(f"onnxruntime cannot load the model: {exc}") from exc


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[TensorProto]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        for sparse in (attr.sparse_tensor, *attr.sparse_tensors):
            yield sparse.values
            yield sparse.indices
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for sub in attr.graphs:
            yield from _graph_tensors(sub)


def _reject_external_data(model: onnx.ModelProto) -> None:
    tensors = [_graph_tensors(model.graph)]
    tensors.extend(_node_tensors(node) for fn in model.functions for node in fn.node)
    for source in tensors:
        for tensor in source:
            if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
                location = next((e.value for e in tensor.external_data if e.key == "location"), "")
                raise InvalidOnnxError(
                    f"tensor {tensor.name!r} refers to external data (location {location!r}); "
                    "only self-contained ONNX models are accepted"
                )


def _parse(data: bytes, max_bytes: int) -> onnx.ModelProto:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidOnnxError(f"ONNX model must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise InvalidOnnxError(
            f"ONNX model is {len(data)} bytes; the size cap is {max_bytes} bytes"
        )
    model = onnx.ModelProto()
    try:
        model.ParseFromString(bytes(data))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InvalidOnnxError(
            f"bytes are not an ONNX model (protobuf parse failed: {exc})"
        ) from None
    if not model.HasField("graph") or not model.opset_import:
        raise InvalidOnnxError("bytes are not an ONNX model (no graph or no opset import)")
    return model


def validate_onnx(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    expected: Signature | None = None,
    feature_names: Sequence[str] | None = None,
) -> Signature:
    """Vet ONNX bytes from anywhere before they can be registered or served.

    Checks, in order: size cap, protobuf parse, no external data anywhere (initializers,
    attribute tensors, subgraphs, functions), an interface within ``converters.limits``
    (exactly one float32 input [N, n_features] with a fixed width of at most
    ``MAX_FEATURES``, at most ``MAX_OUTPUTS`` tensor outputs, names of at most
    ``MAX_NAME_CHARS``), ``onnx.checker.check_model(full_check=True)``, loading in
    onnxruntime, and a signature within the limits (at most ``MAX_CLASSES`` classes,
    ``MAX_SIGNATURE_CHARS`` of JSON).

    Args:
        data: the serialized model.
        max_bytes: size cap; larger inputs are refused before parsing.
        expected: when given, the input width and outputs must equal its.
        feature_names: names for an inferred signature (default ``f0..f{n-1}``); when the
            model embeds a signature they must equal its features.

    Returns:
        The signature embedded under metadata ``galgate.signature`` (checked against the
        graph) or else the one inferred from the outputs: int64 label + float32 [N, C] is
        classification with labels ``0..C-1``; one float32 output is regression.

    Raises:
        InvalidOnnxError: saying which check failed and what was expected.
    """
    model = _parse(data, max_bytes)
    _reject_external_data(model)
    # the interface is read before the checker and onnxruntime see a model it inflates
    interface = read_interface(model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # checker raises ValidationError, InferenceError, ...
        raise InvalidOnnxError(f"onnx checker rejected the model: {exc}") from None
    load_session(bytes(data))
    signature = read_signature(model, interface, feature_names)
    if expected is not None:
        check_expected(signature, expected)
    return signature
