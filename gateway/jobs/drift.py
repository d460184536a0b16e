"""Drift watch: check every served version's live windows against its reference, now and
then (``gateway.drift_checks``); each check is stored as a report, drift raises an alert.
A failed pass is logged and tried again at the next interval; Predict never waits on it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from registry.errors import RegistryError

if TYPE_CHECKING:
    from gateway.operations import Operations

log = logging.getLogger(__name__)


class DriftWatch:
    """Runs ``Operations.check_drift`` on every served version every ``interval`` seconds."""

    def __init__(self, operations: Operations) -> None:
        self._operations = operations
        self.passes = 0

    async def run(self, interval: float) -> None:
        """Check every ``interval`` seconds until cancelled; failures never stop it."""
        while True:
            await asyncio.sleep(interval)
            try:
                reports = await self._operations.check_drift()
                self.passes += 1
                for report in reports:
                    if report.drift:
                        log.warning(
                            "drift: model %s version %s: %s (report %d)",
                            report.model,
                            report.version,
                            report.summary,
                            report.id,
                        )
            except asyncio.CancelledError:
                raise
            except RegistryError as exc:
                log.warning("drift check failed (%s); trying again in %.0f s", exc, interval)
            except Exception:
                log.exception("drift check failed; trying again in %.0f s", interval)
