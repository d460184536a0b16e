"""Graceful shutdown: in-flight calls finish, new calls are refused."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb


async def test_stop_lets_inflight_stream_finish_and_refuses_new_calls(gateway, stub, trained):
    request = pb.PredictRequest(
        model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
    )
    call = stub.PredictStream()
    await call.write(request)
    assert (await call.read()).rows == 1

    stopping = asyncio.create_task(gateway.stop(grace=5))
    await asyncio.sleep(0.2)  # the server now refuses new RPCs but drains this one
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Predict(request, timeout=2)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE

    for _ in range(3):
        await call.write(request)
        assert (await call.read()).rows == 1
    await call.done_writing()
    assert await call.code() is grpc.StatusCode.OK
    await stopping
