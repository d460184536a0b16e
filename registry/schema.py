"""ORM tables of the registry database; rows never leave the registry package."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from registry.entities import (
    ArmMoments,
    Event,
    Experiment,
    ExperimentLook,
    ExperimentSpec,
    ExperimentState,
    ExperimentTransition,
    Model,
    ModelVersion,
    OutcomeRecord,
    PredictionRecord,
    Stage,
    StageTransition,
    VersionSpec,
)
from registry.rules.values import as_utc

#: Bump when the tables change; a database stamped with a newer number is refused.
#: A new table alone needs no bump: opening a database creates the tables it lacks.
SCHEMA_VERSION = 1

# Integer ids that are BIGINT on PostgreSQL but stay INTEGER on SQLite, where only
# "INTEGER PRIMARY KEY" is the rowid alias that autoincrements.
_Id = BigInteger().with_variant(Integer(), "sqlite")
#: The largest id either database can store (signed 64-bit on both).


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC that always reads back tz-aware UTC.

    Naive datetimes are taken to be UTC. SQLite keeps no zone, so the zone is re-attached
    on read; PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        value = as_utc(value)
        if value is not None and dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def utcnow() -> datetime:
    """Return the current time, tz-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every registry table."""


class MetaRow(Base):
    """Key/value facts about the database itself, e.g. ``schema_version``."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class ModelRow(Base):
    """A model name."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
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

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True
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

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False, index=True
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

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
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


class ExperimentRow(Base):
    """An A/B experiment between two versions of one model, with its state and result."""

    __tablename__ = "experiments"
    __table_args__ = (
        CheckConstraint(
            "state IN ('created', 'running', 'paused', 'completed', 'stopped')",
            name="ck_experiments_state",
        ),
        CheckConstraint("winner IN ('', 'control', 'treatment')", name="ck_experiments_winner"),
        CheckConstraint(
            "control_version_id <> treatment_version_id", name="ck_experiments_two_versions"
        ),
        # The database, not only the code, keeps at most one active experiment per model.
        Index(
            "uq_experiments_one_active",
            "model_id",
            unique=True,
            sqlite_where=text("state IN ('running', 'paused')"),
            postgresql_where=text("state IN ('running', 'paused')"),
        ),
        {"sqlite_autoincrement": True},  # ids never reused: sticky routing hashes them
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    control_version_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False
    )
    treatment_version_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False
    )
    strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    metric: Mapped[str] = mapped_column(String(32), nullable=False)
    split: Mapped[float] = mapped_column(Float, nullable=False)
    epsilon: Mapped[float] = mapped_column(Float, nullable=False)
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    min_detectable_effect: Mapped[float] = mapped_column(Float, nullable=False)
    min_samples: Mapped[int] = mapped_column(BigInteger, nullable=False)
    max_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    auto_promote: Mapped[bool] = mapped_column(Boolean, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")

    state: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    winner: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    tau2: Mapped[float | None] = mapped_column(Float, nullable=True)
    final_results: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    model: Mapped[ModelRow] = relationship(lazy="joined", innerjoin=True)
    control: Mapped[ModelVersionRow] = relationship(
        lazy="joined", innerjoin=True, foreign_keys=[control_version_id]
    )
    treatment: Mapped[ModelVersionRow] = relationship(
        lazy="joined", innerjoin=True, foreign_keys=[treatment_version_id]
    )

    def to_spec(self) -> ExperimentSpec:
        """Return the stored configuration as the caller's ExperimentSpec."""
        return ExperimentSpec(
            model=self.model.name,
            control_version=self.control.version,
            treatment_version=self.treatment.version,
            strategy=self.strategy,
            metric=self.metric,
            split=self.split,
            epsilon=self.epsilon,
            confidence=self.confidence,
            min_detectable_effect=self.min_detectable_effect,
            min_samples=self.min_samples,
            max_loss=self.max_loss,
            end_time=self.end_time,
            auto_promote=self.auto_promote,
            name=self.name,
            description=self.description,
        )

    def to_entity(self) -> Experiment:
        """Return the frozen record (``model``, ``control``, ``treatment`` must be loaded)."""
        return Experiment(
            id=self.id,
            spec=self.to_spec(),
            state=ExperimentState(self.state),
            control_sha256=self.control.sha256,
            treatment_sha256=self.treatment.sha256,
            created_at=self.created_at,
            started_at=self.started_at,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            winner=self.winner,
            tau2=self.tau2,
            final_results=self.final_results,
        )


