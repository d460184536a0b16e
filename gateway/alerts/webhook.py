"""The webhook sink: alerts POSTed as JSON by one background task, with bounded retries.

Body (``Content-Type: application/json``, UTF-8), one object per alert::

    {"source": "galgate",            always this string
     "id": 42,                       the alert's id in the registry
     "key": "drift:data:btc:1.2.0",  what makes two alerts the same (dedup key)
     "kind": "drift",                drift, performance, srm, arm_errors, rollback, ...
     "severity": "warning",          "info" | "warning" | "critical"
     "model": "btc", "version": "1.2.0",   "" when not about one model / version
     "message": "...",               one human sentence
     "details": {...},               the evidence; NaN and infinities are sent as null
     "created_at": "2026-01-02T03:04:05.123456+00:00",   ISO-8601, UTC
     "last_seen_at": "2026-01-02T03:09:05.123456+00:00", ISO-8601, UTC
     "count": 3}                     times raised, folded into this alert

Delivery. :meth:`WebhookSink.send` never waits on the network: it puts the encoded body on
a bounded queue and returns. One task (:meth:`start` / :meth:`stop`, like the prediction
log) delivers alerts one at a time, in order. An attempt that ends in a connection error,
no response within ``timeout`` seconds, 429 or 5xx is retried up to ``retries`` times,
after ``backoff * 2**n`` seconds (n = 0, 1, ...), or after the response's ``Retry-After``
seconds when it has one; either way at most ``max_backoff``. Any other status outside
2xx (4xx, and 3xx: redirects are not followed) is not retried: the error log names the
status. A full queue drops the new alert, counted and warned about (at most one warning
every 10 s). :meth:`stop` delivers what is queued, for up to ``drain_timeout`` seconds;
what is still undelivered then is counted as dropped and logged as an error.

HTTP. ``urllib.request`` run in a worker thread (``asyncio.to_thread``): the standard
library's HTTP/1.1 client gives TLS with certificate checks, chunked and length-delimited
responses and the ``*_PROXY`` environment variables for free, where a client on asyncio
streams would re-implement them. One delivery runs at a time, so one thread is busy at a
time. ``timeout`` bounds each attempt as a whole (``asyncio.timeout``) and each socket
operation in the thread, so an abandoned attempt's thread ends within ``timeout`` too.

Credentials. ``user:password@`` in the URL is sent as HTTP Basic authorization, never as
part of the request line. Every log line shows the URL masked (``***@`` for the
credentials, ``***`` for query values, where tokens often live).

Delivery is at least once: an attempt that timed out may have reached the receiver, which
then gets the alert again (same ``id`` and ``last_seen_at``: deduplicate on those).

Counters: ``delivered``, ``retried`` (attempts after the first), ``failed`` (given up),
``dropped`` (queue full, or undelivered at shutdown); with ``metrics``, also
``galgate_alert_webhook_{delivered,retries,failed,dropped}_total``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http.client
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from gateway.alerts.payload import alert_document, to_json
from gateway.alerts.target import mask_url, request_headers, retry_after_seconds, split_credentials
from gateway.brief import brief
from gateway.prometheus import Metrics
from registry.entities import Alert

log = logging.getLogger(__name__)

_WARN_EVERY = 10.0  # seconds between two log lines about the same condition
_READ_LIMIT = 64 * 1024  # bytes of a response body read (and thrown away)
_SNIPPET = 200  # bytes of an error response body shown in the log


@dataclass(frozen=True, slots=True)
class _Queued:
    alert_id: int
    key: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _Attempt:
    ok: bool
    retryable: bool
    reason: str = ""
    retry_after: float | None = None


class _Throttle:
    """Allows one log line per ``every`` seconds and counts what it suppressed."""

    def __init__(self, every: float = _WARN_EVERY) -> None:
        self._every = every
        self._last = -math.inf
        self.suppressed = 0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            return True
        self.suppressed += 1
        return False

    def take_suppressed(self) -> str:
        n, self.suppressed = self.suppressed, 0
        return f" ({n} similar lines suppressed)" if n else ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not a place to re-send the alert (a POST would become a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookSink:
    """POSTs each alert as JSON to ``url`` from one background task (see the module doc).

    Args:
        url: ``http://`` or ``https://`` URL; ``user:password@`` becomes Basic auth.
        timeout: seconds one attempt may take (connect, send, response).
        retries: attempts after the first, for retryable failures.
        backoff: seconds before the first retry; doubled for each next one.
        max_backoff: most seconds between two attempts, ``Retry-After`` included.
        queue_size: most alerts waiting for delivery (the one in flight not counted).
        headers: extra request headers (e.g. ``Authorization``); ``Content-Type`` is
            always ``application/json``.
        metrics: the process's Prometheus metrics, if any.
        drain_timeout: seconds :meth:`stop` keeps delivering what is queued.
        sleep: waits between attempts (tests record the delays instead of sleeping).

    Raises:
        ValueError: the URL is not an absolute http(s) URL with a host, a header is
            malformed, credentials are both in the URL and in an ``Authorization``
            header, or a number is out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        queue_size: int = 1000,
        headers: Mapping[str, str] | None = None,
        metrics: Metrics | None = None,
        drain_timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not (timeout > 0 and retries >= 0 and backoff >= 0 and max_backoff >= 0):
            raise ValueError("need timeout > 0, retries >= 0, backoff >= 0, max_backoff >= 0")
        if queue_size < 1 or drain_timeout < 0:
            raise ValueError("need queue_size >= 1 and drain_timeout >= 0")
        self.url = mask_url(url)  # the only form of the URL that is ever shown
        self._target, auth = split_credentials(url, self.url)
        self._headers = request_headers(headers or {}, auth)
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self.queue_size = queue_size
        self._drain_timeout = drain_timeout
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._queue: collections.deque[_Queued] = collections.deque()
        self._inflight: _Queued | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._closed = False
        self._delivered = self._retried = self._failed = self._dropped = 0
        self._drop_warning = _Throttle()
        self._retry_warning = _Throttle()
        self._failure_error = _Throttle()
        self._counters = (
            (
                metrics.alert_webhook_delivered,
                metrics.alert_webhook_retries,
                metrics.alert_webhook_failed,
                metrics.alert_webhook_dropped,
            )
            if metrics is not None
            else None
        )

    # -- the caller's side --------------------------------------------------------------

    async def send(self, alert: Alert) -> None:
        """Queue ``alert`` for delivery and return at once; a full queue drops it (counted)."""
        if self._closed or len(self._queue) >= self.queue_size:
            self._count(dropped=1)
            if self._drop_warning.ready():
                log.warning(
                    "alert webhook %s: alert %s (%s) dropped: %s; %d dropped so far%s",
                    self.url,
                    alert.id,
                    brief(alert.key),
                    "the sink is stopped"
                    if self._closed
                    else f"{len(self._queue)} alerts already queued (queue_size "
                    f"{self.queue_size}); is the receiver slow or down?",
                    self._dropped,
                    self._drop_warning.take_suppressed(),
                )
            return
        body = to_json(alert_document(alert)).encode()
        self._queue.append(_Queued(alert.id, alert.key, body))
        self._wake.set()

    @property
    def queued(self) -> int:
        """Alerts waiting for delivery, the one in flight included."""
        return len(self._queue) + (self._inflight is not None)

    @property
    def delivered(self) -> int:
        """Alerts the receiver accepted (2xx)."""
        return self._delivered

    @property
    def retried(self) -> int:
        """Attempts made after an alert's first one (retries spent)."""
        return self._retried

    @property
    def failed(self) -> int:
        """Alerts given up on: retries spent, or a status that is not retried."""
        return self._failed

    @property
    def dropped(self) -> int:
        """Alerts never delivered because the queue was full or the sink stopped first."""
        return self._dropped

    # -- the delivery task --------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery task on the running event loop (idempotent)."""
        self._closed = False
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="galgate-alert-webhook")

    async def stop(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then end the task; later alerts are dropped (counted).

        Args:
            timeout: seconds to keep delivering (default: ``drain_timeout``); alerts
                still undelivered then are counted as dropped and logged as an error.
        """
        self._closed = self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            timeout = self._drain_timeout if timeout is None else timeout
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        lost = self.queued
        if lost:
            self._queue.clear()
            self._inflight = None
            self._count(dropped=lost)
            log.error(
                "alert webhook %s: %d alerts not delivered at shutdown; this webhook will not "
                "get them",
                self.url,
                lost,
            )

    async def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self._inflight = queue.popleft()
            try:
                await self._deliver(self._inflight)
            except Exception:  # never let one alert end the task
                log.exception(
                    "alert webhook %s: alert %s failed", self.url, self._inflight.alert_id
                )
                self._count(failed=1)
            self._inflight = None

    async def _deliver(self, item: _Queued) -> None:
        for attempt in range(self._retries + 1):
            outcome = await self._attempt(item.body)
            if outcome.ok:
                self._count(delivered=1)
                return
            if not outcome.retryable or attempt == self._retries:
                self._give_up(item, outcome, attempt + 1)
                return
            delay = (
                self._backoff * 2**attempt if outcome.retry_after is None else outcome.retry_after
            )
            delay = min(delay, self._max_backoff)
            self._count(retried=1)
            if self._retry_warning.ready():
                log.warning(
                    "alert webhook %s: alert %s (%s) not delivered (%s); retry %d of %d in "
                    "%.2f s%s",
                    self.url,
                    item.alert_id,
                    brief(item.key),
                    outcome.reason,
                    attempt + 1,
                    self._retries,
                    delay,
                    self._retry_warning.take_suppressed(),
                )
            await self._sleep(delay)

    def _give_up(self, item: _Queued, outcome: _Attempt, attempts: int) -> None:
        self._count(failed=1)
        if self._failure_error.ready():
            log.error(
                "alert webhook %s: alert %s (%s) not delivered: %s; %s%s",
                self.url,
                item.alert_id,
                brief(item.key),
                outcome.reason,
                f"gave up after {attempts} attempts" if outcome.retryable else "not retried",
                self._failure_error.take_suppressed(),
            )

    async def _attempt(self, body: bytes) -> _Attempt:
        try:
            async with asyncio.timeout(self._timeout):
                status, retry_after, text = await asyncio.to_thread(self._post, body)
        except TimeoutError:
            return _Attempt(False, True, f"no response within {self._timeout:g} s")
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return _Attempt(False, True, f"no response within {self._timeout:g} s")
            return _Attempt(False, True, f"{type(reason).__name__}: {reason}")
        except (OSError, http.client.HTTPException) as exc:
            return _Attempt(False, True, f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return _Attempt(True, False)
        reason = f"HTTP {status}" + (f": {brief(text)}" if text else "")
        if status == 429 or status >= 500:
            return _Attempt(False, True, reason, retry_after_seconds(retry_after))
        return _Attempt(False, False, reason)

    def _post(self, body: bytes) -> tuple[int, str | None, str]:
        """One POST (in a worker thread): status, its Retry-After header, error body start."""
        request = urllib.request.Request(
            self._target, data=body, headers=self._headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read(_READ_LIMIT)
                return response.status, None, ""
        except urllib.error.HTTPError as exc:  # an answer outside 2xx
            with contextlib.closing(exc):
                try:
                    text = exc.read(_SNIPPET).decode("utf-8", "replace")
                except (OSError, http.client.HTTPException, ValueError):
                    text = ""
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                return exc.code, retry_after, " ".join(text.split())

    def _count(
        self, *, delivered: int = 0, retried: int = 0, failed: int = 0, dropped: int = 0
    ) -> None:
        self._delivered += delivered
        self._retried += retried
        self._failed += failed
        self._dropped += dropped
        if self._counters is not None:
            for counter, n in zip(
                self._counters, (delivered, retried, failed, dropped), strict=True
            ):
                if n:
                    counter.inc(n)
