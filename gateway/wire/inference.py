"""Pure conversions between Open Inference Protocol (KServe v2) tensors and numpy arrays."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gateway._pb.inference import grpc_predict_v2_pb2 as pb
from gateway.brief import brief, brief_list
from gateway.errors import InvalidInputError
from gateway.serving.model import LoadedModel, Outputs, TensorSpec
from gateway.wire.prediction import checked_routing_key
from registry.rules.naming import version_core

PLATFORM = "onnxruntime_onnx"
ROUTING_KEY = "routing_key"
ARM_PARAMETER = "galgate_arm"
EXPERIMENT_PARAMETER = "galgate_experiment_id"

_MAX_REPORTED = 5
# v2 datatype -> little-endian numpy dtype of one element, for the inputs we accept.
_INPUT_DTYPES = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
_CONTENTS_FIELD = {"FP32": "fp32_contents", "FP64": "fp64_contents"}


def input_spec(model: LoadedModel) -> TensorSpec:
    """The one input a galgate model takes: FP32 [-1, n_features]."""
    return model.input_spec


def output_specs(model: LoadedModel) -> tuple[TensorSpec, ...]:
    """The outputs ModelInfer can return, in the order it returns them."""
    return model.output_specs


def metadata_response(model: LoadedModel, versions: Iterable[str]) -> pb.ModelMetadataResponse:
    """ModelMetadata for a served model: its loaded versions and its tensors."""

    def tensor(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
        return pb.ModelMetadataResponse.TensorMetadata(
            name=spec.name, datatype=spec.datatype, shape=spec.shape
        )

    return pb.ModelMetadataResponse(
        name=model.name,
        versions=sort_versions(versions),
        platform=PLATFORM,
        inputs=[tensor(input_spec(model))],
        outputs=[tensor(spec) for spec in output_specs(model)],
    )


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Versions oldest first by MAJOR.MINOR.PATCH (suffixes break ties lexically).

    >>> sort_versions(["1.10.0", "1.2.0", "1.2.0-rc.1"])
    ['1.2.0', '1.2.0-rc.1', '1.10.0']
    """

    def key(version: str) -> tuple[tuple[int, ...], str]:
        try:
            return version_core(version), version
        except ValueError:
            return (), version

    return sorted(versions, key=key)


def routing_key(request: pb.ModelInferRequest) -> str:
    """The request parameter ``routing_key`` (a string_param), or "" when absent."""
    if ROUTING_KEY not in request.parameters:
        return ""
    param = request.parameters[ROUTING_KEY]
    which = param.WhichOneof("parameter_choice")
    if which != "string_param":
        raise InvalidInputError(
            f"parameter {ROUTING_KEY!r} must be a string_param; got {which or 'no value'}"
        )
    return checked_routing_key(param.string_param)


def to_array(request: pb.ModelInferRequest, model: LoadedModel) -> np.ndarray:
    """Decode the request's one input into a finite float32 [rows, n_features] array.

    Accepts FP32 or FP64, shape [rows, n_features] or [n_features] (one row), with the data
    in ``raw_input_contents[0]`` (little-endian) or in ``contents.fp32_contents`` /
    ``contents.fp64_contents``.
    """
    signature = model.signature
    n_features = signature.n_features
    expected = f"{signature.input_name!r} FP32 [rows, {n_features}]"
    if len(request.inputs) != 1:
        raise InvalidInputError(
            f"model {brief(model.name)} takes exactly one input, {expected}; "
            f"got {len(request.inputs)} inputs"
        )
    tensor = request.inputs[0]
    if tensor.name != signature.input_name:
        raise InvalidInputError(
            f"unknown input {brief(tensor.name)}; model {brief(model.name)} takes one input "
            f"{expected}"
        )
    dtype = _INPUT_DTYPES.get(tensor.datatype)
    if dtype is None:
        raise InvalidInputError(
            f"input {brief(tensor.name)} has datatype {brief(tensor.datatype)}; expected FP32 "
            "(or FP64)"
        )
    rows = _rows(tensor, n_features)
    count = rows * n_features
    shape = list(tensor.shape)
    x = _data(request, tensor, dtype, count, shape)
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32, copy=False).reshape(rows, n_features)
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[:_MAX_REPORTED]
        where = ", ".join(f"row {r} feature {signature.features[c]!r}" for r, c in bad)
        raise InvalidInputError(
            f"inputs must be finite float32 values; NaN/Inf (or out of float32 range) at {where}"
        )
    return x


