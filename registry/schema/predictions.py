"""Tables of the prediction log and its outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.entities import (
    OutcomeRecord,
    PredictionRecord,
)
from registry.schema.base import Base, Id, UTCDateTime


class PredictionRow(Base):
    """One logged prediction, written in batches by the gateways' log writers.

    No foreign keys: the log path must never fail on a reference, and experiments and
    versions are never deleted. Old rows go by retention (``registry/sql/retention.py``).
    """

    __tablename__ = "predictions"
    __table_args__ = (
        Index("ix_predictions_experiment_arm", "experiment_id", "arm"),
        # Retention: on PostgreSQL a BRIN index (the log is appended in time order, so a
        # few block ranges per day; almost free to keep up). SQLite finds the oldest rows
        # in rowid order, without an index that every log write would pay for.
        Index("ix_predictions_at", "at", postgresql_using="brin").ddl_if(dialect="postgresql"),
    )

    prediction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    arm: Mapped[str] = mapped_column(String(16), nullable=False)
    experiment_id: Mapped[int | None] = mapped_column(Id, nullable=True)
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
    __table_args__ = (
        Index("ix_outcomes_experiment_arm", "experiment_id", "arm"),
        Index("ix_outcomes_at", "at", postgresql_using="brin").ddl_if(dialect="postgresql"),
    )

    prediction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    metric_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    experiment_id: Mapped[int | None] = mapped_column(Id, nullable=True)
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
