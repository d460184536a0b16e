"""Drift checks of the served versions: each version's live windows against its reference
profile (stored at registration) and its recorded baseline; every check is stored as a
DriftReport, and drift raises an alert.

What is checked, per served version (production and running experiments' arms):

- **data drift**: per-feature two-sample KS of the live inputs against the profile's
  reference sample, with the multiple-testing correction configured (Bonferroni by
  default), and PSI on bins cut at the profile's percentiles. A feature drifts when both
  agree: its KS p-value is under the corrected threshold *and* its PSI reaches the PSI
  threshold. KS alone flags shifts too small to matter once a window holds thousands of
  rows; PSI alone is noisy on small windows. Needs ``min_rows`` live rows and a profile.
- **performance drift**: the live outcome errors (0/1 for classifiers, absolute error for
  regressors) against the version's baseline error — ``1 - accuracy`` or ``mae`` from its
  validation metrics when recorded, else from its training metrics — by a one-sided
  t-test at ``performance_alpha``, tolerating ``performance_margin`` (a fraction of the
  baseline; for classifiers at least 0.02). Training metrics are optimistic: record
  validation metrics to hold a version to what it really did. Needs ``min_outcomes``.
- **concept drift**: Page-Hinkley on the error stream as outcomes arrive; a change
  detected since the version's previous check counts.

Live windows are per process: with ``--workers N`` each worker checks what it served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters import ReferenceProfile
from converters.errors import DataError
from gateway.alerting import Alerts
from gateway.brief import brief
from gateway.config import Settings
from gateway.drift.ks import ks_test
from gateway.drift.performance import performance_test
from gateway.drift.psi import psi_test
from gateway.errors import DriftMonitoringOffError, ModelNotServedError
from gateway.prometheus import Metrics
from gateway.serving.model import LoadedModel
from gateway.serving.pool import Pool
from registry.entities import AlertSeverity, DriftReport, ModelVersion, PredictionRecord
from registry.store.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DriftPolicy:
    """Thresholds of a drift check (``Settings.drift_*``)."""

    min_rows: int = 1000
    alpha: float = 0.05
    correction: str = "bonferroni"
    psi_threshold: float = 0.1
    min_outcomes: int = 100
    performance_alpha: float = 0.01
    performance_margin: float = 0.1

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftPolicy:
        """The policy the ``drift_*`` settings describe."""
        return cls(
            min_rows=settings.drift_min_rows,
            alpha=settings.drift_alpha,
            correction=settings.drift_correction,
            psi_threshold=settings.drift_psi_threshold,
            min_outcomes=settings.drift_min_outcomes,
            performance_alpha=settings.drift_performance_alpha,
            performance_margin=settings.drift_performance_margin,
        )


def baseline_error(version: ModelVersion, classifier: bool) -> float | None:
    """The version's recorded mean error per outcome, or None when none is recorded."""
    for metrics in (version.spec.validation_metrics, version.spec.metrics):
        if classifier and "accuracy" in metrics:
            return 1.0 - float(metrics["accuracy"])
        if not classifier and "mae" in metrics:
            return float(metrics["mae"])
    return None


