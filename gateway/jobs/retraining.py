"""Scheduled retraining: every ``retrain_interval`` seconds, start a run for each model
this gateway serves in production (one running run per model across gateways: a model
already retraining is skipped). Stale runs of dead gateways are failed first."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from gateway.errors import GatewayError
from registry.errors import ConflictError, RegistryError

if TYPE_CHECKING:
    from gateway.operations import Operations

log = logging.getLogger(__name__)


class RetrainingSchedule:
    """Triggers a retraining of every served model each interval."""

    def __init__(self, operations: Operations) -> None:
        self._ops = operations

    async def run_once(self) -> int:
        """Start what is due; returns how many runs started."""
        pool = self._ops.pool
        if pool is None:
            return 0
        started = 0
        for name, route in sorted(pool.current.routes.items()):
            if route.production is None:
                continue
            try:
                await self._ops.trigger_retraining(
                    name, trigger="schedule", reason="scheduled retraining"
                )
                started += 1
            except ConflictError:
                log.info("scheduled retraining of %s skipped: a run is going", name)
        return started

    async def run(self, interval: float) -> None:
        """Every ``interval`` seconds until cancelled; failures never stop it."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except (RegistryError, GatewayError) as exc:
                log.warning("scheduled retraining failed (%s); next in %.0f s", exc, interval)
            except Exception:
                log.exception("scheduled retraining failed; next in %.0f s", interval)
