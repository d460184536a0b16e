"""PredictionLog and OutcomeRecorder on both registry databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gateway.errors import PredictionNotFoundError
from gateway.outcomes import OutcomeRecorder
from gateway.predlog import PredictionLog
from registry.entities import PredictionRecord


def _record(i: int, rows: int = 1) -> PredictionRecord:
    x = np.full((rows, 3), i, dtype="<f4")
    return PredictionRecord(
        prediction_id=f"p-{i}",
        at=datetime.now(UTC),
        model="m",
        version="1.0.0",
        arm="production",
        experiment_id=None,
        routing_key="",
        rows=rows,
        inputs=x.tobytes(),
        outputs=np.zeros(rows, dtype="<f4").tobytes(),
        predicted=float(i),
        latency_us=100,
    )


async def test_log_stop_after_many_batches_every_record_written(registry):
    log = PredictionLog(registry, batch_size=50, flush_interval=10.0)
    log.start()
    for i in range(520):
        assert log.put(_record(i))
    await log.stop()
    assert log.written == 520 and log.queued == 0
    stored = await registry.get_prediction("p-519")
    assert np.frombuffer(stored.inputs, dtype="<f4").tolist() == [519.0] * 3


async def test_recorder_pending_prediction_outcome_durable_once(registry):
    log = PredictionLog(registry, flush_interval=10.0)
    log.start()
    log.put(_record(1))
    recorder = OutcomeRecorder(registry, log, wait=0.0)
    assert await recorder.record([("p-1", 3.0), ("p-1", 3.0)]) == [False, True]
    assert await recorder.record([("p-1", 3.0)]) == [True]
    assert (await registry.get_outcome("p-1")).value == 3.0
    assert await registry.get_prediction("p-1") is not None
    with pytest.raises(PredictionNotFoundError, match="p-2"):
        await recorder.record([("p-2", 1.0)])
    await log.stop()


async def test_log_drops_only_a_record_the_database_refuses(registry):
    import dataclasses

    log = PredictionLog(registry, batch_size=10, flush_interval=10.0)
    log.start()
    refused = dataclasses.replace(_record(3), routing_key="x" * 300, arm="a" * 40)
    for i in range(10):
        assert log.put(refused if i == 3 else _record(i))
    await log.stop(timeout=10)
    assert log.dropped == 1 and log.queued == 0
    assert await registry.get_prediction("p-3") is None
    assert all([await registry.get_prediction(f"p-{i}") is not None for i in (0, 2, 9)])
