"""What the CLI's commands run against: a Backend interface and its local-database form.

The CLI parses arguments, prepares artifacts on the user's machine and renders
results; every read or change of the registry goes through a ``Backend``.
``LocalBackend`` opens the registry database directly. A remote backend (the
``ModelAdmin`` gRPC service) implements the same methods and returns the same
registry entities, so the rest of the CLI does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from registry import Model, ModelVersion, Stage, StageTransition
from registry.entities import (
    Alert,
    AlertSeverity,
    DriftReport,
    Experiment,
    ExperimentSpec,
    ExperimentState,
    Pruned,
    RetrainingRun,
    RetrainingState,
)
from registry.store.registry import Registry

if TYPE_CHECKING:
    from gateway.experiments.results import Results
    from gateway.registration import PreparedVersion


class CliError(Exception):
    """A command cannot run as asked (missing file, unreadable estimator, ...)."""


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    """What `experiments show` prints: the experiment and its results.

    ``results`` are the stored final results of an ended experiment, else the live ones
    computed from the logged predictions and outcomes.
    """

    experiment: Experiment
    results: Results


class Backend(Protocol):
    """The operations behind the CLI's commands; errors are RegistryError subclasses."""

    async def register(
        self, name: str, prepared: PreparedVersion, *, version: str | None, actor: str, reason: str
    ) -> ModelVersion:
        """Store a prepared version (stage development) and return it."""
        ...

    async def list_models(self) -> list[Model]:
        """Every model with its versions."""
        ...

    async def get_model(self, name: str) -> Model:
        """One model with its versions."""
        ...

    async def get_version(self, name: str, version: str) -> ModelVersion:
        """One version."""
        ...

    async def promote(
        self, name: str, version: str, stage: Stage, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        """Move a version to ``stage``; returns the version as it is now."""
        ...

    async def rollback(self, name: str, *, actor: str, reason: str) -> ModelVersion:
        """Restore the previous production version; returns it."""
        ...

    async def archive(
        self, name: str, version: str, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        """Archive a version; returns it."""
        ...

    async def history(self, name: str) -> list[StageTransition]:
        """The model's audit trail, oldest first."""
        ...

    async def demo(self, *, actor: str) -> ModelVersion | None:
        """Register and promote the demo model; None when it already existed."""
        ...

    async def create_experiment(
        self, spec: ExperimentSpec, *, actor: str, start: bool
    ) -> Experiment:
        """Create an experiment (running, or ``created`` when not ``start``); returns it."""
        ...

    async def list_experiments(
        self, *, model: str | None, state: ExperimentState | None
    ) -> list[Experiment]:
        """Experiments, optionally of one model and/or in one state."""
        ...

    async def experiment_report(self, experiment_id: int) -> ExperimentReport:
        """One experiment with its (live or final) results."""
        ...

    async def move_experiment(
        self, experiment_id: int, to: ExperimentState, *, actor: str, reason: str
    ) -> Experiment:
        """Pause (PAUSED), resume (RUNNING) or stop (STOPPED) an experiment; returns it."""
        ...

    async def check_drift(self, *, model: str | None, version: str | None) -> list[DriftReport]:
        """Check served versions for drift now (a gateway only); returns the reports."""
        ...

    async def list_drift_reports(
        self, *, model: str | None, version: str | None, drift_only: bool, limit: int
    ) -> list[DriftReport]:
        """Stored drift reports, newest first."""
        ...

    async def get_drift_report(self, report_id: int) -> DriftReport:
        """One stored drift report."""
        ...

    async def list_alerts(
        self,
        *,
        open_only: bool,
        model: str | None,
        severity: AlertSeverity | None,
        limit: int,
    ) -> list[Alert]:
        """Stored alerts, newest first."""
        ...

    async def acknowledge_alert(self, alert_id: int, *, actor: str, note: str) -> Alert:
        """Mark an alert seen; returns it."""
        ...

    async def trigger_retraining(self, model: str, *, reason: str) -> RetrainingRun:
        """Start retraining a model now (a gateway with a trainer only); returns the run."""
        ...

    async def list_retraining_runs(
        self, *, model: str | None, state: RetrainingState | None, limit: int
    ) -> list[RetrainingRun]:
        """Retraining runs, newest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class LocalBackend:
    """A Backend over a registry database reached by its SQLAlchemy URL: the CLI's door to
    the use-case layer (``gateway.operations``), with no gateway attached."""

    def __init__(self, registry: Registry) -> None:
        from gateway.operations import Operations

        self._registry = registry
        self._ops = Operations(registry)

    @classmethod
    async def open(cls, url: str) -> LocalBackend:
        """Open (and if needed create) the registry database at ``url``."""
        return cls(await Registry.open(url))

    async def register(
        self, name: str, prepared: PreparedVersion, *, version: str | None, actor: str, reason: str
    ) -> ModelVersion:
        from gateway.registration import register_prepared

        return await register_prepared(
            self._registry, name, prepared, version=version, actor=actor, reason=reason
        )

    async def list_models(self) -> list[Model]:
        return await self._ops.list_models()

    async def get_model(self, name: str) -> Model:
        return await self._ops.get_model(name)

    async def get_version(self, name: str, version: str) -> ModelVersion:
        return await self._ops.get_version(name, version)

    async def promote(
        self, name: str, version: str, stage: Stage, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        return await self._ops.promote(
            name, version, stage, actor=actor, reason=reason, force=force
        )

    async def rollback(self, name: str, *, actor: str, reason: str) -> ModelVersion:
        return await self._ops.rollback(name, actor=actor, reason=reason)

    async def archive(
        self, name: str, version: str, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        return await self._ops.archive(name, version, actor=actor, reason=reason, force=force)

    async def history(self, name: str) -> list[StageTransition]:
        return await self._ops.history(name)

    async def prune_log(self, older_than: timedelta, *, batch_size: int) -> Pruned:
        return await self._ops.prune_log(older_than, batch_size=batch_size)

    async def demo(self, *, actor: str) -> ModelVersion | None:
        from gateway.demo import ensure_demo

        return await ensure_demo(self._registry, actor=actor)

    async def create_experiment(
        self, spec: ExperimentSpec, *, actor: str, start: bool
    ) -> Experiment:
        # Only the registry row: gateways watching the registry load both versions and
        # start routing when the event reaches them.
        return await self._ops.create_experiment(spec, actor=actor, start=start)

    async def list_experiments(
        self, *, model: str | None, state: ExperimentState | None
    ) -> list[Experiment]:
        return await self._ops.list_experiments(model=model, state=state)

    async def experiment_report(self, experiment_id: int) -> ExperimentReport:
        return ExperimentReport(*await self._ops.experiment_results(experiment_id))

    async def move_experiment(
        self, experiment_id: int, to: ExperimentState, *, actor: str, reason: str
    ) -> Experiment:
        return await self._ops.move_experiment(experiment_id, to, actor=actor, reason=reason)

    async def check_drift(self, *, model: str | None, version: str | None) -> list[DriftReport]:
        return await self._ops.check_drift(model, version)  # refused: no live windows here

    async def list_drift_reports(
        self, *, model: str | None, version: str | None, drift_only: bool, limit: int
    ) -> list[DriftReport]:
        return await self._ops.list_drift_reports(
            model=model, version=version, drift_only=drift_only, limit=limit
        )

    async def get_drift_report(self, report_id: int) -> DriftReport:
        return await self._ops.get_drift_report(report_id)

    async def list_alerts(
        self,
        *,
        open_only: bool,
        model: str | None,
        severity: AlertSeverity | None,
        limit: int,
    ) -> list[Alert]:
        return await self._ops.list_alerts(
            open_only=open_only, model=model, severity=severity, limit=limit
        )

    async def acknowledge_alert(self, alert_id: int, *, actor: str, note: str) -> Alert:
        return await self._ops.acknowledge_alert(alert_id, actor=actor, note=note)

    async def trigger_retraining(self, model: str, *, reason: str) -> RetrainingRun:
        return await self._ops.trigger_retraining(model, reason=reason)  # refused: no trainer

    async def list_retraining_runs(
        self, *, model: str | None, state: RetrainingState | None, limit: int
    ) -> list[RetrainingRun]:
        return await self._ops.list_retraining_runs(model=model, state=state, limit=limit)

    async def close(self) -> None:
        await self._registry.close()
