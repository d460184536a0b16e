"""Registry prediction log and outcome methods, each one transaction over ``predictions``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime

from registry import crashpoints
from registry.entities import (
    ArmAggregate,
    LogPartitions,
    OutcomeRecord,
    PredictionRecord,
    PredictionRowTuple,
    Pruned,
    TrainingData,
)
from registry.errors import InvalidArgumentError, UnavailableError
from registry.rules.values import as_utc
from registry.schema import utcnow
from registry.sql import partitions, predictions, retention, training
from registry.store.transactions import Store

#: Most rows one retention transaction deletes (per table).
MAX_PRUNE_BATCH = 100_000
#: Day partitions of the log kept made ahead of today (PostgreSQL), so that maintenance
#: may miss this many days before rows start landing in the DEFAULT partition.
PARTITION_DAYS_AHEAD = 7
#: Most joined rows one ``training_data`` call returns.
MAX_TRAINING_ROWS = 1_000_000


class LogStore(Store):
    """Logged predictions, their outcomes and per-arm aggregates; one transaction each."""

    async def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Insert a batch of logged predictions in one transaction.

        A prediction id already stored is skipped, so retrying a batch is harmless.

        Args:
            records: the predictions.

        Returns:
            How many rows were inserted.

        Raises:
            InvalidArgumentError: a record that is not a PredictionRecord, or a bad id,
                arm, experiment id or time; nothing of the batch is written.
        """
        return await self.write_prediction_rows([predictions.record_row(r) for r in records])

    async def write_prediction_rows(self, rows: Sequence[PredictionRowTuple]) -> int:
        """:meth:`write_predictions` for rows as the log writers build them: tuples in
        ``PREDICTION_COLUMNS`` order with ``at`` in seconds since the epoch (no frozen
        record per prediction to build).

        Raises:
            InvalidArgumentError: a malformed row, or a bad id, arm, experiment id or
                time; nothing of the batch is written.
        """
        if not rows:
            return 0
        async with self._write() as session:
            inserted = await predictions.write_predictions(session, rows)
            crashpoints.reached("predlog.before_commit")
            return inserted

    async def prune_log(
        self, before: datetime, *, batch_size: int = 5_000, max_batches: int | None = None
    ) -> Pruned:
        """Delete logged predictions and outcomes older than ``before``, oldest first, in
        transactions of at most ``batch_size`` rows each, yielding between them so the
        log writers and outcome calls get the database in between.

        Rows still needed stay (see ``registry.sql.retention``): the predictions and
        outcomes of active experiments.

        On a PostgreSQL log partitioned by day (every registry created since partitioning;
        ``registry.sql.partitions``), whole days that end by ``before`` are dropped first,
        each counted before it goes (a scan of the day, blocking no one); a day holding
        rows of an active experiment stays and loses its other rows to the batched
        deletes, as do the day ``before`` falls in and the DEFAULT partition. Drops do not
        count against ``max_batches``. The coming days' partitions are made too (see
        :meth:`maintain_log`). A PostgreSQL log made before partitioning is not migrated:
        it keeps the batched deletes alone, as SQLite does.

        Args:
            before: the cutoff; a naive datetime is taken as UTC.
            batch_size: rows per transaction and table, 1 to ``MAX_PRUNE_BATCH``.
            max_batches: stop after this many transactions per table (None: until done).

        Raises:
            InvalidArgumentError: ``before`` is not a datetime, or a bad batch size.
        """
        if not isinstance(before, datetime):
            raise InvalidArgumentError(f"before must be a datetime, got {before!r}")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_PRUNE_BATCH:
            raise InvalidArgumentError(
                f"batch_size must be an integer from 1 to {MAX_PRUNE_BATCH}, got {batch_size!r}"
            )
        cutoff = as_utc(before)
        counts = []
        dropped = await self._drop_expired_days(cutoff)
        for prune in (retention.prune_predictions, retention.prune_outcomes):
            total, batches = (dropped, 0) if prune is retention.prune_predictions else (0, 0)
            while max_batches is None or batches < max_batches:
                async with self._write() as session:
                    deleted = await prune(session, cutoff, batch_size)
                total, batches = total + deleted, batches + 1
                if deleted < batch_size:
                    break
                await asyncio.sleep(0)  # let waiting writers in between batches
            counts.append(total)
        return Pruned(predictions=counts[0], outcomes=counts[1])

    async def maintain_log(
        self, *, today: datetime | None = None, days_ahead: int = PARTITION_DAYS_AHEAD
    ) -> LogPartitions:
        """Make the day partitions of the prediction log from ``today`` through
        ``days_ahead`` days later that are missing (PostgreSQL, partitioned log; nothing
        elsewhere). Safe to run from many gateways at once: they take turns.

        Args:
            today: the first day's time (UTC; default now).
            days_ahead: days made after ``today``'s, 0 to 366.

        Returns:
            The days made and those left in the DEFAULT partition (it already holds rows
            of them; see ``registry.sql.partitions``).

        Raises:
            InvalidArgumentError: a bad ``today`` or ``days_ahead``.
            UnavailableError: the log stayed locked (try again later).
        """
        if today is not None and not isinstance(today, datetime):
            raise InvalidArgumentError(f"today must be a datetime, got {today!r}")
        if not isinstance(days_ahead, int) or not 0 <= days_ahead <= 366:
            raise InvalidArgumentError(
                f"days_ahead must be an integer from 0 to 366, got {days_ahead!r}"
            )
        first = as_utc(today or utcnow()).date()
        async with self._write() as session:
            if not await partitions.is_partitioned(session):
                return LogPartitions(partitioned=False)
            created, left = await partitions.create_days(session, first, days_ahead + 1)
        return LogPartitions(True, tuple(created), tuple(left))

    async def _drop_expired_days(self, cutoff: datetime) -> int:
        """Drop the day partitions that end by ``cutoff`` and hold no active experiment's
        rows; how many rows they held. 0 on a log that is not partitioned."""
        async with self._read() as session:
            if not await partitions.is_partitioned(session):
                return 0
            candidates = await partitions.expired(session, cutoff)
        with contextlib.suppress(UnavailableError):
            # The log stayed locked: the next pass makes the coming days (there are a
            # week of them), and the DEFAULT partition takes any row meanwhile.
            await self.maintain_log()
        total = 0
        for name, attached in candidates:
            if attached:
                detached = await self._detach_expired(name)
                if detached is None:
                    continue  # an active experiment's day, or another gateway's
                name = detached
            async with self._write() as session:
                total += await partitions.drop_detached(session, name)
            await asyncio.sleep(0)
        return total

    async def _detach_expired(self, name: str, attempts: int = 3) -> str | None:
        """Detach one expired day, trying again a little later when the log stays locked
        (a long read holds it); the last failure propagates, ending the pass."""
        for attempt in range(1, attempts + 1):
            try:
                async with self._write() as session:
                    return await partitions.detach_expired(session, name)
            except UnavailableError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(0.5 * attempt)
        return None  # pragma: no cover - the loop returns or raises

    async def get_prediction(self, prediction_id: str) -> PredictionRecord | None:
        """Return a logged prediction, or None when it is not (or not yet) stored."""
        async with self._read() as session:
            return await predictions.get_prediction(session, prediction_id)

    async def get_predictions(self, prediction_ids: Sequence[str]) -> dict[str, PredictionRecord]:
        """The logged predictions among ``prediction_ids``, by id, in one read.

        Ids not (or not yet) stored are absent from the result.
        """
        async with self._read() as session:
            return await predictions.get_predictions(session, prediction_ids)

    async def record_outcomes(self, outcomes: Sequence[OutcomeRecord]) -> list[bool]:
        """Store outcomes exactly once, all or nothing, durable when this returns.

        The prediction need not be stored yet (the log writer may not have flushed it).

        Args:
            outcomes: the outcomes.

        Returns:
            For each outcome in order: True when it was a duplicate (stored before with
            the same value, or repeated in the batch), False when newly stored.

        Raises:
            InvalidArgumentError: a malformed outcome (bad id or arm, non-finite value).
            OutcomeConflictError: a stored (or earlier in the batch) outcome of the same
                prediction has a different value; nothing of the batch is written.
        """
        if not outcomes:
            return []
        async with self._write() as session:
            return await predictions.record_outcomes(session, outcomes)

    async def get_outcome(self, prediction_id: str) -> OutcomeRecord | None:
        """Return a prediction's recorded outcome, or None."""
        async with self._read() as session:
            return await predictions.get_outcome(session, prediction_id)

    async def arm_aggregates(self, experiment_id: int) -> dict[str, ArmAggregate]:
        """Return each arm's prediction count and metric sums, computed in SQL.

        Args:
            experiment_id: the experiment.

        Returns:
            {"control": ..., "treatment": ...}; zeros where nothing is stored.

        Raises:
            ExperimentNotFoundError: unknown id.
        """
        async with self._read() as session:
            return await predictions.arm_aggregates(session, experiment_id)

    async def training_data(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100_000,
    ) -> TrainingData:
        """The model's logged single-row predictions that have an outcome, in one read.

        Retraining learns from these: each row is what the model was asked (its logged
        inputs) and what really happened (the outcome). Multi-row predictions carry no
        single outcome and are left out.

        Args:
            model: the model name (all its versions' predictions count).
            since: keep predictions made at or after this time (naive: UTC); None: no
                lower bound.
            until: keep predictions made before this time; None: no upper bound.
            limit: the most rows, 1 to ``MAX_TRAINING_ROWS``; the newest are kept.

        Returns:
            The rows oldest first (ties by prediction id), and whether more matched.

        Raises:
            InvalidArgumentError: a model name that is not a string, a bound that is not a
                datetime, ``since`` after ``until``, or a limit out of range.
        """
        if not isinstance(model, str):
            raise InvalidArgumentError(f"model must be a string, got {type(model).__name__}")
        for what, bound in (("since", since), ("until", until)):
            if bound is not None and not isinstance(bound, datetime):
                raise InvalidArgumentError(f"{what} must be a datetime or None, got {bound!r}")
        since, until = as_utc(since), as_utc(until)
        if since is not None and until is not None and since > until:
            raise InvalidArgumentError(f"since ({since}) is after until ({until})")
        if type(limit) is not int or not 1 <= limit <= MAX_TRAINING_ROWS:
            raise InvalidArgumentError(
                f"limit must be an integer from 1 to {MAX_TRAINING_ROWS}, got {limit!r}"
            )
        async with self._read() as session:
            return await training.training_data(session, model, since, until, limit)
