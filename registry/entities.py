"""Frozen records the registry hands to its callers; ORM rows never leave the repository."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Stage(enum.StrEnum):
    """Lifecycle stage of a model version."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a caller supplies to register a version (the metadata; bytes travel apart).

    ``signature`` is the JSON document made by ``converters.signature.Signature.to_dict()``:
    the registry stores it as given and never interprets more than ``features``.
    """

    model_type: str
    features: tuple[str, ...]
    signature: Mapping[str, Any]
    target: str = ""
    training_start: datetime | None = None
    training_end: datetime | None = None
    training_samples: int = 0
    training_duration_seconds: float | None = None
    trained_at: datetime | None = None
    trained_by: str = ""
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    feature_importance: Mapping[str, float] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    validation_metrics: Mapping[str, float] = field(default_factory=dict)
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model, as stored."""

    id: int
    name: str
    version: str
    stage: Stage
    spec: VersionSpec
    sha256: str
    size: int
    has_profile: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Model:
    """A model name with its versions' summary."""

    name: str
    created_at: datetime
    versions: tuple[ModelVersion, ...]

    @property
    def production(self) -> ModelVersion | None:
        """The version in production, if any."""
        return next((v for v in self.versions if v.stage is Stage.PRODUCTION), None)


@dataclass(frozen=True, slots=True)
class StageTransition:
    """One row of the append-only audit trail of stage changes."""

    id: int
    name: str
    version: str
    from_stage: Stage | None  # None for the registration itself
    to_stage: Stage
    actor: str
    reason: str
    kind: str  # "register" | "transition" | "demote" | "rollback"
    at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """A change notice, monotonic id, written in the same transaction as the change."""

    id: int
    kind: str  # e.g. "version_registered", "stage_changed"
    name: str
    version: str
    payload: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class ServedVersion:
    """What a gateway needs to serve one version: identity and artifact hash."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What gateways should serve, as of ``event_id`` (the last event included)."""

    event_id: int
    production: Mapping[str, ServedVersion]
