"""Encoding of the CLI's requests to galgate.v1.ModelAdmin: RegisterModel, CreateExperiment."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gateway._pb.galgate.v1 import admin_pb2 as admin_pb
from gateway.server.admin_codec import METADATA_KEYS, spec_json, timestamp
from registry import VersionSpec
from registry.entities import ExperimentSpec

if TYPE_CHECKING:
    from gateway.registration import PreparedVersion

CHUNK_BYTES = 1024 * 1024  # RegisterModel chunk size: well under the 4 MiB message cap


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


def experiment_request(spec: ExperimentSpec, *, start: bool) -> admin_pb.CreateExperimentRequest:
    """Encode a CreateExperiment request: the spec's fields under the same names.

    The wire's zero values mean "default", so the spec's values must be non-zero where
    that matters (the CLI's flags ensure it); no ``max_loss`` is sent as 0.
    """
    values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    values |= {"max_loss": spec.max_loss or 0.0, "end_time": timestamp(spec.end_time)}
    return admin_pb.CreateExperimentRequest(**values, create_only=not start)


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
