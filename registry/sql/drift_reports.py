"""Drift reports inside a write or read transaction: record one, read one, list them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.errors import DriftReportNotFoundError, InvalidArgumentError
from registry.rules.health import check_row_id
from registry.schema import DriftReportRow, ModelVersionRow, utcnow
from registry.sql.lookups import model_row, version_row


async def record(
    session: AsyncSession,
    *,
    model: str,
    version: str,
    drift: bool,
    kinds: list[str],
    live_rows: int,
    outcomes: int,
    summary: str,
    details: Mapping[str, Any],
) -> DriftReportRow:
    """Insert one report of a registered version; the values are checked already.

    Raises:
        ModelNotFoundError, VersionNotFoundError: unknown model or version.
    """
    mv = await version_row(session, await model_row(session, model), version)
    row = DriftReportRow(
        model_version=mv,
        created_at=utcnow(),
        drift=drift,
        kinds=list(kinds),
        live_rows=live_rows,
        outcomes=outcomes,
        summary=summary,
        details=dict(details),
    )
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, report_id: int) -> DriftReportRow:
    """Return one report.

    Raises:
        InvalidArgumentError: ``report_id`` is not an integer.
        DriftReportNotFoundError: no report has that id.
    """
    check_row_id(report_id, DriftReportNotFoundError)
    row = await session.scalar(select(DriftReportRow).where(DriftReportRow.id == report_id))
    if row is None:
        raise DriftReportNotFoundError(report_id)
    return row


async def list_rows(
    session: AsyncSession,
    *,
    model: str | None,
    version: str | None,
    drift_only: bool,
    limit: int,
    before_id: int | None,
) -> list[DriftReportRow]:
    """Return reports newest first (by id), filtered; the page arguments are checked.

    Raises:
        InvalidArgumentError: a version without its model, or a non-bool ``drift_only``.
        ModelNotFoundError, VersionNotFoundError: unknown model or version.
    """
    if not isinstance(drift_only, bool):
        raise InvalidArgumentError(f"drift_only must be True or False, got {drift_only!r}")
    stmt = select(DriftReportRow).order_by(DriftReportRow.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(DriftReportRow.id < before_id)
    if drift_only:
        stmt = stmt.where(DriftReportRow.drift)
    if version is not None:
        if model is None:
            raise InvalidArgumentError(f"version {version!r} is given without its model")
        mv = await version_row(session, await model_row(session, model), version)
        stmt = stmt.where(DriftReportRow.model_version_id == mv.id)
    elif model is not None:
        of_model = select(ModelVersionRow.id).where(
            ModelVersionRow.model_id == (await model_row(session, model)).id
        )
        stmt = stmt.where(DriftReportRow.model_version_id.in_(of_model))
    return list(await session.scalars(stmt))
