"""Load a registry version into a warmed LoadedModel, off the event loop."""

from __future__ import annotations

import asyncio

from converters import Signature, load_session, validate_onnx
from converters.errors import ConversionError
from gateway.errors import ArtifactLoadError
from gateway.serving.model import LoadedModel
from registry.errors import CorruptArtifactError
from registry.store.registry import Registry


def build_loaded(name: str, version: str, sha256: str, data: bytes, signature: Signature):
    """Validate, load and warm one artifact (blocking; run it in a thread)."""
    try:
        validate_onnx(data, max_bytes=len(data) + 1, expected=signature)
        session = load_session(data)
        loaded = LoadedModel.build(name, version, sha256, signature, session).warm()
    except ConversionError as exc:
        raise ArtifactLoadError(name, version, str(exc)) from exc
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ArtifactLoadError(name, version, f"{type(exc).__name__}: {exc}") from exc
    return loaded


async def load_version(registry: Registry, name: str, version: str) -> LoadedModel:
    """Fetch (hash-verified) and load one version; raises ArtifactLoadError on any failure."""
    try:
        record, data = await registry.load_version_artifact(name, version)
    except CorruptArtifactError as exc:
        raise ArtifactLoadError(name, version, str(exc)) from exc
    signature = Signature.from_dict(record.spec.signature)
    return await asyncio.to_thread(build_loaded, name, version, record.sha256, data, signature)
