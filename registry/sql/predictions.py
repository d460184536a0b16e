"""The prediction log and outcomes inside a transaction: batch insert, exactly-once, sums."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import case, func, literal, select
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import insert_ignoring
from registry.entities import (
    PREDICTION_COLUMNS,
    ArmAggregate,
    OutcomeRecord,
    PredictionRecord,
    PredictionRowTuple,
)
from registry.errors import InvalidArgumentError, OutcomeConflictError
from registry.rules.experiments import ARMS
from registry.rules.values import MAX_ID, as_utc, is_finite_number
from registry.schema import OutcomeRow, PredictionRow
from registry.sql.experiment_reads import get as get_experiment

MAX_ID_LENGTH = 64
# Outcome and metric values beyond this are refused: fourth powers of them summed over
# any number of rows a database can hold stay finite, so per-arm moments never overflow.
MAX_OUTCOME_MAGNITUDE = 1e60
MAX_ARM_LENGTH = 16
# Ids per IN (...) lookup: well under SQLite's and asyncpg's bound-parameter limits.
_LOOKUP_CHUNK = 1000

_PREDICTIONS = PredictionRow.__table__
_OUTCOMES = OutcomeRow.__table__


def _check_id(kind: str, prediction_id: Any) -> None:
    if (
        not isinstance(prediction_id, str)
        or not prediction_id
        or len(prediction_id) > MAX_ID_LENGTH
    ):
        raise InvalidArgumentError(
            f"{kind}.prediction_id must be a non-empty string of at most {MAX_ID_LENGTH} "
            f"characters, got {prediction_id!r}"
        )


def _check_arm(kind: str, arm: Any) -> None:
    if not isinstance(arm, str) or len(arm) > MAX_ARM_LENGTH:
        raise InvalidArgumentError(
            f"{kind}.arm must be a string of at most {MAX_ARM_LENGTH} characters, got {arm!r}"
        )


def _check_prediction(record: PredictionRecord) -> None:
    """The checks every write path makes on a record before binding it."""
    if not isinstance(record, PredictionRecord):
        raise InvalidArgumentError(f"expected a PredictionRecord, got {type(record).__name__}")
    _check_id("PredictionRecord", record.prediction_id)
    _check_arm("PredictionRecord", record.arm)
    experiment_id = record.experiment_id
    if experiment_id is not None and (
        not isinstance(experiment_id, int) or not 0 < experiment_id <= MAX_ID
    ):
        raise InvalidArgumentError(
            f"PredictionRecord.experiment_id must be None or an id from 1 to {MAX_ID}, "
            f"got {experiment_id!r}"
        )


_WIDTH = len(PREDICTION_COLUMNS)


def record_row(record: PredictionRecord) -> PredictionRowTuple:
    """The row of a record (checked as every write path checks it)."""
    _check_prediction(record)
    return (
        record.prediction_id, as_utc(record.at).timestamp(), record.model, record.version,
        record.arm, record.experiment_id, record.routing_key, int(record.rows),
        bytes(record.inputs), bytes(record.outputs), float(record.predicted),
        int(record.latency_us),
    )  # fmt: skip


def _check_row(row: Any) -> None:
    """The checks every write path makes on a row before binding it."""
    if type(row) is not tuple or len(row) != _WIDTH:
        raise InvalidArgumentError(
            f"a prediction row must be a tuple of the {_WIDTH} PREDICTION_COLUMNS, got "
            f"{type(row).__name__}"
        )
    pid, at, arm, experiment_id = row[0], row[1], row[4], row[5]
    _check_id("prediction row", pid)
    _check_arm("prediction row", arm)
    if experiment_id is not None and (
        type(experiment_id) is not int or not 0 < experiment_id <= MAX_ID
    ):
        raise InvalidArgumentError(
            f"prediction row {pid!r}: experiment_id must be None or an id from 1 to {MAX_ID}, "
            f"got {experiment_id!r}"
        )
    if type(at) is not float or not 0.0 <= at < _MAX_AT:
        raise InvalidArgumentError(
            f"prediction row {pid!r}: at must be seconds since the epoch as a float, from 0 "
            f"(1970) to 2**32 (2106), got {at!r}"
        )


# Seconds as a float keep the microsecond exactly up to 2**32 (2106-02-07).
_MAX_AT = float(2**32)


async def write_predictions(session: AsyncSession, rows: Sequence[PredictionRowTuple]) -> int:
    """Insert a batch of prediction rows, skipping ids already stored.

    On PostgreSQL, binary COPY then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
    (:func:`_write_predictions_postgresql`); on SQLite, multi-row ``INSERT OR IGNORE``
    statements (:func:`_write_predictions_sqlite`). Either way a retried batch is
    idempotent and the count is exact.

    Args:
        session: a session inside a write transaction.
        rows: the predictions, as PREDICTION_COLUMNS tuples (see :func:`record_row`).

    Returns:
        How many rows were inserted (duplicates of stored ids are not counted).

    Raises:
        InvalidArgumentError: a malformed row, or a bad id, arm, experiment id or time.
    """
    if not rows:
        return 0
    for row in rows:
        _check_row(row)
    if session.bind.dialect.name == "sqlite":
        return await _write_predictions_sqlite(session, rows)
    return await _write_predictions_postgresql(session, rows)


# Per connection, a temporary table the batch is copied into; emptied at every commit.
# ``at`` travels as float8 seconds (cheaper to encode than a timestamp) and becomes a
# timestamptz, rounded to the microsecond, in the INSERT ... SELECT.
_PG_STAGING = "galgate_predictions_staged"
_PG_CREATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PG_STAGING} (prediction_id varchar(64), "
    "at float8, model varchar(128), version varchar(64), arm varchar(16), "
    "experiment_id bigint, routing_key text, rows integer, inputs bytea, outputs bytea, "
    "predicted float8, latency_us bigint) ON COMMIT DELETE ROWS"
)
_PG_SELECT = ", ".join("to_timestamp(at)" if c == "at" else c for c in PREDICTION_COLUMNS)
# No conflict target: the key is (prediction_id, at) on a partitioned log and
# (prediction_id) on one made before partitioning; a retried batch re-sends identical
# rows, so either key skips exactly the rows already stored.
_PG_MOVE = (
    f"WITH moved AS (INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)}) "
    f"SELECT {_PG_SELECT} FROM {_PG_STAGING} "
    "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM moved"
)


async def _write_predictions_postgresql(
    session: AsyncSession, rows: Sequence[PredictionRowTuple]
) -> int:
    """The log writer's path on PostgreSQL: binary COPY into a per-connection temporary
    table, then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, in the caller's
    transaction. COPY binds nothing per row, several times cheaper than a parameterised
    multi-row INSERT; the conflict clause keeps a retried batch idempotent and the count
    exact. The first statement goes through SQLAlchemy, so the driver's transaction is
    open before COPY runs on the same connection.
    """
    connection = await session.connection()
    await connection.exec_driver_sql(_PG_CREATE_STAGING)
    driver = (await connection.get_raw_connection()).driver_connection
    try:
        await driver.copy_records_to_table(_PG_STAGING, records=rows, columns=PREDICTION_COLUMNS)
        return int(await driver.fetchval(_PG_MOVE))
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # Raised by the driver itself, not through SQLAlchemy: wrap it as SQLAlchemy
        # would, so translate_error maps it like any other database failure.
        wrapper = InterfaceError if isinstance(exc, asyncpg.InterfaceError) else DBAPIError
        raise wrapper(_PG_MOVE, None, exc) from exc  # type: ignore[arg-type]


_SQLITE_INSERT = f"INSERT OR IGNORE INTO predictions ({', '.join(PREDICTION_COLUMNS)}) VALUES "
_SQLITE_ROW = "(" + ", ".join("?" * _WIDTH) + ")"
# Rows per statement: 12 parameters each stays far below SQLite's 32766-variable limit.
_SQLITE_ROWS_PER_STATEMENT = 500


class _SqliteTimes:
    """``at`` as the UTCDateTime column type writes it on SQLite (naive UTC ISO with
    microseconds, rounded half-even like ``datetime.fromtimestamp``), the
    ``YYYY-MM-DD HH:MM:SS`` part formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, at: float) -> str:
        fraction, whole = math.modf(at)
        second, micros = int(whole), round(fraction * 1e6)
        if micros == 1_000_000:
            second, micros = second + 1, 0
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{micros:06d}"


