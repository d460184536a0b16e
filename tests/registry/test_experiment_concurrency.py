"""Concurrent experiment writers on separate engines: one active per model, one winner."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from registry import (
    Experiment,
    ExperimentConflictError,
    ExperimentPreconditionError,
    ExperimentState,
    Registry,
)
from registry.db import normalize_url
from tests.helpers import experiment_in_state, experiment_pair, make_experiment_spec, race

RACERS = 8


async def test_concurrent_create_experiment_leaves_exactly_one_active(
    registry: Registry, db_url: str
) -> None:
    await experiment_pair(registry)

    results = await race(
        db_url,
        RACERS,
        lambda reg, i: reg.create_experiment(make_experiment_spec(name=f"r{i}"), actor=f"r{i}"),
    )

    winners = [r for r in results if isinstance(r, Experiment)]
    losers = [r for r in results if isinstance(r, ExperimentConflictError)]
    assert len(winners) == 1, results
    assert len(losers) == RACERS - 1, results
    assert all(e.active_id == winners[0].id for e in losers)
    active = await registry.list_experiments(states=[ExperimentState.RUNNING])
    assert [e.id for e in active] == [winners[0].id]
    events = [e for e in await registry.events_since(0) if e.kind == "experiment_changed"]
    assert [e.payload["id"] for e in events] == [winners[0].id]


async def test_concurrent_start_of_created_experiments_leaves_exactly_one_active(
    registry: Registry, db_url: str
) -> None:
    await experiment_pair(registry)
    created = [
        await registry.create_experiment(make_experiment_spec(), start=False) for _ in range(4)
    ]

    results = await race(
        db_url,
        len(created),
        lambda reg, i: reg.transition_experiment(created[i].id, ExperimentState.RUNNING),
    )

    winners = [r for r in results if isinstance(r, Experiment)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Experiment | ExperimentConflictError) for r in results), results
    running = await registry.list_experiments(states=[ExperimentState.RUNNING])
    assert [e.id for e in running] == [winners[0].id]


async def test_racing_completions_have_exactly_one_winner(registry: Registry, db_url: str) -> None:
    exp = await experiment_in_state(registry, ExperimentState.RUNNING)

    results = await race(
        db_url,
        4,
        lambda reg, i: reg.transition_experiment(
            exp.id,
            ExperimentState.COMPLETED,
            actor=f"monitor-{i}",
            winner="treatment" if i % 2 else "control",
            final_results={"monitor": i},
        ),
    )

    winners = [r for r in results if isinstance(r, Experiment)]
    losers = [r for r in results if isinstance(r, ExperimentPreconditionError)]
    assert len(winners) == 1, results
    assert len(losers) == 3, results
    assert all("from completed to completed" in str(e) for e in losers)
    stored = await registry.get_experiment(exp.id)
    assert stored == winners[0]
    history = await registry.experiment_history(exp.id)
    completions = [h for h in history if h.to_state is ExperimentState.COMPLETED]
    assert len(completions) == 1
    assert completions[0].actor == f"monitor-{stored.final_results['monitor']}"


async def test_racing_tau2_writers_all_see_the_first_value(registry: Registry, db_url: str) -> None:
    exp = await experiment_in_state(registry, ExperimentState.RUNNING)

    results = await race(db_url, 4, lambda reg, i: reg.set_experiment_tau2(exp.id, 1.0 + i))

    assert all(isinstance(r, Experiment) for r in results), results
    values = {r.tau2 for r in results if isinstance(r, Experiment)}
    assert len(values) == 1
    [stored] = values
    assert stored in {1.0, 2.0, 3.0, 4.0}
    assert (await registry.get_experiment(exp.id)).tau2 == stored


async def test_create_racing_raw_writer_is_refused_by_index_or_precheck(
    registry: Registry, db_url: str
) -> None:
    await experiment_pair(registry)
    waiting = await registry.create_experiment(make_experiment_spec(), start=False)
    engine = create_async_engine(normalize_url(db_url))
    try:
        async with engine.connect() as conn:
            # A writer that bypasses the code holds an uncommitted start of `waiting`...
            await conn.execute(
                text("UPDATE experiments SET state = 'running' WHERE id = :id"),
                {"id": waiting.id},
            )
            creation = asyncio.create_task(registry.create_experiment(make_experiment_spec()))
            await asyncio.sleep(0.3)  # ...while the registry's creation reaches the database
            await conn.commit()
        [result] = await asyncio.gather(creation, return_exceptions=True)
    finally:
        await engine.dispose()

    # SQLite queues the creation behind the writer and its pre-check refuses; PostgreSQL
    # lets both write and the partial unique index refuses. Either way the winner is named.
    assert isinstance(result, ExperimentConflictError), result
    assert result.active_id == waiting.id
    assert [e.id for e in await registry.list_experiments()] == [waiting.id]