class DriftChecker:
    """Checks served versions and stores what it found.

    Args:
        registry: profiles and baselines are read from it; reports are stored in it.
        pool: the served versions and their live windows.
        policy: the thresholds.
        alerts: raises an alert when a check finds drift; None: reports only.
        metrics: counts checks by result.
        on_drift: awaited with each report of a production version that found drift
            (retraining); its failures are logged, never raised.
    """

    def __init__(
        self,
        registry: Registry,
        pool: Pool,
        policy: DriftPolicy | None = None,
        alerts: Alerts | None = None,
        metrics: Metrics | None = None,
        on_drift: Callable[[DriftReport], Awaitable[None]] | None = None,
    ) -> None:
        self.on_drift = on_drift
        self._checks = metrics.drift_checks if metrics is not None else None
        self._registry = registry
        self._pool = pool
        self.policy = policy or DriftPolicy()
        self._alerts = alerts
        # sha256 -> profile (None: the version has none), read once per artifact.
        self._profiles: dict[str, ReferenceProfile | None] = {}
        # (model, version) -> Page-Hinkley changes already reported.
        self._reported_changes: dict[tuple[str, str], int] = {}
        self._lock = asyncio.Lock()

    def served(self, model: str | None = None, version: str | None = None) -> list[LoadedModel]:
        """The versions serving now (production and experiment arms), optionally one
        model's or one version's.

        Raises:
            ModelNotServedError: the model (or that version of it) is not serving.
        """
        found: dict[tuple[str, str], LoadedModel] = {}
        for name, route in self._pool.current.routes.items():
            if model is not None and name != model:
                continue
            arms = [route.production]
            if route.experiment is not None:
                arms += [route.experiment.control, route.experiment.treatment]
            for routed in arms:
                if routed is not None and (not version or routed.model.version == version):
                    found[(name, routed.model.version)] = routed.model
        if model is not None and not found:
            what = f"version {brief(version)} of model {brief(model)}" if version else None
            raise ModelNotServedError(
                f"{what or f'model {brief(model)}'} is not serving here; drift is checked on "
                "served versions"
            )
        return list(found.values())

    async def check(
        self, model: str | None = None, version: str | None = None
    ) -> list[DriftReport]:
        """Check the served versions (all, one model's, or one version) now.

        Raises:
            DriftMonitoringOffError: the gateway keeps no live windows.
            ModelNotServedError: the model (or version) is not serving.
        """
        targets = self.served(model, version)
        reports = []
        async with self._lock:  # the periodic job and CheckDrift calls take turns
            for loaded in targets:
                reports.append(await self._check_one(loaded))
        return reports

    async def _check_one(self, loaded: LoadedModel) -> DriftReport:
        live = loaded.live
        if live is None:
            raise DriftMonitoringOffError(
                "drift monitoring is off on this gateway (GALGATE_DRIFT_WINDOW_ROWS=0)"
            )
        name, version = loaded.name, loaded.version
        policy = self.policy
        inputs = live.inputs.values()
        errors = live.errors.values()
        record = await self._registry.get_version(name, version)
        profile = await self._profile(loaded)
        kinds: list[str] = []
        notes: list[str] = []
        details: dict[str, Any] = {"policy": _policy_dict(policy)}

        if profile is None:
            notes.append("no reference profile: data drift not checked")
        elif inputs.shape[0] < policy.min_rows:
            notes.append(f"{inputs.shape[0]} live rows, {policy.min_rows} needed for data drift")
        else:
            data = _data_drift(inputs, profile, policy)
            details["data"] = data
            if data["drifted_features"]:
                kinds.append("data")
                notes.append(f"data drift in {', '.join(data['drifted_features'][:10])}")

        baseline = baseline_error(record, live.classifier)
        if baseline is None:
            notes.append("no recorded accuracy/mae: performance not checked")
        elif errors.size < policy.min_outcomes:
            notes.append(f"{errors.size} outcomes, {policy.min_outcomes} needed for performance")
        else:
            margin = policy.performance_margin * baseline
            if live.classifier:
                margin = max(margin, 0.02)
            result = performance_test(
                errors, baseline, margin=margin, alpha=policy.performance_alpha,
                min_samples=policy.min_outcomes,
            )  # fmt: skip
            details["performance"] = {
                "metric": "error rate" if live.classifier else "absolute error",
                "baseline": baseline,
                "margin": margin,
                "live_mean": result.live_mean,
                "n": result.n,
                "p_value": result.p_value,
                "degraded": result.degraded,
            }
            if result.degraded:
                kinds.append("performance")
                notes.append(
                    f"live error {result.live_mean:.4g} vs baseline {baseline:.4g} "
                    f"(p={result.p_value:.2g})"
                )

        key = (name, version)
        new_changes = live.changes - self._reported_changes.get(key, 0)
        self._reported_changes[key] = live.changes
        detector = live.detector
        details["concept"] = {
            "detector": "page_hinkley",
            "changes": live.changes,
            "new_changes": new_changes,
            "n": detector.n,
            "statistic": detector.statistic,
        }
        if new_changes > 0:
            kinds.append("concept")
            notes.append(f"{new_changes} change(s) in the error stream (Page-Hinkley)")

        drift = bool(kinds)
        summary = "; ".join(notes) if notes else "no drift"
        report = await self._registry.record_drift_report(
            model=name,
            version=version,
            drift=drift,
            kinds=tuple(kinds),
            live_rows=int(inputs.shape[0]),
            outcomes=int(errors.size),
            summary=summary[:2000],
            details=details,
        )
        if self._checks is not None:
            self._checks.labels(name, version, "drift" if drift else "ok").inc()
        if drift and self._alerts is not None:
            await self._alerts.raise_alert(
                f"drift:{name}:{version}",
                "drift",
                AlertSeverity.WARNING,
                f"model {name} version {version}: {summary}"[:2000],
                model=name,
                version=version,
                details={"report_id": report.id, "kinds": kinds},
            )
        if drift and self.on_drift is not None and self._is_production(name, version):
            try:
                await self.on_drift(report)
            except Exception:
                log.exception("drift of %s %s: the on_drift hook failed", name, version)
        return report

    def _is_production(self, name: str, version: str) -> bool:
        route = self._pool.current.routes.get(name)
        production = route.production if route is not None else None
        return production is not None and production.model.version == version

    async def _profile(self, loaded: LoadedModel) -> ReferenceProfile | None:
        if loaded.sha256 not in self._profiles:
            data = await self._registry.load_profile(loaded.name, loaded.version)
            profile = None
            if data is not None:
                try:
                    profile = await asyncio.to_thread(ReferenceProfile.from_bytes, data)
                except DataError as exc:
                    log.error("profile of %s %s unreadable: %s", loaded.name, loaded.version, exc)
            if profile is not None and profile.features != tuple(loaded.signature.features):
                log.error("profile of %s %s names other features", loaded.name, loaded.version)
                profile = None
            self._profiles[loaded.sha256] = profile
        return self._profiles[loaded.sha256]


