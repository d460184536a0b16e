"""The gateway's retention job: old rows go while Predict and RecordOutcome run, no call
fails, and every acknowledged outcome stays."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from tests.helpers import make_outcome, make_prediction

OLD = datetime.now(UTC) - timedelta(days=30)


async def test_retention_prunes_old_rows_under_load_losing_nothing_acknowledged(
    start_gateway, served, trained
):
    old_ids = [f"old-{i}" for i in range(3000)]
    await served.write_predictions(
        [make_prediction(pid, at=OLD + timedelta(seconds=i)) for i, pid in enumerate(old_ids)]
    )
    await served.record_outcomes([make_outcome(pid, at=OLD) for pid in old_ids[:1000]])
    # Retention of one day, a pass every 50 ms, 500 rows per transaction.
    running = await start_gateway(prediction_retention_hours=24.0, retention_interval=0.05)
    running.gateway.retention.batch_size = 500
    acknowledged: dict[str, float] = {}
    failures: list[BaseException] = []

    async def caller(k: int) -> None:
        deadline = time.monotonic() + 2.0
        i = 0
        while time.monotonic() < deadline:
            x = np.ascontiguousarray(trained.X[(k * 7 + i) % 50 : (k * 7 + i) % 50 + 1], "<f4")
            try:
                reply = await running.stub.Predict(
                    pb.PredictRequest(model="clf", tensor=pb.FloatTensor(rows=1, data=x.tobytes()))
                )
                value = float(i % 5)
                await running.stub.RecordOutcome(
                    pb.RecordOutcomeRequest(prediction_id=reply.prediction_id, value=value)
                )
                acknowledged[reply.prediction_id] = value
            except Exception as exc:  # every call must succeed
                failures.append(exc)
            i += 1

    await asyncio.gather(*(caller(k) for k in range(4)))
    await running.gateway.predlog.flush()
    for _ in range(100):  # the job may still be on its way through the old rows
        if not await served.get_predictions(old_ids):
            break
        await asyncio.sleep(0.05)

    assert failures == []
    assert acknowledged
    assert await served.get_predictions(old_ids) == {}
    assert all([await served.get_outcome(pid) is None for pid in old_ids[:1000]])
    stored = await served.get_predictions(list(acknowledged))
    assert set(stored) == set(acknowledged)
    for pid, value in acknowledged.items():
        assert (await served.get_outcome(pid)).value == value


async def test_retention_off_by_default_keeps_everything(start_gateway, served):
    await served.write_predictions([make_prediction("ancient", at=OLD)])
    running = await start_gateway(retention_interval=0.05)
    assert running.gateway.retention is None
    await asyncio.sleep(0.2)
    assert set(await served.get_predictions(["ancient"])) == {"ancient"}
