"""Convert a fitted estimator to contract-conforming ONNX and prove parity on a sample."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters.errors import ConversionError, DataError, UnsupportedModelError
from converters.graph import (
    LABEL_OUTPUT,
    PROBABILITY_OUTPUT,
    VALUE_OUTPUT,
    apply_output_contract,
    embed_signature,
    graph_inputs,
    value_spec,
)
from converters.limits import preview
from converters.parity import ParityReport, Tolerance, as_matrix, check_parity
from converters.registry import find_converter, supported_types, type_name
from converters.signature import Signature
from converters.validate import validate_onnx

_MAX_REPR = 1000


@dataclass(frozen=True, slots=True)
class Conversion:
    """A converted model and what the registry records about it."""

    onnx_bytes: bytes
    signature: Signature
    parity: ParityReport
    model_type: str
    hyperparameters: dict[str, Any]
    feature_importance: dict[str, float]


def model_type_name(model: object) -> str:
    """``xgboost.XGBClassifier``, ``sklearn.pipeline.Pipeline(StandardScaler,Ridge)``, ..."""
    name = type_name(type(model))
    steps = getattr(model, "steps", None)
    if type(model).__name__ == "Pipeline" and isinstance(steps, list):
        name += "(" + ",".join(type(step).__name__ for _, step in steps) + ")"
    return name


def json_safe(value: object, depth: int = 0) -> Any:
    """A JSON-serialisable copy of ``value``: non-finite floats and objects become strings.

    >>> json_safe({"a": (1, float("nan")), "b": np.int64(3)})
    {'a': [1, 'nan'], 'b': 3}
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth < 5 and isinstance(value, list | tuple) and len(value) <= 1000:
        return [json_safe(v, depth + 1) for v in value]
    if depth < 5 and isinstance(value, dict) and len(value) <= 1000:
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if depth < 5 and isinstance(value, np.ndarray) and value.size <= 1000:
        return json_safe(value.tolist(), depth + 1)
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _hyperparameters(model: object) -> dict[str, Any]:
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return {}
    try:
        params = get_params(deep=False)
    except Exception:  # a broken get_params must not block conversion; record nothing
        return {}
    return {str(k): json_safe(v) for k, v in dict(params).items()}


def _feature_importance(model: object, features: Sequence[str]) -> dict[str, float]:
    """From ``feature_importances_``, else mean |coef_| over outputs; {} when unavailable
    or when a pipeline's final step does not see the input columns one to one."""
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if type(model).__name__ == "Pipeline" and steps else model
    try:
        if hasattr(final, "feature_importances_"):
            values = np.asarray(final.feature_importances_, dtype=np.float64)
        elif hasattr(final, "coef_"):
            values = np.abs(np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))).mean(axis=0)
        else:
            return {}
    except Exception:  # e.g. xgboost gblinear raises for feature_importances_
        return {}
    if values.shape != (len(features),):
        return {}
    return {
        f: (float(v) if math.isfinite(v) else 0.0) for f, v in zip(features, values, strict=True)
    }


def _class_labels(model: object) -> tuple[int | str, ...]:
    labels: list[int | str] = []
    for value in np.asarray(model.classes_).tolist():  # type: ignore[attr-defined]
        if isinstance(value, bool) or (isinstance(value, float) and value.is_integer()):
            value = int(value)
        if not isinstance(value, int | str):
            raise UnsupportedModelError(
                model_type_name(model), supported_types(),
                f"class label {value!r} is neither an int nor a string",
            )  # fmt: skip
        labels.append(value)
    return tuple(labels)


def _feature_names(model: object, n_features: int, given: Sequence[str] | None) -> tuple[str, ...]:
    names = given
    if names is None:
        try:
            names = getattr(model, "feature_names_in_", None)
        except Exception:  # some estimators raise instead of lacking the attribute
            names = None
    if names is None:
        return tuple(f"f{i}" for i in range(n_features))
    names = tuple(str(n) for n in names)
    if len(names) != n_features:
        raise DataError(f"{len(names)} feature names given for a model of {n_features} features")
    if len(set(names)) != len(names) or not all(names):
        raise DataError(f"feature names must be unique and non-empty, got {preview(names)}")
    return names


def convert(
    model: object,
    sample: np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    tolerance: Tolerance = Tolerance(),  # noqa: B008 - frozen, hence a safe default
    max_parity_rows: int = 1000,
) -> Conversion:
    """Convert a fitted estimator to ONNX and check it against the original on ``sample``.

    Args:
        model: a fitted estimator of a registered type (see ``registry.supported_types``).
        sample: rows [rows, n_features] in the caller's own precision (float64 data stays
            float64: casting it to float32 first would hide what serving in float32
            loses); the first ``max_parity_rows`` are used for parity.
        feature_names: input names in column order; default ``model.feature_names_in_``
            when the model has them, else ``f0..f{n-1}``.
        tolerance: parity limits (see ``Tolerance``).
        max_parity_rows: cap on the rows compared.

    Returns:
        The conversion: ONNX bytes with the signature embedded in metadata, the
        signature, the parity report and descriptive metadata.

    Raises:
        UnsupportedModelError: no converter for the type, or the converter refused it.
        ParityError: outputs differ beyond tolerance (the message lists the worst rows).
        DataError: unusable sample or feature names.
    """
    converter = find_converter(model)
    n_features = getattr(model, "n_features_in_", None)
    if not isinstance(n_features, int | np.integer) or n_features <= 0:
        raise ConversionError(f"{model_type_name(model)} is not fitted (no n_features_in_)")
    n_features = int(n_features)
    if max_parity_rows < 1:
        raise DataError(f"max_parity_rows must be >= 1, got {max_parity_rows}")
    X = as_matrix(sample, n_features)[:max_parity_rows]
    features = _feature_names(model, n_features, feature_names)
    is_classifier = hasattr(model, "classes_") and hasattr(model, "predict_proba")
    labels = _class_labels(model) if is_classifier else ()
    task = "classification" if is_classifier else "regression"
    try:
        proto = converter(model, n_features)
    except ConversionError:
        raise
    except Exception as exc:  # converter libraries raise anything from RuntimeError to KeyError
        raise UnsupportedModelError(
            model_type_name(model), supported_types(), f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        apply_output_contract(proto, task, len(labels))
    except ConversionError as exc:  # e.g. multi-output regression
        raise UnsupportedModelError(model_type_name(model), supported_types(), str(exc)) from exc
    outputs = tuple(spec for spec in map(value_spec, proto.graph.output) if spec is not None)
    signature = Signature(
        features=features,
        input_name=graph_inputs(proto)[0].name,
        outputs=outputs,
        task=task,
        class_labels=labels,
        label_output=LABEL_OUTPUT if is_classifier else None,
        probability_output=PROBABILITY_OUTPUT if is_classifier else None,
        value_output=None if is_classifier else VALUE_OUTPUT,
    )
    embed_signature(proto, signature)
    # skl2onnx names each graph with a random uuid; a fixed name makes the same fitted
    # model convert to the same bytes, so its artifact (content-addressed) is stored once.
    proto.graph.name = "galgate"
    data = proto.SerializeToString(deterministic=True)
    validate_onnx(data, max_bytes=len(data), expected=signature)
    report = check_parity(model, data, signature, X, tolerance)
    return Conversion(
        onnx_bytes=data,
        signature=signature,
        parity=report,
        model_type=model_type_name(model),
        hyperparameters=_hyperparameters(model),
        feature_importance=_feature_importance(model, features),
    )
