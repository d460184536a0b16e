"""Tables of experiments, their transitions and their stored looks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.entities import (
    ArmMoments,
    Experiment,
    ExperimentLook,
    ExperimentSpec,
    ExperimentState,
    ExperimentTransition,
)
from registry.schema.base import Base, Id, UTCDateTime, utcnow
from registry.schema.catalog import ModelRow, ModelVersionRow


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

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        Id, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    control_version_id: Mapped[int] = mapped_column(
        Id, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False
    )
    treatment_version_id: Mapped[int] = mapped_column(
        Id, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False
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

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        Id, ForeignKey("experiments.id", ondelete="RESTRICT"), nullable=False, index=True
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

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        Id, ForeignKey("experiments.id", ondelete="RESTRICT"), nullable=False
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
