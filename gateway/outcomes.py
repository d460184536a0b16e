"""Record realised outcomes of logged predictions: validate, score, write durably, notify.

An outcome is acknowledged only after ``Registry.record_outcomes`` has committed it, so an
acknowledged outcome survives a crash. A prediction still queued in this process's
prediction log is found in its pending map and written first (in its own transaction),
so an acknowledged outcome never points at a prediction a crash could lose. A prediction
made by another gateway process may not be written yet: the recorder polls the registry
for up to ``wait`` seconds before answering NOT_FOUND.

Outcomes are per single-row prediction: a multi-row prediction has no single predicted
value to score. Within an experiment, the outcome's ``metric_value`` is the experiment's
metric applied to (predicted, value); for classifiers ``predicted`` is the class label
when labels are numeric and the class index otherwise, so give the outcome in the same
terms.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from gateway.brief import brief
from gateway.errors import (
    InvalidInputError,
    NotReadyError,
    OutcomeNotAllowedError,
    PredictionNotFoundError,
)
from gateway.serving.ids import PredictionIds
from gateway.stats.metrics import Metric, metric_named
from registry import crashpoints
from registry.entities import Experiment, OutcomeRecord, PredictionRecord

log = logging.getLogger(__name__)

# (experiment_id, arm, metric_value); may return an awaitable.
OutcomeCallback = Callable[[int, str, float], Awaitable[None] | None]
# (the prediction, the outcome's value), for every newly recorded outcome.
ScoredCallback = Callable[[PredictionRecord, float], None]


class OutcomeStore(Protocol):
    """What the recorder needs from the registry."""

    async def write_predictions(self, records: Sequence[PredictionRecord]) -> int: ...
    async def get_predictions(
        self, prediction_ids: Sequence[str]
    ) -> dict[str, PredictionRecord]: ...
    async def record_outcomes(self, outcomes: Sequence[OutcomeRecord]) -> list[bool]: ...
    async def get_experiment(self, experiment_id: int) -> Experiment: ...


class PendingPredictions(Protocol):
    """The prediction log's pending map, as the recorder sees it."""

    def get(self, prediction_id: str) -> PredictionRecord | None: ...


