"""Where alerts go: the sink contract, a log sink, and a fan-out to several sinks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from gateway.alerts.payload import alert_document, to_json
from registry.entities import Alert, AlertSeverity

log = logging.getLogger(__name__)

_LEVELS = {
    AlertSeverity.INFO: logging.INFO,
    AlertSeverity.WARNING: logging.WARNING,
    AlertSeverity.CRITICAL: logging.ERROR,
}
# The fields of a log line, in order; "message" is the record's, the others also in extra.
_FIELDS = ("alert_id", "key", "kind", "severity", "model", "version", "count", "details")


@runtime_checkable
class AlertSink(Protocol):
    """Something that takes alerts somewhere (a log, a webhook, ...)."""

    async def send(self, alert: Alert) -> None:
        """Hand one alert to the sink.

        A sink that talks to the network must not keep the caller waiting on it: it
        queues the alert and delivers it in the background.

        Args:
            alert: the alert, as stored (``count`` and ``last_seen_at`` say how often
                and how lately it was raised).
        """
        ...


class LogSink:
    """One structured log line per alert, at the level of its severity.

    The line (the record's message) is one JSON object: ``message``, ``alert_id``,
    ``key``, ``kind``, ``severity``, ``model``, ``version``, ``count`` and ``details``.
    The same fields are attributes of the ``LogRecord`` (``extra``), ``details`` as JSON
    text, for handlers that ship records as structured data. Levels: info -> INFO,
    warning -> WARNING, critical -> ERROR.

    Args:
        logger: where the lines go (default: the ``gateway.alerts.sinks`` logger).
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    async def send(self, alert: Alert) -> None:
        """Log one line for ``alert``."""
        doc = alert_document(alert)
        fields = {"alert_id": doc["id"], **{k: doc[k] for k in _FIELDS if k != "alert_id"}}
        line = to_json({"message": doc["message"], **fields})
        extra = {**fields, "details": to_json(fields["details"])}
        self._log.log(_LEVELS.get(alert.severity, logging.WARNING), "%s", line, extra=extra)


class FanOut:
    """Sends every alert to every sink; one failing sink never stops the others.

    Sinks run concurrently, so a slow one does not delay the rest. A sink that raises
    is logged with its traceback and ``send`` still returns normally.

    Args:
        sinks: the sinks, each with ``async send(alert)``; those with ``start()`` and
            ``async stop()`` are started and stopped with the fan-out.
    """

    def __init__(self, sinks: Iterable[AlertSink]) -> None:
        self.sinks: tuple[AlertSink, ...] = tuple(sinks)

    async def send(self, alert: Alert) -> None:
        """Send ``alert`` to every sink and wait for each to take it (or fail)."""
        results = await asyncio.gather(
            *(sink.send(alert) for sink in self.sinks), return_exceptions=True
        )
        for sink, result in zip(self.sinks, results, strict=True):
            if isinstance(result, Exception | asyncio.CancelledError):
                log.error(
                    "alert sink %s failed to take alert %s (%s): %s: %s",
                    type(sink).__name__,
                    alert.id,
                    alert.key,
                    type(result).__name__,
                    result,
                    exc_info=result,
                )
            elif isinstance(result, BaseException):
                raise result

    def start(self) -> None:
        """Start every sink that has a ``start()`` (on the running loop)."""
        for sink in self.sinks:
            start = getattr(sink, "start", None)
            if callable(start):
                start()

    async def stop(self) -> None:
        """Stop (drain) every sink that has a ``stop()``, all at once; failures are logged."""
        stoppable = [s for s in self.sinks if callable(getattr(s, "stop", None))]
        results = await asyncio.gather(*(s.stop() for s in stoppable), return_exceptions=True)
        for sink, result in zip(stoppable, results, strict=True):
            if isinstance(result, Exception):
                log.error(
                    "alert sink %s failed to stop: %s", type(sink).__name__, result, exc_info=result
                )
