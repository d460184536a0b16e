"""The use cases every door calls: register, promote, roll back, archive, experiments,
drift checks and alerts.

The gRPC admin API, the CLI on a database (``--db``), the CLI through a gateway
(``--server``, which reaches the gRPC API) and the experiment monitor are doors: each
decodes its input, makes one call here, and encodes the answer. So every door makes the
same checks, raises the same errors and writes the same audit rows.

A change that makes a version serve — promotion to production, rollback, an experiment's
arms — loads and warms the version first (the multi-row probe included) and commits only
if it can serve, whichever door asked. With a pool attached (inside a gateway) the loaded
version is kept and the served snapshot swapped before the door answers; without one
(the CLI on a database) it is loaded once to check it and gateways watching the registry
load it themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.brief import brief_list
from gateway.errors import (
    DriftMonitoringOffError,
    ExperimentStatisticsError,
    InvalidInputError,
    RetrainingNotConfiguredError,
)
from registry import crashpoints
from registry.entities import (
    Alert,
    AlertSeverity,
    DriftReport,
    Experiment,
    ExperimentSpec,
    ExperimentState,
    LogPartitions,
    Model,
    ModelVersion,
    Pruned,
    RetrainingRun,
    RetrainingState,
    Stage,
    StageTransition,
    VersionSpec,
)
from registry.rules.values import MAX_RETENTION
from registry.store.registry import Registry

if TYPE_CHECKING:
    from gateway.alerting import Alerts
    from gateway.drift_checks import DriftChecker
    from gateway.experiments.results import Results
    from gateway.experiments.tracker import ExperimentTracker
    from gateway.retraining_runs import Retrainer
    from gateway.serving.pool import Pool

log = logging.getLogger(__name__)

# The artifact size cap when none is given (converters.validate.DEFAULT_MAX_BYTES).
DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_ACTIVE = (ExperimentState.RUNNING, ExperimentState.PAUSED)


class Operations:
    """One registry (and optionally the gateway's pool) behind every door.

    Args:
        registry: the registry.
        pool: the gateway's pool, when a gateway runs these; None for the CLI on a
            database.
        tracker: the experiments' sequential tests (a fresh one by default).
        max_upload_bytes: the largest artifact ``register`` accepts.
        drift: the gateway's drift checker (its live windows); None where there are no
            live windows (the CLI on a database, a gateway with drift monitoring off).
        alerts: raises the gateway's alerts (stored, then to its sinks); None: the jobs'
            findings are only logged.
        retrainer: runs retraining (a gateway with a trainer configured); None elsewhere.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        pool: Pool | None = None,
        tracker: ExperimentTracker | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        drift: DriftChecker | None = None,
        alerts: Alerts | None = None,
        retrainer: Retrainer | None = None,
    ) -> None:
        self.registry = registry
        self.pool = pool
        self.drift = drift
        self.alerts = alerts
        self.retrainer = retrainer
        self._tracker = tracker
        self.max_upload_bytes = max_upload_bytes

    @property
    def tracker(self) -> ExperimentTracker:
        """The experiments' sequential tests (made on first use: a CLI command that does
        not touch experiments does not load the statistics)."""
        if self._tracker is None:
            from gateway.experiments.tracker import ExperimentTracker

            self._tracker = ExperimentTracker(self.registry)
        return self._tracker

    # -- models -----------------------------------------------------------------------

    async def register(
        self,
        name: str,
        spec: VersionSpec,
        artifact: bytes,
        *,
        profile: bytes | None = None,
        version: str | None = None,
        actor: str,
        reason: str = "",
    ) -> ModelVersion:
        """Vet an artifact (and its reference profile) and register it in development.

        The ONNX bytes must be a loadable, self-contained model within
        ``max_upload_bytes``; when ``spec.signature`` is set the artifact must have that
        signature, else the signature is read from the artifact (with ``spec.features``
        as its feature names when given). A profile must describe the same features.

        Raises:
            ConversionError: the artifact or profile is not acceptable.
            InvalidInputError: the profile's features differ from the model's.
            RegistryError: see ``Registry.register_version``.
        """
        from converters import ReferenceProfile, Signature, validate_onnx

        expected = Signature.from_dict(spec.signature) if spec.signature else None
        signature = await asyncio.to_thread(
            validate_onnx,
            artifact,
            max_bytes=self.max_upload_bytes,
            expected=expected,
            feature_names=list(spec.features) or None,
        )
        if profile:
            # Decompressing a profile is CPU work: keep it off the event loop.
            parsed = await asyncio.to_thread(ReferenceProfile.from_bytes, profile)
            if tuple(parsed.features) != tuple(signature.features):
                raise InvalidInputError(
                    f"reference profile features {brief_list(parsed.features)} differ from "
                    f"the model's {brief_list(signature.features)}"
                )
        spec = dataclasses.replace(
            spec, features=tuple(signature.features), signature=signature.to_dict()
        )
        return await self.registry.register_version(
            name,
            spec,
            artifact,
            profile=profile or None,
            version=version,
            actor=actor,
            reason=reason,
        )

    async def list_models(
        self, *, start: str | None = None, limit: int | None = None
    ) -> list[Model]:
        """Models with their versions, by name (a page of them with ``start``/``limit``)."""
        return await self.registry.list_models(start=start, limit=limit)

    async def get_model(self, name: str) -> Model:
        """One model with its versions."""
        return await self.registry.get_model(name)

    async def get_version(self, name: str, version: str) -> ModelVersion:
        """One version."""
        return await self.registry.get_version(name, version)

    async def history(self, name: str) -> list[StageTransition]:
        """A model's audit trail, oldest first."""
        return list(await self.registry.history(name))

    # -- the prediction log ---------------------------------------------------------------

    async def prune_log(self, older_than: timedelta, *, batch_size: int = 5_000) -> Pruned:
        """Delete logged predictions and outcomes older than ``older_than`` (the rows of
        active experiments stay), in short transactions; see ``Registry.prune_log``.

        Raises:
            InvalidInputError: ``older_than`` is not positive, or longer than a century.
        """
        if not timedelta(0) < older_than <= MAX_RETENTION:
            raise InvalidInputError(
                f"the retention must be positive and at most {MAX_RETENTION.days} days, "
                f"got {older_than}"
            )
        before = datetime.now(UTC) - older_than
        return await self.registry.prune_log(before, batch_size=batch_size)

    async def maintain_log(self) -> LogPartitions:
        """Make the prediction log's missing day partitions for today and the coming days
        (a PostgreSQL log partitioned by day; nothing elsewhere); see
        ``Registry.maintain_log``."""
        return await self.registry.maintain_log()

    async def promote(
        self,
        name: str,
        version: str,
        stage: Stage,
        *,
        actor: str,
        reason: str = "",
        force: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage``; to production only once it loads and warms here.

        Raises:
            ArtifactLoadError: (with a pool) the version cannot serve; nothing changed.
            RegistryError: see ``Registry.transition``.
        """
        if stage is Stage.PRODUCTION:
            await self.registry.get_version(name, version)  # NOT_FOUND before loading
            await self._check_serves(name, version)
        moved = await self.registry.transition(
            name, version, stage, actor=actor, reason=reason, force=force
        )
        if stage is Stage.PRODUCTION:
            crashpoints.reached("promote.after_commit")
        await self._swap()
        return moved

    async def rollback(
        self, name: str, *, actor: str, reason: str = "", expected_current: str | None = None
    ) -> ModelVersion:
        """Restore the previous production version, once it loads and warms here.

        Args:
            expected_current: roll back only while this version is production (automatic
                rollbacks: exactly one of several gateways rolls a promotion back).

        Raises:
            ArtifactLoadError: (with a pool) it cannot serve; nothing changed.
            RegistryError: see ``Registry.rollback``.
        """
        target = await self.registry.rollback_target(name)
        await self._check_serves(name, target.version)
        restored = await self.registry.rollback(
            name, actor=actor, reason=reason, expected_current=expected_current
        )
        await self._swap()
        return restored

    async def archive(
        self, name: str, version: str, *, actor: str, reason: str = "", force: bool = False
    ) -> ModelVersion:
        """Archive a version (``force`` for the production one, leaving none)."""
        archived = await self.registry.archive(
            name, version, actor=actor, reason=reason, force=force
        )
        await self._swap()
        return archived

    # -- experiments --------------------------------------------------------------------

    async def create_experiment(
        self, spec: ExperimentSpec, *, actor: str, start: bool = True
    ) -> Experiment:
        """Create an experiment, running unless ``start`` is False.

        With a pool, both arms load and warm first: an experiment never routes to a
        version that cannot serve.
        """
        for version in (spec.control_version, spec.treatment_version):
            await self.registry.get_version(spec.model, version)  # NOT_FOUND first
            await self._check_serves(spec.model, version)
        experiment = await self.registry.create_experiment(spec, actor=actor, start=start)
        await self._swap()
        return experiment

    async def list_experiments(
        self, *, model: str | None = None, state: ExperimentState | None = None
    ) -> list[Experiment]:
        """Experiments, optionally of one model and/or in one state."""
        states = [state] if state is not None else None
        return list(await self.registry.list_experiments(model=model, states=states))

    async def experiment_results(self, experiment_id: int) -> tuple[Experiment, Results]:
        """An experiment and its results: the stored final ones once it ended, else the
        live ones (the stored looks replayed, plus the moments now; no look is stored).

        Raises:
            ExperimentStatisticsError: its stored outcomes give no valid statistics.
        """
        from gateway.experiments.results import Results

        experiment = await self.registry.get_experiment(experiment_id)
        if experiment.final_results:
            return experiment, Results.from_dict(dict(experiment.final_results))
        look = await self.tracker.look(experiment, record=False)
        return experiment, look.results

    async def move_experiment(
        self, experiment_id: int, to: ExperimentState, *, actor: str, reason: str = ""
    ) -> Experiment:
        """Pause (PAUSED), resume (RUNNING) or stop (STOPPED) an experiment.

        Stopping freezes the results as they stand, so outcomes that arrive later do not
        change them; an experiment whose statistics cannot be computed still stops (the
        brake must always work), without results.
        """
        final = None
        if to is ExperimentState.STOPPED:
            current = await self.registry.get_experiment(experiment_id)
            if current.state in _ACTIVE:
                try:
                    final = (await self.tracker.look(current, record=False)).results.to_dict()
                except ExperimentStatisticsError:
                    final = None
        moved = await self.registry.transition_experiment(
            experiment_id, to, actor=actor, reason=reason, final_results=final
        )
        if to is ExperimentState.STOPPED:
            self.tracker.forget(experiment_id)
        await self._swap()
        return moved

    async def end_experiment(
        self,
        experiment: Experiment,
        state: ExperimentState,
        *,
        results: Results,
        winner: str,
        actor: str,
        reason: str,
    ) -> Experiment:
        """End a running experiment (the monitor's door) with its winner and final results.

        Raises:
            RegistryError: it was ended elsewhere first (a conditional state change).
        """
        ended = await self.registry.transition_experiment(
            experiment.id,
            state,
            actor=actor,
            reason=reason,
            winner=winner,
            final_results=results.to_dict(),
        )
        self.tracker.forget(experiment.id)
        await self._swap()
        return ended

    # -- drift and alerts ---------------------------------------------------------------

    async def check_drift(
        self, model: str | None = None, version: str | None = None
    ) -> list[DriftReport]:
        """Check the served versions' live windows now (all, one model's or one version)
        and store a report of each.

        Raises:
            DriftMonitoringOffError: no live windows here (the CLI on a database, or a
                gateway with GALGATE_DRIFT_WINDOW_ROWS=0).
            ModelNotServedError: the model (or version) is not serving.
        """
        if self.drift is None:
            raise DriftMonitoringOffError(
                "drift is checked by a gateway on what it serves: ask a running gateway "
                "(galgate --server ...), with drift monitoring on (GALGATE_DRIFT_WINDOW_ROWS > 0)"
            )
        return await self.drift.check(model or None, version or None)

    async def list_drift_reports(
        self,
        *,
        model: str | None = None,
        version: str | None = None,
        drift_only: bool = False,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[DriftReport]:
        """Stored drift reports, newest first."""
        return await self.registry.list_drift_reports(
            model=model, version=version, drift_only=drift_only, limit=limit, before_id=before_id
        )

    async def get_drift_report(self, report_id: int) -> DriftReport:
        """One stored drift report."""
        return await self.registry.get_drift_report(report_id)

    async def list_alerts(
        self,
        *,
        open_only: bool = False,
        model: str | None = None,
        severity: AlertSeverity | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Alert]:
        """Stored alerts, newest first."""
        return await self.registry.list_alerts(
            open_only=open_only, model=model, severity=severity, limit=limit, before_id=before_id
        )

    async def raise_alert(
        self,
        key: str,
        kind: str,
        severity: AlertSeverity,
        message: str,
        *,
        model: str = "",
        version: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> Alert | None:
        """Raise an alert (see ``gateway.alerting``); without alerts here, log it."""
        if self.alerts is None:
            log.warning("alert %s (%s): %s", key, severity.value, message)
            return None
        return await self.alerts.raise_alert(
            key, kind, severity, message, model=model, version=version, details=details
        )

    async def acknowledge_alert(self, alert_id: int, *, actor: str, note: str = "") -> Alert:
        """Mark an alert seen; a later alert of its key opens a new one."""
        return await self.registry.acknowledge_alert(alert_id, actor=actor, note=note)

    # -- retraining ---------------------------------------------------------------------

    async def trigger_retraining(
        self, model: str, *, trigger: str = "admin", reason: str = ""
    ) -> RetrainingRun:
        """Start retraining ``model`` now (the run goes on in the background).

        Raises:
            RetrainingNotConfiguredError: no trainer here (the CLI on a database, or a
                gateway without GALGATE_TRAINER).
            ModelNotFoundError: unknown model.
            RetrainingInProgressError: the model has a running run (any gateway).
        """
        if self.retrainer is None or not self.retrainer.configured:
            raise RetrainingNotConfiguredError(
                "retraining runs in a gateway with a trainer configured (GALGATE_TRAINER="
                "module:function): ask it with --server"
            )
        return await self.retrainer.trigger(model, trigger=trigger, reason=reason or trigger)

    async def list_retraining_runs(
        self,
        *,
        model: str | None = None,
        state: RetrainingState | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[RetrainingRun]:
        """Retraining runs, newest first."""
        return await self.registry.list_retraining_runs(
            model=model, state=state, limit=limit, before_id=before_id
        )

    async def _check_serves(self, name: str, version: str) -> None:
        """Load and warm the version (the probe included), or raise ArtifactLoadError.

        In a gateway the loaded version is kept for the swap; elsewhere (the CLI on a
        database) it is loaded once here and dropped, so a version that cannot serve is
        refused by every door before anything is committed.
        """
        if self.pool is not None:
            await self.pool.ensure_loaded(name, version)
        else:
            from gateway.serving.loader import load_version  # onnxruntime: only when needed

            await load_version(self.registry, name, version)

    async def _swap(self) -> None:
        """With a pool: serve what the registry now says before the door answers."""
        if self.pool is not None:
            await self.pool.reconcile()
