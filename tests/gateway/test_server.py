"""Server plumbing: health, reflection, auth, and the error mapping on every RPC."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from converters.errors import ConversionError
from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.inference import grpc_predict_v2_pb2 as v2
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as v2_grpc
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.server import admin_servicer, prediction_servicer, status
from gateway.server.app import build_server
from registry.errors import RegistryError
from registry.store.registry import Registry
from tests.gateway.conftest import FEATURES, publish

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_is_serving_once_models_are_warm(gateway, channel):
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(100):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
        if reply.status == SERVING:
            break
        await asyncio.sleep(0.02)
    assert reply.status == SERVING
    assert gateway.pool.current.routes["clf"].production.model.version == "1.0.0"
    reply = await health.Check(
        health_pb2.HealthCheckRequest(service="galgate.v1.PredictionService")
    )
    assert reply.status == SERVING


async def test_registry_unreachable_at_start_is_unavailable_then_serves_once_reached(
    settings, tmp_path, trained
):
    # The database's directory does not exist yet: every connection attempt fails.
    url = f"sqlite+aiosqlite:///{tmp_path / 'later' / 'galgate.db'}"
    registry = Registry.unopened(url)
    gw = build_server(settings, registry)
    await gw.start()  # listens anyway: a gateway never exits because its database is down
    try:
        assert gw.connect_error.startswith("UnavailableError")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as ch:
            health = health_pb2_grpc.HealthStub(ch)
            assert (await health.Check(health_pb2.HealthCheckRequest())).status == NOT_SERVING
            stub = prediction_pb2_grpc.PredictionServiceStub(ch)
            for call in (
                stub.Predict(pb.PredictRequest(model="clf")),
                stub.RecordOutcome(pb.RecordOutcomeRequest(prediction_id="x-1-00", value=1)),
                admin_pb2_grpc.ModelAdminStub(ch).ListModels(apb.ListModelsRequest()),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call
                assert err.value.code() is grpc.StatusCode.UNAVAILABLE, err.value.details()
            ready = await v2_grpc.GRPCInferenceServiceStub(ch).ModelReady(
                v2.ModelReadyRequest(name="clf")
            )
            assert ready.ready is False

            (tmp_path / "later").mkdir()
            other = await Registry.open(url)
            await publish(other, "clf", trained.clf_a, trained.X)
            await other.close()
            # The gateway retries with backoff (0.5 s, 1 s, 2 s, ...) and then serves.
            for _ in range(200):
                if (await health.Check(health_pb2.HealthCheckRequest())).status == SERVING:
                    break
                await asyncio.sleep(0.05)
            reply = await stub.Predict(
                pb.PredictRequest(
                    model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
                )
            )
            assert reply.version == "1.0.0" and gw.connect_error == ""
    finally:
        await gw.stop(grace=0)
        await registry.close()


async def test_health_turns_not_serving_on_shutdown(gateway, channel):
    health = health_pb2_grpc.HealthStub(channel)
    while (await health.Check(health_pb2.HealthCheckRequest())).status != SERVING:
        await asyncio.sleep(0.02)
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await watch.read()).status == SERVING
    stopping = asyncio.create_task(gateway.stop(grace=1))
    assert (await watch.read()).status == NOT_SERVING
    await stopping


def _reflect(port: int) -> tuple[set[str], str]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        services = set(db.get_services())
        from google.protobuf.descriptor_pool import DescriptorPool

        service = DescriptorPool(db).FindServiceByName("galgate.v1.PredictionService")
        return services, service.methods_by_name["Predict"].input_type.full_name


async def test_reflection_lists_and_resolves_our_services(gateway):
    services, input_type = await asyncio.to_thread(_reflect, gateway.port)
    assert {
        "galgate.v1.PredictionService",
        "galgate.v1.ModelAdmin",
        "grpc.health.v1.Health",
    } <= services
    assert input_type == "galgate.v1.PredictRequest"


@pytest.fixture
async def secured(served):
    settings = Settings(listen="127.0.0.1:0", admin_token="s3cret", predict_token="p-token")
    gw = build_server(settings, served)
    await gw.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as ch:
        yield ch
    await gw.stop(grace=0)


@pytest.mark.parametrize(
    "metadata", [None, (("authorization", "Bearer wrong"),), (("authorization", "s3cret"),)]
)
async def test_admin_without_valid_token_is_unauthenticated(secured, metadata):
    admin = admin_pb2_grpc.ModelAdminStub(secured)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.ListModels(apb.ListModelsRequest(), metadata=metadata)
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer" in err.value.details()


async def test_admin_with_token_succeeds_and_streams_are_guarded(secured):
    admin = admin_pb2_grpc.ModelAdminStub(secured)
    good = (("authorization", "Bearer s3cret"),)
    reply = await admin.ListModels(apb.ListModelsRequest(), metadata=good)
    assert {m.name for m in reply.models} == {"clf", "reg"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in admin.WatchEvents(apb.WatchEventsRequest(backlog_only=True)):
            pass
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_predict_token_guards_prediction(secured, trained):
    stub = prediction_pb2_grpc.PredictionServiceStub(secured)
    features = pb.Features(values={f: 0.0 for f in FEATURES})
    request = pb.PredictRequest(model="clf", features=features)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Predict(request)
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    reply = await stub.Predict(request, metadata=(("authorization", "Bearer p-token"),))
    assert reply.rows == 1


@pytest.mark.parametrize(
    "servicer", [prediction_servicer.PredictionServicer, admin_servicer.AdminServicer]
)
def test_every_rpc_method_is_wrapped(servicer):
    methods = status.rpc_methods(servicer)
    assert methods
    assert all(getattr(m, "__grpc_errors__", False) for m in methods.values()), methods


def _subclasses(root: type) -> list[type]:
    found = [root]
    for cls in root.__subclasses__():
        found += _subclasses(cls)
    return found


@pytest.mark.parametrize("root", [GatewayError, RegistryError, ConversionError])
def test_every_domain_error_maps_to_a_specific_code(root):
    unmapped = [
        cls.__name__
        for cls in _subclasses(root)[1:]  # the roots themselves are never raised
        if status.status_for(cls.__new__(cls)) in (None, grpc.StatusCode.INTERNAL)
    ]
    assert unmapped == []


@status.grpc_errors
class _Exploding:
    async def Boom(self, request, context):
        raise RuntimeError("secret internals")


async def test_unmapped_exception_is_internal_with_reference_and_no_leak():
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "test.Exploding",
        {
            "Boom": grpc.unary_unary_rpc_method_handler(
                _Exploding().Boom, request_deserializer=bytes, response_serializer=bytes
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = ch.unary_unary("/test.Exploding/Boom")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(b"")
        assert err.value.code() is grpc.StatusCode.INTERNAL
        assert "ref=" in err.value.details()
        assert "secret" not in err.value.details()
    finally:
        await server.stop(0)


def test_build_server_on_a_busy_port_is_a_listen_error(sqlite_registry):
    import socket

    from gateway.errors import ListenError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(ListenError, match=f"cannot listen on {address}"):
            build_server(Settings(listen=address), sqlite_registry)


@pytest.mark.parametrize("value", ["nonsense", "127.0.0.1:", ":9464"])
def test_settings_refuse_a_malformed_metrics_address(value):
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="metrics_listen must be HOST:PORT"):
        Settings(metrics_listen=value)


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("/galgate.v1.PredictionService/Predict", "unary_unary"),
        ("/galgate.v1.PredictionService/PredictStream", "stream_stream"),
        ("/galgate.v1.PredictionService/RecordOutcome", "unary_unary"),
        ("/galgate.v1.ModelAdmin/GetStatus", "unary_unary"),
        ("/galgate.v1.ModelAdmin/RegisterModel", "stream_unary"),
        ("/galgate.v1.ModelAdmin/WatchEvents", "unary_stream"),
        ("/inference.GRPCInferenceService/ServerLive", "unary_unary"),
        ("/inference.GRPCInferenceService/ModelInfer", "unary_unary"),
        ("/grpc.health.v1.Health/Check", "unary_unary"),
        ("/grpc.health.v1.Health/Watch", "unary_stream"),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "stream_stream"),
    ],
)
async def test_undecodable_request_bytes_are_invalid_argument(gateway, channel, method, kind):
    """A byte string no message parses from: INVALID_ARGUMENT, never UNKNOWN."""
    call = getattr(channel, kind)(method, request_serializer=None, response_deserializer=None)
    garbage = b"\x00"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        if kind.startswith("stream"):

            async def requests():
                yield garbage

            response = call(requests(), timeout=5)
        else:
            response = call(garbage, timeout=5)
        if kind.endswith("stream"):
            async for _ in response:
                pass
        else:
            await response
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "not a valid" in err.value.details()
    # The gateway goes on serving.
    stub = prediction_pb2_grpc.PredictionServiceStub(channel)
    features = pb.Features(values={f: 0.0 for f in FEATURES})
    assert (await stub.Predict(pb.PredictRequest(model="clf", features=features))).rows == 1
