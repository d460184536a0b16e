"""Read a parsed ONNX model's interface and signature, within ``converters.limits``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx

from converters.errors import ConversionError, InvalidOnnxError
from converters.graph import embedded_signature_json, graph_inputs, value_spec
from converters.limits import MAX_CLASSES, MAX_FEATURES, MAX_OUTPUTS, clip, preview, too_many
from converters.signature import SIGNATURE_KEY, OutputSpec, Signature


@dataclass(frozen=True, slots=True)
class Interface:
    """What a caller feeds a model (one float32 [N, width] input) and what it gets back."""

    input_name: str
    width: int
    outputs: tuple[OutputSpec, ...]


def read_interface(model: onnx.ModelProto) -> Interface:
    """The model's one input and its tensor outputs; InvalidOnnxError beyond the limits.

    Only protobuf fields are read, so this is safe before the checker has run.
    """
    input_name, width = _input(model)
    return Interface(input_name, width, _outputs(model))


def _spec(value: onnx.ValueInfoProto) -> OutputSpec | None:
    try:
        return value_spec(value)
    except ConversionError as exc:  # a name or a shape beyond the limits
        raise InvalidOnnxError(str(exc)) from None


def _input(model: onnx.ModelProto) -> tuple[str, int]:
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise InvalidOnnxError(
            f"model has {len(inputs)} inputs {preview([v.name for v in inputs])}; expected "
            "exactly one float32 input of shape [N, n_features]"
        )
    spec = _spec(inputs[0])
    if spec is None or spec.dtype != "float32" or len(spec.shape) != 2 or not spec.shape[1]:
        found = f"{spec.dtype} {list(spec.shape)}" if spec else "a non-tensor"
        raise InvalidOnnxError(
            f"input {clip(inputs[0].name)} is {found}; expected float32 [N, n_features] with a "
            "fixed n_features"
        )
    width = int(spec.shape[1])  # type: ignore[arg-type]
    problem = too_many("features", width, MAX_FEATURES)
    if problem:
        raise InvalidOnnxError(f"input {spec.name!r} {problem}")
    return spec.name, width


def _outputs(model: onnx.ModelProto) -> tuple[OutputSpec, ...]:
    problem = too_many("outputs", len(model.graph.output), MAX_OUTPUTS)
    if problem:
        raise InvalidOnnxError(f"the model {problem}")
    specs = []
    for value in model.graph.output:
        spec = _spec(value)
        if spec is None:
            raise InvalidOnnxError(
                f"output {clip(value.name)} is not a tensor (a ZipMap or sequence?); expected "
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
            problem = too_many("classes", n_classes, MAX_CLASSES)
            if problem:
                raise InvalidOnnxError(f"probability output {probas[0].name!r} {problem}")
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


def _names_differ(given: Sequence[str], embedded: Sequence[str]) -> str:
    """Where ``given`` first differs from ``embedded``, in a bounded message."""
    pairs = zip(given, embedded, strict=False)
    at = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
    where = (
        f"name {at} is {clip(given[at])}, the model's is {clip(embedded[at])}"
        if at is not None
        else f"{len(given)} names given, the model has {len(embedded)}"
    )
    return f"feature names differ from the model's embedded features: {where}"


def read_signature(
    model: onnx.ModelProto, interface: Interface, feature_names: Sequence[str] | None
) -> Signature:
    """The signature embedded in ``model``'s metadata (checked against ``interface``), or
    else the one inferred from the outputs with ``feature_names`` (default ``f0..``).

    Raises:
        InvalidOnnxError: the embedded signature is invalid or disagrees with the graph or
            ``feature_names``, or no task can be inferred from the outputs.
    """
    input_name, width, outputs = interface.input_name, interface.width, interface.outputs
    text = embedded_signature_json(model)
    if text is not None:
        signature = _embedded(text, input_name, width, outputs)
        if feature_names is not None and tuple(feature_names) != signature.features:
            raise InvalidOnnxError(_names_differ(list(feature_names), signature.features))
        return signature
    try:
        return _infer(input_name, width, outputs, _features(feature_names, width))
    except InvalidOnnxError:
        raise
    except ConversionError as exc:  # e.g. repeated feature names
        raise InvalidOnnxError(str(exc)) from None


def check_expected(signature: Signature, expected: Signature) -> None:
    """Raise InvalidOnnxError unless ``signature`` has ``expected``'s width and outputs."""
    problems = []
    if expected.n_features != signature.n_features:
        problems.append(f"input width is {signature.n_features}, expected {expected.n_features}")
    if expected.outputs != signature.outputs:
        problems.append(
            f"outputs are {_show(signature.outputs)}, expected {_show(expected.outputs)}"
        )
    if problems:
        raise InvalidOnnxError(
            "model does not match the expected signature: " + "; ".join(problems)
        )
