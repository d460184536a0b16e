"""End to end over gRPC: experiment -> routed predictions -> outcomes -> auto-promotion."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway.config import Settings
from gateway.server.app import build_server
from registry.entities import Stage
from registry.store.registry import Registry
from tests.experiments.conftest import fast_settings
from tests.gateway.conftest import publish, register


def _row(pair, i: int) -> pb.PredictRequest:
    x = pair.X[i % len(pair.X)]
    return pb.PredictRequest(
        model="reg", tensor=pb.FloatTensor(rows=1, data=x.tobytes()), routing_key=f"k{i}"
    )


@pytest.fixture
async def registry(tmp_path, pair):
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'exp.db'}")
    await publish(reg, "reg", pair.weak, pair.X)
    await register(reg, "reg", pair.strong, pair.X)
    await reg.transition("reg", "1.0.1", Stage.STAGING, actor="test")
    yield reg
    await reg.close()


def _settings(**overrides) -> Settings:
    return fast_settings(**overrides)


@pytest.fixture
async def gateway(registry):
    gw = build_server(_settings(), registry)
    await gw.start()
    yield gw
    await gw.stop(grace=1)


async def _create(admin, **fields) -> apb.ExperimentInfo:
    request = apb.CreateExperimentRequest(
        model="reg",
        control_version="1.0.0",
        treatment_version="1.0.1",
        metric="squared_error",
        **fields,
    )
    return await admin.CreateExperiment(request)


@pytest.mark.timeout(120)
async def test_experiment_routes_learns_and_auto_promotes_with_zero_failed_calls(gateway, pair):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        admin = admin_pb2_grpc.ModelAdminStub(channel)
        stub = prediction_pb2_grpc.PredictionServiceStub(channel)
        info = await _create(
            admin, strategy="random", min_samples=30, auto_promote=True, name="deeper trees"
        )
        assert info.state == "running"

        failures: list[BaseException] = []
        arms: dict[str, int] = {}
        i = 0
        promoted = False
        for _ in range(4000):
            try:
                reply = await stub.Predict(_row(pair, i))
            except grpc.aio.AioRpcError as exc:
                failures.append(exc)
                continue
            arms[reply.arm] = arms.get(reply.arm, 0) + 1
            if reply.arm == "production" and reply.version == "1.0.1":
                promoted = True
                break
            await stub.RecordOutcome(
                pb.RecordOutcomeRequest(
                    prediction_id=reply.prediction_id, value=float(pair.y[i % len(pair.y)])
                )
            )
            i += 1
            if i % 50 == 0:
                await asyncio.sleep(0.06)  # let the monitor look
        assert failures == []
        assert promoted, f"no auto-promotion after {i} outcomes; arms seen {arms}"
        assert arms["control"] > 0 and arms["treatment"] > 0

        results = await admin.GetExperimentResults(apb.GetExperimentResultsRequest(id=info.id))
        assert results.experiment.state == "completed"
        assert results.winner == "treatment" and results.experiment.winner == "treatment"
        assert results.control.outcomes >= 30 and results.treatment.outcomes >= 30
        # lower is better: the strong model's squared error is lower
        assert results.treatment.metric_mean < results.control.metric_mean
        assert results.sequential_p_value <= 0.05
        history = await admin.GetHistory(apb.GetHistoryRequest(name="reg"))
        last = history.transitions[-1]
        assert (last.version, last.to_stage) == ("1.0.1", "production")
        assert f"experiment {info.id}" in last.reason


async def test_sticky_keys_keep_their_arm(gateway, pair):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        admin = admin_pb2_grpc.ModelAdminStub(channel)
        stub = prediction_pb2_grpc.PredictionServiceStub(channel)
        await _create(admin, strategy="weighted", split=0.5)
        first = {}
        for i in range(40):
            first[i] = (await stub.Predict(_row(pair, i))).arm
        for i in range(40):
            assert (await stub.Predict(_row(pair, i))).arm == first[i]
        assert set(first.values()) == {"control", "treatment"}


async def test_second_experiment_on_a_model_is_refused(gateway):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        admin = admin_pb2_grpc.ModelAdminStub(channel)
        first = await _create(admin)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _create(admin)
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert f"experiment {first.id}" in err.value.details()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"metric": "profit"}, "metric"),
        ({"strategy": "coin"}, "strategy"),
        ({"split": 1.5}, "split"),
        ({"treatment_version": "9.9.9"}, "9.9.9"),
    ],
)
async def test_create_experiment_bad_fields_are_rejected(gateway, fields, expected):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        admin = admin_pb2_grpc.ModelAdminStub(channel)
        base = dict(
            model="reg", control_version="1.0.0", treatment_version="1.0.1", metric="squared_error"
        )
        base.update(fields)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.CreateExperiment(apb.CreateExperimentRequest(**base))
        assert err.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        assert expected in err.value.details()


async def test_pause_routes_production_and_resume_routes_arms_again(gateway, pair):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        admin = admin_pb2_grpc.ModelAdminStub(channel)
        stub = prediction_pb2_grpc.PredictionServiceStub(channel)
        info = await _create(admin)
        paused = await admin.PauseExperiment(apb.ExperimentStateRequest(id=info.id))
        assert paused.state == "paused"
        assert {(await stub.Predict(_row(pair, i))).arm for i in range(20)} == {"production"}
        await admin.ResumeExperiment(apb.ExperimentStateRequest(id=info.id))
        arms = {(await stub.Predict(_row(pair, i))).arm for i in range(40)}
        assert arms == {"control", "treatment"}
        stopped = await admin.StopExperiment(apb.ExperimentStateRequest(id=info.id, reason="done"))
        assert stopped.state == "stopped" and stopped.end_reason == "done"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.ResumeExperiment(apb.ExperimentStateRequest(id=info.id))
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.GetExperimentResults(apb.GetExperimentResultsRequest(id=999))
        assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_restart_mid_experiment_keeps_routing_and_statistics(registry, pair):
    gw = build_server(_settings(monitor_interval=60), registry)
    await gw.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            admin = admin_pb2_grpc.ModelAdminStub(channel)
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            info = await _create(admin, strategy="random", min_samples=10_000)
            before_arms = {}
            for i in range(60):
                reply = await stub.Predict(_row(pair, i))
                before_arms[i] = reply.arm
                await stub.RecordOutcome(
                    pb.RecordOutcomeRequest(
                        prediction_id=reply.prediction_id, value=float(pair.y[i])
                    )
                )
            before = await admin.GetExperimentResults(apb.GetExperimentResultsRequest(id=info.id))
    finally:
        await gw.stop(grace=1)

    gw = build_server(_settings(monitor_interval=60), registry)
    await gw.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            admin = admin_pb2_grpc.ModelAdminStub(channel)
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            after = await admin.GetExperimentResults(apb.GetExperimentResultsRequest(id=info.id))
            assert after.experiment.state == "running"
            assert (after.control.outcomes, after.treatment.outcomes) == (
                before.control.outcomes,
                before.treatment.outcomes,
            )
            assert after.control.predictions + after.treatment.predictions == 60
            assert after.control.metric_mean == pytest.approx(before.control.metric_mean)
            for i in range(60):
                assert (await stub.Predict(_row(pair, i))).arm == before_arms[i]
    finally:
        await gw.stop(grace=1)


@pytest.mark.parametrize("strategy", ["thompson_sampling", "epsilon_greedy"])
async def test_bandit_shifts_traffic_to_the_better_arm_through_outcomes(registry, pair, strategy):
    # The monitor is kept away so the experiment keeps running; only outcomes steer it.
    gw = build_server(_settings(monitor_interval=600), registry)
    await gw.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            admin = admin_pb2_grpc.ModelAdminStub(channel)
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            await _create(admin, strategy=strategy, min_samples=10, epsilon=0.1)
            late: list[str] = []
            for i in range(600):
                reply = await stub.Predict(_row(pair, i))
                await stub.RecordOutcome(
                    pb.RecordOutcomeRequest(
                        prediction_id=reply.prediction_id, value=float(pair.y[i % len(pair.y)])
                    )
                )
                if i >= 400:
                    late.append(reply.arm)
        share = late.count("treatment") / len(late)
        assert share > 0.8, f"{strategy} sent {share:.0%} of late traffic to the better arm"
    finally:
        await gw.stop(grace=1)
