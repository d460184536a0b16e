"""Statements on model versions, run inside the caller's transaction: stage moves, rollback rows,
the model row, and constraint violations turned into ConflictError."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import insert_ignoring, violated_constraint
from registry.entities import Stage
from registry.errors import ConflictError, InvalidArgumentError, InvalidStageTransitionError
from registry.rules.values import check_audit
from registry.schema import ModelRow, ModelVersionRow, StageTransitionRow
from registry.sql.events import STAGE_CHANGED, append_event
from registry.sql.lookups import model_row, production_row

_PRODUCTION_INDEX = "uq_model_versions_one_production"
_VERSION_UNIQUE = "uq_model_versions_model_version"
# SQLite names columns, not indexes, in its messages.
_SQLITE_PRODUCTION = "UNIQUE constraint failed: model_versions.model_id"
_SQLITE_VERSION_UNIQUE = "UNIQUE constraint failed: model_versions.model_id, model_versions.version"


def subject(name: str, version: str) -> str:
    return f"model {name!r} version {version!r}"


async def flush_checked(session: AsyncSession, name: str, version: str) -> None:
    """Flush, turning the production-index and duplicate-version violations into
    ConflictError with a message that says which rule was hit."""
    try:
        await session.flush()
    except IntegrityError as exc:
        constraint = violated_constraint(exc)
        if constraint in (_PRODUCTION_INDEX, _SQLITE_PRODUCTION):
            raise ConflictError(
                f"model {name!r} already has a production version (another change was "
                f"committed concurrently); {version!r} was not promoted"
            ) from exc
        if constraint in (_VERSION_UNIQUE, _SQLITE_VERSION_UNIQUE):
            raise ConflictError(f"{subject(name, version)} is already registered") from exc
        raise ConflictError(
            f"the change to {subject(name, version)} conflicts with stored data: {exc.orig}"
        ) from exc


async def move(
    session: AsyncSession,
    row: ModelVersionRow,
    to: Stage,
    *,
    actor: str,
    reason: str,
    kind: str,
    at: datetime,
) -> None:
    """Change a version's stage and append its audit row and event; flush."""
    check_audit(actor, reason)
    from_stage = row.stage
    row.stage = to.value
    row.updated_at = at
    await flush_checked(session, row.model.name, row.version)
    session.add(
        StageTransitionRow(
            model_version_id=row.id,
            from_stage=from_stage,
            to_stage=to.value,
            actor=actor,
            reason=reason,
            kind=kind,
            at=at,
        )
    )
    await append_event(
        session,
        STAGE_CHANGED,
        row.model.name,
        row.version,
        {"from": from_stage, "to": to.value, "kind": kind},
        at=at,
    )


async def rollback_rows(
    session: AsyncSession, model: ModelRow
) -> tuple[ModelVersionRow | None, ModelVersionRow]:
    """The current production row and the one a rollback restores: the most recent
    version, other than the current one, the audit trail shows moving to production and
    that is not archived.

    Raises:
        InvalidStageTransitionError: there is none to go back to.
    """
    current = await production_row(session, model)
    candidates = await session.scalars(
        select(ModelVersionRow)
        .join(StageTransitionRow, StageTransitionRow.model_version_id == ModelVersionRow.id)
        .where(
            ModelVersionRow.model_id == model.id,
            StageTransitionRow.to_stage == Stage.PRODUCTION.value,
            ModelVersionRow.stage != Stage.ARCHIVED.value,
        )
        .order_by(StageTransitionRow.id.desc())
    )
    current_id = None if current is None else current.id
    previous = next((r for r in candidates if r.id != current_id), None)
    if previous is None:
        raise InvalidStageTransitionError(
            f"model {model.name!r} has no previous production version to roll back to"
        )
    return current, previous


async def ensure_model(session: AsyncSession, name: str, at: datetime) -> ModelRow:
    """Insert the model row if absent (race-free), then lock and return it."""
    stmt = insert_ignoring(session, ModelRow, "name")
    await session.execute(stmt.values(name=name, created_at=at))
    return await model_row(session, name, lock=True)


def parse_stage(to: Stage | str) -> Stage:
    try:
        return Stage(to)
    except ValueError:
        allowed = ", ".join(s.value for s in Stage)
        raise InvalidArgumentError(f"unknown stage {to!r}; expected one of {allowed}") from None