class OutcomeRecorder:
    """Turns ``(prediction_id, value)`` pairs into durable OutcomeRecords.

    Args:
        store: the registry.
        pending: the process's prediction log (its not-yet-written records), or None.
        wait: seconds to wait for an unknown prediction to appear in the registry.
        poll: seconds between two looks while waiting.
        limit: the largest ``|value|`` accepted; metric values are clipped to what it
            allows (``Metric.bound``), so experiment sums cannot overflow.
        ids: checks that an id was issued by a gateway of this registry; a forged id is
            NOT_FOUND at once, without a lookup or a wait.
        on_outcome: called after the write with ``(experiment_id, arm, metric_value)``
            for each newly recorded outcome of an experiment prediction (bandit updates).
        on_scored: called after the write with ``(prediction, value)`` for each newly
            recorded outcome (the live windows of drift checks); must not block.
    """

    def __init__(
        self,
        store: OutcomeStore,
        pending: PendingPredictions | None = None,
        *,
        wait: float = 1.0,
        poll: float = 0.1,
        limit: float = 1e12,
        ids: PredictionIds | None = None,
        on_outcome: OutcomeCallback | None = None,
        on_scored: ScoredCallback | None = None,
    ) -> None:
        self._store = store
        self.limit = limit
        self._ids = ids
        self._pending = pending
        self.wait = wait
        self.poll = max(poll, 0.005)
        self.on_outcome = on_outcome
        self.on_scored = on_scored
        self._metrics: dict[int, Metric] = {}

    async def record(self, items: Sequence[tuple[str, float]]) -> list[bool]:
        """Record outcomes, all or nothing.

        Args:
            items: ``(prediction_id, value)`` pairs; the value is the true label/target or
                a reward such as PnL.

        Returns:
            Per item, True when the same outcome was already recorded (idempotent repeat).

        Raises:
            InvalidInputError: an empty id, a non-finite value or one beyond ±``limit``,
                or one id given twice with different values.
            PredictionNotFoundError: an id no gateway logged within ``wait`` seconds.
            OutcomeNotAllowedError: the prediction has more than one row.
            registry.errors.OutcomeConflictError: an outcome with a different value is
                already recorded for the id.
        """
        unique = _validate(items, self.limit)
        if not unique:
            return []
        if self._ids is not None:
            if not self._ids.ready:
                raise NotReadyError("the gateway has not reached its registry yet; retry shortly")
            forged = [pid for pid, _ in unique if not self._ids.verify(pid)]
            if forged:
                raise PredictionNotFoundError(forged[0], 0.0, len(forged) - 1, forged=True)
        predictions, unwritten = await self._find([pid for pid, _ in unique])
        for prediction in predictions:
            if prediction.rows != 1:
                raise OutcomeNotAllowedError(
                    f"prediction {brief(prediction.prediction_id)} has {prediction.rows} rows; "
                    "outcomes are recorded per single-row prediction: send one row per "
                    "Predict call for rows you want to score"
                )
        at = datetime.now(UTC)
        outcomes = []
        for (pid, value), prediction in zip(unique, predictions, strict=True):
            metric_value = None
            if prediction.experiment_id is not None:
                metric = await self._metric(prediction.experiment_id)
                metric_value = metric.score(prediction.predicted, value, self.limit)
            outcomes.append(
                OutcomeRecord(
                    prediction_id=pid,
                    value=value,
                    metric_value=metric_value,
                    experiment_id=prediction.experiment_id,
                    arm=prediction.arm,
                    at=at,
                )
            )
        if unwritten:
            # The batch writer will write these again; duplicate ids are ignored.
            await self._store.write_predictions(unwritten)
        duplicates = await self._store.record_outcomes(outcomes)
        crashpoints.reached("outcome.after_commit")
        await self._notify(outcomes, duplicates)
        self._scored(predictions, unique, duplicates)
        by_id = dict(zip((o.prediction_id for o in outcomes), duplicates, strict=True))
        seen: set[str] = set()
        result = []
        for pid, _ in items:  # a repeat of an id within the request is itself a duplicate
            result.append(by_id[pid] or pid in seen)
            seen.add(pid)
        return result

    async def _find(self, ids: list[str]) -> tuple[list[PredictionRecord], list[PredictionRecord]]:
        """Every prediction (in ``ids`` order) and those of them not yet in the registry."""
        found: dict[str, PredictionRecord] = {}
        unwritten: dict[str, PredictionRecord] = {}
        missing = list(ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while True:
            stored_ids = []
            for pid in missing:
                record = self._pending.get(pid) if self._pending is not None else None
                if record is not None:
                    unwritten[pid] = found[pid] = record
                else:
                    stored_ids.append(pid)
            # One query for the rest, not one per id: outcomes usually arrive after the
            # log writer has stored their predictions.
            stored = await self._store.get_predictions(stored_ids) if stored_ids else {}
            found.update(stored)
            missing = [pid for pid in stored_ids if pid not in stored]
            if not missing:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PredictionNotFoundError(missing[0], self.wait, len(missing) - 1)
            await asyncio.sleep(min(self.poll, remaining))
        return [found[pid] for pid in ids], [r for pid, r in unwritten.items() if pid in found]

    def _scored(
        self,
        predictions: list[PredictionRecord],
        items: list[tuple[str, float]],
        duplicates: list[bool],
    ) -> None:
        if self.on_scored is None:
            return
        for prediction, (_, value), duplicate in zip(predictions, items, duplicates, strict=True):
            if duplicate:
                continue
            try:
                self.on_scored(prediction, value)
            except Exception:
                # The outcome is durable already; live windows are best effort.
                log.exception("on_scored callback failed for %r", prediction.prediction_id)

    async def _metric(self, experiment_id: int) -> Metric:
        metric = self._metrics.get(experiment_id)
        if metric is None:
            experiment = await self._store.get_experiment(experiment_id)
            metric = self._metrics[experiment_id] = metric_named(experiment.spec.metric)
        return metric

    async def _notify(self, outcomes: list[OutcomeRecord], duplicates: list[bool]) -> None:
        if self.on_outcome is None:
            return
        for outcome, duplicate in zip(outcomes, duplicates, strict=True):
            if duplicate or outcome.experiment_id is None or outcome.metric_value is None:
                continue
            try:
                result = self.on_outcome(outcome.experiment_id, outcome.arm, outcome.metric_value)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # The outcome is durable already; a failed in-memory update must not fail
                # the RPC (allocation state is rebuilt from the database on restart).
                log.exception("on_outcome callback failed for %r", outcome.prediction_id)


def _validate(items: Sequence[tuple[str, float]], limit: float) -> list[tuple[str, float]]:
    """Check every item before anything is read or written; returns the distinct ones."""
    unique: dict[str, float] = {}
    for pid, value in items:
        if not pid:
            raise InvalidInputError("prediction_id is empty; expected an id returned by Predict")
        value = float(value)
        if not math.isfinite(value):
            raise InvalidInputError(
                f"outcome value for prediction {brief(pid)} is {value}; expected a finite number"
            )
        if abs(value) > limit:
            raise InvalidInputError(
                f"outcome value for prediction {brief(pid)} is {value:g}; outcome values must be "
                f"within ±{limit:g} (the gateway's outcome_limit)"
            )
        previous = unique.setdefault(pid, value)
        if previous != value:
            raise InvalidInputError(
                f"prediction {brief(pid)} appears twice in one request with different values "
                f"({previous} and {value}); expected one value per prediction"
            )
    return list(unique.items())
