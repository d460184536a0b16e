"""Retraining runs: start one (by drift, by schedule, or when asked), see it through, and
leave production untouched whatever happens.

A run is a row in the registry, started by a conditional insert: one running run per
model across every gateway. The gateway that started it runs the engine
(``gateway.retraining.engine.retrain``: logged inputs joined with outcomes, a trainer in
a separate process, conversion with parity, validation against production on held-out
outcomes, registration in staging with lineage) and, when the candidate passed, starts a
validation experiment against production (auto-promoting on a decisive win). Every end —
registered, rejected, failed, cancelled — is recorded on the run and raises an alert. A
gateway that dies mid-run stops its heartbeat; after ``stale_after`` the run is failed by
whichever gateway looks next, so the model can be retrained again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from gateway.errors import RetrainingNotConfiguredError
from registry.entities import AlertSeverity, ExperimentSpec, RetrainingRun, RetrainingState
from registry.errors import RegistryError

if TYPE_CHECKING:
    from gateway.operations import Operations

log = logging.getLogger(__name__)
ACTOR = "galgate-retraining"
HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RetrainingPolicy:
    """How runs train, validate and go on (``Settings.retrain_*``)."""

    trainer: str = ""  # "module:function"; "" means no retraining
    window: timedelta | None = None  # logged outcomes this recent (None: any age)
    min_rows: int = 500
    holdout: float = 0.2
    margin: float = 0.01
    timeout: float = 600.0
    on_drift: bool = True
    stale_after: timedelta = timedelta(minutes=5)
    # The validation experiment started for a registered candidate.
    experiment_strategy: str = "random"
    experiment_min_samples: int = 200
    experiment_auto_promote: bool = True


class Retrainer:
    """Starts and runs retraining; one per gateway."""

    def __init__(self, operations: Operations, policy: RetrainingPolicy) -> None:
        self._ops = operations
        self.policy = policy
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._tasks: dict[int, asyncio.Task] = {}

    @property
    def configured(self) -> bool:
        """Whether a trainer is configured."""
        return bool(self.policy.trainer)

    async def trigger(self, model: str, *, trigger: str, reason: str) -> RetrainingRun:
        """Start a run of ``model`` and see it through in the background.

        Raises:
            RetrainingNotConfiguredError: no trainer is configured.
            ModelNotFoundError: unknown model.
            RetrainingInProgressError: the model has a running run (any gateway).
        """
        if not self.configured:
            raise RetrainingNotConfiguredError(
                "no trainer is configured: set GALGATE_TRAINER to module:function"
            )
        await self._ops.registry.expire_retraining(stale_after=self.policy.stale_after)
        production = await self._ops.registry.production_version(model)
        run = await self._ops.registry.start_retraining(
            model,
            trigger=trigger,
            reason=reason[:2000],
            parent_version=production.version if production is not None else "",
            owner=self.owner,
        )
        task = asyncio.create_task(self._see_through(run), name=f"galgate-retrain-{run.id}")
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))
        log.info("retraining %s started (run %d, %s): %s", model, run.id, trigger, reason)
        return run

    async def wait(self, run_id: int) -> None:
        """Until this gateway's run ``run_id`` has ended (tests, shutdown)."""
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)

    async def stop(self) -> None:
        """Cancel this gateway's runs (shutdown): each is recorded as cancelled."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _see_through(self, run: RetrainingRun) -> None:
        from gateway.retraining.engine import retrain

        beat = asyncio.create_task(self._heartbeat(run.id))
        policy = self.policy
        try:
            outcome = await retrain(
                self._ops,
                run.model,
                trainer=policy.trainer,
                reason=run.reason,
                trigger=run.trigger,
                window=policy.window,
                min_rows=policy.min_rows,
                holdout=policy.holdout,
                margin=policy.margin,
                timeout=policy.timeout,
            )
        except asyncio.CancelledError:
            await self._end(run, RetrainingState.CANCELLED, error="cancelled (gateway stopping)")
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            await self._end(run, RetrainingState.FAILED, error=error)
            await self._alert(run, AlertSeverity.WARNING, f"retraining {run.model} failed: {error}")
            return
        finally:
            beat.cancel()
        details = _details(outcome)
        if outcome.state != "succeeded":
            await self._end(run, RetrainingState.REJECTED, details=details)
            await self._alert(
                run,
                AlertSeverity.INFO,
                f"retraining {run.model}: the candidate did not beat production "
                f"{run.parent_version} by the margin; nothing registered",
                details,
            )
            return
        experiment_id = None
        note = ""
        try:
            experiment_id = await self._validation_experiment(run, outcome.new_version)
        except Exception as exc:  # registered, but no experiment: say so, keep the version
            note = f"; no validation experiment: {type(exc).__name__}: {exc}"
        await self._end(
            run,
            RetrainingState.SUCCEEDED,
            new_version=outcome.new_version,
            experiment_id=experiment_id,
            details=details,
            error=note.lstrip("; "),
        )
        await self._alert(
            run,
            AlertSeverity.INFO,
            f"retraining {run.model}: candidate {outcome.new_version} registered in staging"
            + (f", validation experiment {experiment_id} running" if experiment_id else note),
            details,
        )

    async def _validation_experiment(self, run: RetrainingRun, version: str) -> int | None:
        if not run.parent_version:
            return None
        record = await self._ops.registry.get_version(run.model, version)
        classifier = "accuracy" in record.spec.validation_metrics
        policy = self.policy
        spec = ExperimentSpec(
            model=run.model,
            control_version=run.parent_version,
            treatment_version=version,
            strategy=policy.experiment_strategy,
            metric="accuracy" if classifier else "absolute_error",
            min_samples=policy.experiment_min_samples,
            auto_promote=policy.experiment_auto_promote,
            name=f"retraining-{run.id}",
            description=f"validation of retrained {version} (run {run.id}): {run.reason}"[:1000],
        )
        experiment = await self._ops.create_experiment(spec, actor=ACTOR)
        return experiment.id

    async def _heartbeat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(RegistryError):
                await self._ops.registry.heartbeat_retraining(run_id)

    async def _end(self, run: RetrainingRun, state: RetrainingState, **fields: Any) -> None:
        try:
            await self._ops.registry.finish_retraining(run.id, state, **fields)
        except RegistryError as exc:
            log.error("retraining run %d could not be recorded as %s: %s", run.id, state, exc)
        log.info("retraining run %d of %s: %s", run.id, run.model, state.value)

    async def _alert(
        self,
        run: RetrainingRun,
        severity: AlertSeverity,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self._ops.raise_alert(
            f"retraining:{run.model}:{run.id}",
            "retraining",
            severity,
            message[:2000],
            model=run.model,
            details={"run_id": run.id, **(details or {})},
        )


def _details(outcome: Any) -> dict[str, Any]:
    """The run's record of what the engine did (JSON)."""
    validation = outcome.validation
    return {
        "rows": outcome.rows,
        "holdout_rows": outcome.holdout_rows,
        "skipped_rows": outcome.skipped_rows,
        "data_hash": outcome.data_hash,
        "window": [outcome.window_start.isoformat(), outcome.window_end.isoformat()],
        "metric": validation.metric,
        "candidate_metric": validation.candidate,
        "production_metric": validation.production,
        "improvement": validation.improvement,
        "margin": validation.margin,
        "training_seconds": outcome.training_seconds,
        "total_seconds": outcome.total_seconds,
        "notes": list(outcome.notes),
    }
