"""Raise alerts: stored in the registry (one per key within the cooldown, across every
gateway), then handed to the sinks (a structured log line; a webhook when configured).

Raising never fails the caller: an alert that cannot be stored (the database is down) is
still logged, with what it would have said.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from gateway.prometheus import Metrics
from registry.entities import Alert, AlertSeverity
from registry.errors import RegistryError
from registry.store.registry import Registry

log = logging.getLogger(__name__)


class AlertSink(Protocol):
    """Where a new alert goes (``gateway.alerts``: log, webhook, both)."""

    async def send(self, alert: Alert) -> None: ...


class Alerts:
    """Raises alerts through the registry and its sinks.

    Args:
        registry: where alerts are stored (and folded by key within the cooldown).
        sink: what hears of each new alert; None: nothing beyond the registry.
        cooldown: an alert raised again with the same key within this time (and not
            acknowledged) is folded into the open one instead of repeating.
    """

    def __init__(
        self,
        registry: Registry,
        sink: AlertSink | None = None,
        *,
        cooldown: timedelta,
        metrics: Metrics | None = None,
    ) -> None:
        self._registry = registry
        self._sink = sink
        self.cooldown = cooldown
        self._raised = metrics.alerts_raised if metrics is not None else None

    def start(self) -> None:
        """Start the sink's delivery task, if it has one (on the running loop)."""
        start = getattr(self._sink, "start", None)
        if start is not None:
            start()

    async def stop(self) -> None:
        """Deliver what the sink still holds (bounded by its own timeout), then stop it."""
        stop = getattr(self._sink, "stop", None)
        if stop is not None:
            await stop()

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
        """Store the alert (or fold it into the open one of its key) and, when it is new,
        send it to the sink. Returns the alert, or None when it could not be stored."""
        try:
            alert, new = await self._registry.raise_alert(
                key,
                kind,
                severity,
                message,
                model=model,
                version=version,
                details=dict(details or {}),
                cooldown=self.cooldown,
            )
        except RegistryError as exc:
            log.error("alert %s could not be stored (%s): %s", key, exc, message)
            return None
        if new and self._raised is not None:
            self._raised.labels(kind, severity.value).inc()
        if new and self._sink is not None:
            try:
                await self._sink.send(alert)
            except Exception:
                log.exception("alert %s: a sink failed", key)
        return alert
