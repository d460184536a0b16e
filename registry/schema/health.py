"""Tables of a model's health: alerts, drift reports and retraining runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.entities import (
    Alert,
    AlertSeverity,
    DriftReport,
    RetrainingRun,
    RetrainingState,
)
from registry.schema.base import Base, Id, UTCDateTime
from registry.schema.catalog import ModelRow, ModelVersionRow

_SEVERITIES = ", ".join(f"'{s.value}'" for s in AlertSeverity)
_RUN_STATES = ", ".join(f"'{s.value}'" for s in RetrainingState)


class AlertRow(Base):
    """Something a person should know of; repeats of one key fold into its head alert.

    ``head`` marks the alert that repeats of its ``key`` fold into: the newest alert of
    the key, while it is not acknowledged. The partial unique index keeps at most one head
    per key, so gateways racing to raise the same alert cannot both open a new one.
    No foreign keys: an alert may be about a model that failed to register or load.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(f"severity IN ({_SEVERITIES})", name="ck_alerts_severity"),
        CheckConstraint("count >= 1", name="ck_alerts_count"),
        Index(
            "uq_alerts_one_head",
            "key",
            unique=True,
            sqlite_where=text("head"),
            postgresql_where=text("head"),
        ),
        Index("ix_alerts_model", "model", "id"),
        {"sqlite_autoincrement": True},  # ids never reused: lists page by id
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    version: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    message: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    head: Mapped[bool] = mapped_column(Boolean, nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str] = mapped_column(Text, nullable=False, default="")
    acknowledgement: Mapped[str] = mapped_column(Text, nullable=False, default="")

    def to_entity(self) -> Alert:
        """Return the frozen alert."""
        return Alert(
            id=self.id,
            key=self.key,
            kind=self.kind,
            severity=AlertSeverity(self.severity),
            model=self.model,
            version=self.version,
            message=self.message,
            details=self.details,
            created_at=self.created_at,
            last_seen_at=self.last_seen_at,
            count=self.count,
            acknowledged_at=self.acknowledged_at,
            acknowledged_by=self.acknowledged_by,
            acknowledgement=self.acknowledgement,
        )


class DriftReportRow(Base):
    """One drift check of one version (append-only)."""

    __tablename__ = "drift_reports"
    __table_args__ = (
        Index("ix_drift_reports_model_version_id", "model_version_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int] = mapped_column(
        Id, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    drift: Mapped[bool] = mapped_column(Boolean, nullable=False)
    kinds: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    live_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    outcomes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    model_version: Mapped[ModelVersionRow] = relationship(lazy="joined", innerjoin=True)

    def to_entity(self) -> DriftReport:
        """Return the frozen report (``model_version`` must be loaded)."""
        return DriftReport(
            id=self.id,
            model=self.model_version.model.name,
            version=self.model_version.version,
            created_at=self.created_at,
            drift=self.drift,
            kinds=tuple(self.kinds),
            live_rows=self.live_rows,
            outcomes=self.outcomes,
            summary=self.summary,
            details=self.details,
        )


class RetrainingRunRow(Base):
    """One retraining of a model, from its start to how it finished."""

    __tablename__ = "retraining_runs"
    __table_args__ = (
        CheckConstraint(f"state IN ({_RUN_STATES})", name="ck_retraining_runs_state"),
        # The database, not only the code, keeps at most one running run per model.
        Index(
            "uq_retraining_runs_one_running",
            "model_id",
            unique=True,
            sqlite_where=text("state = 'running'"),
            postgresql_where=text("state = 'running'"),
        ),
        Index("ix_retraining_runs_model_id", "model_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        Id, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False
    )
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    trigger: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    parent_version: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    owner: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    new_version: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    experiment_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("experiments.id", ondelete="RESTRICT"), nullable=True
    )
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    model: Mapped[ModelRow] = relationship(lazy="joined", innerjoin=True)

    def to_entity(self) -> RetrainingRun:
        """Return the frozen run (``model`` must be loaded)."""
        return RetrainingRun(
            id=self.id,
            model=self.model.name,
            state=RetrainingState(self.state),
            trigger=self.trigger,
            reason=self.reason,
            parent_version=self.parent_version,
            owner=self.owner,
            started_at=self.started_at,
            heartbeat_at=self.heartbeat_at,
            finished_at=self.finished_at,
            new_version=self.new_version,
            experiment_id=self.experiment_id,
            error=self.error,
            details=self.details,
        )
