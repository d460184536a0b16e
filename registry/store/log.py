"""Registry prediction log and outcome methods, each one transaction over ``predictions``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from registry import crashpoints
from registry.entities import (
    ArmAggregate,
    OutcomeRecord,
    PredictionRecord,
    PredictionRowTuple,
    Pruned,
)
from registry.errors import InvalidArgumentError
from registry.rules.values import as_utc
from registry.sql import predictions, retention
from registry.store.transactions import Store

#: Most rows one retention transaction deletes (per table).
MAX_PRUNE_BATCH = 100_000


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
        for prune in (retention.prune_predictions, retention.prune_outcomes):
            total, batches = 0, 0
            while max_batches is None or batches < max_batches:
                async with self._write() as session:
                    deleted = await prune(session, cutoff, batch_size)
                total, batches = total + deleted, batches + 1
                if deleted < batch_size:
                    break
                await asyncio.sleep(0)  # let waiting writers in between batches
            counts.append(total)
        return Pruned(predictions=counts[0], outcomes=counts[1])

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
