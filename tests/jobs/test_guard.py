"""Guarded promotion: a bad version promoted over gRPC is rolled back by the gateway on
its own once its outcomes show it, with zero failed Predict calls, an audit entry
carrying the evidence and a critical alert; a good one passes its guard; and a rollback
conditional on the current version happens once however many gateways ask."""

from __future__ import annotations

import asyncio
import dataclasses

import grpc
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway.config import Settings
from gateway.registration import prepare_estimator, register_prepared
from gateway.server.app import build_server
from registry import InvalidStageTransitionError, Stage
from registry.store.registry import Registry
from tests.helpers import race

FEATURES = tuple(f"f{i}" for i in range(6))
BASE = Settings(
    listen="127.0.0.1:0",
    poll_interval=0.05,
    grace_seconds=1.0,
    monitor_interval=0.1,
    drift_window_rows=2000,
    drift_interval=0.0,
    guard_outcomes=400,
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=1500, n_features=len(FEATURES), n_informative=5, n_redundant=0,
        n_classes=3, class_sep=2.0, random_state=0,
    )  # fmt: skip
    return X.astype(np.float32), y


@pytest.fixture
async def registry(tmp_path, data):
    X, y = data
    good = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    shuffled = np.random.default_rng(0).permutation(y)
    bad = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, shuffled)
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'guard.db'}")
    for version, model in (("1.0.0", good), ("2.0.0", bad), ("3.0.0", good)):
        prepared = prepare_estimator(model, X, y, feature_names=FEATURES)
        await register_prepared(reg, "clf", prepared, version=version, actor="test")
        await reg.transition("clf", version, Stage.STAGING, actor="test")
    await reg.transition("clf", "1.0.0", Stage.PRODUCTION, actor="test")
    yield reg
    await reg.close()


def _request(x: np.ndarray) -> pb.PredictRequest:
    x = np.ascontiguousarray(x[None, :], dtype="<f4")
    return pb.PredictRequest(model="clf", tensor=pb.FloatTensor(rows=1, data=x.tobytes()))


async def _scored(predict, X, y, start: int, count: int) -> list[str]:
    """``count`` single-row Predicts, each followed by its true outcome; their versions."""
    versions = []
    for i in range(start, start + count):
        reply = await predict.Predict(_request(X[i % len(X)]))
        versions.append(reply.version)
        await predict.RecordOutcome(
            pb.RecordOutcomeRequest(prediction_id=reply.prediction_id, value=float(y[i % len(y)]))
        )
    return versions


async def _gateway(registry, **overrides):
    gw = build_server(dataclasses.replace(BASE, **overrides), registry)
    await gw.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}")
    stubs = (
        prediction_pb2_grpc.PredictionServiceStub(channel),
        admin_pb2_grpc.ModelAdminStub(channel),
    )
    return gw, channel, stubs


@pytest.mark.timeout(120)
async def test_bad_promotion_rolled_back_with_evidence_and_no_failed_call(registry, data):
    X, y = data
    gw, channel, (predict, admin) = await _gateway(registry)
    failures: list[str] = []
    stop = asyncio.Event()

    async def steady_caller() -> None:
        while not stop.is_set():
            try:
                await predict.Predict(_request(X[0]), timeout=10)
            except grpc.aio.AioRpcError as exc:
                failures.append(exc.code().name)
            await asyncio.sleep(0.002)

    caller = asyncio.create_task(steady_caller())
    try:
        assert set(await _scored(predict, X, y, 0, 200)) == {"1.0.0"}  # the reference
        await admin.PromoteModel(
            apb.PromoteModelRequest(name="clf", version="2.0.0", stage="production")
        )
        served = []
        for batch in range(20):  # outcomes of the bad version until the guard acts
            served += await _scored(predict, X, y, 200 + 50 * batch, 50)
            if gw.guard.rollbacks:
                break
        await asyncio.sleep(0.3)  # the swap back is visible to new calls
        after = await _scored(predict, X, y, 0, 5)
    finally:
        stop.set()
        await caller
        await channel.close()
        await gw.stop(grace=0)

    assert gw.guard.rollbacks == 1 and failures == []
    assert "2.0.0" in served and set(after) == {"1.0.0"}
    production = await registry.production_version("clf")
    assert production.version == "1.0.0"
    rollback = [t for t in await registry.history("clf") if t.kind == "rollback"]
    assert rollback and all(t.actor == "galgate-guard" for t in rollback)
    assert "automatic rollback" in rollback[-1].reason and "mean error" in rollback[-1].reason
    (alert,) = [a for a in await registry.list_alerts() if a.kind == "rollback"]
    assert alert.severity.value == "critical" and alert.details["restored"] == "1.0.0"
    assert alert.details["new_mean_error"] > alert.details["reference_mean_error"] + 0.2


@pytest.mark.timeout(120)
async def test_good_promotion_passes_its_guard(registry, data):
    X, y = data
    gw, channel, (predict, admin) = await _gateway(registry, guard_outcomes=150)
    try:
        await _scored(predict, X, y, 0, 200)
        await admin.PromoteModel(
            apb.PromoteModelRequest(name="clf", version="3.0.0", stage="production")
        )
        await asyncio.sleep(0.3)
        assert "clf" in gw.guard.guards  # watching
        await _scored(predict, X, y, 200, 200)
        await asyncio.sleep(0.3)
        assert "clf" not in gw.guard.guards and gw.guard.rollbacks == 0  # passed
    finally:
        await channel.close()
        await gw.stop(grace=0)
    assert (await registry.production_version("clf")).version == "3.0.0"


async def test_conditional_rollback_happens_once_across_gateways(registry):
    await registry.transition("clf", "2.0.0", Stage.PRODUCTION, actor="test")

    async def roll_back(reg: Registry, i: int):
        return await reg.rollback("clf", actor=f"gateway-{i}", expected_current="2.0.0")

    results = await race(registry.url, 2, roll_back)
    restored = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InvalidStageTransitionError)]
    assert len(restored) == 1 and len(refused) == 1 and restored[0].version == "1.0.0"
    assert (await registry.production_version("clf")).version == "1.0.0"
