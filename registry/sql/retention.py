"""Retention of the prediction log inside a transaction: one bounded batch of old rows.

A prediction or outcome older than the cutoff goes unless it belongs to an active
(running or paused) experiment: its outcomes may yet arrive, and its statistics (per-arm
prediction counts and outcome moments) are computed from these rows. Ended experiments
keep their frozen final results, so their rows may go. Each call deletes at most ``limit``
rows, oldest first, so a caller can prune in short transactions that never hold the
database for long.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.rules.experiments import ACTIVE
from registry.schema import ExperimentRow, OutcomeRow, PredictionRow


def _outside_active_experiments(row):
    """``row`` belongs to no experiment, or to one that is not active."""
    active = select(ExperimentRow.id).where(ExperimentRow.state.in_([s.value for s in ACTIVE]))
    return or_(row.experiment_id.is_(None), row.experiment_id.not_in(active))


async def _delete_oldest(session: AsyncSession, row, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` rows of ``row``'s table older than ``before`` and outside
    active experiments, in the order they were appended; how many went.

    SQLite walks the table in rowid (append) order and stops after ``limit`` matches;
    PostgreSQL reads the old block ranges its BRIN index on ``at`` names, in heap order
    (on a log partitioned by day, in the partitions that hold old rows: whole days went
    first, see ``registry.sql.partitions``). Neither sorts: a batch costs the same whether
    a thousand or a billion rows are old.
    """
    where = (row.at < before, _outside_active_experiments(row))
    if session.bind.dialect.name == "sqlite":
        key = literal_column("rowid")
        victims = select(key).select_from(row).where(*where).order_by(key).limit(limit)
        bound = ()
    else:
        key = row.prediction_id
        victims = select(key).where(*where).limit(limit)
        # On a partitioned log, only the partitions holding old rows are searched for
        # the victims' ids (the same rows on an unpartitioned one).
        bound = (row.at < before,)
    result = await session.execute(
        delete(row)
        .where(*bound, key.in_(victims.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def prune_predictions(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` predictions logged before ``before``; how many went."""
    return await _delete_oldest(session, PredictionRow, before, limit)


async def prune_outcomes(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` outcomes recorded before ``before``; how many went."""
    return await _delete_oldest(session, OutcomeRow, before, limit)
