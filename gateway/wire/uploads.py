"""RegisterModel uploads: the header's metadata both ways, and the request stream."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway.brief import brief, brief_list
from gateway.errors import InvalidInputError
from gateway.wire.models import spec_json
from registry.entities import VersionSpec

if TYPE_CHECKING:
    from gateway.registration import PreparedVersion

CHUNK_BYTES = 1024 * 1024  # RegisterModel chunk size: well under the 4 MiB message cap

# metadata_json keys a RegisterModel header may carry, and how to read each.
_DATETIME_KEYS = ("training_start", "training_end", "trained_at")
_MAPPING_KEYS = (
    "hyperparameters",
    "preprocessing",
    "feature_importance",
    "metrics",
    "validation_metrics",
    "test_metrics",
)
_SCALAR_KEYS = {"training_samples": int, "training_duration_seconds": float, "trained_by": str}
METADATA_KEYS = frozenset((*_DATETIME_KEYS, *_MAPPING_KEYS, *_SCALAR_KEYS))


def _parse_datetime(key: str, raw: object) -> datetime:
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        raise InvalidInputError(
            f"metadata {brief(key)} must be an ISO 8601 time, got {brief(raw)}"
        ) from None
    if value.tzinfo is None:
        raise InvalidInputError(f"metadata {brief(key)} must carry a UTC offset, got {brief(raw)}")
    return value


def spec_from_header(header: pb.RegisterModelHeader) -> VersionSpec:
    """The VersionSpec of an upload, from its header; the signature (and the features,
    when the header names none) are read from the artifact when it is vetted."""
    try:
        metadata = json.loads(header.metadata_json) if header.metadata_json else {}
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"metadata_json is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInputError("metadata_json nests too deeply to be read") from None
    if not isinstance(metadata, dict):
        raise InvalidInputError("metadata_json must be a JSON object")
    unknown = sorted(set(metadata) - METADATA_KEYS)
    if unknown:
        raise InvalidInputError(
            f"unknown metadata keys {brief_list(unknown)}; allowed: {sorted(METADATA_KEYS)}"
        )
    fields: dict[str, Any] = {}
    for key in _DATETIME_KEYS:
        if metadata.get(key) is not None:
            fields[key] = _parse_datetime(key, metadata[key])
    for key in _MAPPING_KEYS:
        if key in metadata:
            if not isinstance(metadata[key], dict):
                raise InvalidInputError(f"metadata {brief(key)} must be a JSON object")
            fields[key] = metadata[key]
    for key, kind in _SCALAR_KEYS.items():
        if metadata.get(key) is not None:
            try:
                fields[key] = kind(metadata[key])
            except (TypeError, ValueError, OverflowError):
                raise InvalidInputError(
                    f"metadata {brief(key)} must be {kind.__name__}, got {brief(metadata[key])}"
                ) from None
    return VersionSpec(
        model_type=header.model_type or "onnx",
        features=tuple(header.features),
        signature={},
        target=header.target,
        tags=dict(header.tags),
        description=header.description,
        **fields,
    )


def metadata_json(spec: VersionSpec) -> str:
    """The RegisterModel header's ``metadata_json``: the spec's fields the server accepts.

    The server's own JSON of the spec (``spec_json``, what ModelVersionInfo carries),
    cut down to the keys an upload may set; empty values are left out.

    >>> spec = VersionSpec("sklearn", ("a",), {}, training_samples=3, metrics={"acc": 1.0})
    >>> metadata_json(spec)
    '{"metrics": {"acc": 1.0}, "training_samples": 3}'
    """
    stored = json.loads(spec_json(spec))
    data = {key: stored[key] for key in METADATA_KEYS if stored.get(key) not in (None, "", {})}
    return json.dumps(data, sort_keys=True)


def upload_requests(
    name: str, prepared: PreparedVersion, version: str | None, reason: str
) -> Iterator[pb.RegisterModelRequest]:
    """The RegisterModel stream: the header, the ONNX bytes, then the reference profile.

    Args:
        name: the model name.
        prepared: the converted version, its ONNX bytes and reference profile.
        version: the version string; None lets the gateway pick the next patch.
        reason: recorded in the audit trail.

    Returns:
        The request messages, header first, each chunk under ``CHUNK_BYTES``.
    """
    spec = prepared.spec
    header = pb.RegisterModelHeader(
        name=name,
        version=version or "",
        model_type=spec.model_type,
        features=list(spec.features),
        target=spec.target,
        metadata_json=metadata_json(spec),
        tags=dict(spec.tags),
        description=spec.description,
        sha256=hashlib.sha256(prepared.onnx_bytes).hexdigest(),
        reason=reason,
    )
    yield pb.RegisterModelRequest(header=header)
    artifact, profile = prepared.onnx_bytes, prepared.profile_bytes
    for start in range(0, len(artifact), CHUNK_BYTES):
        yield pb.RegisterModelRequest(artifact_chunk=artifact[start : start + CHUNK_BYTES])
    for start in range(0, len(profile), CHUNK_BYTES):
        yield pb.RegisterModelRequest(profile_chunk=profile[start : start + CHUNK_BYTES])
