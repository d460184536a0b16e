"""Retention of the prediction log: old rows go in bounded batches, rows still needed stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry import ExperimentState, InvalidArgumentError, Registry
from tests.helpers import execute_sql, experiment_in_state, make_outcome, make_prediction

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD, NEW = NOW - timedelta(days=30), NOW - timedelta(hours=1)
CUTOFF = NOW - timedelta(days=7)


async def _stored(registry: Registry, ids) -> set[str]:
    return set(await registry.get_predictions(list(ids)))


async def _outcomes(registry: Registry, ids) -> set[str]:
    return {i for i in ids if await registry.get_outcome(i) is not None}


async def test_prune_deletes_rows_older_than_the_cutoff_and_keeps_newer(registry) -> None:
    await registry.write_predictions(
        [make_prediction(f"old-{i}", at=OLD + timedelta(seconds=i)) for i in range(5)]
        + [make_prediction(f"new-{i}", at=NEW) for i in range(3)]
    )
    await registry.record_outcomes(
        [
            make_outcome("old-0", at=OLD),
            make_outcome("old-1", at=NEW),
            make_outcome("new-0", at=NEW),
        ]
    )

    pruned = await registry.prune_log(CUTOFF)

    assert (pruned.predictions, pruned.outcomes) == (5, 1)
    everything = [f"old-{i}" for i in range(5)] + [f"new-{i}" for i in range(3)]
    assert await _stored(registry, everything) == {"new-0", "new-1", "new-2"}
    # An outcome recorded recently for an old prediction is within retention.
    assert await _outcomes(registry, everything) == {"old-1", "new-0"}
    assert (await registry.prune_log(CUTOFF)).predictions == 0


async def test_prune_keeps_what_an_active_experiment_still_needs(registry) -> None:
    running = await experiment_in_state(registry, ExperimentState.RUNNING, name="live")
    stopped = await experiment_in_state(registry, ExperimentState.STOPPED, name="done")

    def pred(pid, experiment):
        return make_prediction(pid, at=OLD, model=experiment.spec.model, arm="control",
                               experiment_id=experiment.id)  # fmt: skip

    await registry.write_predictions(
        [pred("waiting", running), pred("answered", running), pred("ended", stopped)]
    )
    await registry.record_outcomes(
        [
            make_outcome(
                "answered", 1.0, metric_value=1.0, experiment_id=running.id, arm="control", at=OLD
            ),
            make_outcome(
                "ended", 2.0, metric_value=2.0, experiment_id=stopped.id, arm="control", at=OLD
            ),
        ]
    )
    before = await registry.arm_aggregates(running.id)

    pruned = await registry.prune_log(CUTOFF)

    assert (pruned.predictions, pruned.outcomes) == (1, 1)
    ids = ("waiting", "answered", "ended")
    # The running experiment's rows stay (its outcomes may yet arrive, its statistics
    # count them); the ended experiment's go.
    assert await _stored(registry, ids) == {"waiting", "answered"}
    assert await _outcomes(registry, ids) == {"answered"}
    assert await registry.arm_aggregates(running.id) == before


async def test_prune_in_batches_goes_oldest_first_and_stops_at_max_batches(registry) -> None:
    await registry.write_predictions(
        [make_prediction(f"p-{i}", at=OLD + timedelta(minutes=i)) for i in range(10)]
    )

    first = await registry.prune_log(CUTOFF, batch_size=3, max_batches=1)

    assert first.predictions == 3
    assert await _stored(registry, [f"p-{i}" for i in range(3)]) == set()
    rest = await registry.prune_log(CUTOFF, batch_size=3)
    assert rest.predictions == 7
    assert await _stored(registry, [f"p-{i}" for i in range(10)]) == set()


@pytest.mark.parametrize(
    ("before", "batch_size", "message"),
    [
        ("2026-01-01", 10, "before must be a datetime"),
        (NOW, 0, "batch_size must be an integer from 1 to 100000"),
        (NOW, 100_001, "batch_size must be an integer from 1 to 100000"),
        (NOW, 2.5, "batch_size must be an integer"),
    ],
)
async def test_prune_bad_arguments_raise_invalid_argument(
    registry, before, batch_size, message
) -> None:
    await registry.write_predictions([make_prediction("kept", at=OLD)])
    with pytest.raises(InvalidArgumentError, match=message):
        await registry.prune_log(before, batch_size=batch_size)
    assert await _stored(registry, ["kept"]) == {"kept"}


async def test_opening_an_older_database_adds_the_retention_indexes(db_url: str) -> None:
    registry = await Registry.open(db_url)
    await registry.close()
    if db_url.startswith("sqlite"):
        # SQLite walks the log in rowid order: no index for every write to pay for.
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%_at'"
        assert await execute_sql(db_url, sql) == []
        return
    await execute_sql(db_url, "DROP INDEX ix_predictions_at")
    await execute_sql(db_url, "DROP INDEX ix_outcomes_at")

    registry = await Registry.open(db_url)
    await registry.close()

    sql = "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix_%_at'"
    found = {row[0]: row[1] for row in await execute_sql(db_url, sql)}
    assert set(found) == {"ix_predictions_at", "ix_outcomes_at"}
    assert all("USING brin" in definition for definition in found.values())
