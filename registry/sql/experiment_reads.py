"""Experiment reads inside a transaction: one experiment, lists, audit rows, running routes."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.entities import (
    ExperimentRoute,
    ExperimentState,
    ServedVersion,
)
from registry.errors import (
    ExperimentNotFoundError,
)
from registry.rules.experiments import (
    check_id,
    parse_state,
)
from registry.schema import (
    ExperimentRow,
    ExperimentTransitionRow,
)
from registry.sql.lookups import model_row

_R = ExperimentState.RUNNING


async def get(session: AsyncSession, experiment_id: int, *, lock: bool = False) -> ExperimentRow:
    """Return the experiment row (locked FOR UPDATE when ``lock``).

    Raises:
        ExperimentNotFoundError: no experiment has that id.
    """
    check_id(experiment_id)
    stmt = select(ExperimentRow).where(ExperimentRow.id == experiment_id)
    if lock:
        stmt = stmt.with_for_update(of=ExperimentRow).execution_options(populate_existing=True)
    row = await session.scalar(stmt)
    if row is None:
        raise ExperimentNotFoundError(experiment_id)
    return row


async def list_rows(
    session: AsyncSession,
    *,
    model: str | None,
    states: Iterable[ExperimentState | str] | None,
) -> list[ExperimentRow]:
    """Return experiments ordered by id, optionally of one model and in some states.

    Raises:
        ModelNotFoundError: ``model`` is not registered.
        InvalidArgumentError: an unknown state name.
    """
    stmt = select(ExperimentRow).order_by(ExperimentRow.id)
    if states is not None:
        if isinstance(states, str):
            states = [states]
        wanted = sorted({parse_state(s).value for s in states})
        stmt = stmt.where(ExperimentRow.state.in_(wanted))
    if model is not None:
        stmt = stmt.where(ExperimentRow.model_id == (await model_row(session, model)).id)
    return list(await session.scalars(stmt))


async def history(session: AsyncSession, experiment_id: int) -> list[ExperimentTransitionRow]:
    """Return an experiment's audit rows, oldest first.

    Raises:
        ExperimentNotFoundError: unknown id.
    """
    await get(session, experiment_id)
    rows = await session.scalars(
        select(ExperimentTransitionRow)
        .where(ExperimentTransitionRow.experiment_id == experiment_id)
        .order_by(ExperimentTransitionRow.id)
    )
    return list(rows)


async def running_routes(session: AsyncSession) -> dict[str, ExperimentRoute]:
    """Return the routing configuration of every running experiment, by model name."""
    rows = await session.scalars(
        select(ExperimentRow).where(ExperimentRow.state == _R.value).order_by(ExperimentRow.id)
    )
    routes: dict[str, ExperimentRoute] = {}
    for row in rows:
        name = row.model.name
        routes[name] = ExperimentRoute(
            id=row.id,
            model=name,
            control=ServedVersion(name, row.control.version, row.control.sha256),
            treatment=ServedVersion(name, row.treatment.version, row.treatment.sha256),
            strategy=row.strategy,
            split=row.split,
            epsilon=row.epsilon,
            metric=row.metric,
            min_samples=row.min_samples,
        )
    return dict(sorted(routes.items()))
