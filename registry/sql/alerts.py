"""Alerts inside a write or read transaction: raise (fold or open, exactly once per key),
acknowledge, read.

How two gateways raising one alert at once open it only once: the alert that repeats of a
key fold into is its *head* (``alerts.head``), and a partial unique index allows one head
per key. A raise first folds into a head seen within the cooldown by one conditional
UPDATE (its row lock orders racing folds), else retires a stale head and inserts a new one
inside a savepoint. When a concurrent raise inserted its head first, the index refuses
the second, the savepoint rolls back, and the raise starts over: now it folds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import violated_constraint
from registry.entities import AlertSeverity
from registry.errors import AlertNotFoundError, ConflictError, InvalidArgumentError
from registry.rules.health import at_least, check_row_id, parse_severity
from registry.schema import AlertRow, UTCDateTime, utcnow
from registry.sql.events import ALERT_ACKNOWLEDGED, ALERT_RAISED, append_event

_HEAD_INDEX = "uq_alerts_one_head"
# SQLite names columns, not indexes, in its messages.
_SQLITE_HEAD = "UNIQUE constraint failed: alerts.key"
# Each lost race means another raise opened the head this one now folds into, so a second
# attempt settles it; more allow for acknowledgements landing in between.
_ATTEMPTS = 5


async def get(session: AsyncSession, alert_id: int, *, lock: bool = False) -> AlertRow:
    """Return the alert row (locked FOR UPDATE when ``lock``), as stored now.

    Raises:
        InvalidArgumentError: ``alert_id`` is not an integer.
        AlertNotFoundError: no alert has that id.
    """
    check_row_id(alert_id, AlertNotFoundError)
    stmt = select(AlertRow).where(AlertRow.id == alert_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise AlertNotFoundError(alert_id)
    return row


async def _fold(
    session: AsyncSession,
    key: str,
    severity: AlertSeverity,
    message: str,
    details: Mapping[str, Any],
    cooldown: timedelta,
) -> int | None:
    """Fold one repeat into the key's head if it was last seen within ``cooldown``; its id."""
    at = utcnow()
    now = literal(at, UTCDateTime())
    return await session.scalar(
        update(AlertRow)
        .where(AlertRow.key == key, AlertRow.head, AlertRow.last_seen_at > at - cooldown)
        .values(
            count=AlertRow.count + 1,
            # Never backwards, should a raise with an earlier clock commit second.
            last_seen_at=case((AlertRow.last_seen_at < now, now), else_=AlertRow.last_seen_at),
            message=message,
            details=dict(details),
            # An open alert keeps the most urgent severity it was raised at.
            severity=case(
                (AlertRow.severity.in_(at_least(severity)), AlertRow.severity),
                else_=severity.value,
            ),
        )
        .returning(AlertRow.id)
        .execution_options(synchronize_session=False)
    )


async def _open(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    severity: AlertSeverity,
    message: str,
    model: str,
    version: str,
    details: Mapping[str, Any],
    cooldown: timedelta,
) -> AlertRow | None:
    """Retire the key's stale head and insert a new head; None when a concurrent raise
    inserted its head first (nothing of this attempt stays)."""
    at = utcnow()
    try:
        async with session.begin_nested():
            await session.execute(
                update(AlertRow)
                .where(AlertRow.key == key, AlertRow.head, AlertRow.last_seen_at <= at - cooldown)
                .values(head=False)
                .execution_options(synchronize_session=False)
            )
            row = AlertRow(
                key=key,
                kind=kind,
                severity=severity.value,
                model=model,
                version=version,
                message=message,
                details=dict(details),
                created_at=at,
                last_seen_at=at,
                count=1,
                head=True,
                acknowledged_at=None,
                acknowledged_by="",
                acknowledgement="",
            )
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) in (_HEAD_INDEX, _SQLITE_HEAD):
            return None
        raise ConflictError(f"alert {key!r} conflicts with stored data: {exc.orig}") from exc
    return row


async def raise_alert(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    severity: AlertSeverity,
    message: str,
    model: str,
    version: str,
    details: Mapping[str, Any],
    cooldown: timedelta,
) -> tuple[AlertRow, bool]:
    """Fold a repeat into the key's open alert seen within ``cooldown``, or open a new one.

    The arguments are checked already (``registry.rules.health``).

    Returns:
        The alert row and whether it is new.

    Raises:
        ConflictError: the key's alerts kept changing under this raise (retry).
    """
    for _ in range(_ATTEMPTS):
        folded = await _fold(session, key, severity, message, details, cooldown)
        if folded is not None:
            return await get(session, folded), False
        row = await _open(
            session,
            key=key,
            kind=kind,
            severity=severity,
            message=message,
            model=model,
            version=version,
            details=details,
            cooldown=cooldown,
        )
        if row is not None:
            await append_event(
                session,
                ALERT_RAISED,
                model,
                version,
                {"id": row.id, "key": key, "kind": kind, "severity": severity.value},
                at=row.created_at,
            )
            return row, True
    raise ConflictError(
        f"alert {key!r} was raised and acknowledged concurrently {_ATTEMPTS} times while "
        "this raise tried to record it; retry"
    )


async def acknowledge(session: AsyncSession, alert_id: int, *, actor: str, note: str) -> AlertRow:
    """Acknowledge an alert, unless it is already: the first acknowledgement stays.

    Raises:
        AlertNotFoundError: unknown id.
    """
    row = await get(session, alert_id, lock=True)
    if row.acknowledged_at is not None:
        return row
    at = utcnow()
    row.acknowledged_at = at
    row.acknowledged_by = actor
    row.acknowledgement = note
    row.head = False  # a repeat after this opens a new alert
    await session.flush()
    await append_event(
        session,
        ALERT_ACKNOWLEDGED,
        row.model,
        row.version,
        {"id": row.id, "key": row.key, "by": actor},
        at=at,
    )
    return row


async def list_rows(
    session: AsyncSession,
    *,
    open_only: bool,
    model: str | None,
    severity: AlertSeverity | None,
    limit: int,
    before_id: int | None,
) -> list[AlertRow]:
    """Return alerts newest first (by id), filtered; the page arguments are checked."""
    if not isinstance(open_only, bool):
        raise InvalidArgumentError(f"open_only must be True or False, got {open_only!r}")
    stmt = select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AlertRow.id < before_id)
    if open_only:
        stmt = stmt.where(AlertRow.acknowledged_at.is_(None))
    if model is not None:
        stmt = stmt.where(AlertRow.model == model)
    if severity is not None:
        stmt = stmt.where(AlertRow.severity == parse_severity(severity).value)
    return list(await session.scalars(stmt))
