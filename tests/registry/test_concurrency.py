"""Concurrent writers on separate engines: the one-production invariant and id ordering hold."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from registry import ConflictError, ModelVersion, Registry, Stage
from registry.db import normalize_url
from tests.helpers import fake_artifact, make_spec, race, register_in_stage

RACERS = 8


async def test_concurrent_promotions_leave_exactly_one_production(
    registry: Registry, db_url: str
) -> None:
    staged = [await register_in_stage(registry, "m", Stage.STAGING) for _ in range(RACERS)]

    results = await race(
        db_url,
        RACERS,
        lambda reg, i: reg.transition(
            "m", staged[i].version, Stage.PRODUCTION, actor=staged[i].version
        ),
    )

    winners = [r for r in results if isinstance(r, ModelVersion)]
    assert all(isinstance(r, ModelVersion | ConflictError) for r in results), results
    assert winners
    model = await registry.get_model("m")
    production = [v for v in model.versions if v.stage is Stage.PRODUCTION]
    assert len(production) == 1
    assert production[0].version in {w.version for w in winners}
    history = await registry.history("m")
    promotions = [h for h in history if h.to_stage is Stage.PRODUCTION]
    demotions = [h for h in history if h.kind == "demote"]
    assert len(promotions) == len(winners)
    assert len(demotions) == len(winners) - 1
    # The last promotion in the audit trail is the version that stayed in production.
    assert promotions[-1].version == production[0].version
    events = await registry.events_since(0)
    assert len(events) == len(history)
    assert [e.id for e in events] == sorted(e.id for e in events)


async def test_concurrent_registrations_get_distinct_versions(
    registry: Registry, db_url: str
) -> None:
    results = await race(
        db_url, 4, lambda reg, i: reg.register_version("m", make_spec(), fake_artifact())
    )

    assert all(isinstance(r, ModelVersion) for r in results), results
    versions = sorted(mv.version for mv in results)
    assert versions == ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
    assert len((await registry.get_model("m")).versions) == 4


async def test_transition_racing_raw_writer_never_yields_two_production(
    registry: Registry, db_url: str
) -> None:
    a = await register_in_stage(registry, "m", Stage.STAGING)
    b = await register_in_stage(registry, "m", Stage.STAGING)
    engine = create_async_engine(normalize_url(db_url))
    try:
        async with engine.connect() as conn:
            # A writer that bypasses the code holds an uncommitted second production row...
            await conn.execute(
                text("UPDATE model_versions SET stage = 'production' WHERE id = :id"),
                {"id": a.id},
            )
            promotion = asyncio.create_task(registry.transition("m", b.version, Stage.PRODUCTION))
            await asyncio.sleep(0.3)  # ...while the registry's promotion reaches the database
            await conn.commit()
        [result] = await asyncio.gather(promotion, return_exceptions=True)
    finally:
        await engine.dispose()

    # SQLite queues the promotion behind the writer (it then demotes a); PostgreSQL lets
    # both write and the partial unique index rejects the second: either way, one production.
    if isinstance(result, ConflictError):
        assert "already has a production version" in str(result)
    else:
        assert isinstance(result, ModelVersion), result
    production = [
        v for v in (await registry.get_model("m")).versions if v.stage is Stage.PRODUCTION
    ]
    assert len(production) == 1
