"""The log's hot-path entries: references kept at Predict, rows built by the writer."""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway.config import Settings
from gateway.predlog import PredictionLog
from gateway.serving.loader import load_version
from gateway.serving.snapshot import Routed


async def _clf(served):
    production = await served.production_version("clf")
    return await load_version(served, "clf", production.version)


async def test_pending_entry_reads_as_the_record_that_is_stored(served, trained) -> None:
    model = await _clf(served)
    x = trained.X[:2].astype(np.float32)
    outputs = model.run(x)
    log = PredictionLog(served, flush_interval=10.0)
    started = 0.0
    assert log.append(Routed(model, "treatment", "12"), "acct-1", x, outputs, "e-1", started)

    pending = log.get("e-1")
    assert log.queued == 1 and log.queued_bytes == x.nbytes + outputs.probabilities.nbytes
    log.start()
    await log.flush()
    await log.stop()

    stored = await served.get_prediction("e-1")
    assert stored == pending
    assert (stored.model, stored.version, stored.arm, stored.experiment_id) == (
        "clf",
        model.version,
        "treatment",
        12,
    )
    assert (stored.routing_key, stored.rows) == ("acct-1", 2)
    np.testing.assert_array_equal(np.frombuffer(stored.inputs, dtype="<f4").reshape(2, -1), x)
    np.testing.assert_array_equal(
        np.frombuffer(stored.outputs, dtype="<f4").reshape(2, -1), outputs.probabilities
    )
    label = model.signature.class_labels[int(outputs.labels[0])]
    assert stored.predicted == float(label)
    assert stored.latency_us > 0 and log.queued == 0 and log.queued_bytes == 0


async def test_entry_that_cannot_become_a_row_is_dropped_and_the_rest_written(
    served, trained
) -> None:
    model = await _clf(served)
    x = trained.X[:1].astype(np.float32)
    good = model.run(x)
    broken = dataclasses.replace(good, labels=np.array([99]))  # no such class
    log = PredictionLog(served, batch_size=4, flush_interval=10.0)
    log.start()
    for i in range(10):
        log.append(Routed(model, "production"), "", x, broken if i == 5 else good, f"b-{i}", 0.0)
    await log.flush()  # returns although one of the predictions will never be written
    await log.stop()

    assert (log.written, log.dropped, log.queued, log.queued_bytes) == (9, 1, 0, 0)
    assert await served.get_prediction("b-5") is None
    assert await served.get_prediction("b-9") is not None


async def test_log_off_predict_serves_and_nothing_is_logged(start_gateway, trained) -> None:
    assert Settings.from_env({"GALGATE_PREDICTION_LOG": "off"}).prediction_log is False
    running = await start_gateway(prediction_log=False, outcome_wait=0.0)
    x = trained.X[:1].astype("<f4")
    request = pb.PredictRequest(model="clf", tensor=pb.FloatTensor(rows=1, data=x.tobytes()))

    ids = [(await running.stub.Predict(request)).prediction_id for _ in range(5)]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await running.stub.RecordOutcome(pb.RecordOutcomeRequest(prediction_id=ids[0], value=1))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    await running.stop()

    log = running.gateway.predlog
    assert all(ids) and (log.queued, log.written, log.dropped) == (0, 0, 0)
    assert await running.gateway.registry.get_predictions(ids) == {}
