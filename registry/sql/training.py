"""Training rows inside a transaction: a model's single-row predictions joined with outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, LargeBinary, String, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.entities import TrainingData
from registry.schema.base import UTCDateTime

# SQLite's CROSS JOIN keeps the tables in the written order (outcomes outside, each
# prediction found by its primary key); a plain JOIN lets PostgreSQL plan for itself.
_JOIN = {"sqlite": "CROSS JOIN"}


def _statement(dialect: str, since: bool, until: bool):
    window = (" AND p.at >= :since" if since else "") + (" AND p.at < :until" if until else "")
    sql = (
        "SELECT p.inputs, o.value, p.at, p.version FROM outcomes AS o "
        f"{_JOIN.get(dialect, 'JOIN')} predictions AS p ON p.prediction_id = o.prediction_id "
        f"WHERE p.model = :model AND p.rows = 1{window} "
        "ORDER BY p.at DESC, p.prediction_id DESC LIMIT :limit"
    )
    params = [bindparam("model", type_=String()), bindparam("limit")]
    if since:
        params.append(bindparam("since", type_=UTCDateTime()))
    if until:
        params.append(bindparam("until", type_=UTCDateTime()))
    return (
        text(sql)
        .bindparams(*params)
        .columns(inputs=LargeBinary(), value=Float(), at=UTCDateTime(), version=String())
    )


async def training_data(
    session: AsyncSession,
    model: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> TrainingData:
    """The newest ``limit`` single-row predictions of ``model`` made in [since, until)
    that have an outcome, returned oldest first.

    The outcomes drive the join: every joined row has one, there are at most as many of
    them as predictions, and each finds its prediction by primary key. SQLite is told so
    (its log has no index on ``model`` or ``at``, which every log write would pay for,
    and without statistics it would scan the predictions instead). On PostgreSQL the
    bounds on the prediction's ``at`` let the planner skip the day partitions (and BRIN
    block ranges) outside the window. One row more than ``limit`` is read to tell whether
    the window held more.

    Args:
        session: a session inside a read transaction.
        model: the model name.
        since: the earliest prediction time kept (inclusive), or None.
        until: the prediction time the window ends before (exclusive), or None.
        limit: the most rows returned (checked by the caller).
    """
    stmt = _statement(session.bind.dialect.name, since is not None, until is not None)
    params: dict[str, object] = {"model": model, "limit": limit + 1}
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    rows = list(await session.execute(stmt, params))
    truncated = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return TrainingData(
        model=model,
        inputs=tuple(bytes(r[0]) for r in rows),
        values=tuple(float(r[1]) for r in rows),
        at=tuple(r[2] for r in rows),
        versions=tuple(r[3] for r in rows),
        since=since,
        until=until,
        limit=limit,
        truncated=truncated,
    )
