"""Zero-downtime hot swap: promotions under concurrent load fail no request."""

from __future__ import annotations

import asyncio

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from registry.entities import Stage
from tests.gateway.conftest import register

CALLERS = 8
PROMOTIONS = 20


async def test_promotions_under_load_fail_no_call(admin, stub, served, trained):
    await register(served, "clf", trained.clf_b, trained.X)
    await served.transition("clf", "1.0.1", Stage.STAGING, actor="test")
    request = pb.PredictRequest(
        model="clf", tensor=pb.FloatTensor(rows=4, data=trained.X[:4].tobytes())
    )
    stop = asyncio.Event()
    versions: list[str] = []
    failures: list[BaseException] = []

    async def caller() -> None:
        while not stop.is_set():
            try:
                versions.append((await stub.Predict(request, timeout=10)).version)
            except Exception as exc:  # any failure counts against the swap
                failures.append(exc)

    callers = [asyncio.create_task(caller()) for _ in range(CALLERS)]
    try:
        target = "1.0.1"
        for _ in range(PROMOTIONS):
            await admin.PromoteModel(
                apb.PromoteModelRequest(name="clf", version=target, stage="production")
            )
            # After the promote returns, new calls are served by the new version.
            assert (await stub.Predict(request)).version == target
            await asyncio.sleep(0.01)
            target = "1.0.0" if target == "1.0.1" else "1.0.1"
    finally:
        stop.set()
        await asyncio.gather(*callers)
    assert failures == []
    assert set(versions) == {"1.0.0", "1.0.1"}
    assert len(versions) > CALLERS * PROMOTIONS


async def test_inflight_requests_finish_on_the_snapshot_they_started_with(gateway, trained):
    snapshot = gateway.pool.current
    served = snapshot.route("clf")
    await gateway.registry.transition("clf", "1.0.0", Stage.STAGING, actor="test")
    await gateway.pool.reconcile()
    assert "clf" not in gateway.pool.current.routes
    # The old snapshot object is untouched: a request holding it still completes.
    assert served.model.run(trained.X[:2]).labels.shape == (2,)
    assert snapshot.route("clf").model.version == "1.0.0"
