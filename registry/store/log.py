"""Registry prediction log and outcome methods, each one transaction over ``predictions``."""

from __future__ import annotations

from collections.abc import Sequence

from registry import crashpoints
from registry.entities import ArmAggregate, OutcomeRecord, PredictionRecord
from registry.sql import predictions
from registry.store.transactions import Store


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
            InvalidArgumentError: a record that is not a PredictionRecord, or a bad id or
                arm; nothing of the batch is written.
        """
        if not records:
            return 0
        async with self._write() as session:
            inserted = await predictions.write_predictions(session, records)
            crashpoints.reached("predlog.before_commit")
            return inserted

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
