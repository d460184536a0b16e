"""RecordOutcome / RecordOutcomes over a real server: durable, exactly once, all or nothing."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from gateway._pb.galgate.v1 import admin_pb2
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from tests.gateway.conftest import register


def _row(trained, i: int = 0, model: str = "clf", rows: int = 1) -> pb.PredictRequest:
    x = np.ascontiguousarray(trained.X[i : i + rows], dtype="<f4")
    return pb.PredictRequest(model=model, tensor=pb.FloatTensor(rows=rows, data=x.tobytes()))


def _outcome(prediction_id: str, value: float) -> pb.RecordOutcomeRequest:
    return pb.RecordOutcomeRequest(prediction_id=prediction_id, value=value)


async def _predict_written(running, trained, i: int = 0, model: str = "clf") -> str:
    response = await running.stub.Predict(_row(trained, i, model))
    await running.gateway.predlog.flush()
    return response.prediction_id


async def test_record_outcome_new_is_durable_when_acknowledged(start_gateway, served, trained):
    running = await start_gateway()
    pid = await _predict_written(running, trained, model="reg")
    response = await running.stub.RecordOutcome(_outcome(pid, 12.5))
    assert response.duplicate is False
    stored = await served.get_outcome(pid)  # no flush, no stop: committed before the reply
    assert (stored.value, stored.arm, stored.experiment_id, stored.metric_value) == (
        12.5,
        "production",
        None,
        None,
    )


async def test_record_outcome_same_value_again_is_duplicate(start_gateway, trained):
    running = await start_gateway()
    pid = await _predict_written(running, trained)
    assert (await running.stub.RecordOutcome(_outcome(pid, 1.0))).duplicate is False
    assert (await running.stub.RecordOutcome(_outcome(pid, 1.0))).duplicate is True


async def test_record_outcome_different_value_failed_precondition_and_kept(
    start_gateway, served, trained
):
    running = await start_gateway()
    pid = await _predict_written(running, trained)
    await running.stub.RecordOutcome(_outcome(pid, 1.0))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.RecordOutcome(_outcome(pid, 2.0))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "1.0" in err.value.details() and "2.0" in err.value.details()
    assert (await served.get_outcome(pid)).value == 1.0


async def test_record_outcome_unknown_id_not_found_after_wait(start_gateway, served):
    running = await start_gateway(outcome_wait=0.1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.RecordOutcome(_outcome("nope-1", 1.0))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert "nope-1" in err.value.details()
    assert await served.get_outcome("nope-1") is None


async def test_record_outcome_before_prediction_flushed_counts(start_gateway, served, trained):
    running = await start_gateway(predlog_flush_interval=30.0, predlog_batch_size=10_000)
    response = await running.stub.Predict(_row(trained))
    assert running.gateway.predlog.queued == 1  # not written yet
    reply = await running.stub.RecordOutcome(_outcome(response.prediction_id, 2.0))
    assert reply.duplicate is False
    assert (await served.get_outcome(response.prediction_id)).value == 2.0
    # The prediction an acknowledged outcome refers to is durable too.
    assert await served.get_prediction(response.prediction_id) is not None


async def test_record_outcome_prediction_from_other_gateway_found_within_wait(
    start_gateway, served, trained
):
    maker = await start_gateway(predlog_flush_interval=0.3)
    scorer = await start_gateway(outcome_wait=5.0, predlog_flush_interval=0.05)
    response = await maker.stub.Predict(_row(trained))
    # The scorer's pending map does not hold it: it polls the registry until it appears.
    reply = await scorer.stub.RecordOutcome(_outcome(response.prediction_id, 0.0))
    assert reply.duplicate is False
    assert (await served.get_outcome(response.prediction_id)).value == 0.0


async def test_record_outcome_multi_row_prediction_failed_precondition(start_gateway, trained):
    running = await start_gateway()
    response = await running.stub.Predict(_row(trained, rows=4))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.RecordOutcome(_outcome(response.prediction_id, 1.0))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "single-row" in err.value.details()
    assert "4 rows" in err.value.details()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
async def test_record_outcome_non_finite_value_invalid_argument(start_gateway, trained, value):
    running = await start_gateway()
    pid = await _predict_written(running, trained)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.RecordOutcome(_outcome(pid, value))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert pid in err.value.details() and "finite" in err.value.details()


async def test_record_outcome_empty_id_invalid_argument(start_gateway):
    running = await start_gateway()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.RecordOutcome(_outcome("", 1.0))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_record_outcomes_batch_counts_recorded_and_duplicates(start_gateway, served, trained):
    running = await start_gateway()
    ids = [(await running.stub.Predict(_row(trained, i))).prediction_id for i in range(4)]
    await running.stub.RecordOutcome(_outcome(ids[0], 1.0))
    reply = await running.stub.RecordOutcomes(
        pb.RecordOutcomesRequest(outcomes=[_outcome(pid, 1.0) for pid in ids])
    )
    assert (reply.recorded, reply.duplicates) == (3, 1)
    assert all([(await served.get_outcome(pid)).value == 1.0 for pid in ids])


async def test_record_outcomes_one_conflict_writes_nothing(start_gateway, served, trained):
    running = await start_gateway()
    ids = [(await running.stub.Predict(_row(trained, i))).prediction_id for i in range(3)]
    await running.stub.RecordOutcome(_outcome(ids[0], 1.0))
    batch = [_outcome(ids[1], 0.0), _outcome(ids[2], 2.0), _outcome(ids[0], 2.0)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.RecordOutcomes(pb.RecordOutcomesRequest(outcomes=batch))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert ids[0] in err.value.details()
    assert await served.get_outcome(ids[1]) is None
    assert await served.get_outcome(ids[2]) is None
    assert (await served.get_outcome(ids[0])).value == 1.0


async def test_record_outcomes_one_unknown_id_writes_nothing(start_gateway, served, trained):
    running = await start_gateway(outcome_wait=0.05)
    pid = (await running.stub.Predict(_row(trained))).prediction_id
    batch = [_outcome(pid, 1.0), _outcome("missing-9", 1.0)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.RecordOutcomes(pb.RecordOutcomesRequest(outcomes=batch))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert "missing-9" in err.value.details()
    assert await served.get_outcome(pid) is None


async def test_record_outcome_in_experiment_scores_metric_and_notifies(
    start_gateway, served, trained
):
    await register(served, "clf", trained.clf_b, trained.X, version="2.0.0")
    running = await start_gateway()
    seen = []
    running.gateway.outcomes.on_outcome = lambda *args: seen.append(args)
    experiment = await running.admin.CreateExperiment(
        admin_pb2.CreateExperimentRequest(
            model="clf",
            control_version="1.0.0",
            treatment_version="2.0.0",
            strategy="random",
            metric="accuracy",
        )
    )
    response = await running.stub.Predict(_row(trained, 7))
    assert response.experiment_id == str(experiment.id)
    label = float(response.class_labels[response.labels[0]])

    reply = await running.stub.RecordOutcome(_outcome(response.prediction_id, label))
    assert reply.duplicate is False
    stored = await served.get_outcome(response.prediction_id)
    assert (stored.experiment_id, stored.arm, stored.metric_value) == (
        experiment.id,
        response.arm,
        1.0,
    )
    assert seen == [(experiment.id, response.arm, 1.0)]
    # A duplicate does not count twice.
    await running.stub.RecordOutcome(_outcome(response.prediction_id, label))
    assert len(seen) == 1
