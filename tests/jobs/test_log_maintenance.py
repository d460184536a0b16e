"""The gateway's log maintenance job: the coming days' partitions of the prediction log are
made again when missing (PostgreSQL); nothing to do on SQLite."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gateway.jobs.retention import LogMaintenance
from gateway.operations import Operations
from registry.schema.base import utcnow
from registry.sql.partitions import partition_name
from tests.helpers import execute_sql


async def test_log_maintenance_remakes_a_missing_coming_day(registry, db_url) -> None:
    job = LogMaintenance(Operations(registry))
    if registry.dialect == "sqlite":
        assert (await job.run_once()).partitioned is False
        # Nothing to keep up: the loop ends at once instead of polling for ever.
        await asyncio.wait_for(job.run(interval=3600), timeout=5)
        return
    tomorrow = utcnow().date() + timedelta(days=1)
    await execute_sql(db_url, f"DROP TABLE {partition_name(tomorrow)}")

    made = await job.run_once()

    assert made.partitioned
    assert made.created == (tomorrow,)
    assert (await job.run_once()).created == ()
