"""What the CLI's commands run against: a Backend interface and its local-database form.

The CLI parses arguments, prepares artifacts on the user's machine and renders
results; every read or change of the registry goes through a ``Backend``.
``LocalBackend`` opens the registry database directly. A remote backend (the
``ModelAdmin`` gRPC service) implements the same methods and returns the same
registry entities, so the rest of the CLI does not change.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from registry import Model, ModelVersion, Stage, StageTransition
from registry.entities import Experiment, ExperimentSpec, ExperimentState
from registry.repository import Registry

if TYPE_CHECKING:
    from gateway.experiments.results import Results
    from gateway.registration import PreparedVersion


_ENDED = frozenset({ExperimentState.COMPLETED, ExperimentState.STOPPED})


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

    async def close(self) -> None:
        """Release connections."""
        ...


class LocalBackend:
    """A Backend over a registry database reached by its SQLAlchemy URL."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

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
        return list(await self._registry.list_models())

    async def get_model(self, name: str) -> Model:
        return await self._registry.get_model(name)

    async def get_version(self, name: str, version: str) -> ModelVersion:
        return await self._registry.get_version(name, version)

    async def promote(
        self, name: str, version: str, stage: Stage, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        return await self._registry.transition(
            name, version, stage, actor=actor, reason=reason, force=force
        )

    async def rollback(self, name: str, *, actor: str, reason: str) -> ModelVersion:
        return await self._registry.rollback(name, actor=actor, reason=reason)

    async def archive(
        self, name: str, version: str, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        return await self._registry.archive(name, version, actor=actor, reason=reason, force=force)

    async def history(self, name: str) -> list[StageTransition]:
        return list(await self._registry.history(name))

    async def demo(self, *, actor: str) -> ModelVersion | None:
        from gateway.demo import ensure_demo

        return await ensure_demo(self._registry, actor=actor)

    async def create_experiment(
        self, spec: ExperimentSpec, *, actor: str, start: bool
    ) -> Experiment:
        # Only the registry row: gateways watching the registry load both versions and
        # start routing when the event reaches them (the gRPC door checks loading first).
        return await self._registry.create_experiment(spec, actor=actor, start=start)

    async def list_experiments(
        self, *, model: str | None, state: ExperimentState | None
    ) -> list[Experiment]:
        states = [state] if state is not None else None
        return list(await self._registry.list_experiments(model=model, states=states))

    async def experiment_report(self, experiment_id: int) -> ExperimentReport:
        experiment = await self._registry.get_experiment(experiment_id)
        return ExperimentReport(experiment, await self._results(experiment))

    async def _results(self, experiment: Experiment) -> Results:
        """Final results when stored, else one look like GetExperimentResults takes."""
        from gateway.experiments.results import Results
        from gateway.experiments.tracker import ExperimentTracker

        if experiment.final_results:
            return Results.from_dict(dict(experiment.final_results))
        # A fresh tracker: its always-valid p-value is this look's, not the running
        # minimum a gateway keeps across its looks (which can only be smaller).
        return (await ExperimentTracker(self._registry).look(experiment, record=False)).results

    async def move_experiment(
        self, experiment_id: int, to: ExperimentState, *, actor: str, reason: str
    ) -> Experiment:
        final = None
        if to is ExperimentState.STOPPED:
            # Freeze what the numbers were when it was stopped, as the monitor does when
            # it ends one: outcomes of earlier predictions may still arrive afterwards.
            # An ended one is refused below with the registry's message.
            experiment = await self._registry.get_experiment(experiment_id)
            if experiment.state not in _ENDED:
                final = await self._final_results(experiment)
        return await self._registry.transition_experiment(
            experiment_id, to, actor=actor, reason=reason, final_results=final
        )

    async def _final_results(self, experiment: Experiment) -> dict[str, Any] | None:
        try:
            return (await self._results(experiment)).to_dict()
        except Exception as exc:  # stopping is the operator's brake: it must not fail here
            warnings.warn(
                f"experiment {experiment.id}: results could not be computed, so none are "
                f"stored with the stop ({type(exc).__name__}: {exc})",
                RuntimeWarning,
                stacklevel=1,
            )
            return None

    async def close(self) -> None:
        await self._registry.close()
