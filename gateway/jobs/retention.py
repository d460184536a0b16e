"""Retention: delete old rows of the prediction log, now and then, in short batches;
keep the log's day partitions made ahead (PostgreSQL).

Each pass deletes what is older than the retention (``Operations.prune_log``; the rows
of running and paused experiments stay) in transactions of a few thousand rows, so log
writers and outcome calls get the database between batches; on a log partitioned by day,
whole expired days are dropped instead. Predict never waits on it: it touches no
database. A failed pass is logged and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from registry.entities import LogPartitions, Pruned
from registry.errors import RegistryError

if TYPE_CHECKING:
    from gateway.operations import Operations

log = logging.getLogger(__name__)


class Retention:
    """Prunes the prediction log older than ``keep`` every ``interval`` seconds."""

    def __init__(self, operations: Operations, keep: timedelta, *, batch_size: int = 5_000):
        self._operations = operations
        self.keep = keep
        self.batch_size = batch_size

    async def run_once(self) -> Pruned:
        """One pass; returns what it deleted."""
        pruned = await self._operations.prune_log(self.keep, batch_size=self.batch_size)
        if pruned.predictions or pruned.outcomes:
            log.info(
                "retention: deleted %d predictions and %d outcomes older than %s",
                pruned.predictions,
                pruned.outcomes,
                self.keep,
            )
        return pruned

    async def run(self, interval: float) -> None:
        """Prune every ``interval`` seconds until cancelled; failures never stop it."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except RegistryError as exc:
                log.warning("retention pass failed (%s); trying again in %.0f s", exc, interval)
            except Exception:
                log.exception("retention pass failed; trying again in %.0f s", interval)
            await asyncio.sleep(interval)


class LogMaintenance:
    """Makes the coming days' partitions of the prediction log every ``interval`` seconds
    when no retention runs (a retention pass makes them too): on a PostgreSQL log
    partitioned by day, rows of a day with no partition land in the DEFAULT partition.
    Nothing to do elsewhere.
    """

    def __init__(self, operations: Operations):
        self._operations = operations

    async def run_once(self) -> LogPartitions:
        """One pass; returns what it made."""
        made = await self._operations.maintain_log()
        if made.created:
            log.info("prediction log: made the partitions of %s", _days(made.created))
        if made.left_in_default:
            log.warning(
                "prediction log: %s left in the DEFAULT partition, which already holds "
                "rows of them (maintenance did not run for days); retention deletes them "
                "in batches",
                _days(made.left_in_default),
            )
        return made

    async def run(self, interval: float) -> None:
        """Maintain every ``interval`` seconds until cancelled; failures never stop it."""
        while True:
            try:
                made = await self.run_once()
            except asyncio.CancelledError:
                raise
            except RegistryError as exc:
                log.warning("log maintenance failed (%s); trying again in %.0f s", exc, interval)
            except Exception:
                log.exception("log maintenance failed; trying again in %.0f s", interval)
            else:
                if not made.partitioned:
                    return  # SQLite, or a log made before partitioning: nothing to keep up
            await asyncio.sleep(interval)


def _days(days) -> str:
    return ", ".join(day.isoformat() for day in days)