async def _write_predictions_sqlite(
    session: AsyncSession, rows: Sequence[PredictionRowTuple]
) -> int:
    """The log writer's path on SQLite: multi-row INSERTs of plain parameters.

    This runs beside the hot path on the same cores. SQLAlchemy's per-row parameter
    processing cost several times the insert itself, and an executemany releases and
    retakes the GIL around every row's step, bouncing it against the event loop thread;
    one statement per 500 rows binds everything at once and steps once. SQLite counts
    only the rows ``INSERT OR IGNORE`` really inserted.
    """
    times = _SqliteTimes()
    connection = await session.connection()
    written = 0
    for start in range(0, len(rows), _SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + _SQLITE_ROWS_PER_STATEMENT]
        params: list[object] = []
        for row in chunk:
            params += row
        # Replace each row's epoch seconds (the second of its 12 values) by its text.
        for i in range(1, len(params), _WIDTH):
            params[i] = times.format(params[i])
        sql = _SQLITE_INSERT + ", ".join([_SQLITE_ROW] * len(chunk))
        written += (await connection.exec_driver_sql(sql, tuple(params))).rowcount
    return written


async def get_prediction(session: AsyncSession, prediction_id: str) -> PredictionRecord | None:
    """Return the stored prediction, or None."""
    row = await session.get(PredictionRow, prediction_id)
    return None if row is None else row.to_entity()


