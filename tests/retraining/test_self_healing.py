"""Self-healing end to end over gRPC, with a real sklearn trainer in a spawned process:
the world changes (inputs shift, outcomes follow a new rule) -> drift report -> alert ->
retraining -> validation against production on held-out outcomes -> a staging version
with lineage -> a validation experiment -> the better candidate auto-promoted, with no
failed Predict call. And the refusals: a trainer that raises leaves production as it was,
with an alert."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import grpc
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway.config import Settings
from gateway.registration import prepare_estimator, register_prepared
from gateway.server.app import build_server
from registry import Stage
from registry.store.registry import Registry

FEATURES = ("f0", "f1", "f2", "f3")
BASE = Settings(
    listen="127.0.0.1:0",
    poll_interval=0.05,
    grace_seconds=1.0,
    monitor_interval=0.2,
    drift_window_rows=2000,
    drift_min_rows=400,
    drift_min_outcomes=50,
    drift_interval=0.5,
    trainer="tests.retraining.trainers:good",
    retrain_min_rows=300,
    retrain_experiment_min_samples=40,
    guard_outcomes=100,
)


def _old_rule(X: np.ndarray) -> np.ndarray:
    return (X[:, 0] + X[:, 1] > 0).astype(int)


def _new_rule(X: np.ndarray) -> np.ndarray:
    return (X[:, 0] - X[:, 1] > 0).astype(int)


def _world(n: int, seed: int, shifted: bool) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, len(FEATURES))).astype(np.float32)
    if shifted:
        X[:, 2] += 2.0  # a feature the old model ignores moves: data drift
    return X


@pytest.fixture
async def registry(tmp_path):
    X = _world(2000, 0, shifted=False)
    y = _old_rule(X)
    prepared = prepare_estimator(
        LogisticRegression(max_iter=500).fit(X, y), X, y, feature_names=FEATURES
    )
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'heal.db'}")
    await register_prepared(reg, "signal", prepared, version="1.0.0", actor="test")
    await reg.transition("signal", "1.0.0", Stage.STAGING, actor="test")
    await reg.transition("signal", "1.0.0", Stage.PRODUCTION, actor="test")
    yield reg
    await reg.close()


def _request(row: np.ndarray) -> pb.PredictRequest:
    x = np.ascontiguousarray(row[None, :], dtype="<f4")
    return pb.PredictRequest(model="signal", tensor=pb.FloatTensor(rows=1, data=x.tobytes()))


async def _traffic(predict, X: np.ndarray) -> list[pb.PredictResponse]:
    """One Predict per row, then every outcome (the new rule) in one RecordOutcomes."""
    replies = [await predict.Predict(_request(row)) for row in X]
    truth = _new_rule(X)
    await predict.RecordOutcomes(
        pb.RecordOutcomesRequest(
            outcomes=[
                pb.RecordOutcomeRequest(prediction_id=r.prediction_id, value=float(v))
                for r, v in zip(replies, truth, strict=True)
            ]
        )
    )
    return replies


async def _until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await condition()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(240)
async def test_drift_to_retrained_candidate_to_promotion(registry):
    gw = build_server(BASE, registry)
    await gw.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}")
    predict = prediction_pb2_grpc.PredictionServiceStub(channel)
    admin = admin_pb2_grpc.ModelAdminStub(channel)
    try:
        shifted = _world(800, 1, shifted=True)
        for start in range(0, len(shifted), 100):
            await _traffic(predict, shifted[start : start + 100])

        async def retrained():
            # A run started before enough outcomes were logged fails for want of data;
            # drift goes on, and the next run has them.
            runs = (await admin.ListRetrainingRuns(apb.ListRetrainingRunsRequest())).runs
            return next((r for r in runs if r.state == "succeeded"), None)

        run = await _until(retrained, 120, "a retraining run to succeed")
        assert (run.state, run.trigger, run.parent_version) == ("succeeded", "drift", "1.0.0")
        assert run.new_version and run.HasField("experiment_id")

        kinds = {a.kind for a in (await admin.ListAlerts(apb.ListAlertsRequest())).alerts}
        assert {"drift", "retraining"} <= kinds
        (report,) = [
            r
            for r in (await admin.ListDriftReports(apb.ListDriftReportsRequest())).reports
            if run.reason.startswith(f"drift report {r.id}:")
        ]
        assert report.drift and "data" in report.kinds

        candidate = await registry.get_version("signal", run.new_version)
        assert candidate.stage is Stage.STAGING
        tags = candidate.spec.tags
        assert (tags["parent_version"], tags["retraining_trigger"]) == ("1.0.0", "drift")
        assert tags["data_hash"] and candidate.spec.validation_metrics["accuracy"] > 0.8
        experiment = await registry.get_experiment(run.experiment_id)
        assert experiment.spec.treatment_version == run.new_version
        assert experiment.spec.auto_promote

        # Traffic through the experiment until the monitor promotes the better candidate.
        failed = 0
        for seed in range(2, 40):
            try:
                await _traffic(predict, _world(100, seed, shifted=True))
            except grpc.aio.AioRpcError:
                failed += 1
            production = await registry.production_version("signal")
            if production.version == run.new_version:
                break
        assert failed == 0
        assert (await registry.production_version("signal")).version == run.new_version
        replies = await _traffic(predict, _world(20, 99, shifted=True))
        await asyncio.sleep(0.3)
        assert {r.version for r in replies} <= {run.new_version, "1.0.0"}
    finally:
        await channel.close()
        await gw.stop(grace=0)


@pytest.mark.timeout(120)
async def test_failing_trainer_alerts_and_leaves_production(registry):
    settings = dataclasses.replace(
        BASE, trainer="tests.retraining.trainers:raises", drift_interval=0.0
    )
    gw = build_server(settings, registry)
    await gw.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}")
    predict = prediction_pb2_grpc.PredictionServiceStub(channel)
    admin = admin_pb2_grpc.ModelAdminStub(channel)
    try:
        await _traffic(predict, _world(400, 1, shifted=True))
        run = await admin.TriggerRetraining(
            apb.TriggerRetrainingRequest(model="signal", reason="nightly")
        )
        assert run.state == "running" and run.trigger == "admin"
        with pytest.raises(grpc.aio.AioRpcError) as busy:
            await admin.TriggerRetraining(apb.TriggerRetrainingRequest(model="signal"))
        assert busy.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await gw.retrainer.wait(run.id)
        (ended,) = (await admin.ListRetrainingRuns(apb.ListRetrainingRunsRequest())).runs
        assert ended.state == "failed" and "feature store is down" in ended.error
        (alert,) = (await admin.ListAlerts(apb.ListAlertsRequest())).alerts
        assert alert.kind == "retraining" and "failed" in alert.message
        assert (await registry.production_version("signal")).version == "1.0.0"
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await admin.TriggerRetraining(apb.TriggerRetrainingRequest(model="nope"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await channel.close()
        await gw.stop(grace=0)