class ExperimentTransitionRow(Base):
    """Append-only audit trail of experiments: one row per state change, and the creation."""

    __tablename__ = "experiment_transitions"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused: monotonic

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("experiments.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def to_entity(self) -> ExperimentTransition:
        """Return the frozen audit record."""
        return ExperimentTransition(
            id=self.id,
            experiment_id=self.experiment_id,
            from_state=None if self.from_state is None else ExperimentState(self.from_state),
            to_state=ExperimentState(self.to_state),
            actor=self.actor,
            reason=self.reason,
            at=self.at,
        )


class ExperimentLookRow(Base):
    """A look the monitor took at a running experiment: both arms' moments (append-only)."""

    __tablename__ = "experiment_looks"
    __table_args__ = (
        Index("ix_experiment_looks_experiment_id", "experiment_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("experiments.id", ondelete="RESTRICT"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    n_c: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mean_c: Mapped[float] = mapped_column(Float, nullable=False)
    m2_c: Mapped[float] = mapped_column(Float, nullable=False)
    m3_c: Mapped[float] = mapped_column(Float, nullable=False)
    m4_c: Mapped[float] = mapped_column(Float, nullable=False)
    n_t: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mean_t: Mapped[float] = mapped_column(Float, nullable=False)
    m2_t: Mapped[float] = mapped_column(Float, nullable=False)
    m3_t: Mapped[float] = mapped_column(Float, nullable=False)
    m4_t: Mapped[float] = mapped_column(Float, nullable=False)

    def to_entity(self) -> ExperimentLook:
        """Return the frozen look."""
        return ExperimentLook(
            id=self.id,
            experiment_id=self.experiment_id,
            at=self.at,
            control=ArmMoments(self.n_c, self.mean_c, self.m2_c, self.m3_c, self.m4_c),
            treatment=ArmMoments(self.n_t, self.mean_t, self.m2_t, self.m3_t, self.m4_t),
        )


class PredictionRow(Base):
    """One logged prediction, written in batches by the gateways' log writers.

    No foreign keys: the log path must never fail on a reference, and experiments and
    versions are never deleted.
    """

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_experiment_arm", "experiment_id", "arm"),)

    prediction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    arm: Mapped[str] = mapped_column(String(16), nullable=False)
    experiment_id: Mapped[int | None] = mapped_column(_Id, nullable=True)
    routing_key: Mapped[str] = mapped_column(Text, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    inputs: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    outputs: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    predicted: Mapped[float] = mapped_column(Float, nullable=False)
    latency_us: Mapped[int] = mapped_column(BigInteger, nullable=False)

    def to_entity(self) -> PredictionRecord:
        """Return the frozen prediction record."""
        return PredictionRecord(
            prediction_id=self.prediction_id,
            at=self.at,
            model=self.model,
            version=self.version,
            arm=self.arm,
            experiment_id=self.experiment_id,
            routing_key=self.routing_key,
            rows=self.rows,
            inputs=bytes(self.inputs),
            outputs=bytes(self.outputs),
            predicted=self.predicted,
            latency_us=self.latency_us,
        )


class OutcomeRow(Base):
    """The realised outcome of one prediction, stored exactly once.

    No foreign key to ``predictions``: an outcome may arrive before the log writer has
    flushed its prediction.
    """

    __tablename__ = "outcomes"
    __table_args__ = (Index("ix_outcomes_experiment_arm", "experiment_id", "arm"),)

    prediction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    metric_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    experiment_id: Mapped[int | None] = mapped_column(_Id, nullable=True)
    arm: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def to_entity(self) -> OutcomeRecord:
        """Return the frozen outcome record."""
        return OutcomeRecord(
            prediction_id=self.prediction_id,
            value=self.value,
            metric_value=self.metric_value,
            experiment_id=self.experiment_id,
            arm=self.arm,
            at=self.at,
        )
