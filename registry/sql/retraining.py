"""Retraining runs inside a write or read transaction: start (one running per model),
heartbeat, finish, expire, read.

At most one run per model is running: starting locks the model row (PostgreSQL; SQLite's
writer is exclusive already) and looks for a running run, and a partial unique index on
``model_id WHERE state = 'running'`` refuses a second whatever the code does. Moves out
of running are checked against the state read under the run's row lock, so of a finish
and an expiry racing for one run exactly one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import violated_constraint
from registry.entities import RetrainingState
from registry.errors import (
    ConflictError,
    InvalidArgumentError,
    RetrainingInProgressError,
    RetrainingPreconditionError,
    RetrainingRunNotFoundError,
)
from registry.rules.health import check_details, check_row_id, parse_retraining_state
from registry.schema import RetrainingRunRow, utcnow
from registry.sql.events import RETRAINING_CHANGED, append_event
from registry.sql.experiment_reads import get as get_experiment
from registry.sql.lookups import model_row, version_row

_RUNNING = RetrainingState.RUNNING.value
_RUNNING_INDEX = "uq_retraining_runs_one_running"
# SQLite names columns, not indexes, in its messages.
_SQLITE_RUNNING = "UNIQUE constraint failed: retraining_runs.model_id"


async def get(session: AsyncSession, run_id: int, *, lock: bool = False) -> RetrainingRunRow:
    """Return the run row (locked FOR UPDATE when ``lock``), as stored now.

    Raises:
        InvalidArgumentError: ``run_id`` is not an integer.
        RetrainingRunNotFoundError: no run has that id.
    """
    check_row_id(run_id, RetrainingRunNotFoundError)
    stmt = (
        select(RetrainingRunRow)
        .where(RetrainingRunRow.id == run_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update(of=RetrainingRunRow)
    row = await session.scalar(stmt)
    if row is None:
        raise RetrainingRunNotFoundError(run_id)
    return row


async def _running_id(session: AsyncSession, model_id: int) -> int | None:
    return await session.scalar(
        select(RetrainingRunRow.id).where(
            RetrainingRunRow.model_id == model_id, RetrainingRunRow.state == _RUNNING
        )
    )


async def _event(session: AsyncSession, row: RetrainingRunRow, before: str | None) -> None:
    await append_event(
        session,
        RETRAINING_CHANGED,
        row.model.name,
        "",
        {"id": row.id, "from": before, "to": row.state},
        at=row.finished_at or row.started_at,
    )


def _not_running(row: RetrainingRunRow, doing: str) -> RetrainingPreconditionError:
    why = f": {row.error}" if row.error else ""
    return RetrainingPreconditionError(
        f"cannot {doing} retraining run {row.id} of model {row.model.name!r}: it is "
        f"{row.state}, not running{why}"
    )


async def start(
    session: AsyncSession,
    model: str,
    *,
    trigger: str,
    reason: str,
    parent_version: str,
    owner: str,
    details: Mapping[str, Any],
) -> RetrainingRunRow:
    """Insert a running run of ``model``; the values are checked already.

    Raises:
        ModelNotFoundError, VersionNotFoundError: unknown model or parent version.
        RetrainingInProgressError: the model has a running run.
    """
    locked = await model_row(session, model, lock=True)
    model_id, name = locked.id, locked.name  # a savepoint rollback expires ORM state
    if parent_version:
        await version_row(session, locked, parent_version)
    running = await _running_id(session, model_id)
    if running is not None:
        raise RetrainingInProgressError(name, running)
    at = utcnow()
    row = RetrainingRunRow(
        model=locked,
        state=_RUNNING,
        trigger=trigger,
        reason=reason,
        parent_version=parent_version,
        owner=owner,
        started_at=at,
        heartbeat_at=at,
        finished_at=None,
        new_version="",
        experiment_id=None,
        error="",
        details=dict(details),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) in (_RUNNING_INDEX, _SQLITE_RUNNING):
            raise RetrainingInProgressError(name, await _running_id(session, model_id)) from exc
        raise ConflictError(
            f"the retraining run of model {name!r} conflicts with stored data: {exc.orig}"
        ) from exc
    await _event(session, row, None)
    return row


async def heartbeat(session: AsyncSession, run_id: int) -> RetrainingRunRow:
    """Record that a running run is alive.

    Raises:
        RetrainingRunNotFoundError: unknown id.
        RetrainingPreconditionError: the run is not running (finished, or expired).
    """
    check_row_id(run_id, RetrainingRunNotFoundError)
    at = utcnow()
    await session.execute(
        update(RetrainingRunRow)
        .where(
            RetrainingRunRow.id == run_id,
            RetrainingRunRow.state == _RUNNING,
            RetrainingRunRow.heartbeat_at < at,
        )
        .values(heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )
    row = await get(session, run_id)
    if row.state != _RUNNING:
        raise _not_running(row, "heartbeat")
    return row


async def finish(
    session: AsyncSession,
    run_id: int,
    state: RetrainingState,
    *,
    new_version: str,
    experiment_id: int | None,
    error: str,
    details: Mapping[str, Any] | None,
) -> RetrainingRunRow:
    """Move a running run to the finished ``state``; the values are checked already.

    Raises:
        RetrainingRunNotFoundError: unknown id.
        RetrainingPreconditionError: the run is not running.
        InvalidArgumentError: succeeded without a new version, an experiment of another
            model, or merged details over the bound.
        VersionNotFoundError: ``new_version`` is not a version of the run's model.
        ExperimentNotFoundError: unknown ``experiment_id``.
    """
    row = await get(session, run_id, lock=True)
    if row.state != _RUNNING:
        raise _not_running(row, f"finish ({state.value})")
    name = row.model.name
    if state is RetrainingState.SUCCEEDED and not new_version:
        raise InvalidArgumentError(
            f"retraining run {run_id} of model {name!r} cannot succeed without the new "
            "version it registered; finish it as rejected, failed or cancelled instead"
        )
    if new_version:
        await version_row(session, row.model, new_version)
    if experiment_id is not None:
        experiment = await get_experiment(session, experiment_id)
        if experiment.model_id != row.model_id:
            raise InvalidArgumentError(
                f"experiment {experiment_id} is of model {experiment.model.name!r}, not of "
                f"{name!r} that retraining run {run_id} retrains"
            )
    merged = row.details
    if details:
        merged = check_details({**row.details, **details}, "retraining run details")
    row.state = state.value
    row.finished_at = utcnow()
    row.new_version = new_version
    row.experiment_id = experiment_id
    row.error = error
    row.details = merged
    await session.flush()
    await _event(session, row, _RUNNING)
    return row


async def expire(session: AsyncSession, stale_after: timedelta) -> list[RetrainingRunRow]:
    """Fail every running run whose last heartbeat is older than ``stale_after``.

    Returns:
        The runs failed now, by id.
    """
    at = utcnow()
    cutoff = at - stale_after
    # FOR UPDATE re-checks the condition on rows changed meanwhile (PostgreSQL), so a run
    # that heartbeated or finished while this waited is left alone.
    rows = list(
        await session.scalars(
            select(RetrainingRunRow)
            .where(RetrainingRunRow.state == _RUNNING, RetrainingRunRow.heartbeat_at < cutoff)
            .order_by(RetrainingRunRow.id)
            .with_for_update(of=RetrainingRunRow)
            .execution_options(populate_existing=True)
        )
    )
    for row in rows:
        row.state = RetrainingState.FAILED.value
        row.finished_at = at
        row.error = _stale_error(row.heartbeat_at, stale_after, row.owner)
    await session.flush()
    for row in rows:
        await _event(session, row, _RUNNING)
    return rows


def _stale_error(heartbeat_at: datetime, stale_after: timedelta, owner: str) -> str:
    return (
        f"expired: no heartbeat since {heartbeat_at.isoformat()} (stale after "
        f"{stale_after.total_seconds():g} s); its owner {owner!r} presumably stopped"
    )


async def list_rows(
    session: AsyncSession,
    *,
    model: str | None,
    state: RetrainingState | str | None,
    limit: int,
    before_id: int | None,
) -> list[RetrainingRunRow]:
    """Return runs newest first (by id), filtered; the page arguments are checked.

    Raises:
        ModelNotFoundError: ``model`` is not registered.
        InvalidArgumentError: an unknown state.
    """
    stmt = select(RetrainingRunRow).order_by(RetrainingRunRow.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(RetrainingRunRow.id < before_id)
    if state is not None:
        stmt = stmt.where(RetrainingRunRow.state == parse_retraining_state(state).value)
    if model is not None:
        stmt = stmt.where(RetrainingRunRow.model_id == (await model_row(session, model)).id)
    return list(await session.scalars(stmt))
