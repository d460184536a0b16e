"""Where alerts go: a log line, a webhook, or several sinks at once."""

from __future__ import annotations

from gateway.alerts.payload import alert_document
from gateway.alerts.sinks import AlertSink, FanOut, LogSink
from gateway.alerts.target import mask_url
from gateway.alerts.webhook import WebhookSink

__all__ = ["AlertSink", "FanOut", "LogSink", "WebhookSink", "alert_document", "mask_url"]
