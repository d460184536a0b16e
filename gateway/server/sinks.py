"""The alert sinks a gateway is configured with: a structured log line always, and a
webhook when ``GALGATE_ALERT_WEBHOOK_URL`` is set."""

from __future__ import annotations

from gateway.alerts import FanOut, LogSink, WebhookSink
from gateway.config import Settings
from gateway.prometheus import Metrics


def alert_sink(settings: Settings, metrics: Metrics | None = None) -> FanOut:
    """Every sink the settings ask for, behind one ``send``."""
    sinks: list = [LogSink()]
    if settings.alert_webhook_url:
        sinks.append(WebhookSink(settings.alert_webhook_url, metrics=metrics))
    return FanOut(sinks)
