"""Validate a VersionSpec and turn it into the column values stored for a version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.entities import VersionSpec
from registry.errors import InvalidArgumentError
from registry.schema import as_utc
from registry.values import is_finite_number, json_document

_SPEC_MAPPINGS = (
    "signature",
    "hyperparameters",
    "preprocessing",
    "feature_importance",
    "metrics",
    "validation_metrics",
    "test_metrics",
    "tags",
)


def _plain(value: Any) -> Any:
    """Turn nested mappings and sequences into JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def spec_columns(spec: VersionSpec) -> dict[str, Any]:
    """Validate a VersionSpec and return it as ``model_versions`` column values.

    Args:
        spec: the caller's metadata.

    Returns:
        Column name -> value; mappings are JSON round-tripped, datetimes tz-aware UTC.

    Raises:
        InvalidArgumentError: empty model type, bad features, non-JSON or non-finite values.
    """
    if not isinstance(spec, VersionSpec):
        raise InvalidArgumentError(f"spec must be a VersionSpec, got {type(spec).__name__}")
    if not spec.model_type:
        raise InvalidArgumentError("VersionSpec.model_type must not be empty")
    features = list(spec.features)
    if not all(isinstance(f, str) and f for f in features):
        raise InvalidArgumentError("VersionSpec.features must be non-empty strings")
    if len(set(features)) != len(features):
        raise InvalidArgumentError(f"VersionSpec.features has duplicates: {features}")
    duration = spec.training_duration_seconds
    if duration is not None and not is_finite_number(duration):
        raise InvalidArgumentError(
            f"VersionSpec.training_duration_seconds must be a finite number or None, "
            f"got {duration!r}"
        )
    columns = {
        field: json_document(_plain(getattr(spec, field)), f"VersionSpec.{field}")
        for field in _SPEC_MAPPINGS
    }
    columns.update(
        model_type=spec.model_type,
        features=features,
        target=spec.target,
        training_start=as_utc(spec.training_start),
        training_end=as_utc(spec.training_end),
        training_samples=int(spec.training_samples),
        training_duration_seconds=duration,
        trained_at=as_utc(spec.trained_at),
        trained_by=spec.trained_by,
        description=spec.description,
    )
    return columns
