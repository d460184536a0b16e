"""The prediction log: a bounded in-memory queue, its pending map, and one batch writer task.

Every answered Predict appends one entry with :meth:`PredictionLog.append` — O(1), no
await, no I/O, no lock, no copy: a tuple of references (see ``record.py``). One
background task per process turns entries into rows and drains the queue into
``Registry.write_prediction_rows`` in batches of up to ``batch_size``, or whatever
arrived within ``flush_interval`` of the writer's last wake-up when traffic is light.

Until a prediction is written its entry sits in the *pending map* (prediction_id ->
entry), so an outcome can be recorded for a prediction that is not in the database yet. The queue's
bound covers everything not yet written (queued records plus the batch being written),
so memory stays bounded even while the database is down.

A full queue is never silent. Policy ``"drop"``: the prediction is not logged, the Predict
still succeeds, the drop is counted (``galgate_prediction_log_dropped_total`` and
``GatewayStatus.prediction_log_dropped``) and a rate-limited warning is logged. Policy
``"reject"``: :meth:`PredictionLog.admit` raises ``QueueFullError`` (RESOURCE_EXHAUSTED)
before the model runs.

A failed database write keeps its batch and retries it with exponential backoff (capped at
``_MAX_BACKOFF`` seconds); meanwhile the queue keeps absorbing new records up to its bound,
then the policy applies. ``write_prediction_rows`` ignores ids already stored, so retrying a
batch whose commit did go through writes nothing twice.

What a crash can lose. :meth:`PredictionLog.stop` (called by ``Gateway.stop`` after the
gRPC server has stopped, so in-flight Predicts are logged first) drains the queue
completely: a graceful shutdown loses no prediction, unless the database stays
unreachable for ``drain_timeout`` seconds (10 by default) — then the unwritten records
are counted as dropped and an error names how many. A hard kill (SIGKILL, OOM, power
loss) loses what was queued and not yet written: about one flush interval of predictions
(more only if the database was already failing, never more than ``queue_size``).
Acknowledged outcomes are not affected: RecordOutcome writes synchronously (see
gateway/outcomes.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from gateway.config import Settings
from gateway.errors import QueueFullError
from gateway.predlog.record import Entry, entry_bytes, entry_record, entry_row
from gateway.prometheus import Metrics
from gateway.serving.model import Outputs
from gateway.serving.snapshot import Routed
from registry.entities import PredictionRecord, PredictionRowTuple
from registry.errors import InvalidArgumentError
from registry.sql.predictions import record_row

log = logging.getLogger(__name__)

POLICIES = ("drop", "reject")
_MAX_BACKOFF = 5.0
_FIRST_BACKOFF = 0.05
_WARN_EVERY = 10.0  # seconds between two warnings about the same condition


class PredictionStore(Protocol):
    """Where batches go: ``registry.store.registry.Registry`` in production."""

    async def write_prediction_rows(self, rows: Sequence[PredictionRowTuple]) -> int: ...


class _Throttle:
    """Allows one log line per ``every`` seconds and counts what it suppressed."""

    def __init__(self, every: float = _WARN_EVERY) -> None:
        self._every = every
        self._last = -float("inf")
        self.suppressed = 0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            return True
        self.suppressed += 1
        return False


class PredictionLog:
    """Bounded queue + pending map + one batch writer task (start it on the running loop).

    Args:
        store: has ``async write_prediction_rows(rows) -> int`` (the Registry).
        queue_size: most records held in memory before they are written.
        queue_bytes: most bytes of inputs and outputs held in memory before they are
            written (a few huge requests fill it as surely as many small ones).
        batch_size: most predictions per ``write_prediction_rows`` call.
        flush_interval: seconds the writer waits for a batch to fill before writing less.
        full_policy: "drop" (count, warn, Predict succeeds) or "reject" (QueueFullError).
        metrics: the process's Prometheus metrics, if any.
        drain_timeout: seconds ``stop()`` keeps retrying an unreachable database.
    """

    def __init__(
        self,
        store: PredictionStore,
        *,
        queue_size: int = 100_000,
        queue_bytes: int = 256 * 1024 * 1024,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        full_policy: str = "drop",
        metrics: Metrics | None = None,
        drain_timeout: float = 10.0,
    ) -> None:
        if queue_size < 1 or queue_bytes < 1 or batch_size < 1 or flush_interval <= 0:
            raise ValueError(
                "queue_size, queue_bytes and batch_size must be >= 1 and flush_interval > 0"
            )
        if full_policy not in POLICIES:
            raise ValueError(f"full_policy must be one of {POLICIES}, got {full_policy!r}")
        self._store = store
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self._pending_bytes = 0
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.full_policy = full_policy
        self._reject = full_policy == "reject"
        self._drain_timeout = drain_timeout
        # Entries from Predict; PredictionRecords given to put().
        self._queue: collections.deque[Entry | PredictionRecord] = collections.deque()
        self._pending: dict[str, Entry | PredictionRecord] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._urgent = 0  # flush() callers waiting: write without waiting for a full batch
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._accepted = 0
        self._written = 0
        self._settled = 0  # accepted predictions the writer is done with: written or refused
        self._dropped = 0
        self._failures = 0
        self._drop_warning = _Throttle()
        self._failure_warning = _Throttle()
        self._dropped_counter = metrics.prediction_log_dropped if metrics else None
        self._written_counter = metrics.prediction_log_written if metrics else None
        self._failure_counter = metrics.prediction_log_write_failures if metrics else None
        if metrics is not None:
            metrics.prediction_log_queued.set_function(lambda: len(self._pending))
            metrics.prediction_log_queued_bytes.set_function(lambda: self._pending_bytes)

    @classmethod
    def from_settings(
        cls, store: PredictionStore, settings: Settings, metrics: Metrics | None = None
    ) -> PredictionLog:
        """A log configured by the ``predlog_*`` settings."""
        return cls(
            store,
            queue_size=settings.predlog_queue_size,
            queue_bytes=settings.predlog_queue_bytes,
            batch_size=settings.predlog_batch_size,
            flush_interval=settings.predlog_flush_interval,
            full_policy=settings.predlog_full_policy,
            drain_timeout=settings.predlog_drain_timeout,
            metrics=metrics,
        )

    # -- hot path ---------------------------------------------------------------------

    def admit(self) -> None:
        """Before running a model: under policy "reject", refuse when the queue is full.

        Raises:
            QueueFullError: policy "reject" and ``queue_size`` records are not yet written.
        """
        if self._reject and (
            len(self._pending) >= self.queue_size or self._pending_bytes >= self.queue_bytes
        ):
            self._warn_full()
            raise QueueFullError(
                f"the prediction log is full ({len(self._pending)} predictions, "
                f"{self._pending_bytes} bytes not yet written; limits {self.queue_size} and "
                f"{self.queue_bytes}); retry after a short backoff"
            )

    def append(
        self,
        served: Routed,
        routing_key: str,
        x: np.ndarray,
        outputs: Outputs,
        prediction_id: str,
        started: float,
    ) -> bool:
        """Log one answered request; False when it was dropped because the queue is full.

        Keeps references, not copies: ``x`` and ``outputs`` must not change afterwards
        (the doors decode into fresh arrays and sessions return fresh ones).

        Args:
            served: the routed version, arm and experiment.
            routing_key: the request's sticky key.
            x: the float32 [rows, n_features] input that was run.
            outputs: what the session returned.
            prediction_id: the id returned to the caller.
            started: ``time.perf_counter()`` when the request arrived.
        """
        latency_us = int((time.perf_counter() - started) * 1e6)
        entry = (prediction_id, time.time(), served, routing_key, x, outputs, latency_us)
        return self._queue_item(prediction_id, entry, entry_bytes(x, outputs))

    def put(self, record: PredictionRecord) -> bool:
        """Queue one ready-made record; False when it was dropped because the queue is full."""
        return self._queue_item(
            record.prediction_id, record, len(record.inputs) + len(record.outputs)
        )

    def _queue_item(self, prediction_id: str, item: Entry | PredictionRecord, size: int) -> bool:
        pending = self._pending
        if len(pending) >= self.queue_size or self._pending_bytes + size > self.queue_bytes:
            self._count_drop(1)
            self._warn_full()
            return False
        pending[prediction_id] = item
        self._pending_bytes += size
        queue = self._queue
        queue.append(item)
        self._accepted += 1
        if len(queue) == 1 or len(queue) >= self.batch_size:
            self._wake.set()
        return True

    def _count_drop(self, n: int) -> None:
        self._dropped += n
        if self._dropped_counter is not None:
            self._dropped_counter.inc(n)

    def _warn_full(self) -> None:
        if self._drop_warning.ready():
            log.warning(
                "prediction log full (%d predictions, %d bytes not yet written, limits %d "
                "and %d, policy %s; %d predictions dropped so far): is the registry "
                "database slow or down?",
                len(self._pending),
                self._pending_bytes,
                self.queue_size,
                self.queue_bytes,
                self.full_policy,
                self._dropped,
            )

    # -- reads ------------------------------------------------------------------------

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The record of a prediction queued but not yet written, else None."""
        item = self._pending.get(prediction_id)
        if type(item) is tuple:
            return entry_record(item)
        return item

    def _forget(self, prediction_id: str, size: int) -> None:
        """Take a written (or refused) prediction out of the pending map and its bytes."""
        if self._pending.pop(prediction_id, None) is not None:
            self._pending_bytes -= size

    @property
    def queued_bytes(self) -> int:
        """Bytes of inputs and outputs accepted and not yet written."""
        return self._pending_bytes

    @property
    def queued(self) -> int:
        """Records accepted and not yet written (the queue plus the batch in flight)."""
        return len(self._pending)

    @property
    def dropped(self) -> int:
        """Records not logged because the queue was full (or the drain gave up)."""
        return self._dropped

    @property
    def written(self) -> int:
        """Records this process has written to the database."""
        return self._written

    @property
    def write_failures(self) -> int:
        """Failed ``write_predictions`` calls (each retried)."""
        return self._failures

    # -- the writer -------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer task on the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="galgate-predlog")

    async def flush(self) -> None:
        """Return once every record queued before the call is written.

        Raises:
            RuntimeError: records are queued but the writer is not running.
        """
        target = self._accepted  # predictions are written in the order they were accepted
        if self._settled >= target or not self._pending:
            return
        if self._task is None:
            raise RuntimeError("the prediction log writer is not running; call start()")
        self._urgent += 1
        self._wake.set()
        try:
            while self._settled < target and self._pending:
                self._progress.clear()
                await self._progress.wait()
        finally:
            self._urgent -= 1

    async def stop(self, timeout: float | None = None) -> None:
        """Write everything queued, then end the writer task.

        Args:
            timeout: seconds to keep retrying a failing database (default: the
                constructor's ``drain_timeout``); what is still unwritten then is
                counted as dropped and logged as an error.
        """
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        timeout = self._drain_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            lost = len(self._pending)
            log.error(
                "prediction log: %d predictions could not be written within %.1f s at "
                "shutdown (registry unavailable); they are lost",
                lost,
                timeout,
            )
            self._pending.clear()
            self._pending_bytes = 0
            self._queue.clear()
            self._count_drop(lost)
            self._progress.set()

    async def _run(self) -> None:
        """Take batches off the queue and write them, one write at a time. While a full
        batch is being written the next one's rows are built, so building (Python, on
        this thread) overlaps the database's work (SQLite steps without the GIL; the
        PostgreSQL server works in its own process)."""
        queue = self._queue
        writing: asyncio.Task | None = None
        try:
            while True:
                idle = not (self._stopping or self._urgent)
                if writing is not None and (not queue or (len(queue) < self.batch_size and idle)):
                    await writing  # no full batch to build meanwhile
                    writing = None
                    continue
                if not queue:
                    if self._stopping:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if len(queue) < self.batch_size and idle:
                    # Light traffic: give the batch one flush interval to fill up.
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.flush_interval):
                            while len(queue) < self.batch_size and not (
                                self._stopping or self._urgent
                            ):
                                await self._wake.wait()
                                self._wake.clear()
                batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                rows = self._rows(batch)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._write(rows))
        finally:
            if writing is not None and not writing.done():
                writing.cancel()  # stop() gave up on an unreachable database

    def _rows(self, batch: list[Entry | PredictionRecord]) -> list[PredictionRowTuple]:
        """The rows of a batch; an item that cannot become one is dropped, loudly."""
        rows = []
        for item in batch:
            try:
                rows.append(entry_row(item) if type(item) is tuple else record_row(item))
            except Exception as exc:  # one bad prediction never stops the log
                pid = item[0] if type(item) is tuple else getattr(item, "prediction_id", "?")
                log.error("prediction log: %r cannot be logged: %s", pid, exc)
                self._forget(pid, _size(item))
                self._settled += 1
                self._count_drop(1)
        return rows

    async def _write(self, rows: list[PredictionRowTuple]) -> None:
        delay = _FIRST_BACKOFF
        while True:
            try:
                try:
                    await self._store.write_prediction_rows(rows)
                except InvalidArgumentError:
                    # The database refuses something in the batch itself, which no retry
                    # can fix: write the rows one by one and drop only the refused ones.
                    rows = await self._without_refused(rows)
            except Exception as exc:
                self._failures += 1
                if self._failure_counter is not None:
                    self._failure_counter.inc()
                if self._failure_warning.ready():
                    log.warning(
                        "prediction log: writing %d predictions failed (%s: %s); retrying "
                        "with backoff, %d queued",
                        len(rows),
                        type(exc).__name__,
                        exc,
                        len(self._pending),
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            for row in rows:
                self._forget(row[0], len(row[8]) + len(row[9]))
            self._written += len(rows)
            self._settled += len(rows)
            if self._written_counter is not None:
                self._written_counter.inc(len(rows))
            self._progress.set()
            return

    async def _without_refused(self, rows: list[PredictionRowTuple]) -> list[PredictionRowTuple]:
        """Write each row alone; count the refused ones as dropped and return the rest.

        A transient failure here propagates, and the whole batch is retried (stored ids
        are ignored on the next write).
        """
        written = []
        for row in rows:
            try:
                await self._store.write_prediction_rows([row])
            except InvalidArgumentError as exc:
                log.error("prediction log: %r refused by the database: %s", row[0], exc)
                self._forget(row[0], len(row[8]) + len(row[9]))
                self._settled += 1
                self._count_drop(1)
            else:
                written.append(row)
        return written


def _size(item: Entry | PredictionRecord) -> int:
    if type(item) is tuple:
        return entry_bytes(item[4], item[5])
    return len(item.inputs) + len(item.outputs)
