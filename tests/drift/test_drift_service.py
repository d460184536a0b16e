"""Drift checks end to end over gRPC: live windows fed by Predict and RecordOutcome, reports
stored, alerts raised once per key within the cooldown, acknowledged, and every error path
of the new ModelAdmin calls."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import grpc
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

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
    drift_window_rows=3000,
    drift_min_rows=500,
    drift_min_outcomes=50,
    drift_interval=0.0,  # checks only when asked
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, len(FEATURES))).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=2000)
    return X, y


@pytest.fixture
async def registry(tmp_path, data):
    X, y = data
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
    prepared = prepare_estimator(model, X, y, feature_names=FEATURES)
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}")
    await register_prepared(reg, "px", prepared, version="1.0.0", actor="test")
    await reg.transition("px", "1.0.0", Stage.STAGING, actor="test")
    await reg.transition("px", "1.0.0", Stage.PRODUCTION, actor="test")
    yield reg
    await reg.close()


@pytest.fixture
async def gateway(registry):
    started = []

    async def start(**overrides):
        gw = build_server(dataclasses.replace(BASE, **overrides), registry)
        await gw.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}")
        started.append((gw, channel))
        return (
            prediction_pb2_grpc.PredictionServiceStub(channel),
            admin_pb2_grpc.ModelAdminStub(channel),
        )

    yield start
    for gw, channel in started:
        await channel.close()
        await gw.stop(grace=0)


def _tensor(x: np.ndarray) -> pb.PredictRequest:
    x = np.ascontiguousarray(x, dtype="<f4")
    return pb.PredictRequest(model="px", tensor=pb.FloatTensor(rows=len(x), data=x.tobytes()))


async def _send(predict, x: np.ndarray, rows_per_call: int = 100) -> None:
    for start in range(0, len(x), rows_per_call):
        await predict.Predict(_tensor(x[start : start + rows_per_call]))


async def test_shifted_inputs_drift_report_alert_folded_then_acknowledged(gateway, data):
    predict, admin = await gateway()
    X, _ = data
    rng = np.random.default_rng(1)

    await _send(predict, X[rng.choice(len(X), 1500)])
    (steady,) = (await admin.CheckDrift(apb.CheckDriftRequest(model="px"))).reports
    assert (steady.drift, steady.live_rows) == (False, 1500)
    assert (await admin.ListAlerts(apb.ListAlertsRequest())).alerts == []

    shifted = X[rng.choice(len(X), 3000)].copy()
    shifted[:, 1] += 1.5  # feature f1 moves by 1.5 standard deviations
    await _send(predict, shifted)
    (report,) = (await admin.CheckDrift(apb.CheckDriftRequest(model="px", version="1.0.0"))).reports
    assert report.drift and list(report.kinds) == ["data"]
    details = json.loads(report.details_json)
    assert details["data"]["drifted_features"] == ["f1"]
    f1 = details["data"]["features"][1]
    assert f1["ks_p_value"] < f1["ks_threshold"] and f1["psi"] > 0.25

    stored = await admin.GetDriftReport(apb.GetDriftReportRequest(id=report.id))
    assert stored == report
    listed = await admin.ListDriftReports(apb.ListDriftReportsRequest(model="px", drift_only=True))
    assert [r.id for r in listed.reports] == [report.id]

    (alert,) = (await admin.ListAlerts(apb.ListAlertsRequest(open_only=True))).alerts
    assert (alert.kind, alert.severity, alert.model, alert.count) == ("drift", "warning", "px", 1)
    assert json.loads(alert.details_json)["report_id"] == report.id

    await admin.CheckDrift(apb.CheckDriftRequest())  # drift again, within the cooldown
    (again,) = (await admin.ListAlerts(apb.ListAlertsRequest())).alerts
    assert (again.id, again.count) == (alert.id, 2)

    acked = await admin.AcknowledgeAlert(
        apb.AcknowledgeAlertRequest(id=alert.id, note="feed fixed"),
        metadata=[("x-galgate-actor", "ops")],
    )
    assert (acked.acknowledged_by, acked.acknowledgement) == ("ops", "feed fixed")
    await admin.CheckDrift(apb.CheckDriftRequest())
    alerts = (await admin.ListAlerts(apb.ListAlertsRequest())).alerts
    assert len(alerts) == 2 and alerts[0].count == 1 and alerts[0].id != alert.id
    still_open = (await admin.ListAlerts(apb.ListAlertsRequest(open_only=True))).alerts
    assert [a.id for a in still_open] == [alerts[0].id]


async def test_bad_outcomes_performance_and_concept_drift(gateway, data):
    predict, admin = await gateway()
    X, y = data
    ids, truth = [], []
    for i in range(300):
        response = await predict.Predict(_tensor(X[i : i + 1]))
        ids.append(response.prediction_id)
        truth.append(float(y[i]))
    # Outcomes as the model expects them, then the world changes: far from what it says.
    shifts = [0.0] * 150 + [25.0] * 150
    await predict.RecordOutcomes(
        pb.RecordOutcomesRequest(
            outcomes=[
                pb.RecordOutcomeRequest(prediction_id=pid, value=value + shift)
                for pid, value, shift in zip(ids, truth, shifts, strict=True)
            ]
        )
    )
    (report,) = (await admin.CheckDrift(apb.CheckDriftRequest(model="px"))).reports
    assert set(report.kinds) == {"performance", "concept"}
    details = json.loads(report.details_json)
    assert details["performance"]["live_mean"] > 10 * details["performance"]["baseline"]
    assert details["performance"]["p_value"] < 0.01 and details["concept"]["changes"] >= 1
    assert report.outcomes == 300 and "data" not in report.kinds  # too few rows for KS


async def test_drift_calls_error_paths(gateway):
    _, admin = await gateway()
    cases = [
        (admin.CheckDrift(apb.CheckDriftRequest(model="nope")), grpc.StatusCode.NOT_FOUND),
        (
            admin.CheckDrift(apb.CheckDriftRequest(model="px", version="9.9.9")),
            grpc.StatusCode.NOT_FOUND,
        ),
        (admin.GetDriftReport(apb.GetDriftReportRequest(id=424242)), grpc.StatusCode.NOT_FOUND),
        (
            admin.ListAlerts(apb.ListAlertsRequest(severity="loud")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            admin.AcknowledgeAlert(apb.AcknowledgeAlertRequest(id=424242)),
            grpc.StatusCode.NOT_FOUND,
        ),
    ]
    for call, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call
        assert failed.value.code() == code, failed.value.details()

    _, off = await gateway(drift_window_rows=0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await off.CheckDrift(apb.CheckDriftRequest())
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "GALGATE_DRIFT_WINDOW_ROWS" in refused.value.details()


async def test_drift_watch_checks_by_itself(gateway, data, registry):
    predict, _ = await gateway(drift_interval=0.2)
    await _send(predict, data[0][:600])
    for _ in range(200):  # the watch checks every 0.2 s; one check after the last row
        reports = await registry.list_drift_reports(model="px")
        if reports and reports[0].live_rows == 600:
            break
        await asyncio.sleep(0.05)
    assert reports[0].live_rows == 600 and not reports[0].drift
