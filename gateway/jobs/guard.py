"""Guarded promotion: after every change of a model's production version, watch the new
version's outcome errors against the previous version's, and roll back on a degradation.

A guard starts when a gateway sees a model's production version change (a promotion
through any door, an experiment's auto-promotion). The reference is the previous
version's last outcome errors (its live window at that moment); the new version's errors
accumulate from then on. Each pass takes one look with the always-valid sequential test
of ``gateway.stats.sequential`` (one-sided: is the new version worse than the previous
by more than the margin?), so looking every few seconds does not inflate false alarms.
A loss beyond the margin rolls back through the registry — conditional on the new
version still being production, so with several gateways exactly one rolls back — with
the evidence in the audit reason and a critical alert. The guard ends, passed, after
``outcomes`` outcomes of the new version or ``seconds`` seconds.

Without a reference (the previous version had fewer than ``MIN_REFERENCE`` outcome
errors here) the promotion is not guarded, and the log says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gateway.errors import GatewayError
from gateway.stats.moments import Moments
from gateway.stats.sequential import Arms, Config, State, step
from registry.entities import AlertSeverity
from registry.errors import RegistryError

if TYPE_CHECKING:
    from gateway.drift.live import LiveWindows
    from gateway.operations import Operations

log = logging.getLogger(__name__)
ACTOR = "galgate-guard"
MIN_REFERENCE = 30


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """How long a promotion is watched and what counts as a degradation."""

    outcomes: int = 500  # the guard passes after this many outcomes of the new version
    seconds: float = 3600.0  # ... or after this long
    alpha: float = 0.05  # the sequential test's level
    margin: float = 0.1  # tolerated extra error, as a fraction of the reference error
    min_margin: float = 0.02  # ... but at least this (absolute; error rates of classifiers)


@dataclass(slots=True)
class _Guard:
    model: str
    version: str
    previous: str
    live: LiveWindows
    reference: Moments
    errors_at_start: int
    started: float
    started_wall: float
    config: Config
    state: State = field(default_factory=State.fresh)


class PromotionGuard:
    """Watches promotions on the gateway's pool; rolls back a degraded one."""

    def __init__(self, operations: Operations, policy: GuardPolicy | None = None) -> None:
        self._ops = operations
        self.policy = policy or GuardPolicy()
        self._production: dict[str, str] = {}  # model -> production version last seen
        self.guards: dict[str, _Guard] = {}
        self.rollbacks = 0

    async def run(self, interval: float) -> None:
        """Look every ``interval`` seconds until cancelled; failures never stop it."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("promotion guard pass failed; trying again in %.1f s", interval)
            await asyncio.sleep(interval)

    async def tick(self) -> None:
        """Start guards for new production versions; look at every open guard."""
        pool = self._ops.pool
        if pool is None:
            return
        routes = pool.current.routes
        for name, route in routes.items():
            if route.production is None:
                continue
            version = route.production.model.version
            before = self._production.get(name)
            self._production[name] = version
            if before is not None and before != version:
                self._start(name, version, before)
        for name in list(self.guards):
            await self._look(self.guards[name])

    def _start(self, name: str, version: str, previous: str) -> None:
        pool = self._ops.pool
        self.guards.pop(name, None)
        new, old = pool.loaded(name, version), pool.loaded(name, previous)
        if new is None or new.live is None or old is None or old.live is None:
            log.info("promotion of %s %s not guarded: no live windows", name, version)
            return
        errors = old.live.errors.values()
        if errors.size < MIN_REFERENCE:
            log.warning(
                "promotion of %s %s not guarded: %s %s has %d outcome errors here, %d needed "
                "as the reference",
                name, version, name, previous, errors.size, MIN_REFERENCE,
            )  # fmt: skip
            return
        reference = Moments.of(errors.tolist())
        max_loss = max(self.policy.margin * reference.mean, self.policy.min_margin)
        self.guards[name] = _Guard(
            model=name,
            version=version,
            previous=previous,
            live=new.live,
            reference=reference,
            errors_at_start=new.live.errors.count,
            started=time.monotonic(),
            started_wall=time.time(),
            config=Config(alpha=self.policy.alpha, direction=-1, max_loss=max_loss),
        )
        log.info(
            "guarding promotion of %s %s against %s (reference error %.4g over %d outcomes, "
            "margin %.4g)",
            name, version, previous, reference.mean, reference.n, max_loss,
        )  # fmt: skip

    def _new_errors(self, guard: _Guard) -> np.ndarray:
        window = guard.live.errors
        new = min(window.count - guard.errors_at_start, window.size)
        values = window.values()
        return values[values.size - new :] if new > 0 else values[:0]

    async def _look(self, guard: _Guard) -> None:
        errors = self._new_errors(guard)
        if errors.size:
            look = step(
                guard.state, Arms.of(guard.reference, Moments.of(errors.tolist())), guard.config
            )
            if bool(look.lost[0]):
                await self._roll_back(guard, errors, float(look.diff[0]))
                return
        elapsed = time.monotonic() - guard.started
        if errors.size >= self.policy.outcomes or elapsed >= self.policy.seconds:
            log.info(
                "promotion of %s %s passed its guard (%d outcomes, %.0f s)",
                guard.model, guard.version, errors.size, elapsed,
            )  # fmt: skip
            self.guards.pop(guard.model, None)

    async def _roll_back(self, guard: _Guard, errors: np.ndarray, diff: float) -> None:
        self.guards.pop(guard.model, None)
        evidence = (
            f"automatic rollback: {guard.model} {guard.version} degraded against "
            f"{guard.previous} — mean error {float(errors.mean()):.4g} over {errors.size} "
            f"outcomes vs {guard.reference.mean:.4g} over {guard.reference.n} (difference "
            f"{diff:.4g} beyond the margin {guard.config.max_loss:.4g}; always-valid one-sided "
            f"test at alpha {guard.config.alpha})"
        )
        try:
            restored = await self._ops.rollback(
                guard.model, actor=ACTOR, reason=evidence[:2000], expected_current=guard.version
            )
        except (RegistryError, GatewayError) as exc:
            log.info("no rollback of %s %s: %s", guard.model, guard.version, exc)
            return
        self.rollbacks += 1
        pool = self._ops.pool
        if pool is not None:
            pool.metrics.rollbacks.labels(guard.model).inc()
        self._production[guard.model] = restored.version  # not a promotion to guard
        log.error("%s", evidence)
        await self._ops.raise_alert(
            f"rollback:{guard.model}:{guard.version}",
            "rollback",
            AlertSeverity.CRITICAL,
            evidence[:2000],
            model=guard.model,
            version=guard.version,
            details={
                "restored": restored.version,
                "new_mean_error": float(errors.mean()),
                "new_outcomes": int(errors.size),
                "reference_mean_error": guard.reference.mean,
                "reference_outcomes": guard.reference.n,
                "margin": guard.config.max_loss,
                "alpha": guard.config.alpha,
                "guarded_seconds": time.time() - guard.started_wall,
            },
        )
