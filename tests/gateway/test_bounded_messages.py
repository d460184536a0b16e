"""Status messages never echo input unbounded, and with tokens set they list nothing."""

from __future__ import annotations

import grpc
import pytest

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.inference import grpc_predict_v2_pb2 as v2
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as v2_grpc
from gateway.config import Settings
from gateway.server.app import build_server
from gateway.server.status import MAX_MESSAGE_BYTES
from tests.gateway.conftest import FEATURES

HUGE_NAME = "m" * 15_000


async def _details(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details()


async def test_predict_with_400_unknown_features_is_a_short_invalid_argument(stub):
    values = {f: 0.0 for f in FEATURES} | {f"junk_{i:03d}_" + "x" * 40: 1.0 for i in range(400)}
    code, details = await _details(
        stub.Predict(pb.PredictRequest(model="clf", features=pb.Features(values=values)))
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert len(details.encode()) <= 1024
    assert "unknown features" in details and "and 392 more" in details


@pytest.mark.parametrize("where", ["model", "version"])
async def test_huge_names_are_cut_in_not_found(stub, where):
    request = (
        pb.PredictRequest(model=HUGE_NAME)
        if where == "model"
        else pb.PredictRequest(model="clf", version=HUGE_NAME)
    )
    code, details = await _details(stub.Predict(request))
    assert code is grpc.StatusCode.NOT_FOUND
    assert len(details.encode()) <= 512 and "more characters" in details


async def test_every_door_caps_what_it_echoes(channel):
    admin = admin_pb2_grpc.ModelAdminStub(channel)
    inference = v2_grpc.GRPCInferenceServiceStub(channel)
    stub = prediction_pb2_grpc.PredictionServiceStub(channel)
    calls = [
        admin.GetModel(apb.GetModelRequest(name=HUGE_NAME)),
        admin.PromoteModel(apb.PromoteModelRequest(name="clf", version="1.0.0", stage=HUGE_NAME)),
        admin.GetHistory(apb.GetHistoryRequest(name=HUGE_NAME)),
        inference.ModelInfer(v2.ModelInferRequest(model_name=HUGE_NAME)),
        inference.ModelMetadata(v2.ModelMetadataRequest(name="clf", version=HUGE_NAME)),
        stub.RecordOutcome(pb.RecordOutcomeRequest(prediction_id=HUGE_NAME, value=1.0)),
    ]
    for call in calls:
        code, details = await _details(call)
        assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), details
        # A C-core client refuses metadata over 8 KiB as RESOURCE_EXHAUSTED of its own.
        assert code is not grpc.StatusCode.RESOURCE_EXHAUSTED, details
        assert len(details.encode()) <= MAX_MESSAGE_BYTES


async def test_predict_stream_error_messages_are_capped(stub):
    async def requests():
        yield pb.PredictRequest(model=HUGE_NAME)

    [reply] = [r async for r in stub.PredictStream(requests())]
    assert reply.error.code == "NOT_FOUND"
    assert len(reply.error.message.encode()) <= MAX_MESSAGE_BYTES


@pytest.mark.parametrize(
    ("tokens", "disclosed"),
    [({}, True), ({"admin_token": "a"}, False), ({"predict_token": "p"}, False)],
)
async def test_not_found_names_served_models_only_without_tokens(served, tokens, disclosed):
    gw = build_server(Settings(listen="127.0.0.1:0", **tokens), served)
    await gw.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            metadata = (("authorization", "Bearer p"),) if "predict_token" in tokens else None
            for request in (
                pb.PredictRequest(model="nope"),
                pb.PredictRequest(model="clf", version="9"),
            ):
                code, details = await _details(stub.Predict(request, metadata=metadata))
                assert code is grpc.StatusCode.NOT_FOUND
                assert ("'reg'" in details or "'1.0.0'" in details) is disclosed, details
    finally:
        await gw.stop(grace=0)
