"""The model registry: versions, stages, artifacts and events in one database."""

from __future__ import annotations

from registry.entities import (
    DesiredState,
    Event,
    Model,
    ModelVersion,
    ServedVersion,
    Stage,
    StageTransition,
    VersionSpec,
)
from registry.errors import (
    ArtifactNotFoundError,
    ConflictError,
    CorruptArtifactError,
    InvalidArgumentError,
    InvalidStageTransitionError,
    ModelNotFoundError,
    RegistryError,
    SchemaMismatchError,
    VersionNotFoundError,
)
from registry.repository import Registry
from registry.schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "ArtifactNotFoundError",
    "ConflictError",
    "CorruptArtifactError",
    "DesiredState",
    "Event",
    "InvalidArgumentError",
    "InvalidStageTransitionError",
    "Model",
    "ModelNotFoundError",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "SchemaMismatchError",
    "ServedVersion",
    "Stage",
    "StageTransition",
    "VersionNotFoundError",
    "VersionSpec",
]
