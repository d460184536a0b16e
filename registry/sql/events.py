"""Append change notices to the events table, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import lock_for_ordering
from registry.schema import EventRow

VERSION_REGISTERED = "version_registered"
STAGE_CHANGED = "stage_changed"
# payload {"id": experiment id, "from": state or None, "to": state}; version is "".
EXPERIMENT_CHANGED = "experiment_changed"
# payload {"id": run id, "from": state or None, "to": state}; version is "". On start,
# finish and expiry (not on heartbeats).
RETRAINING_CHANGED = "retraining_changed"
# payload {"id": alert id, "key", "kind", "severity"}; name and version are the alert's
# ("" when not about one). Only a new alert: a repeat folded into an open one is not news.
ALERT_RAISED = "alert_raised"
# payload {"id": alert id, "key", "by": who acknowledged}.
ALERT_ACKNOWLEDGED = "alert_acknowledged"
# PostgreSQL NOTIFY channel; the payload is the event id. Delivered on commit only.
NOTIFY_CHANNEL = "galgate_events"


async def append_event(
    session: AsyncSession,
    kind: str,
    name: str,
    version: str,
    payload: Mapping[str, Any],
    *,
    at: datetime,
) -> EventRow:
    """Add one event row to the session's transaction and flush it to get its id.

    On PostgreSQL this first takes the event-ordering lock (see
    :func:`registry.db.lock_for_ordering`), held until the transaction ends, so event ids
    become visible in id order, and queues a NOTIFY on :data:`NOTIFY_CHANNEL` that the
    server delivers when (and only if) the transaction commits. Call it last in a
    transaction to hold the lock briefly.

    Args:
        session: a session inside a write transaction.
        kind: e.g. ``"version_registered"``, ``"stage_changed"``.
        name: the model name.
        version: the version string ("" when the event is about the model as a whole).
        payload: JSON-serializable details.
        at: the change's timestamp (UTC).

    Returns:
        The flushed row (with its id); it stays inside the repository.
    """
    await lock_for_ordering(await session.connection())
    row = EventRow(kind=kind, name=name, version=version, payload=dict(payload), at=at)
    session.add(row)
    await session.flush()
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :id)"), {"channel": NOTIFY_CHANNEL, "id": str(row.id)}
        )
    return row


async def max_event_id(session: AsyncSession) -> int:
    """Return the id of the newest event in the session's snapshot, or 0 when there is none."""
    return int(await session.scalar(select(func.coalesce(func.max(EventRow.id), 0))))
