"""How a gateway's settings become its retraining policy, and drift becomes a run."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.operations import Operations
from gateway.retraining_runs import RetrainingPolicy
from registry.entities import DriftReport
from registry.errors import ConflictError, RegistryError

log = logging.getLogger(__name__)


def retraining_policy(settings: Settings) -> RetrainingPolicy:
    """The policy the ``trainer`` and ``retrain_*`` settings describe."""
    hours = settings.retrain_window_hours
    return RetrainingPolicy(
        trainer=settings.trainer,
        window=timedelta(hours=hours) if hours > 0 else None,
        min_rows=settings.retrain_min_rows,
        holdout=settings.retrain_holdout,
        margin=settings.retrain_margin,
        timeout=settings.retrain_timeout,
        on_drift=settings.retrain_on_drift,
        experiment_min_samples=settings.retrain_experiment_min_samples,
    )


def retrain_on_drift(operations: Operations) -> Callable[[DriftReport], Awaitable[None]]:
    """The drift checker's hook: drift of a production version starts a retraining run
    (unless one is going for the model already, on any gateway)."""

    async def start(report: DriftReport) -> None:
        try:
            await operations.trigger_retraining(
                report.model,
                trigger="drift",
                reason=f"drift report {report.id}: {report.summary}",
            )
        except ConflictError:
            log.info("drift of %s: a retraining run is going already", report.model)
        except (RegistryError, GatewayError) as exc:
            log.warning("drift of %s: retraining not started: %s", report.model, exc)

    return start
