"""Tables of models, artifacts, versions, stage transitions and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from registry.entities import (
    Event,
    Model,
    ModelVersion,
    Stage,
    StageTransition,
    VersionSpec,
)
from registry.schema.base import Base, Id, UTCDateTime, utcnow


class ModelRow(Base):
    """A model name."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def to_entity(self, versions: tuple[ModelVersion, ...]) -> Model:
        """Return the frozen record of this model with ``versions``."""
        return Model(name=self.name, created_at=self.created_at, versions=versions)


class ArtifactRow(Base):
    """Content-addressed artifact bytes (the ONNX file)."""

    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ModelVersionRow(Base):
    """One version of a model: its metadata, stage, artifact hash and reference profile."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
        CheckConstraint(
            "stage IN ('development', 'staging', 'production', 'archived')",
            name="ck_model_versions_stage",
        ),
        # The database, not only the code, keeps at most one production version per model.
        Index(
            "uq_model_versions_one_production",
            "model_id",
            unique=True,
            sqlite_where=text("stage = 'production'"),
            postgresql_where=text("stage = 'production'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        Id, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    stage: Mapped[str] = mapped_column(String(16), nullable=False)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("artifacts.sha256", ondelete="RESTRICT"), nullable=False
    )
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    profile: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    profile_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    model_type: Mapped[str] = mapped_column(String(128), nullable=False)
    features: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    target: Mapped[str] = mapped_column(Text, nullable=False, default="")
    training_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    training_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    training_samples: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    training_duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    trained_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    trained_by: Mapped[str] = mapped_column(Text, nullable=False, default="")
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    preprocessing: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    feature_importance: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False)
    validation_metrics: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False)
    test_metrics: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    model: Mapped[ModelRow] = relationship(lazy="joined", innerjoin=True)

    def to_spec(self) -> VersionSpec:
        """Return the stored metadata as the caller's VersionSpec."""
        return VersionSpec(
            model_type=self.model_type,
            features=tuple(self.features),
            signature=self.signature,
            target=self.target,
            training_start=self.training_start,
            training_end=self.training_end,
            training_samples=self.training_samples,
            training_duration_seconds=self.training_duration_seconds,
            trained_at=self.trained_at,
            trained_by=self.trained_by,
            hyperparameters=self.hyperparameters,
            preprocessing=self.preprocessing,
            feature_importance=self.feature_importance,
            metrics=self.metrics,
            validation_metrics=self.validation_metrics,
            test_metrics=self.test_metrics,
            tags=self.tags,
            description=self.description,
        )

    def to_entity(self) -> ModelVersion:
        """Return the frozen record of this version (``model`` must be loaded)."""
        return ModelVersion(
            id=self.id,
            name=self.model.name,
            version=self.version,
            stage=Stage(self.stage),
            spec=self.to_spec(),
            sha256=self.sha256,
            size=self.size,
            has_profile=self.profile_size is not None,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class StageTransitionRow(Base):
    """Append-only audit trail: one row per stage change, including the registration."""

    __tablename__ = "stage_transitions"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused: monotonic

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int] = mapped_column(
        Id, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    from_stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    model_version: Mapped[ModelVersionRow] = relationship(lazy="joined", innerjoin=True)

    def to_entity(self) -> StageTransition:
        """Return the frozen audit record (``model_version`` must be loaded)."""
        return StageTransition(
            id=self.id,
            name=self.model_version.model.name,
            version=self.model_version.version,
            from_stage=None if self.from_stage is None else Stage(self.from_stage),
            to_stage=Stage(self.to_stage),
            actor=self.actor,
            reason=self.reason,
            kind=self.kind,
            at=self.at,
        )


class EventRow(Base):
    """A change notice; gateways tail this table by id."""

    __tablename__ = "events"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused: monotonic

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def to_entity(self) -> Event:
        """Return the frozen event record."""
        return Event(
            id=self.id,
            kind=self.kind,
            name=self.name,
            version=self.version,
            payload=self.payload,
            at=self.at,
        )
