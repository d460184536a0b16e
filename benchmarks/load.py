"""Client-side load for the serving benchmark: one grpc.aio client, the same for every server."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import numpy as np

from benchmarks.common import cpu_seconds, percentiles_us
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc
from gateway._pb.inference import grpc_predict_v2_pb2 as oip
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as oip_grpc

# The doors a round can measure: galgate's PredictionService (Predict, PredictStream) and
# the Open Inference Protocol's ModelInfer (no stream: stream_msgs_per_s is NaN).
DOORS = ("predict", "v2")

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


def infer_request(model: str, x: np.ndarray, input_name: str) -> oip.ModelInferRequest:
    """A ModelInferRequest carrying ``x`` as one FP32 input in ``raw_input_contents``."""
    x = np.ascontiguousarray(x, dtype="<f4")
    request = oip.ModelInferRequest(model_name=model)
    request.inputs.add(name=input_name, datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.tobytes())
    return request


async def sequential(stub, request, calls: int) -> list[float]:
    """``calls`` unary calls one after another; returns each call's latency in seconds.

    ``stub`` is a PredictionServiceStub (Predict) or a GRPCInferenceServiceStub (ModelInfer).
    """
    call = _unary(stub)
    latencies = []
    clock = time.perf_counter
    for _ in range(calls):
        start = clock()
        await call(request, timeout=CALL_TIMEOUT)
        latencies.append(clock() - start)
    return latencies


def _unary(stub):
    return stub.ModelInfer if isinstance(stub, oip_grpc.GRPCInferenceServiceStub) else stub.Predict


async def concurrent(stub, request, calls: int, workers: int) -> tuple[list[float], float]:
    """``calls`` unary calls from ``workers`` concurrent tasks; (latencies, wall seconds)."""
    call = _unary(stub)
    latencies: list[float] = []
    remaining = calls
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = clock()
            await call(request, timeout=CALL_TIMEOUT)
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


async def measure_round(
    target: str, pid: int, one_row, batch, counts: Counts, door: str = "predict"
) -> RoundResult:
    """Run every client scenario once against the server at ``target`` (process ``pid``)
    through ``door`` (one of DOORS; the requests must be that door's messages)."""
    async with grpc.aio.insecure_channel(target) as channel:
        if door == "v2":
            stub = oip_grpc.GRPCInferenceServiceStub(channel)
        else:
            stub = pb_grpc.PredictionServiceStub(channel)
        await _unary(stub)(one_row, wait_for_ready=True, timeout=30)
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

        stream_wall = await stream(stub, one_row, counts.stream) if door == "predict" else math.nan
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


@dataclass(frozen=True, slots=True)
class OutcomeLoadResult:
    """One concurrent Predict run with outcome traffic (outcome counts are within the run)."""

    latencies_s: tuple[float, ...]
    wall_s: float
    server_cpu_s: float  # the server process's CPU seconds over the run
    arms: dict[str, int]  # Predict responses by arm ("production", "control", "treatment")
    outcomes_acked: int  # outcomes acknowledged before the last Predict returned
    outcome_rpcs: int  # outcome RPCs acknowledged before the last Predict returned
    outcome_failures: int  # outcome RPCs that failed (any status)
    outcomes_unsent: int  # predictions whose outcome was not sent (never sent afterwards)


async def concurrent_with_outcomes(
    stub: pb_grpc.PredictionServiceStub,
    request,
    calls: int,
    workers: int,
    *,
    pid: int,
    outcome_batch: int,
    outcome_value: Callable[[], float],
) -> OutcomeLoadResult:
    """``calls`` Predicts from ``workers`` tasks while one more task reports their outcomes.

    Args:
        stub: the gateway's PredictionService.
        request: the PredictRequest every call sends.
        calls: Predict calls in all.
        workers: concurrent Predict tasks.
        pid: the server's process id, for its CPU time over the run.
        outcome_batch: 0: no outcomes; 1: one ``RecordOutcome`` per prediction, one after
            another; N > 1: one ``RecordOutcomes`` of N outcomes each time N predictions
            are waiting. The outcome task sends as fast as the server acknowledges; what
            it has not sent when the last Predict returns is never sent.
        outcome_value: returns the realised value of one prediction.

    Returns:
        Latencies and wall time of the Predict calls only, and what the outcome task did.
    """
    latencies: list[float] = []
    arms: dict[str, int] = {}
    ids: list[str] = []
    wake = asyncio.Event()
    done = False
    remaining = calls
    acked = rpcs = failures = 0
    clock = time.perf_counter

    async def send(chunk: list[str]) -> None:
        nonlocal acked, rpcs, failures
        try:
            if len(chunk) == 1:
                await stub.RecordOutcome(
                    pb.RecordOutcomeRequest(prediction_id=chunk[0], value=outcome_value()),
                    timeout=CALL_TIMEOUT,
                )
            else:
                items = [
                    pb.RecordOutcomeRequest(prediction_id=pid, value=outcome_value())
                    for pid in chunk
                ]
                await stub.RecordOutcomes(
                    pb.RecordOutcomesRequest(outcomes=items), timeout=CALL_TIMEOUT
                )
        except grpc.aio.AioRpcError:
            failures += 1
            return
        if not done:
            acked += len(chunk)
            rpcs += 1

    async def reporter() -> None:
        while not done:
            if len(ids) < outcome_batch:
                wake.clear()
                await wake.wait()
                continue
            chunk = ids[:outcome_batch]
            del ids[:outcome_batch]
            await send(chunk)

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = clock()
            response = await stub.Predict(request, timeout=CALL_TIMEOUT)
            latencies.append(clock() - start)
            arms[response.arm] = arms.get(response.arm, 0) + 1
            if outcome_batch:
                ids.append(response.prediction_id)
                if len(ids) >= outcome_batch:
                    wake.set()

    task = asyncio.create_task(reporter()) if outcome_batch else None
    cpu_before = cpu_seconds(pid)
    start = clock()
    await asyncio.gather(*(worker() for _ in range(workers)))
    wall = clock() - start
    cpu_used = cpu_seconds(pid) - cpu_before
    done = True
    if task is not None:
        wake.set()
        await task  # lets an outcome RPC in flight finish; it is not counted
    return OutcomeLoadResult(
        latencies_s=tuple(latencies),
        wall_s=wall,
        server_cpu_s=cpu_used,
        arms=arms,
        outcomes_acked=acked,
        outcome_rpcs=rpcs,
        outcome_failures=failures,
        outcomes_unsent=len(ids),
    )
