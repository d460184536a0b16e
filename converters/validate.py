"""Vet untrusted ONNX bytes before registration and open onnxruntime sessions the gateway way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import onnx
import onnxruntime
from google.protobuf.message import DecodeError
from onnx import TensorProto

from converters.errors import ConversionError, InvalidOnnxError
from converters.graph import embedded_signature_json, graph_inputs, value_spec
from converters.signature import SIGNATURE_KEY, OutputSpec, Signature

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


def _input(model: onnx.ModelProto) -> tuple[str, int]:
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise InvalidOnnxError(
            f"model has {len(inputs)} inputs {[v.name for v in inputs]}; expected exactly one "
            "float32 input of shape [N, n_features]"
        )
    spec = value_spec(inputs[0])
    if spec is None or spec.dtype != "float32" or len(spec.shape) != 2 or not spec.shape[1]:
        found = f"{spec.dtype} {list(spec.shape)}" if spec else "a non-tensor"
        raise InvalidOnnxError(
            f"input {inputs[0].name!r} is {found}; expected float32 [N, n_features] with a "
            "fixed n_features"
        )
    return spec.name, int(spec.shape[1])  # type: ignore[arg-type]


def _outputs(model: onnx.ModelProto) -> tuple[OutputSpec, ...]:
    specs = []
    for value in model.graph.output:
        spec = value_spec(value)
        if spec is None:
            raise InvalidOnnxError(
                f"output {value.name!r} is not a tensor (a ZipMap or sequence?); expected "
                "plain tensors (convert classifiers with zipmap=False)"
            )
        specs.append(spec)
    return tuple(specs)


def _features(feature_names: Sequence[str] | None, width: int) -> tuple[str, ...]:
    if feature_names is None:
        return tuple(f"f{i}" for i in range(width))
    names = tuple(str(n) for n in feature_names)
    if len(names) != width:
        raise InvalidOnnxError(
            f"model input has {width} features but {len(names)} feature names were given"
        )
    return names


def _infer(
    input_name: str, width: int, outputs: tuple[OutputSpec, ...], names: tuple[str, ...]
) -> Signature:
    described = [f"{o.name}: {o.dtype} {list(o.shape)}" for o in outputs]
    if len(outputs) == 2:
        labels = [o for o in outputs if o.dtype == "int64" and len(o.shape) in (1, 2)]
        probas = [o for o in outputs if o.dtype == "float32" and len(o.shape) == 2 and o.shape[1]]
        if len(labels) == 1 and len(probas) == 1:
            n_classes = int(probas[0].shape[1])  # type: ignore[arg-type]
            return Signature(
                names, input_name, outputs, "classification", tuple(range(n_classes)),
                labels[0].name, probas[0].name, None,
            )  # fmt: skip
    if (
        len(outputs) == 1
        and outputs[0].dtype == "float32"
        and len(outputs[0].shape) in (1, 2)
        and outputs[0].shape[1:] in ((), (1,))
    ):
        return Signature(names, input_name, outputs, "regression", (), None, None, outputs[0].name)
    raise InvalidOnnxError(
        f"cannot infer the task from outputs {described}; expected int64 label [N] plus "
        "float32 probabilities [N, C] (classification) or one float32 [N, 1] (regression)"
    )


def _embedded(text: str, input_name: str, width: int, outputs: tuple[OutputSpec, ...]) -> Signature:
    try:
        signature = Signature.from_json(text)
    except ConversionError as exc:
        raise InvalidOnnxError(f"metadata {SIGNATURE_KEY!r} is invalid: {exc}") from None
    problems = []
    if signature.input_name != input_name:
        problems.append(f"input name {signature.input_name!r} vs graph {input_name!r}")
    if signature.n_features != width:
        problems.append(f"{signature.n_features} features vs graph input width {width}")
    if signature.outputs != outputs:
        problems.append(f"outputs {_show(signature.outputs)} vs graph {_show(outputs)}")
    if problems:
        raise InvalidOnnxError(
            f"metadata {SIGNATURE_KEY!r} disagrees with the graph: " + "; ".join(problems)
        )
    return signature


def _show(outputs: Sequence[OutputSpec]) -> str:
    return "[" + ", ".join(f"{o.name}: {o.dtype} {list(o.shape)}" for o in outputs) + "]"


def validate_onnx(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    expected: Signature | None = None,
    feature_names: Sequence[str] | None = None,
) -> Signature:
    """Vet ONNX bytes from anywhere before they can be registered or served.

    Checks, in order: size cap, protobuf parse, no external data anywhere (initializers,
    attribute tensors, subgraphs, functions), ``onnx.checker.check_model(full_check=True)``,
    loading in onnxruntime, exactly one float32 input [N, n_features] with a fixed width.

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
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # checker raises ValidationError, InferenceError, ...
        raise InvalidOnnxError(f"onnx checker rejected the model: {exc}") from None
    load_session(bytes(data))
    input_name, width = _input(model)
    outputs = _outputs(model)
    text = embedded_signature_json(model)
    if text is not None:
        signature = _embedded(text, input_name, width, outputs)
        if feature_names is not None and tuple(feature_names) != signature.features:
            raise InvalidOnnxError(
                f"feature names {list(feature_names)} differ from the model's embedded "
                f"features {list(signature.features)}"
            )
    else:
        try:
            signature = _infer(input_name, width, outputs, _features(feature_names, width))
        except InvalidOnnxError:
            raise
        except ConversionError as exc:  # e.g. repeated feature names
            raise InvalidOnnxError(str(exc)) from None
    if expected is not None:
        problems = []
        if expected.n_features != signature.n_features:
            problems.append(
                f"input width is {signature.n_features}, expected {expected.n_features}"
            )
        if expected.outputs != signature.outputs:
            problems.append(
                f"outputs are {_show(signature.outputs)}, expected {_show(expected.outputs)}"
            )
        if problems:
            raise InvalidOnnxError(
                "model does not match the expected signature: " + "; ".join(problems)
            )
    return signature
