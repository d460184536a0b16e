"""Day partitions of the prediction log on PostgreSQL, inside one transaction each.

A new PostgreSQL registry partitions ``predictions`` by range of ``at``: one partition per
UTC day, ``predictions_pYYYYMMDD``, and the DEFAULT partition ``predictions_default``
for any row no day covers (``registry.db.ensure_schema``), so a write never fails for want
of a partition.

- :func:`create_days` makes the partitions of coming days (``CREATE TABLE IF NOT EXISTS
  ... PARTITION OF``). PostgreSQL refuses to create a day whose rows the DEFAULT partition
  already holds (maintenance did not run for longer than the days made ahead). Such a day
  is left in the DEFAULT partition and named in the result; its rows go by the batched
  deletes of ``registry/sql/retention.py`` like those of an unpartitioned log. Moving
  them into a new partition would hold the log's locks for as long as the move takes.
- :func:`detach_expired` detaches a day that ends at or before the cutoff, unless it holds
  rows of an active (running or paused) experiment, and renames it
  ``predictions_pYYYYMMDD_expired``; :func:`drop_detached` counts its rows and drops it.
  Two transactions: the count reads the whole day, and a detached table holds no lock the
  log writers or readers wait for. One left by a crash in between is listed by
  :func:`expired` and dropped by the next pass.

Creating and detaching take one advisory lock, so gateways maintaining the same database
take turns (dropping a detached table takes a lock of that table's own), and a short
``lock_timeout``: creating and detaching need an ACCESS EXCLUSIVE lock on ``predictions``
(held for milliseconds), and a step that cannot get it soon fails (UnavailableError)
instead of queueing the log writers behind it; the next pass tries again. An
unpartitioned ``predictions`` (made before partitioning) is never touched:
:func:`is_partitioned` tells the callers which path to take.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import column, exists, func, select, table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.rules.experiments import ACTIVE
from registry.schema import ExperimentRow
from registry.schema.predictions import DEFAULT_PARTITION

#: How long a maintenance step waits for a lock before it gives up until the next pass.
LOCK_TIMEOUT = "1s"
# pg_advisory_xact_lock key ("galgate" in ASCII plus a tag), like registry.db's.
_PARTITION_LOCK = 0x67616C67617465_02
# Two-key advisory locks (this tag, hash of a table name): one gateway drops a table.
_DROP_LOCK = 0x67616C02
_EXPIRED_SUFFIX = "_expired"
_DAY_NAME = re.compile(r"predictions_p(\d{8})(_expired)?")
# SQLSTATEs of a CREATE ... PARTITION OF that cannot be made: the DEFAULT partition holds
# rows of the day (check_violation), or another partition covers part of it.
_DEFAULT_HOLDS_DAY = "23514"
_OVERLAPS = "42P17"


def partition_name(day: date) -> str:
    """The name of ``day``'s partition.

    >>> partition_name(date(2026, 5, 1))
    'predictions_p20260501'
    """
    return f"predictions_p{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    """The day a partition (or a detached, expired one) holds, from its name; None for
    any other table.

    >>> day_of("predictions_p20260501_expired"), day_of("predictions_default")
    (datetime.date(2026, 5, 1), None)
    """
    match = _DAY_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _quoted(*parts: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


async def is_partitioned(session: AsyncSession) -> bool:
    """Whether ``predictions`` is a partitioned table (PostgreSQL, made since partitioning)."""
    if session.bind.dialect.name != "postgresql":
        return False
    kind = await session.scalar(
        text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('predictions')")
    )
    return kind == "p"


_LOG_SCHEMA = text(
    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass('predictions')"
)


async def _lock(session: AsyncSession) -> str:
    """Take the maintenance lock; the schema ``predictions`` lives in."""
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
    return await session.scalar(_LOG_SCHEMA)


async def _attached(session: AsyncSession) -> set[str]:
    rows = await session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('predictions')"
        )
    )
    return set(rows.scalars())


async def create_days(
    session: AsyncSession, first: date, days: int
) -> tuple[list[date], list[date]]:
    """Create the partitions of ``days`` days from ``first`` that do not exist yet.

    Args:
        session: a session inside a write transaction, on a partitioned log.
        first: the first day (UTC).
        days: how many days.

    Returns:
        (the days created, the days left in the DEFAULT partition because it holds rows
        of them).
    """
    schema = await _lock(session)
    attached = await _attached(session)
    default = _quoted(schema, DEFAULT_PARTITION)
    created: list[date] = []
    left: list[date] = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        name = partition_name(day)
        if name in attached:
            continue
        start, end = _bounds(day)
        held = await session.scalar(
            text(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE at >= :start AND at < :end)"),
            {"start": start, "end": end},
        )
        if held:
            left.append(day)
            continue
        try:
            async with session.begin_nested():
                await session.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS {_quoted(schema, name)} PARTITION OF "
                        f"{_quoted(schema, 'predictions')} FOR VALUES FROM "
                        f"('{start.isoformat()}') TO ('{end.isoformat()}')"
                    )
                )
        except DBAPIError as exc:
            state = str(getattr(exc.orig, "sqlstate", "") or "")
            if state == _DEFAULT_HOLDS_DAY:  # rows of the day arrived since the check
                left.append(day)
            elif state != _OVERLAPS:  # a partition not of ours covers the day: fine
                raise
            continue
        created.append(day)
    return created, left


async def expired(session: AsyncSession, before: datetime) -> list[tuple[str, bool]]:
    """Day partitions that end at or before ``before``, oldest first, as (name, attached);
    detached ones awaiting their drop (a pass that stopped half-way) come first.

    Args:
        session: a session on a partitioned log.
        before: the cutoff, tz-aware.
    """
    rows = await session.execute(
        text(
            "SELECT c.relname, i.inhrelid IS NOT NULL FROM pg_class c "
            "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
            "AND i.inhparent = to_regclass('predictions') "
            "WHERE c.relkind = 'r' AND c.relname LIKE 'predictions\\_p%' "
            "AND c.relnamespace = (SELECT relnamespace FROM pg_class "
            "WHERE oid = to_regclass('predictions'))"
        )
    )
    found = []
    for name, attached in rows:
        day = day_of(name)
        if day is None or _bounds(day)[1] > before:
            continue
        if attached != (not name.endswith(_EXPIRED_SUFFIX)):
            continue  # a detached table we did not rename, or an odd name: not ours
        found.append((attached, day, name))
    return [(name, attached) for attached, day, name in sorted(found)]


def _holds_active_rows(schema: str, name: str):
    part = table(name, column("experiment_id"), schema=schema)
    active = select(ExperimentRow.id).where(ExperimentRow.state.in_([s.value for s in ACTIVE]))
    return select(exists().where(part.c.experiment_id.in_(active)))


async def detach_expired(session: AsyncSession, name: str) -> str | None:
    """Detach the day partition ``name`` and rename it for :func:`drop_detached`, unless it
    holds rows of an active experiment (those stay; the batched delete takes the rest of
    the day) or another gateway got there first.

    Returns:
        The detached table's new name, or None when the partition stays.
    """
    schema = await _lock(session)
    if name not in await _attached(session):
        return None
    # Looked at before the lock on the log is taken (a long-running experiment keeps its
    # days for weeks: no pass should block the writers to find that out), then again
    # under it for rows that came in between.
    if await session.scalar(_holds_active_rows(schema, name)):
        return None
    nested = await session.begin_nested()
    log, part = _quoted(schema, "predictions"), _quoted(schema, name)
    await session.execute(text(f"ALTER TABLE {log} DETACH PARTITION {part}"))
    if await session.scalar(_holds_active_rows(schema, name)):
        await nested.rollback()
        return None
    await nested.commit()
    renamed = name + _EXPIRED_SUFFIX
    await session.execute(text(f"ALTER TABLE {part} RENAME TO {_quoted(renamed)}"))
    return renamed


async def drop_detached(session: AsyncSession, name: str) -> int:
    """Count the rows of the detached day ``name`` and drop it.

    The count reads the whole table (an index-only or sequential scan: seconds for
    hundreds of millions of rows) but blocks nobody: nothing else uses a detached table,
    and this step holds no lock that maintenance or the log waits for. Of two gateways
    dropping the same table, one does it; the other finds it taken or gone.

    Returns:
        How many rows went; 0 when another gateway drops (or dropped) it.
    """
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    mine = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key, hashtext(:name))"),
        {"key": _DROP_LOCK, "name": name},
    )
    schema = await session.scalar(_LOG_SCHEMA)
    qualified = _quoted(schema, name)
    if not mine or await session.scalar(text("SELECT to_regclass(:t)"), {"t": qualified}) is None:
        return 0
    rows = int(await session.scalar(select(func.count()).select_from(table(name, schema=schema))))
    await session.execute(text(f"DROP TABLE {qualified}"))
    return rows