def _policy_dict(policy: DriftPolicy) -> dict[str, Any]:
    return {
        "min_rows": policy.min_rows,
        "alpha": policy.alpha,
        "correction": policy.correction,
        "psi_threshold": policy.psi_threshold,
        "min_outcomes": policy.min_outcomes,
        "performance_alpha": policy.performance_alpha,
        "performance_margin": policy.performance_margin,
    }


def _data_drift(inputs: np.ndarray, profile: ReferenceProfile, policy: DriftPolicy) -> dict:
    ks = ks_test(inputs, profile.sample, alpha=policy.alpha, correction=policy.correction)
    psi = psi_test(inputs, profile.quantiles, threshold=policy.psi_threshold)
    means, stds = inputs.mean(axis=0), inputs.std(axis=0)
    features = []
    drifted = []
    by_ks, by_psi = set(ks.drifted), set(psi.drifted)
    for i, name in enumerate(profile.features):
        both = i in by_ks and i in by_psi
        if both:
            drifted.append(name)
        features.append(
            {
                "name": name,
                "ks_statistic": float(ks.statistics[i]),
                "ks_p_value": float(ks.p_values[i]),
                "ks_threshold": float(ks.thresholds[i]),
                "psi": float(psi.values[i]),
                "live_mean": float(means[i]),
                "live_std": float(stds[i]),
                "reference_mean": float(profile.means[i]),
                "reference_std": float(profile.stds[i]),
                "drifted": both,
            }
        )
    return {"rows": int(inputs.shape[0]), "features": features, "drifted_features": drifted}


def feed_live_windows(pool: Pool) -> Callable[[PredictionRecord, float], None]:
    """The outcome recorder's ``on_scored`` hook: each new outcome's error goes to the
    live windows of the version that made the prediction (while it is loaded here)."""

    def feed(prediction: PredictionRecord, value: float) -> None:
        model = pool.loaded(prediction.model, prediction.version)
        if model is not None and model.live is not None:
            model.live.observe(prediction.predicted, value)

    return feed
