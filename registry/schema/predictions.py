"""Tables of the prediction log and its outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
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


#: The partition of a partitioned log that takes rows no day partition covers.
DEFAULT_PARTITION = "predictions_default"


def partitioned_predictions_table() -> Table:
    """The ``predictions`` table as a new PostgreSQL registry creates it: partitioned by
    range of ``at``, one partition per UTC day (``registry/sql/partitions.py`` makes them).

    Columns and indexes are :class:`PredictionRow`'s; only the primary key differs, since
    PostgreSQL requires a partitioned table's unique keys to include the partition key:
    (prediction_id, at). Ids stay unique in practice (a keyed MAC over a counter, and a
    retried batch re-sends identical records, ``at`` included), and a lookup by id alone
    still uses each partition's primary-key index (its leading column). The ORM mapping
    keeps ``prediction_id`` as its identity on every layout. The table lives in its own
    MetaData, used once by ``registry.db.ensure_schema``; SQLite and tables created before
    partitioning keep the plain layout.
    """
    source = PredictionRow.__table__
    columns = [Column(c.name, c.type, nullable=c.nullable) for c in source.columns]
    return Table(
        source.name,
        MetaData(),
        *columns,
        PrimaryKeyConstraint("prediction_id", "at", name="predictions_pkey"),
        postgresql_partition_by="RANGE (at)",
    )


class OutcomeRow(Base):
    """The realised outcome of one prediction, stored exactly once.

    No foreign key to ``predictions``: an outcome may arrive before the log writer has
    flushed its prediction. Not partitioned, even on PostgreSQL: a partitioned table's
    unique keys must include the partition key, and "one outcome per prediction" is this
    table's primary key on ``prediction_id`` alone. Its rows are small (no tensors) and
    old ones go by batched deletes.
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
