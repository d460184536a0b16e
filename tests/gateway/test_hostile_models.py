"""A broken or hostile model never goes live, and one that misbehaves on some inputs
gets those requests refused (FAILED_PRECONDITION) while everything else is served."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from gateway._pb.inference import grpc_predict_v2_pb2 as v2
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as v2_grpc
from gateway.server.app import build_server
from registry.entities import Stage, VersionSpec
from tests.gateway.conftest import publish
from tests.gateway.hostile_models import tampered_classifier


async def _register_tampered(registry, trained, kind: str) -> str:
    conversion = trained.clf_b
    spec = VersionSpec(
        model_type="tampered",
        features=conversion.signature.features,
        signature=conversion.signature.to_dict(),
    )
    mv = await registry.register_version(
        "clf", spec, tampered_classifier(conversion, kind), actor="test"
    )
    await registry.transition("clf", mv.version, Stage.STAGING, actor="test")
    return mv.version


def _rows(trained, n: int = 1, first: float | None = None) -> pb.PredictRequest:
    x = np.array(trained.X[:n], dtype=np.float32)
    if first is not None:
        x[:, 0] = first
    return pb.PredictRequest(model="clf", tensor=pb.FloatTensor(rows=n, data=x.tobytes()))


@pytest.mark.parametrize("kind", ["label_offset", "first_row_only"])
async def test_promoting_a_model_that_fails_the_probe_is_refused_and_production_serves_on(
    served, gateway, admin, stub, trained, kind
):
    version = await _register_tampered(served, trained, kind)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.PromoteModel(
            apb.PromoteModelRequest(name="clf", version=version, stage="production")
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "cannot go live" in err.value.details()
    assert (await served.production_version("clf")).version == "1.0.0"
    reply = await stub.Predict(_rows(trained, 3))
    assert (reply.version, reply.rows, len(reply.labels)) == ("1.0.0", 3, 3)


async def test_a_model_that_fails_the_probe_never_goes_live_from_another_door(
    served, gateway, admin, stub, trained
):
    """Promoted straight in the registry (the CLI on the database): the gateway keeps
    serving the old version and reports the load failure."""
    version = await _register_tampered(served, trained, "label_offset")
    await served.transition("clf", version, Stage.PRODUCTION, actor="test")
    await gateway.pool.reconcile()
    reply = await stub.Predict(_rows(trained))
    assert reply.version == "1.0.0"
    status = await admin.GetStatus(apb.GetStatusRequest())
    [failure] = [f for f in status.failures if f.version == version]
    assert "not one of its 3 classes" in failure.error


async def test_input_dependent_bad_output_is_refused_per_request(
    sqlite_registry, trained, settings
):
    await publish(sqlite_registry, "clf", trained.clf_b, trained.X)
    version = await _register_tampered(sqlite_registry, trained, "label_offset_when_big")
    await sqlite_registry.transition("clf", version, Stage.PRODUCTION, actor="test")
    gw = build_server(settings, sqlite_registry)
    await gw.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            assert (await stub.Predict(_rows(trained))).version == version  # passed the probe
            logged = gw.predlog.written + gw.predlog.queued
            for request in (_rows(trained, first=1e7), _rows(trained, 4, first=1e7)):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.Predict(request)
                assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
                assert "not one of its 3 classes" in err.value.details()

            async def stream():
                yield _rows(trained, first=1e7)
                yield _rows(trained)

            bad, good = [r async for r in stub.PredictStream(stream())]
            assert (
                bad.error.code == "FAILED_PRECONDITION" and good.rows == 1 and not good.error.code
            )

            x = np.array(trained.X[:1], dtype=np.float32)
            x[0, 0] = 1e7
            infer = v2.ModelInferRequest(
                model_name="clf",
                inputs=[
                    v2.ModelInferRequest.InferInputTensor(
                        name="input", datatype="FP32", shape=[1, 6]
                    )
                ],
                raw_input_contents=[x.tobytes()],
            )
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(infer)
            assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            # Refused answers are not logged; the good ones are.
            assert gw.predlog.written + gw.predlog.queued == logged + 1
    finally:
        await gw.stop(grace=0)