async def get_predictions(
    session: AsyncSession, prediction_ids: Sequence[str]
) -> dict[str, PredictionRecord]:
    """The stored predictions among ``prediction_ids``, by id (absent ids are left out)."""
    found: dict[str, PredictionRecord] = {}
    unique = list(dict.fromkeys(prediction_ids))
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start : start + _LOOKUP_CHUNK]
        # Core rows, not ORM instances: outcomes look up hundreds of these per second.
        rows = await session.execute(
            select(_PREDICTIONS).where(_PREDICTIONS.c.prediction_id.in_(chunk))
        )
        found.update((row.prediction_id, PredictionRecord(**row._mapping)) for row in rows)
    return found


def _check_outcome(outcome: OutcomeRecord) -> None:
    if not isinstance(outcome, OutcomeRecord):
        raise InvalidArgumentError(f"expected an OutcomeRecord, got {type(outcome).__name__}")
    _check_id("OutcomeRecord", outcome.prediction_id)
    _check_arm("OutcomeRecord", outcome.arm)
    for field in ("value", "metric_value"):
        value = getattr(outcome, field)
        if value is None and field == "metric_value":
            continue
        if not is_finite_number(value) or abs(value) > MAX_OUTCOME_MAGNITUDE:
            raise InvalidArgumentError(
                f"OutcomeRecord.{field} of prediction {outcome.prediction_id!r} must be a "
                f"finite number within ±{MAX_OUTCOME_MAGNITUDE:g}, got {value!r}"
            )


async def _stored_values(session: AsyncSession, ids: Sequence[str]) -> dict[str, float]:
    stored: dict[str, float] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        rows = await session.execute(
            select(OutcomeRow.prediction_id, OutcomeRow.value).where(
                OutcomeRow.prediction_id.in_(chunk)
            )
        )
        stored.update((pid, value) for pid, value in rows)
    return stored


def _duplicate(prediction_id: str, stored: float, new: float) -> bool:
    if float(stored) != float(new):
        raise OutcomeConflictError(prediction_id, stored, new)
    return True


async def record_outcomes(session: AsyncSession, outcomes: Sequence[OutcomeRecord]) -> list[bool]:
    """Store each outcome exactly once; a resent identical value is a harmless duplicate.

    The caller's transaction must be rolled back when this raises, so that nothing of the
    batch is written.

    Args:
        session: a session inside a write transaction.
        outcomes: the outcomes, in the caller's order.

    Returns:
        For each outcome, True when it was already stored with the same value (or repeats
        an earlier outcome of the same batch), False when it is new.

    Raises:
        InvalidArgumentError: a malformed outcome (bad id or arm, non-finite value).
        OutcomeConflictError: an outcome for that prediction is stored (or earlier in the
            batch) with a different value.
    """
    for outcome in outcomes:
        _check_outcome(outcome)
    ids = list(dict.fromkeys(o.prediction_id for o in outcomes))
    stored = await _stored_values(session, ids)
    flags: list[bool] = []
    pending: dict[str, float] = {}
    params: list[dict[str, Any]] = []
    for o in outcomes:
        pid = o.prediction_id
        if pid in stored:
            flags.append(_duplicate(pid, stored[pid], o.value))
        elif pid in pending:
            flags.append(_duplicate(pid, pending[pid], o.value))
        else:
            flags.append(False)
            pending[pid] = float(o.value)
            params.append(
                {
                    "prediction_id": pid,
                    "value": float(o.value),
                    "metric_value": None if o.metric_value is None else float(o.metric_value),
                    "experiment_id": o.experiment_id,
                    "arm": o.arm,
                    "at": o.at,
                }
            )
    if not params:
        return flags
    stmt = insert_ignoring(session, _OUTCOMES, "prediction_id").returning(_OUTCOMES.c.prediction_id)
    inserted = set((await session.execute(stmt, params)).scalars())
    missed = [pid for pid in pending if pid not in inserted]
    if missed:
        # Another transaction stored these between our read and our insert (PostgreSQL
        # READ COMMITTED; SQLite's single writer cannot interleave): its values decide.
        raced = await _stored_values(session, missed)
        for i, o in enumerate(outcomes):
            if o.prediction_id in raced and not flags[i]:
                flags[i] = _duplicate(o.prediction_id, raced[o.prediction_id], o.value)
    return flags


