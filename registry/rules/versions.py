"""Validate a VersionSpec and turn it into the column values stored for a version."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from registry.entities import VersionSpec
from registry.errors import InvalidArgumentError
from registry.rules.values import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_INT64,
    MAX_LABEL_CHARS,
    MAX_SIGNATURE_BYTES,
    MAX_TAGS,
    MAX_TEXT_CHARS,
    as_utc,
    bounded_document,
    check_text,
    depth,
    is_finite_number,
    number_mapping,
    shown,
)

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


_NUMBER_MAPPINGS = ("feature_importance", "metrics", "validation_metrics", "test_metrics")


def _plain(value: Any) -> Any:
    """Turn nested mappings and sequences into JSON-ready dicts and lists (the caller has
    checked the depth)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _document(spec: VersionSpec, field: str) -> Any:
    value = getattr(spec, field)
    what = f"VersionSpec.{field}"
    if depth(value) > MAX_DEPTH:
        raise InvalidArgumentError(f"{what} nests deeper than {MAX_DEPTH} levels")
    limit = MAX_SIGNATURE_BYTES if field == "signature" else MAX_DOCUMENT_BYTES
    document = bounded_document(_plain(value), what, limit)
    if field in _NUMBER_MAPPINGS:
        number_mapping(document, what)
    return document


def _utc(spec: VersionSpec, field: str) -> datetime | None:
    value = getattr(spec, field)
    if value is not None and not isinstance(value, datetime):
        raise InvalidArgumentError(f"VersionSpec.{field} must be a datetime or None")
    try:
        return as_utc(value)
    except OverflowError:
        raise InvalidArgumentError(
            f"VersionSpec.{field} {shown(value)} is out of range once converted to UTC"
        ) from None


def _tags(spec: VersionSpec) -> None:
    tags = dict(spec.tags)
    if len(tags) > MAX_TAGS:
        raise InvalidArgumentError(f"VersionSpec.tags has {len(tags)} tags; at most {MAX_TAGS}")
    for key, value in tags.items():
        check_text(key, "a tag name", MAX_LABEL_CHARS)
        check_text(value, f"tag {shown(key)}", MAX_LABEL_CHARS)


def version_columns(spec: VersionSpec) -> dict[str, Any]:
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
        raise InvalidArgumentError(f"VersionSpec.features has duplicates: {shown(features)}")
    duration = spec.training_duration_seconds
    if duration is not None and not is_finite_number(duration):
        raise InvalidArgumentError(
            f"VersionSpec.training_duration_seconds must be a finite number or None, "
            f"got {shown(duration)}"
        )
    samples = spec.training_samples
    if isinstance(samples, bool) or not isinstance(samples, int) or not 0 <= samples <= MAX_INT64:
        raise InvalidArgumentError(
            f"VersionSpec.training_samples must be an integer from 0 to {MAX_INT64}, "
            f"got {shown(samples)}"
        )
    for field in ("model_type", "target", "trained_by"):
        check_text(getattr(spec, field), f"VersionSpec.{field}", MAX_LABEL_CHARS)
    check_text(spec.description, "VersionSpec.description", MAX_TEXT_CHARS)
    _tags(spec)
    columns = {field: _document(spec, field) for field in _SPEC_MAPPINGS}
    columns.update(
        model_type=spec.model_type,
        features=features,
        target=spec.target,
        training_start=_utc(spec, "training_start"),
        training_end=_utc(spec, "training_end"),
        training_samples=samples,
        training_duration_seconds=duration,
        trained_at=_utc(spec, "trained_at"),
        trained_by=spec.trained_by,
        description=spec.description,
    )
    return columns
