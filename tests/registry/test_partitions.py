"""The prediction log partitioned by day on PostgreSQL: partitions made ahead, a DEFAULT
partition as the safety net, whole days dropped by retention, older logs left as they are.

Each test gets a database of its own: the partitions one test makes and drops must not
change how another test's rows are stored.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateTable

from registry import ExperimentState, Pruned, Registry, UnavailableError
from registry.db import normalize_url
from registry.schema import PredictionRow
from registry.schema.base import utcnow
from registry.sql.partitions import partition_name
from tests.conftest import _asyncpg_dsn, _create_database, _drop_database, _run
from tests.helpers import execute_sql, experiment_in_state, make_outcome, make_prediction

DAY0 = date(2026, 5, 1)  # three old days: DAY0, DAY0 + 1, DAY0 + 2


def _at(day: date, hour: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of this test alone."""
    name = f"galgate_p_{secrets.token_hex(6)}"
    _run(lambda: _create_database(pg_server_url, name))
    try:
        yield _asyncpg_dsn(pg_server_url, name)
    finally:
        _run(lambda: _drop_database(pg_server_url, name))


async def _partitions(url: str) -> set[str]:
    rows = await execute_sql(
        url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'predictions'::regclass",
    )
    return {row[0] for row in rows}


async def _holder(url: str, prediction_id: str) -> str:
    rows = await execute_sql(
        url,
        "SELECT tableoid::regclass::text FROM predictions WHERE prediction_id = :p",
        {"p": prediction_id},
    )
    return rows[0][0]


async def test_new_postgres_log_is_partitioned_by_day_with_days_ahead_and_a_default(
    pg_url: str,
) -> None:
    async with await Registry.open(pg_url) as registry:
        today = utcnow().date()
        kind = await execute_sql(
            pg_url, "SELECT relkind::text FROM pg_class WHERE relname = 'predictions'"
        )
        assert kind[0][0] == "p"
        days = {partition_name(today + timedelta(days=i)) for i in range(8)}
        assert await _partitions(pg_url) == days | {"predictions_default"}

        now = utcnow()
        batch = [
            make_prediction("today", at=now),
            make_prediction("far-past", at=datetime(2001, 1, 1, tzinfo=UTC)),
            make_prediction("far-future", at=now + timedelta(days=400)),
        ]
        assert await registry.write_predictions(batch) == 3
        # A retried batch re-sends the same records: nothing new, and the count says so.
        assert await registry.write_predictions(batch) == 0
        assert await registry.write_predictions([*batch, make_prediction("new", at=now)]) == 1

        assert await _holder(pg_url, "today") == partition_name(today)
        assert await _holder(pg_url, "far-past") == "predictions_default"
        assert await _holder(pg_url, "far-future") == "predictions_default"
        assert (await registry.get_prediction("far-past")).at == batch[1].at
        found = await registry.get_predictions(["today", "far-past", "far-future", "absent"])
        assert set(found) == {"today", "far-past", "far-future"}
        count = await execute_sql(pg_url, "SELECT count(*) FROM predictions")
        assert count[0][0] == 4


async def test_lookups_by_prediction_id_use_each_partitions_primary_key_index(
    pg_url: str,
) -> None:
    async with await Registry.open(pg_url):
        pass
    # Tiny tables would be read whole whatever the indexes: forbid that, and any plan
    # left must read an index on every partition.
    for where in ("prediction_id = 'a'", "prediction_id IN ('a', 'b', 'c')"):
        plan = await _explain(pg_url, f"SELECT * FROM predictions WHERE {where}")
        assert "Seq Scan" not in plan
        assert plan.count("_pkey") == len(await _partitions(pg_url))


async def _explain(url: str, sql: str) -> str:
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            rows = await conn.execute(text(f"EXPLAIN {sql}"))
            return "\n".join(row[0] for row in rows)
    finally:
        await engine.dispose()