async def get_outcome(session: AsyncSession, prediction_id: str) -> OutcomeRecord | None:
    """Return the stored outcome, or None."""
    row = await session.get(OutcomeRow, prediction_id)
    return None if row is None else row.to_entity()


async def arm_aggregates(session: AsyncSession, experiment_id: int) -> dict[str, ArmAggregate]:
    """Each arm's logged predictions and the central moments of its metric values.

    ``predictions`` counts logged prediction records (requests) of the arm; ``outcomes``
    and the moments cover the outcomes whose ``metric_value`` is not NULL. The moments
    come from two passes in SQL: the mean a, then Σ(x − a)^k for k = 1..4, turned into
    central sums around the exact mean. Sums of raw squares would lose the variance at
    large offsets (prices, PnL in account units); these stay exact to rounding.

    Args:
        session: a session inside a read transaction (one snapshot for every pass).
        experiment_id: the experiment.

    Returns:
        {"control": ArmAggregate, "treatment": ArmAggregate}, zeros where nothing is stored.

    Raises:
        ExperimentNotFoundError: unknown id.
    """
    await get_experiment(session, experiment_id)
    counts: dict[str, int] = {}
    for arm, n in await session.execute(
        select(PredictionRow.arm, func.count())
        .where(PredictionRow.experiment_id == experiment_id)
        .group_by(PredictionRow.arm)
    ):
        counts[arm] = int(n)
    metric = OutcomeRow.metric_value
    counted = (OutcomeRow.experiment_id == experiment_id, metric.is_not(None))
    shifts: dict[str, tuple[int, float]] = {}
    for arm, n, avg in await session.execute(
        select(OutcomeRow.arm, func.count(metric), func.avg(metric))
        .where(*counted)
        .group_by(OutcomeRow.arm)
    ):
        shifts[arm] = (int(n), float(avg or 0.0))
    sums: dict[str, tuple[float, float, float, float]] = {}
    if shifts:
        shift = case(
            *((OutcomeRow.arm == arm, literal(a)) for arm, (_, a) in shifts.items()),
            else_=literal(0.0),
        )
        d = metric - shift
        for arm, s1, s2, s3, s4 in await session.execute(
            select(
                OutcomeRow.arm,
                func.sum(d),
                func.sum(d * d),
                func.sum(d * d * d),
                func.sum(d * d * d * d),
            )
            .where(*counted)
            .group_by(OutcomeRow.arm)
        ):
            sums[arm] = (float(s1 or 0.0), float(s2 or 0.0), float(s3 or 0.0), float(s4 or 0.0))
    result: dict[str, ArmAggregate] = {}
    for arm in ARMS:
        n, a = shifts.get(arm, (0, 0.0))
        if n == 0:
            result[arm] = ArmAggregate(arm=arm, predictions=counts.get(arm, 0), outcomes=0)
            continue
        s1, s2, s3, s4 = sums[arm]
        e = s1 / n  # the exact mean is a + e
        m2 = s2 - n * e * e
        m3 = s3 - 3.0 * e * s2 + 2.0 * n * e**3
        m4 = s4 - 4.0 * e * s3 + 6.0 * e * e * s2 - 3.0 * n * e**4
        result[arm] = ArmAggregate(
            arm=arm,
            predictions=counts.get(arm, 0),
            outcomes=n,
            mean=a + e,
            m2=max(m2, 0.0),
            m3=m3,
            m4=max(m4, 0.0),
        )
    return result
