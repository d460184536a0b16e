"""Converge the served snapshot on the registry's desired state (level-triggered)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.drift.live import LiveWindows
from gateway.errors import ArtifactLoadError
from gateway.experiments.failures import ROUTING, ExperimentFailures
from gateway.experiments.learners import Learners
from gateway.prometheus import Metrics
from gateway.serving.loader import load_version
from gateway.serving.model import LoadedModel
from gateway.serving.snapshot import ExperimentArms, ModelRoute, Routed, Snapshot
from registry.entities import ExperimentRoute, ServedVersion
from registry.errors import RegistryError, UnavailableError
from registry.store.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A version that could not be loaded; it never went live."""

    name: str
    version: str
    sha256: str
    error: str
    at: datetime


class Pool:
    """Holds the current snapshot and the loaded versions behind it.

    Predict reads ``pool.current`` (one attribute read). Everything else here runs off
    the hot path: loading happens in threads, and a new snapshot replaces the old one by
    a single assignment, so in-flight requests finish on the snapshot they started with.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        retained_versions: int = 2,
        metrics: Metrics | None = None,
        experiment_failures: ExperimentFailures | None = None,
        disclose: bool = True,
        learners: Learners | None = None,
        live_rows: int = 0,
    ) -> None:
        self.registry = registry
        # Rows (and outcome errors) each loaded version keeps for drift checks; 0: none.
        self._live_rows = live_rows
        # The running experiments' strategies, kept across snapshots so learning
        # survives a swap; the outcome path feeds them.
        self.learners = learners or Learners(registry)
        self._disclose = disclose
        self.metrics = metrics or Metrics()
        # Experiments that cannot route here: their model is served by production.
        self.experiment_failures = experiment_failures or ExperimentFailures()
        self.current = Snapshot.empty()
        self.failures: dict[tuple[str, str], LoadFailure] = {}
        self._retained = retained_versions
        # (name, version) -> loaded model, least recently wanted first.
        self._loaded: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Whether the registry has been read once (health SERVING, ServerReady)."""
        return self.current.loaded

    async def ensure_loaded(self, name: str, version: str) -> LoadedModel:
        """Load (or reuse) one version; raises ArtifactLoadError if it cannot serve."""
        key = (name, version)
        model = self._loaded.get(key)
        if model is None:
            try:
                model = self._adopt(await load_version(self.registry, name, version))
            except ArtifactLoadError as exc:
                self._record_failure(name, version, "", exc)
                raise
            self.failures.pop(key, None)
        self._loaded[key] = model
        self._loaded.move_to_end(key)
        return model

    def wake(self) -> None:
        """Ask the watch loop to reconcile now (in-process changes)."""
        self._wake.set()

    async def reconcile(self) -> Snapshot:
        """Read the desired state, load what is missing, and swap in a new snapshot."""
        async with self._lock:
            state = await self.registry.desired_state()
            old = self.current
            needed: dict[tuple[str, str], ServedVersion] = {}
            for served in state.production.values():
                needed[(served.name, served.version)] = served
            for experiment in state.experiments.values():
                for served in (experiment.control, experiment.treatment):
                    needed[(served.name, served.version)] = served
            available = await self._load_all(needed)
            self._prune(set(available))
            routes = {}
            for name in sorted(set(state.production) | set(state.experiments)):
                production = None
                if (served := state.production.get(name)) is not None:
                    if (model := available.get((name, served.version))) is not None:
                        production = Routed(model=model, arm="production")
                    elif (previous := old.routes.get(name)) is not None:
                        production = previous.production  # failed load: the old one serves on
                arms = None
                if (experiment := state.experiments.get(name)) is not None:
                    control = available.get((name, experiment.control.version))
                    treatment = available.get((name, experiment.treatment.version))
                    if control is not None and treatment is not None:
                        arms = await self._arms_or_none(experiment, control, treatment)
                if production is None and arms is None:
                    continue
                versions = {v: m for (n, v), m in self._loaded.items() if n == name}
                routes[name] = ModelRoute(production=production, versions=versions, experiment=arms)
            running = {e.id for e in state.experiments.values()}
            self.learners.keep_only(running)
            self.experiment_failures.keep_only(running, ROUTING)
            snapshot = Snapshot(event_id=state.event_id, routes=routes, disclose=self._disclose)
            if snapshot.routes != old.routes:
                self.metrics.swaps.inc()
            self.current = snapshot  # the swap: one reference assignment
            self.metrics.loaded_versions.set(len(self._loaded))
            self.metrics.event_id.set(state.event_id)
            return snapshot

    async def _load_all(
        self, needed: dict[tuple[str, str], ServedVersion]
    ) -> dict[tuple[str, str], LoadedModel]:
        """Every needed version that is (or can now be) loaded; failures are recorded."""
        available: dict[tuple[str, str], LoadedModel] = {}
        pending = []
        for key, served in needed.items():
            model = self._loaded.get(key)
            if model is not None and model.sha256 == served.sha256:
                available[key] = model
            elif (failure := self.failures.get(key)) and failure.sha256 == served.sha256:
                continue  # failed before with these bytes: do not retry on every event
            else:
                pending.append(served)
        results = await asyncio.gather(
            *(load_version(self.registry, s.name, s.version) for s in pending),
            return_exceptions=True,
        )
        for served, result in zip(pending, results, strict=True):
            key = (served.name, served.version)
            if isinstance(result, UnavailableError | asyncio.CancelledError):
                raise result  # the registry is down: keep the snapshot, retry the whole pass
            if isinstance(result, BaseException):
                # One version that cannot load never stops the others from loading.
                failure = (
                    result
                    if isinstance(result, ArtifactLoadError)
                    else ArtifactLoadError(served.name, served.version, _describe(result))
                )
                if not isinstance(result, ArtifactLoadError | RegistryError):
                    log.error("loading %s %s failed", served.name, served.version, exc_info=result)
                self._record_failure(served.name, served.version, served.sha256, failure)
            else:
                self.failures.pop(key, None)
                available[key] = self._adopt(result)
        for key, model in available.items():
            self._loaded[key] = model
            self._loaded.move_to_end(key)
        return available

    async def _arms_or_none(
        self, experiment: ExperimentRoute, control: LoadedModel, treatment: LoadedModel
    ) -> ExperimentArms | None:
        """The experiment's arms, or None when its state cannot be rebuilt: then the model
        is served by its production version, and the failure is recorded, never raised
        (serving production must not depend on experiment state)."""
        try:
            arms = await self._arms(experiment, control, treatment)
        except UnavailableError:
            raise
        except Exception as exc:
            self.experiment_failures.record(experiment.id, experiment.model, ROUTING, exc)
            return None
        self.experiment_failures.clear(experiment.id, ROUTING)
        return arms

    async def _arms(
        self, experiment: ExperimentRoute, control: LoadedModel, treatment: LoadedModel
    ) -> ExperimentArms:
        """The routing arms of a running experiment, keeping its strategy's learning."""
        strategy = await self.learners.strategy(experiment)
        return ExperimentArms(
            id=experiment.id,
            key=str(experiment.id),
            control=Routed(model=control, arm="control", experiment_id=str(experiment.id)),
            treatment=Routed(model=treatment, arm="treatment", experiment_id=str(experiment.id)),
            strategy=strategy,
        )

    def _adopt(self, model: LoadedModel) -> LoadedModel:
        """Bind the version's metric counters once, so Predict does no label lookup, and
        its live windows when drift monitoring is on."""
        live = None
        if self._live_rows:
            live = LiveWindows(
                model.signature.n_features,
                classifier=model.signature.task == "classification",
                rows=self._live_rows,
                outcomes=self._live_rows,
            )
        return dataclasses.replace(
            model, stats=self.metrics.version_stats(model.name, model.version), live=live
        )

    def loaded(self, name: str, version: str) -> LoadedModel | None:
        """The loaded version (serving or retained), or None."""
        return self._loaded.get((name, version))

    def _prune(self, serving: set[tuple[str, str]]) -> None:
        """Unload versions beyond the retained count per model (never a serving one)."""
        kept: dict[str, int] = {}
        for key in reversed(list(self._loaded)):
            if key in serving:
                continue
            kept[key[0]] = kept.get(key[0], 0) + 1
            if kept[key[0]] > self._retained:
                del self._loaded[key]

    def _record_failure(self, name: str, version: str, sha256: str, exc: Exception) -> None:
        log.error("version failed to load and will not go live: %s", exc)
        self.metrics.load_failures.labels(name).inc()
        self.failures[(name, version)] = LoadFailure(
            name=name, version=version, sha256=sha256, error=str(exc), at=datetime.now(UTC)
        )

    async def watch(self, poll_interval: float) -> None:
        """Reconcile whenever the registry's event id moves or wake() is called."""
        failing = ""  # the last failure logged; the same one is not logged every poll
        while True:
            try:
                last = await self.registry.last_event_id()
                if self._wake.is_set() or last != self.current.event_id or not self.ready:
                    self._wake.clear()
                    started = time.perf_counter()
                    await self.reconcile()
                    log.debug("reconciled in %.1f ms", (time.perf_counter() - started) * 1e3)
                if failing:
                    log.info("registry reachable again; reconciling resumed")
                    failing = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _describe(exc) != failing:
                    failing = _describe(exc)
                    log.error(
                        "reconcile failed; the current snapshot keeps serving: %s",
                        failing,
                        exc_info=None if isinstance(exc, RegistryError) else exc,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_interval)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