def _rows(tensor: pb.ModelInferRequest.InferInputTensor, n_features: int) -> int:
    shape = list(tensor.shape)
    if len(shape) == 1 and shape[0] == n_features:
        return 1
    if len(shape) != 2 or shape[1] != n_features or shape[0] < 1:
        raise InvalidInputError(
            f"input {brief(tensor.name)} has shape {brief_list(shape)}; expected "
            f"[rows, {n_features}] with "
            f"rows >= 1 (or [{n_features}] for one row)"
        )
    return shape[0]


def _data(
    request: pb.ModelInferRequest,
    tensor: pb.ModelInferRequest.InferInputTensor,
    dtype: np.dtype,
    count: int,
    shape: list[int],
) -> np.ndarray:
    field = _CONTENTS_FIELD[tensor.datatype]
    has_contents = bool(tensor.contents.ListFields())
    if request.raw_input_contents:
        if len(request.raw_input_contents) != 1:
            raise InvalidInputError(
                f"raw_input_contents has {len(request.raw_input_contents)} entries; expected "
                "one per input (1)"
            )
        if has_contents:
            raise InvalidInputError(
                f"input {brief(tensor.name)}: give raw_input_contents or contents, not both"
            )
        raw = request.raw_input_contents[0]
        if len(raw) != count * dtype.itemsize:
            raise InvalidInputError(
                f"raw_input_contents[0] has {len(raw)} bytes; expected shape {shape} x "
                f"{dtype.itemsize} bytes ({tensor.datatype}) = {count * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=dtype)
    if not has_contents:
        raise InvalidInputError(
            f"input {brief(tensor.name)} has no data; set raw_input_contents[0] or contents.{field}"
        )
    values = getattr(tensor.contents, field)
    others = [f.name for f, _ in tensor.contents.ListFields() if f.name != field]
    if others:
        raise InvalidInputError(
            f"input {brief(tensor.name)} is {brief(tensor.datatype)}: its values belong in "
            f"contents.{field}; "
            f"got contents.{', contents.'.join(others)}"
        )
    if len(values) != count:
        raise InvalidInputError(
            f"contents.{field} has {len(values)} values; expected shape {shape} = {count}"
        )
    return np.asarray(values, dtype=dtype)


def requested_outputs(request: pb.ModelInferRequest, model: LoadedModel) -> tuple[int, ...]:
    """Indices (into ``output_specs``) of the outputs to return: all when none are named."""
    specs = model.output_specs
    if not request.outputs:
        return tuple(range(len(specs)))
    by_name = {spec.name: i for i, spec in enumerate(specs)}
    chosen: list[int] = []
    for output in request.outputs:
        index = by_name.get(output.name)
        if index is None:
            raise InvalidInputError(
                f"unknown output {brief(output.name)} requested; model {brief(model.name)} outputs "
                f"{[spec.name for spec in specs]}"
            )
        if index in chosen:
            raise InvalidInputError(f"output {brief(output.name)} is requested more than once")
        if output.parameters:
            raise InvalidInputError(
                f"output {brief(output.name)}: parameters "
                f"{brief_list(sorted(output.parameters))} are not "
                "supported (no classification extension); request outputs by name only"
            )
        chosen.append(index)
    return tuple(chosen)


def to_response(
    outputs: Outputs,
    model: LoadedModel,
    *,
    rows: int,
    chosen: tuple[int, ...],
    request_id: str,
    arm: str,
    experiment_id: str,
) -> pb.ModelInferResponse:
    """Encode a run's outputs as raw little-endian tensors, in the order requested."""
    response = pb.ModelInferResponse(
        model_name=model.name, model_version=model.version, id=request_id
    )
    response.parameters[ARM_PARAMETER].string_param = arm
    if experiment_id:
        response.parameters[EXPERIMENT_PARAMETER].string_param = experiment_id
    for index in chosen:
        spec = model.output_specs[index]
        data, shape = _encode(outputs, model.label_values, index, rows)
        response.outputs.add(name=spec.name, datatype=spec.datatype, shape=shape)
        response.raw_output_contents.append(data)
    return response


def _encode(
    outputs: Outputs, label_values: np.ndarray | None, index: int, rows: int
) -> tuple[bytes, list[int]]:
    if outputs.values is not None:
        return np.asarray(outputs.values, dtype="<f4").tobytes(), [rows, 1]
    if index == 0:
        # The label output carries the class label when every label is an int (the graph
        # does so too), else the class index.
        if label_values is not None:
            return label_values[outputs.labels].tobytes(), [rows]
        return np.asarray(outputs.labels, dtype="<i8").tobytes(), [rows]
    probabilities = np.asarray(outputs.probabilities, dtype="<f4")
    return probabilities.tobytes(), [rows, probabilities.shape[1]]
