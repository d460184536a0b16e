"""Cheap starvation fails: waiting outcomes, health watches and huge batches cannot take
what Predict needs, big or slow runs leave the event loop, and deadlines are honoured."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from converters import load_session
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from gateway.config import Settings
from gateway.server.app import build_server
from gateway.server.services import WATCH_STREAMS
from gateway.serving.ids import PredictionIds
from registry.entities import Stage, VersionSpec
from tests.gateway.conftest import FEATURES
from tests.gateway.hostile_models import slow_regressor
from tests.helpers import execute_sql


def _tensor(model: str, x: np.ndarray) -> pb.PredictRequest:
    x = np.ascontiguousarray(x, dtype="<f4")
    return pb.PredictRequest(model=model, tensor=pb.FloatTensor(rows=x.shape[0], data=x.tobytes()))


async def _serve(registry, **overrides):
    values = dict(listen="127.0.0.1:0", poll_interval=0.05, predlog_flush_interval=0.02)
    values.update(overrides)
    gw = build_server(Settings(**values), registry)
    await gw.start()
    return gw


async def test_waiting_outcomes_cannot_take_predict_capacity(served, trained):
    gw = await _serve(served, max_concurrent_rpcs=4, max_concurrent_outcomes=2, outcome_wait=30)
    try:
        # Ids with a genuine MAC that no gateway logged: each outcome waits for its writer.
        unknown = PredictionIds(await served.prediction_id_key(), prefix="feedfacecafe")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            waiting = [
                asyncio.ensure_future(
                    stub.RecordOutcome(
                        pb.RecordOutcomeRequest(prediction_id=unknown.next(), value=1)
                    )
                )
                for _ in range(2)
            ]
            await asyncio.sleep(0.3)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.RecordOutcome(
                    pb.RecordOutcomeRequest(prediction_id=unknown.next(), value=1), timeout=5
                )
            assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "too many concurrent RecordOutcome calls" in err.value.details()
            replies = await asyncio.gather(
                *(stub.Predict(_tensor("clf", trained.X[i : i + 1]), timeout=5) for i in range(4))
            )
            assert all(r.rows == 1 for r in replies)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        await gw.stop(grace=0)


async def test_health_watches_have_their_own_budget(gateway, channel, stub, trained):
    health = health_pb2_grpc.HealthStub(channel)
    watches = [health.Watch(health_pb2.HealthCheckRequest()) for _ in range(WATCH_STREAMS)]
    for watch in watches:
        await watch.read()
    extra = health.Watch(health_pb2.HealthCheckRequest())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await extra.read()
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await stub.Predict(_tensor("clf", trained.X[:1]))).rows == 1
    for watch in watches:
        watch.cancel()


async def test_batch_over_max_rows_is_invalid_argument(served, trained):
    gw = await _serve(served, max_batch_rows=100)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Predict(_tensor("clf", np.repeat(trained.X[:1], 101, axis=0)))
            assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "at most 100" in err.value.details()
            assert (await stub.Predict(_tensor("clf", trained.X[:100]))).rows == 100
    finally:
        await gw.stop(grace=0)


async def test_answer_too_big_to_send_is_refused_before_it_is_logged(served, trained):
    gw = await _serve(served, max_message_bytes=64 * 1024)
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{gw.port}", options=[("grpc.max_send_message_length", 64 * 1024)]
        ) as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            # 2,500 rows: 60 KB in, about 85 KB of answer (labels and 3 probabilities per row).
            big = np.repeat(trained.X[:1], 2500, axis=0)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Predict(_tensor("clf", big))
            assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "send fewer rows" in err.value.details()
            assert gw.predlog.queued + gw.predlog.written == 0
    finally:
        await gw.stop(grace=0)


async def test_big_batches_run_off_the_loop_with_the_same_answers(gateway, stub, trained):
    x = np.resize(trained.X, (3000, len(FEATURES))).astype(np.float32)
    reply = await stub.Predict(_tensor("reg", x))  # > offload_rows: runs in a thread
    session = load_session((await gateway.registry.load_version_artifact("reg", "1.0.0"))[1])
    expected = session.run(None, {"input": x})[0].reshape(-1)
    np.testing.assert_allclose(reply.values, expected, rtol=1e-6)


@pytest.fixture
async def slow_served(served):
    data, signature = slow_regressor(FEATURES)
    spec = VersionSpec(model_type="slow", features=FEATURES, signature=signature.to_dict())
    mv = await served.register_version("slow", spec, data, actor="test")
    await served.transition("slow", mv.version, Stage.STAGING, actor="test")
    await served.transition("slow", mv.version, Stage.PRODUCTION, actor="test")
    return served


@pytest.mark.timeout(60)
async def test_a_slow_model_neither_stalls_others_nor_logs_past_deadline_answers(
    slow_served, trained
):
    gw = await _serve(slow_served)
    try:
        assert gw.pool.current.routes["slow"].production.model.slow
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            slow = asyncio.ensure_future(stub.Predict(_tensor("slow", trained.X[:1]), timeout=30))
            await asyncio.sleep(0.05)
            for i in range(10):
                await stub.Predict(_tensor("clf", trained.X[i : i + 1]), timeout=5)
            assert not slow.done()  # ten small answers came while the slow run went on
            assert (await slow).rows == 1

            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Predict(_tensor("slow", trained.X[:1]), timeout=0.2)
            assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            await asyncio.sleep(1.5)  # the abandoned run ends meanwhile
            await gw.predlog.flush()
        logged = await execute_sql(slow_served.url, "SELECT model FROM predictions")
        assert [row[0] for row in logged].count("slow") == 1  # only the answer that was sent
    finally:
        await gw.stop(grace=0)


@pytest.mark.timeout(60)
async def test_calls_beyond_the_servers_total_are_shed_resource_exhausted(served, trained):
    data, signature = slow_regressor(FEATURES, iterations=50_000)
    spec = VersionSpec(model_type="slow", features=FEATURES, signature=signature.to_dict())
    mv = await served.register_version("slow", spec, data, actor="test")
    await served.transition("slow", mv.version, Stage.STAGING, actor="test")
    await served.transition("slow", mv.version, Stage.PRODUCTION, actor="test")
    gw = await _serve(
        served, max_concurrent_rpcs=2, max_concurrent_outcomes=1, max_concurrent_admin=1
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            calls = [stub.Predict(_tensor("slow", trained.X[:1]), timeout=30) for _ in range(80)]
            results = await asyncio.gather(*calls, return_exceptions=True)
        codes = [
            r.code() if isinstance(r, grpc.aio.AioRpcError) else grpc.StatusCode.OK for r in results
        ]
        assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        # Every shed call was refused at once; what was admitted was answered.
        assert codes.count(grpc.StatusCode.OK) >= 2
    finally:
        await gw.stop(grace=0)