async def test_maintenance_leaves_a_day_the_default_partition_holds_rows_of(pg_url: str) -> None:
    async with await Registry.open(pg_url) as registry:
        later = utcnow().date() + timedelta(days=30)
        await registry.write_predictions([make_prediction("early", at=_at(later, 5))])
        assert await _holder(pg_url, "early") == "predictions_default"

        made = await registry.maintain_log(today=_at(later - timedelta(days=1), 0), days_ahead=2)

        assert made.partitioned
        assert made.created == (later - timedelta(days=1), later + timedelta(days=1))
        assert made.left_in_default == (later,)
        # The day stays in the DEFAULT partition; writes to it go on working.
        assert await registry.write_predictions([make_prediction("late", at=_at(later, 6))]) == 1
        assert await _holder(pg_url, "late") == "predictions_default"
        again = await registry.maintain_log(today=_at(later, 0), days_ahead=1)
        assert (again.created, again.left_in_default) == ((), (later,))


async def test_prune_drops_whole_old_days_and_keeps_what_active_experiments_need(
    pg_url: str,
) -> None:
    async with await Registry.open(pg_url) as registry:
        made = await registry.maintain_log(today=_at(DAY0, 0), days_ahead=2)
        assert made.created == (DAY0, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2))
        running = await experiment_in_state(registry, ExperimentState.RUNNING, name="live")
        stopped = await experiment_in_state(registry, ExperimentState.STOPPED, name="done")
        day1, day2 = DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)

        def pred(pid, day, hour, experiment=None):
            if experiment is None:
                return make_prediction(pid, at=_at(day, hour))
            return make_prediction(pid, at=_at(day, hour), model=experiment.spec.model,
                                   arm="control", experiment_id=experiment.id)  # fmt: skip

        await registry.write_predictions(
            [pred(f"d0-{i}", DAY0, i) for i in range(5)]
            + [pred("d1-live", day1, 1, running), pred("d1-done", day1, 2, stopped)]
            + [pred(f"d1-{i}", day1, 3 + i) for i in range(3)]
            + [pred(f"d2-early-{i}", day2, i) for i in range(4)]
            + [pred(f"d2-late-{i}", day2, 20 + i) for i in range(2)]
        )
        recent = utcnow()
        await registry.record_outcomes(
            [
                make_outcome("d0-0", at=_at(DAY0, 1)),  # old: goes
                make_outcome("d0-1", at=recent),  # recorded recently: stays
                make_outcome("d1-live", 1.0, metric_value=1.0, experiment_id=running.id,
                             arm="control", at=_at(day1, 1)),  # active experiment: stays
                make_outcome("d1-done", 2.0, metric_value=2.0, experiment_id=stopped.id,
                             arm="control", at=_at(day1, 2)),  # ended experiment: goes
            ]
        )  # fmt: skip
        aggregates = await registry.arm_aggregates(running.id)
        cutoff = _at(day2, 12)

        pruned = await registry.prune_log(cutoff, batch_size=2)

        # DAY0 dropped whole (5); day1 kept for its running experiment's row, its other
        # 4 rows deleted; day2 is partly older than the cutoff: 4 rows deleted.
        assert (pruned.predictions, pruned.outcomes) == (5 + 4 + 4, 2)
        attached = await _partitions(pg_url)
        assert partition_name(DAY0) not in attached
        assert {partition_name(day1), partition_name(day2)} <= attached
        tables = await execute_sql(
            pg_url,
            "SELECT relname FROM pg_class "
            "WHERE relkind = 'r' AND relname LIKE 'predictions_p2026050%'",
        )
        assert {row[0] for row in tables} == {partition_name(day1), partition_name(day2)}
        left = await registry.get_predictions(
            ["d1-live", "d1-done", "d1-0", "d2-early-0", "d2-late-0", "d2-late-1", "d0-1"]
        )
        assert set(left) == {"d1-live", "d2-late-0", "d2-late-1"}
        kept = [pid for pid in ("d0-0", "d0-1", "d1-live", "d1-done")
                if await registry.get_outcome(pid) is not None]  # fmt: skip
        assert kept == ["d0-1", "d1-live"]
        assert await registry.arm_aggregates(running.id) == aggregates
        assert await registry.prune_log(cutoff) == Pruned(0, 0)

        # Once the experiment ends, its day goes whole at the next pass.
        await registry.transition_experiment(running.id, ExperimentState.STOPPED, actor="test")
        again = await registry.prune_log(cutoff)
        assert again.predictions == 1
        assert partition_name(day1) not in await _partitions(pg_url)


