"""Encoding of the CLI's requests to galgate.v1.ModelAdmin: RegisterModel, CreateExperiment."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from gateway._pb.galgate.v1 import admin_pb2 as admin_pb
from gateway.server.admin_codec import METADATA_KEYS
from registry import VersionSpec
from registry.entities import ExperimentSpec

if TYPE_CHECKING:
    from gateway.registration import PreparedVersion

CHUNK_BYTES = 1024 * 1024  # RegisterModel chunk size: well under the 4 MiB message cap


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def metadata_json(spec: VersionSpec) -> str:
    """The RegisterModel header's ``metadata_json``: the spec's fields the server accepts.

    Fields the header carries itself (features, tags, ...) and empty values are left out.

    >>> spec = VersionSpec("sklearn", ("a",), {}, training_samples=3, metrics={"acc": 1.0})
    >>> metadata_json(spec)
    '{"metrics": {"acc": 1.0}, "training_samples": 3}'
    """
    data = {
        key: getattr(spec, key)
        for key in sorted(METADATA_KEYS)
        if getattr(spec, key, None) not in (None, "", {})
    }
    return json.dumps(data, default=_json_default, sort_keys=True)


def experiment_request(spec: ExperimentSpec, *, start: bool) -> admin_pb.CreateExperimentRequest:
    """Encode a CreateExperiment request. The wire's zero values mean "default", so the
    spec's values must be non-zero where that matters (the CLI's flags ensure it)."""
    request = admin_pb.CreateExperimentRequest(
        model=spec.model,
        control_version=spec.control_version,
        treatment_version=spec.treatment_version,
        strategy=spec.strategy,
        split=spec.split,
        epsilon=spec.epsilon,
        metric=spec.metric,
        confidence=spec.confidence,
        min_detectable_effect=spec.min_detectable_effect,
        min_samples=spec.min_samples,
        max_loss=spec.max_loss or 0.0,
        auto_promote=spec.auto_promote,
        name=spec.name,
        description=spec.description,
        create_only=not start,
    )
    if spec.end_time is not None:
        request.end_time.FromDatetime(spec.end_time)
    return request


def upload_requests(
    name: str, prepared: PreparedVersion, version: str | None, reason: str
) -> Iterator[admin_pb.RegisterModelRequest]:
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
    header = admin_pb.RegisterModelHeader(
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
    yield admin_pb.RegisterModelRequest(header=header)
    artifact, profile = prepared.onnx_bytes, prepared.profile_bytes
    for start in range(0, len(artifact), CHUNK_BYTES):
        yield admin_pb.RegisterModelRequest(artifact_chunk=artifact[start : start + CHUNK_BYTES])
    for start in range(0, len(profile), CHUNK_BYTES):
        yield admin_pb.RegisterModelRequest(profile_chunk=profile[start : start + CHUNK_BYTES])
