"""galgate.v1 prediction messages: requests to numpy rows, answers to messages and back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway.brief import brief, brief_list
from gateway.errors import InvalidInputError
from gateway.serving.model import LoadedModel, Outputs

_MAX_REPORTED = 5
MAX_LISTED_FEATURES = 32
# Routing keys are stored with every logged prediction: a bound keeps one caller from
# writing megabytes per request into the log.
MAX_ROUTING_KEY = 256


def checked_routing_key(key: str) -> str:
    """The routing key, if it is at most MAX_ROUTING_KEY characters.

    >>> checked_routing_key("account-17")
    'account-17'
    """
    if len(key) > MAX_ROUTING_KEY:
        raise InvalidInputError(
            f"routing_key has {len(key)} characters; at most {MAX_ROUTING_KEY} are allowed"
        )
    if "\x00" in key:  # PostgreSQL text cannot hold NUL: the key could not be logged
        raise InvalidInputError("routing_key contains a NUL character; send printable text")
    return key


def to_array(request: pb.PredictRequest, model: LoadedModel) -> np.ndarray:
    """Decode a request's rows into a finite float32 [rows, n_features] array."""
    n_features = model.signature.n_features
    which = request.WhichOneof("input")
    if which == "tensor":
        x = _tensor_rows(request.tensor, n_features)
    elif which == "features":
        x = _named_row(request.features.values, model)
    else:
        raise InvalidInputError(
            "request has no input: set `features` (named values) or `tensor` (packed rows)"
        )
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[:_MAX_REPORTED]
        where = ", ".join(f"row {r} feature {model.signature.features[c]!r}" for r, c in bad)
        raise InvalidInputError(f"inputs must be finite float32 values; NaN/Inf at {where}")
    return x


def _tensor_rows(tensor: pb.FloatTensor, n_features: int) -> np.ndarray:
    rows = tensor.rows
    if rows == 0:
        raise InvalidInputError("tensor.rows must be at least 1")
    expected = rows * n_features
    if tensor.data:
        if len(tensor.values):
            raise InvalidInputError("give tensor.data or tensor.values, not both")
        if len(tensor.data) != expected * 4:
            raise InvalidInputError(
                f"tensor.data has {len(tensor.data)} bytes; expected {rows} rows x "
                f"{n_features} features x 4 bytes = {expected * 4}"
            )
        return np.frombuffer(tensor.data, dtype="<f4").reshape(rows, n_features)
    if len(tensor.values) != expected:
        raise InvalidInputError(
            f"tensor.values has {len(tensor.values)} floats; expected {rows} rows x "
            f"{n_features} features = {expected}"
        )
    return np.asarray(tensor.values, dtype=np.float32).reshape(rows, n_features)


def _named_row(values, model: LoadedModel) -> np.ndarray:
    index = model.feature_index
    missing = [f for f in model.signature.features if f not in values]
    unknown = sorted(k for k in values if k not in index)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing features {brief_list(missing)}")
        if unknown:
            parts.append(f"unknown features {brief_list(unknown)}")
        raise InvalidInputError(
            f"{'; '.join(parts)}; model {brief(model.name)} version {brief(model.version)} "
            f"expects {brief_list(model.signature.features, limit=MAX_LISTED_FEATURES)}"
        )
    with np.errstate(over="ignore"):
        return np.array([[values[f] for f in model.signature.features]], dtype=np.float32)


def to_response(
    outputs: Outputs,
    model: LoadedModel,
    *,
    rows: int,
    prediction_id: str,
    arm: str,
    experiment_id: str,
    request_id: str,
) -> pb.PredictResponse:
    """Encode a session's outputs as a PredictResponse."""
    if outputs.values is not None:
        return pb.PredictResponse(
            prediction_id=prediction_id,
            model=model.name,
            version=model.version,
            arm=arm,
            experiment_id=experiment_id,
            rows=rows,
            values=outputs.values.tolist(),
            request_id=request_id,
        )
    return pb.PredictResponse(
        prediction_id=prediction_id,
        model=model.name,
        version=model.version,
        arm=arm,
        experiment_id=experiment_id,
        rows=rows,
        labels=outputs.labels.tolist(),
        probabilities=outputs.probabilities.ravel().tolist(),
        class_labels=model.class_labels,
        request_id=request_id,
    )


@dataclass(frozen=True, slots=True)
class PredictedRow:
    """One row's answer: a class label and its probabilities, or a regression value."""

    label: str | None
    probabilities: Mapping[str, float]
    value: float | None


@dataclass(frozen=True, slots=True)
class Prediction:
    """A decoded PredictResponse."""

    prediction_id: str
    model: str
    version: str
    arm: str
    experiment_id: str
    class_labels: tuple[str, ...]
    rows: tuple[PredictedRow, ...]


def prediction_from_response(response: pb.PredictResponse) -> Prediction:
    """Decode a PredictResponse into one record per row."""
    labels = tuple(response.class_labels)
    rows: list[PredictedRow] = []
    if labels:
        probabilities = np.asarray(response.probabilities, dtype=np.float32)
        probabilities = probabilities.reshape(response.rows, len(labels))
        for index, row in zip(response.labels, probabilities, strict=True):
            rows.append(
                PredictedRow(
                    label=labels[index],
                    probabilities={c: float(p) for c, p in zip(labels, row, strict=True)},
                    value=None,
                )
            )
    else:
        rows = [PredictedRow(label=None, probabilities={}, value=v) for v in response.values]
    return Prediction(
        prediction_id=response.prediction_id,
        model=response.model,
        version=response.version,
        arm=response.arm,
        experiment_id=response.experiment_id,
        class_labels=labels,
        rows=tuple(rows),
    )
