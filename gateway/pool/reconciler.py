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

from gateway.errors import ArtifactLoadError
from gateway.metrics import Metrics
from gateway.pool.loader import load_version
from gateway.pool.model import LoadedModel
from gateway.pool.snapshot import ModelRoute, Served, Snapshot
from registry.repository import Registry

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
        self, registry: Registry, *, retained_versions: int = 2, metrics: Metrics | None = None
    ) -> None:
        self.registry = registry
        self.metrics = metrics or Metrics()
        self.current = Snapshot.empty()
        self.ready = False
        self.failures: dict[tuple[str, str], LoadFailure] = {}
        self.swaps = 0
        self._retained = retained_versions
        # (name, version) -> loaded model, least recently wanted first.
        self._loaded: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._listeners: list[asyncio.Event] = []

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
            wanted: dict[str, LoadedModel] = {}
            pending = []
            for name, served in state.production.items():
                key = (name, served.version)
                model = self._loaded.get(key)
                if model is not None and model.sha256 == served.sha256:
                    wanted[name] = model
                elif (failure := self.failures.get(key)) and failure.sha256 == served.sha256:
                    continue  # failed before with these bytes: do not retry on every event
                else:
                    pending.append(served)
            results = await asyncio.gather(
                *(load_version(self.registry, s.name, s.version) for s in pending),
                return_exceptions=True,
            )
            for served, result in zip(pending, results, strict=True):
                if isinstance(result, ArtifactLoadError):
                    self._record_failure(served.name, served.version, served.sha256, result)
                elif isinstance(result, BaseException):
                    raise result
                else:
                    self.failures.pop((served.name, served.version), None)
                    wanted[served.name] = self._adopt(result)
            for model in wanted.values():
                self._loaded[(model.name, model.version)] = model
                self._loaded.move_to_end((model.name, model.version))
            self._prune(wanted)
            routes = {}
            for name in state.production:
                if name in wanted:
                    production = Served(model=wanted[name], arm="production")
                elif (previous := old.routes.get(name)) is not None:
                    production = previous.production  # failed load: the old version keeps serving
                else:
                    continue
                versions = {v: m for (n, v), m in self._loaded.items() if n == name}
                routes[name] = ModelRoute(production=production, versions=versions)
            snapshot = Snapshot(event_id=state.event_id, routes=routes)
            if snapshot.routes != old.routes:
                self.swaps += 1
                self.metrics.swaps.inc()
            self.current = snapshot  # the swap: one reference assignment
            self.ready = True
            self.metrics.loaded_versions.set(len(self._loaded))
            self.metrics.event_id.set(state.event_id)
            return snapshot

    def _adopt(self, model: LoadedModel) -> LoadedModel:
        """Bind the version's metric children once, so Predict does no label lookup."""
        latency, rows = self.metrics.version_children(model.name, model.version)
        return dataclasses.replace(model, latency=latency, rows=rows)

    def _prune(self, wanted: dict[str, LoadedModel]) -> None:
        """Unload versions beyond the retained count per model (never a wanted one)."""
        serving = {(m.name, m.version) for m in wanted.values()}
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
        while True:
            try:
                last = await self.registry.last_event_id()
                if self._wake.is_set() or last != self.current.event_id or not self.ready:
                    self._wake.clear()
                    started = time.perf_counter()
                    await self.reconcile()
                    log.debug("reconciled in %.1f ms", (time.perf_counter() - started) * 1e3)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile failed; the current snapshot keeps serving")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_interval)
