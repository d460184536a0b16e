"""The prediction log end to end: Predict -> queue -> batch writer -> registry rows."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from gateway._pb.galgate.v1 import admin_pb2
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.inference import grpc_predict_v2_pb2 as oip
from gateway._pb.inference import grpc_predict_v2_pb2_grpc
from tests.gateway.conftest import FEATURES
from tests.helpers import execute_sql


def _tensor(model: str, x: np.ndarray, routing_key: str = "") -> pb.PredictRequest:
    x = np.ascontiguousarray(x, dtype="<f4")
    return pb.PredictRequest(
        model=model,
        tensor=pb.FloatTensor(rows=x.shape[0], data=x.tobytes()),
        routing_key=routing_key,
    )


async def test_predict_after_flush_rows_written_with_inputs_and_outputs(
    start_gateway, served, trained
):
    running = await start_gateway(predlog_flush_interval=0.05)
    sent = []
    for i in range(12):
        x = trained.X[i : i + 1 + i % 3]  # 1 to 3 rows
        model = "clf" if i % 2 == 0 else "reg"
        response = await running.stub.Predict(_tensor(model, x, routing_key=f"key-{i}"))
        sent.append((x, response))
    await running.gateway.predlog.flush()

    for x, response in sent:
        record = await served.get_prediction(response.prediction_id)
        assert record is not None, response.prediction_id
        assert (record.model, record.version, record.arm) == (
            response.model,
            response.version,
            "production",
        )
        assert record.experiment_id is None
        assert record.rows == x.shape[0]
        np.testing.assert_array_equal(np.frombuffer(record.inputs, dtype="<f4").reshape(x.shape), x)
        outputs = np.frombuffer(record.outputs, dtype="<f4")
        if response.model == "clf":
            np.testing.assert_allclose(outputs, response.probabilities, rtol=1e-6)
            assert record.predicted == float(response.class_labels[response.labels[0]])
        else:
            np.testing.assert_allclose(outputs, response.values, rtol=1e-6)
            assert record.predicted == pytest.approx(response.values[0], rel=1e-6)
        assert record.latency_us >= 0
    assert running.gateway.predlog.queued == 0


async def test_predict_named_features_row_written_in_signature_order(
    start_gateway, served, trained
):
    running = await start_gateway()
    row = trained.X[5]
    features = pb.Features(values={f: float(v) for f, v in zip(FEATURES, row, strict=True)})
    response = await running.stub.Predict(
        pb.PredictRequest(model="clf", features=features, routing_key="acct-7")
    )
    await running.gateway.predlog.flush()
    record = await served.get_prediction(response.prediction_id)
    assert record.routing_key == "acct-7"
    np.testing.assert_array_equal(np.frombuffer(record.inputs, dtype="<f4"), row)


async def test_predict_stream_each_message_logged(start_gateway, served, trained):
    running = await start_gateway()
    call = running.stub.PredictStream()
    ids = []
    for i in range(5):
        await call.write(_tensor("clf", trained.X[i : i + 1]))
        ids.append((await call.read()).prediction_id)
    await call.done_writing()
    assert await call.code() is grpc.StatusCode.OK
    await running.gateway.predlog.flush()
    assert all([await served.get_prediction(pid) is not None for pid in ids])


async def test_stop_right_after_burst_every_prediction_written(start_gateway, served, trained):
    # A long flush interval and a big batch: nothing is written before stop() drains.
    running = await start_gateway(predlog_flush_interval=30.0, predlog_batch_size=10_000)
    responses = await asyncio.gather(
        *(running.stub.Predict(_tensor("clf", trained.X[i % 50 : i % 50 + 1])) for i in range(300))
    )
    assert running.gateway.predlog.queued == 300
    await running.stop()
    rows = await execute_sql(served.url, "SELECT prediction_id FROM predictions")
    assert {r[0] for r in rows} == {r.prediction_id for r in responses}


async def test_predict_queue_full_drop_policy_counts_drops_and_succeeds(start_gateway, trained):
    running = await start_gateway(
        predlog_queue_size=3, predlog_flush_interval=30.0, predlog_batch_size=100
    )
    for i in range(10):
        response = await running.stub.Predict(_tensor("clf", trained.X[i : i + 1]))
        assert response.prediction_id

    status = await running.admin.GetStatus(admin_pb2.GetStatusRequest())
    assert status.prediction_log_queued == 3
    assert status.prediction_log_dropped == 7
    metrics = running.gateway.pool.metrics.registry
    assert metrics.get_sample_value("galgate_prediction_log_dropped_total") == 7
    assert metrics.get_sample_value("galgate_prediction_log_queued") == 3


async def test_predict_queue_is_bounded_in_bytes_too(start_gateway, trained):
    """A few big requests fill the log as surely as many small ones."""
    running = await start_gateway(
        predlog_queue_bytes=64 * 1024, predlog_flush_interval=30.0, predlog_batch_size=10_000
    )
    big = np.repeat(trained.X[:1], 1000, axis=0)  # 24 KB of inputs, 12 KB of outputs
    for _ in range(4):
        assert (await running.stub.Predict(_tensor("clf", big))).rows == 1000
    predlog = running.gateway.predlog
    assert (predlog.queued, predlog.dropped) == (1, 3)
    assert predlog.queued_bytes <= 64 * 1024
    metrics = running.gateway.pool.metrics.registry
    assert metrics.get_sample_value("galgate_prediction_log_queued_bytes") == predlog.queued_bytes
    await predlog.flush()
    assert predlog.queued_bytes == 0
    # Small predictions still fit once the big ones are written.
    assert (await running.stub.Predict(_tensor("clf", trained.X[:1]))).prediction_id
    assert predlog.queued == 1


async def test_predict_queue_full_reject_policy_resource_exhausted(start_gateway, trained):
    running = await start_gateway(
        predlog_queue_size=2, predlog_flush_interval=30.0, predlog_full_policy="reject"
    )
    for i in range(2):
        await running.stub.Predict(_tensor("clf", trained.X[i : i + 1]))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.Predict(_tensor("clf", trained.X[:1]))
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "prediction log is full" in err.value.details()
    # Once the writer catches up, Predict is admitted again.
    await running.gateway.predlog.flush()
    assert (await running.stub.Predict(_tensor("clf", trained.X[:1]))).prediction_id


async def test_write_failure_batch_kept_and_written_after_recovery(start_gateway, served, trained):
    running = await start_gateway(predlog_flush_interval=0.02)
    await execute_sql(served.url, "ALTER TABLE predictions RENAME TO predictions_away")
    try:
        response = await running.stub.Predict(_tensor("clf", trained.X[:1]))
        predlog = running.gateway.predlog
        for _ in range(200):
            if predlog.write_failures:
                break
            await asyncio.sleep(0.01)
        assert predlog.write_failures > 0
        assert predlog.queued == 1
    finally:
        await execute_sql(served.url, "ALTER TABLE predictions_away RENAME TO predictions")
    await asyncio.wait_for(predlog.flush(), timeout=10)
    assert await served.get_prediction(response.prediction_id) is not None
    assert predlog.dropped == 0


async def test_model_infer_logged_with_prediction_id_parameter(start_gateway, served, trained):
    running = await start_gateway()
    stub = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(running.channel)
    x = np.ascontiguousarray(trained.X[:2], dtype="<f4")
    request = oip.ModelInferRequest(model_name="clf", id="req-1")
    request.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.tobytes())
    response = await stub.ModelInfer(request)
    prediction_id = response.parameters["galgate_prediction_id"].string_param
    await running.gateway.predlog.flush()
    record = await served.get_prediction(prediction_id)
    assert (record.model, record.rows, record.arm) == ("clf", 2, "production")
    np.testing.assert_array_equal(np.frombuffer(record.inputs, dtype="<f4").reshape(2, -1), x)
