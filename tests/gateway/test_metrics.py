"""Prometheus /metrics: per-version latency, rows, errors and swaps."""

from __future__ import annotations

import urllib.request

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from gateway.config import Settings
from gateway.server.app import build_server


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


@pytest.fixture
async def metered(served):
    gw = build_server(Settings(listen="127.0.0.1:0", metrics_listen="127.0.0.1:0"), served)
    await gw.start()
    yield gw
    await gw.stop(grace=0)


async def test_metrics_count_rows_latency_and_errors_per_version(metered, trained):
    import asyncio

    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as ch:
        stub = prediction_pb2_grpc.PredictionServiceStub(ch)
        data = trained.X[:3].tobytes()
        for _ in range(2):
            await stub.Predict(
                pb.PredictRequest(model="clf", tensor=pb.FloatTensor(rows=3, data=data))
            )
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Predict(pb.PredictRequest(model="nope"))
    text = await asyncio.to_thread(_scrape, metered.metrics_port)
    assert 'galgate_predict_rows_total{model="clf",version="1.0.0"} 6.0' in text
    assert 'galgate_predict_latency_seconds_count{model="clf",version="1.0.0"} 2.0' in text
    assert 'galgate_rpc_errors_total{code="NOT_FOUND",method="Predict"} 1.0' in text
    assert "galgate_loaded_versions 2.0" in text


async def test_metrics_count_open_inference_calls_too(metered, trained):
    import asyncio

    from gateway._pb.inference import grpc_predict_v2_pb2 as v2
    from gateway._pb.inference import grpc_predict_v2_pb2_grpc as v2_grpc

    x = trained.X[:4]
    request = v2.ModelInferRequest(
        model_name="clf",
        inputs=[
            v2.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=x.shape)
        ],
        raw_input_contents=[x.tobytes()],
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as ch:
        await v2_grpc.GRPCInferenceServiceStub(ch).ModelInfer(request)
    text = await asyncio.to_thread(_scrape, metered.metrics_port)
    assert 'galgate_predict_rows_total{model="clf",version="1.0.0"} 4.0' in text
