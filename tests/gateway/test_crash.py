"""kill -9 under load: what REFERENCE.md calls "nothing lost", checked after a restart."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time

import grpc
import pytest

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from registry.entities import Stage
from registry.repository import Registry
from tests.gateway.conftest import publish, register
from tests.gateway.procs import galgate_serve

FLUSH_INTERVAL = 0.05
# Predictions answered longer ago than this before the kill must have been written.
WRITTEN_WITHIN = 1.0
ENV = {"GALGATE_POLL_INTERVAL": "0.1", "GALGATE_PREDLOG_FLUSH_INTERVAL": str(FLUSH_INTERVAL)}


@pytest.mark.timeout(180)
async def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path, trained):
    path = tmp_path / "crash.db"
    url = f"sqlite+aiosqlite:///{path}"
    registry = await Registry.open(url)
    await publish(registry, "clf", trained.clf_a, trained.X)
    await register(registry, "clf", trained.clf_b, trained.X)
    await registry.transition("clf", "1.0.1", Stage.STAGING, actor="test")
    await registry.close()

    answered: dict[str, float] = {}  # prediction id -> when its response arrived
    acknowledged: dict[str, float] = {}  # prediction id -> outcome value the server acked
    promotions = 0
    stop = asyncio.Event()
    async with (
        galgate_serve(url, env=ENV) as (proc, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = prediction_pb2_grpc.PredictionServiceStub(channel)
        admin = admin_pb2_grpc.ModelAdminStub(channel)

        async def predict_and_record(worker: int) -> None:
            i = 0
            while not stop.is_set():
                x = trained.X[(worker * 97 + i) % len(trained.X)]
                request = pb.PredictRequest(
                    model="clf", tensor=pb.FloatTensor(rows=1, data=x.tobytes())
                )
                try:
                    reply = await stub.Predict(request, timeout=5)
                    answered[reply.prediction_id] = time.monotonic()
                    if i % 2 == 0:
                        value = float(i % 3)
                        await stub.RecordOutcome(
                            pb.RecordOutcomeRequest(prediction_id=reply.prediction_id, value=value),
                            timeout=5,
                        )
                        acknowledged[reply.prediction_id] = value
                except grpc.aio.AioRpcError:
                    return  # the server died under us
                i += 1

        async def promote() -> None:
            nonlocal promotions
            target = "1.0.1"
            while not stop.is_set():
                try:
                    await admin.PromoteModel(
                        apb.PromoteModelRequest(name="clf", version=target, stage="production"),
                        timeout=5,
                    )
                except grpc.aio.AioRpcError:
                    return
                promotions += 1
                target = "1.0.0" if target == "1.0.1" else "1.0.1"
                await asyncio.sleep(0.05)

        tasks = [asyncio.create_task(predict_and_record(w)) for w in range(4)]
        tasks.append(asyncio.create_task(promote()))
        await asyncio.sleep(2.5)
        proc.send_signal(signal.SIGKILL)  # mid-load: writes, promotions, outcomes
        killed_at = time.monotonic()
        await proc.wait()
        stop.set()
        await asyncio.gather(*tasks)

    assert len(acknowledged) > 20 and promotions > 2
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        outcomes = dict(db.execute("SELECT prediction_id, value FROM outcomes").fetchall())
        logged = {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}
        productions = db.execute(
            "SELECT count(*) FROM model_versions WHERE stage = 'production'"
        ).fetchone()[0]
    # Every acknowledged outcome is there, exactly once (primary key), with its value,
    # and so is the prediction it scores.
    assert {pid: outcomes.get(pid) for pid in acknowledged} == acknowledged
    assert set(acknowledged) <= logged
    # Predictions lost are only those answered within the last flush interval or so.
    old = {pid for pid, at in answered.items() if at < killed_at - WRITTEN_WITHIN}
    assert old - logged == set()
    assert productions == 1

    # After a restart the gateway serves exactly what the registry says is in production.
    registry = await Registry.open(url)
    expected = (await registry.production_version("clf")).version
    await registry.close()
    async with (
        galgate_serve(url, env=ENV) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = prediction_pb2_grpc.PredictionServiceStub(channel)
        request = pb.PredictRequest(
            model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
        )
        assert (await stub.Predict(request, wait_for_ready=True, timeout=30)).version == (expected)
