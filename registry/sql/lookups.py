"""Row lookups shared by the stores, inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.entities import Stage
from registry.errors import ModelNotFoundError, VersionNotFoundError
from registry.schema import ModelRow, ModelVersionRow


async def model_row(session: AsyncSession, name: str, *, lock: bool = False) -> ModelRow:
    """Return the model row, locked FOR UPDATE until the transaction ends when ``lock``.

    Raises:
        ModelNotFoundError: no model has that name.
    """
    stmt = select(ModelRow).where(ModelRow.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise ModelNotFoundError(name)
    return row


async def version_row(session: AsyncSession, model: ModelRow, version: str) -> ModelVersionRow:
    """Return the row of one version of ``model``.

    Raises:
        VersionNotFoundError: the model has no such version.
    """
    row = await session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model_id == model.id, ModelVersionRow.version == version
        )
    )
    if row is None:
        raise VersionNotFoundError(model.name, version)
    return row


async def production_row(session: AsyncSession, model: ModelRow) -> ModelVersionRow | None:
    """Return the row of ``model``'s production version, or None when it has none."""
    return await session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model_id == model.id,
            ModelVersionRow.stage == Stage.PRODUCTION.value,
        )
    )
