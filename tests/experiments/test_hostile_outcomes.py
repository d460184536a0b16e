"""Outcomes are hostile input: huge values are refused, and one experiment whose stored
statistics are broken never stops the others, the monitor, or production serving."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway.config import ConfigError, Settings
from gateway.server.app import build_server
from registry.entities import ExperimentState, Stage
from registry.errors import InvalidArgumentError
from registry.store.registry import Registry
from tests.cli.conftest import galgate
from tests.experiments.conftest import fast_settings
from tests.gateway.conftest import publish, register
from tests.helpers import execute_sql, make_experiment_spec, make_outcome

LIMIT = 1e6


def _settings(**overrides) -> Settings:
    return fast_settings(**{"outcome_limit": LIMIT, **overrides})


async def _two_models(registry: Registry, pair) -> None:
    """Models "reg" and "alt", each with a production and a staging version."""
    for name in ("reg", "alt"):
        await publish(registry, name, pair.weak, pair.X)
        await register(registry, name, pair.strong, pair.X)
        await registry.transition(name, "1.0.1", Stage.STAGING, actor="test")


def _experiment(model: str, metric: str, **fields) -> apb.CreateExperimentRequest:
    return apb.CreateExperimentRequest(
        model=model, control_version="1.0.0", treatment_version="1.0.1", metric=metric, **fields
    )


def _row(pair, model: str, i: int = 0) -> pb.PredictRequest:
    x = pair.X[i % len(pair.X)]
    return pb.PredictRequest(model=model, tensor=pb.FloatTensor(rows=1, data=x.tobytes()))


@pytest.fixture
async def sqlite_registry(tmp_path, pair):
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'hostile.db'}")
    await _two_models(reg, pair)
    yield reg
    await reg.close()


@pytest.fixture
async def channel(sqlite_registry):
    gw = build_server(_settings(), sqlite_registry)
    await gw.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as ch:
        yield ch
    await gw.stop(grace=0)


@pytest.mark.parametrize(
    ("metric", "value"),
    [("reward", 1e200), ("reward", -1e200), ("squared_error", 1e150), ("squared_error", 1e300)],
)
async def test_record_outcome_beyond_the_limit_is_invalid_argument(channel, pair, metric, value):
    admin = admin_pb2_grpc.ModelAdminStub(channel)
    stub = prediction_pb2_grpc.PredictionServiceStub(channel)
    await admin.CreateExperiment(_experiment("reg", metric))
    reply = await stub.Predict(_row(pair, "reg"))
    request = pb.RecordOutcomeRequest(prediction_id=reply.prediction_id, value=value)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RecordOutcome(request)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"within ±{LIMIT:g}" in err.value.details()
    # Nothing of a refused batch is written: the valid outcome beside it is not stored.
    other = await stub.Predict(_row(pair, "reg", 1))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.RecordOutcomes(
            pb.RecordOutcomesRequest(
                outcomes=[
                    pb.RecordOutcomeRequest(prediction_id=other.prediction_id, value=1.0),
                    request,
                ]
            )
        )
    ok = await stub.RecordOutcome(
        pb.RecordOutcomeRequest(prediction_id=other.prediction_id, value=1.0)
    )
    assert not ok.duplicate


async def test_outcomes_at_the_limit_keep_every_statistic_finite(channel, pair):
    admin = admin_pb2_grpc.ModelAdminStub(channel)
    stub = prediction_pb2_grpc.PredictionServiceStub(channel)
    info = await admin.CreateExperiment(_experiment("reg", "squared_error", min_samples=5))
    for i in range(60):
        reply = await stub.Predict(_row(pair, "reg", i))
        value = LIMIT if i % 2 else -LIMIT
        await stub.RecordOutcome(
            pb.RecordOutcomeRequest(prediction_id=reply.prediction_id, value=value)
        )
    results = await admin.GetExperimentResults(apb.GetExperimentResultsRequest(id=info.id))
    for number in (
        results.control.metric_mean,
        results.treatment.metric_mean,
        results.control.metric_std,
        results.difference,
        results.p_value,
        results.sequential_p_value,
    ):
        assert math.isfinite(number)
    # Squared errors of outcomes at ±limit are at most (2·limit)².
    assert 0 < results.control.metric_mean <= (2 * LIMIT) ** 2
    stopped = await admin.StopExperiment(apb.ExperimentStateRequest(id=info.id))
    assert stopped.state == "stopped"


def test_outcome_limit_setting_is_checked():
    with pytest.raises(ConfigError, match="outcome_limit"):
        Settings(outcome_limit=1e16)
    with pytest.raises(ConfigError, match="outcome_limit"):
        Settings(outcome_limit=0)
    assert Settings.from_env({"GALGATE_OUTCOME_LIMIT": "5e3"}).outcome_limit == 5e3


async def test_registry_refuses_outcome_values_whose_squares_could_overflow(registry):
    with pytest.raises(InvalidArgumentError, match="within"):
        await registry.record_outcomes([make_outcome("p1", 1e61)])
    with pytest.raises(InvalidArgumentError, match="within"):
        await registry.record_outcomes([make_outcome("p1", 1.0, metric_value=-1e200)])
    assert await registry.record_outcomes([make_outcome("p1", 1e60)]) == [False]


async def _poison(url: str, experiment_id: int) -> None:
    """Store outcomes the way a gateway without bounds did: their squares overflow."""
    for i, value in enumerate((1e200, -1e200)):
        await execute_sql(
            url,
            "INSERT INTO outcomes (prediction_id, value, metric_value, experiment_id, arm, at) "
            "VALUES (:pid, :v, :v, :e, 'control', :at)",
            {"pid": f"poison-{i}", "v": value, "e": experiment_id, "at": datetime.now(UTC)},
        )


@pytest.mark.timeout(120)
async def test_a_poisoned_experiment_never_stops_the_others_or_production(db_url, pair, capsys):
    registry = await Registry.open(db_url)
    try:
        await _two_models(registry, pair)
        await _run_poisoned(db_url, registry, pair, capsys)
    finally:
        await registry.close()


async def _run_poisoned(db_url: str, registry: Registry, pair, capsys) -> None:
    bad = await registry.create_experiment(
        make_experiment_spec("reg", metric="reward"), actor="test", start=True
    )
    await _poison(db_url, bad.id)
    end = datetime.now(UTC) + timedelta(seconds=1.5)
    good = await registry.create_experiment(
        make_experiment_spec("alt", end_time=end), actor="test", start=True
    )
    # A gateway (re)started on this database comes up and serves production.
    gw = build_server(_settings(), registry)
    await gw.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            admin = admin_pb2_grpc.ModelAdminStub(channel)
            for _ in range(100):
                check = await health.Check(health_pb2.HealthCheckRequest())
                if check.status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.05)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            reply = await stub.Predict(_row(pair, "reg"))
            assert (reply.arm, reply.version) == ("production", "1.0.0")
            alt = await stub.Predict(_row(pair, "alt"))
            assert alt.experiment_id == str(good.id)

            # The other experiment still ends on time: the monitor skips only the bad one.
            for _ in range(100):
                if (await registry.get_experiment(good.id)).state is ExperimentState.COMPLETED:
                    break
                await asyncio.sleep(0.05)
            assert (await registry.get_experiment(good.id)).state is ExperimentState.COMPLETED

            status = await admin.GetStatus(apb.GetStatusRequest())
            skipped = {(f.experiment_id, f.where) for f in status.experiment_failures}
            assert skipped == {(bad.id, "routing"), (bad.id, "monitor")}
            assert all("no valid statistics" in f.error for f in status.experiment_failures)
            shown = await galgate(capsys, "status", "--server", f"127.0.0.1:{gw.port}")
            assert shown.code == 0, shown.stderr
            assert "skipped experiments" in shown.stdout and "no valid statistics" in shown.stdout

            with pytest.raises(grpc.aio.AioRpcError) as err:
                await admin.GetExperimentResults(apb.GetExperimentResultsRequest(id=bad.id))
            assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert f"experiment {bad.id}" in err.value.details()

            stopped = await admin.StopExperiment(
                apb.ExperimentStateRequest(id=bad.id, reason="poisoned")
            )
            assert stopped.state == "stopped"
            for _ in range(100):
                status = await admin.GetStatus(apb.GetStatusRequest())
                if not status.experiment_failures:
                    break
                await asyncio.sleep(0.05)
            assert list(status.experiment_failures) == []
    finally:
        await gw.stop(grace=0)