async def test_concurrent_maintenance_and_prunes_from_two_registries_do_not_fail(
    pg_url: str,
) -> None:
    first, second = await Registry.open(pg_url), await Registry.open(pg_url)
    try:
        made = await asyncio.gather(
            *(r.maintain_log(today=_at(DAY0, 0), days_ahead=9) for r in (first, second))
        )
        created = [day for m in made for day in m.created]
        assert sorted(created) == [DAY0 + timedelta(days=i) for i in range(10)]
        await first.write_predictions(
            [make_prediction(f"p-{d}-{i}", at=_at(DAY0 + timedelta(days=d), i))
             for d in range(10) for i in range(3)]
        )  # fmt: skip

        pruned = await asyncio.gather(
            *(r.prune_log(_at(DAY0, 24 * 6 + 12)) for r in (first, second))
        )

        # Six whole days and half of the seventh: every row counted once, by one of them.
        assert sum(p.predictions for p in pruned) == 6 * 3 + 3
        remaining = await execute_sql(pg_url, "SELECT count(*) FROM predictions")
        assert remaining[0][0] == 3 * 3
        expired = await execute_sql(
            pg_url, "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_expired'"
        )
        assert expired[0][0] == 0
    finally:
        await first.close()
        await second.close()


async def test_a_detached_day_left_by_an_interrupted_prune_is_dropped_and_counted(
    pg_url: str,
) -> None:
    async with await Registry.open(pg_url) as registry:
        await registry.maintain_log(today=_at(DAY0, 0), days_ahead=0)
        await registry.write_predictions(
            [make_prediction(f"p-{i}", at=_at(DAY0, i)) for i in range(3)]
        )
        name = partition_name(DAY0)
        # What a crash between the detach and the drop leaves behind.
        await execute_sql(pg_url, f"ALTER TABLE predictions DETACH PARTITION {name}")
        await execute_sql(pg_url, f"ALTER TABLE {name} RENAME TO {name}_expired")

        pruned = await registry.prune_log(_at(DAY0, 48))

        assert pruned.predictions == 3
        gone = await execute_sql(pg_url, f"SELECT to_regclass('{name}_expired')")
        assert gone[0][0] is None


async def test_unpartitioned_postgres_log_keeps_its_layout_and_the_delete_path(
    pg_url: str,
) -> None:
    # A log made before partitioning: the plain table with its one-column primary key.
    ddl = str(CreateTable(PredictionRow.__table__).compile(dialect=postgresql.dialect()))
    await execute_sql(pg_url, ddl)

    async with await Registry.open(pg_url) as registry:
        kind = await execute_sql(
            pg_url, "SELECT relkind::text FROM pg_class WHERE relname = 'predictions'"
        )
        assert kind[0][0] == "r"
        assert (await registry.maintain_log()).partitioned is False
        assert await _partitions(pg_url) == set()
        batch = [make_prediction(f"old-{i}", at=_at(DAY0, i)) for i in range(4)]
        batch.append(make_prediction("new", at=utcnow()))
        assert await registry.write_predictions(batch) == 5
        assert await registry.write_predictions(batch) == 0

        pruned = await registry.prune_log(_at(DAY0, 48), batch_size=3)

        assert pruned.predictions == 4
        assert set(await registry.get_predictions([p.prediction_id for p in batch])) == {"new"}


async def test_a_locked_log_neither_stops_an_open_nor_lets_a_prune_hang(pg_url: str) -> None:
    async with await Registry.open(pg_url) as registry:
        await registry.maintain_log(today=_at(DAY0, 0), days_ahead=0)
        await registry.write_predictions([make_prediction("old", at=_at(DAY0, 1))])
    tomorrow = utcnow().date() + timedelta(days=1)
    await execute_sql(pg_url, f"DROP TABLE {partition_name(tomorrow)}")
    holder = await asyncpg.connect(pg_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")

        # The missing day cannot be made now: the open goes on (the DEFAULT partition
        # takes such rows), and a prune gives up with a retryable error, deleting nothing.
        async with await Registry.open(pg_url) as registry:
            with pytest.raises(UnavailableError):
                await registry.prune_log(_at(DAY0, 48))
        await transaction.rollback()
    finally:
        await holder.close()

    async with await Registry.open(pg_url) as registry:
        assert partition_name(tomorrow) in await _partitions(pg_url)
        assert (await registry.prune_log(_at(DAY0, 48))).predictions == 1
