"""Client-side load for the serving benchmark: one grpc.aio client, the same for every server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc
import numpy as np

from benchmarks.common import cpu_seconds, percentiles_us
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc

CALL_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Counts:
    """How much load one round puts on one server."""

    warmup: int = 200
    sequential: int = 2000
    concurrent: int = 4000
    concurrency: int = 16
    batch_calls: int = 300
    batch_rows: int = 64
    stream: int = 4000


@dataclass(frozen=True, slots=True)
class RoundResult:
    """One server's figures for one round (latencies in microseconds)."""

    seq_p50_us: float
    seq_p99_us: float
    seq_calls_per_s: float
    conc_calls_per_s: float
    conc_p99_us: float
    cpu_us_per_request: float
    batch_rows_per_s: float
    stream_msgs_per_s: float


def tensor_request(model: str, x: np.ndarray) -> pb.PredictRequest:
    """A PredictRequest carrying ``x`` (rows x features) as packed little-endian float32."""
    x = np.ascontiguousarray(x, dtype="<f4")
    return pb.PredictRequest(model=model, tensor=pb.FloatTensor(rows=x.shape[0], data=x.tobytes()))


async def sequential(stub: pb_grpc.PredictionServiceStub, request, calls: int) -> list[float]:
    """``calls`` unary calls one after another; returns each call's latency in seconds."""
    latencies = []
    clock = time.perf_counter
    for _ in range(calls):
        start = clock()
        await stub.Predict(request, timeout=CALL_TIMEOUT)
        latencies.append(clock() - start)
    return latencies


async def concurrent(
    stub: pb_grpc.PredictionServiceStub, request, calls: int, workers: int
) -> tuple[list[float], float]:
    """``calls`` unary calls from ``workers`` concurrent tasks; (latencies, wall seconds)."""
    latencies: list[float] = []
    remaining = calls
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = clock()
            await stub.Predict(request, timeout=CALL_TIMEOUT)
            latencies.append(clock() - start)

    start = clock()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, clock() - start


async def stream(stub: pb_grpc.PredictionServiceStub, request, messages: int) -> float:
    """``messages`` requests pipelined on one PredictStream; wall seconds until all answered."""
    start = time.perf_counter()
    call = stub.PredictStream(iter([request] * messages), timeout=CALL_TIMEOUT * 10)
    answered = 0
    async for response in call:
        if response.HasField("error"):
            raise RuntimeError(f"stream message failed: {response.error}")
        answered += 1
    elapsed = time.perf_counter() - start
    if answered != messages:
        raise RuntimeError(f"stream answered {answered} of {messages} messages")
    return elapsed


async def measure_round(target: str, pid: int, one_row, batch, counts: Counts) -> RoundResult:
    """Run every client scenario once against the server at ``target`` (process ``pid``)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.PredictionServiceStub(channel)
        await stub.Predict(one_row, wait_for_ready=True, timeout=30)
        await sequential(stub, one_row, counts.warmup)

        seq = await sequential(stub, one_row, counts.sequential)
        seq_p50, seq_p99 = percentiles_us(seq)

        cpu_before = cpu_seconds(pid)
        conc, conc_wall = await concurrent(stub, one_row, counts.concurrent, counts.concurrency)
        cpu_used = cpu_seconds(pid) - cpu_before
        (conc_p99,) = percentiles_us(conc, (99,))

        start = time.perf_counter()
        await sequential(stub, batch, counts.batch_calls)
        batch_wall = time.perf_counter() - start

        stream_wall = await stream(stub, one_row, counts.stream)
    return RoundResult(
        seq_p50_us=seq_p50,
        seq_p99_us=seq_p99,
        seq_calls_per_s=len(seq) / sum(seq),
        conc_calls_per_s=counts.concurrent / conc_wall,
        conc_p99_us=conc_p99,
        cpu_us_per_request=cpu_used / counts.concurrent * 1e6,
        batch_rows_per_s=counts.batch_calls * counts.batch_rows / batch_wall,
        stream_msgs_per_s=counts.stream / stream_wall,
    )
