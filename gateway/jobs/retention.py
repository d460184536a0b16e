"""Retention: delete old rows of the prediction log, now and then, in short batches.

Each pass deletes what is older than the retention (``Operations.prune_log``; the rows
of running and paused experiments stay) in transactions of a few thousand rows, so log
writers and outcome calls get the database between batches. Predict never waits on it:
it touches no database. A failed pass is logged and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from registry.entities import Pruned
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
