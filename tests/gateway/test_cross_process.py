"""A gateway in another process follows promotions made elsewhere (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from registry.entities import Stage
from registry.store.registry import Registry
from tests.gateway.conftest import publish, register
from tests.gateway.procs import galgate_serve

FOLLOW_DEADLINE = 2.0


@pytest.mark.timeout(120)
async def test_second_process_serves_new_version_within_two_seconds(db_url, trained):
    registry = await Registry.open(db_url)
    try:
        await publish(registry, "clf", trained.clf_a, trained.X)
        await register(registry, "clf", trained.clf_b, trained.X)
        await registry.transition("clf", "1.0.1", Stage.STAGING, actor="test")
        request = pb.PredictRequest(
            model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
        )
        async with galgate_serve(db_url, env={"GALGATE_POLL_INTERVAL": "0.1"}) as (proc, port):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = prediction_pb2_grpc.PredictionServiceStub(channel)
                assert (
                    await stub.Predict(request, wait_for_ready=True, timeout=30)
                ).version == "1.0.0"
                await registry.transition("clf", "1.0.1", Stage.PRODUCTION, actor="elsewhere")
                promoted = time.perf_counter()
                while (await stub.Predict(request)).version != "1.0.1":
                    assert time.perf_counter() - promoted < FOLLOW_DEADLINE
                    await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    finally:
        await registry.close()
