"""Hot-swap benchmark: promotions back and forth under load, watched in-process and across.

Gateway A takes a fixed closed-loop load (``callers`` concurrent Predict loops). After a
steady phase, ``swaps`` PromoteModel calls on A alternate the production version. An
observer polls gateway B (another process on the same registry file) every ~5 ms for the
whole run, so B's share of the two cores is the same in both phases.

Before the load, four promotions with no load time the PromoteModel RPC alone (registry
write + reconcile). Reported: failed calls; p99 steady vs during swaps; promote-to-live
in-process (send of PromoteModel on A until a Predict on A returns the new version) and
across processes (PromoteModel returned on A until B serves the new version); stale
responses (a call that started after a promotion returned and ended before the next one
was sent, yet was served by another version).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import grpc

from benchmarks.common import percentiles_us
from benchmarks.load import CALL_TIMEOUT
from gateway._pb.galgate.v1 import admin_pb2, admin_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc

OBSERVE_EVERY = 0.005
FOLLOW_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class SwapResult:
    """Figures of one hot-swap run (latencies in microseconds, times in milliseconds)."""

    callers: int
    swaps: int
    calls: int
    failed_calls: int
    observer_failures: int
    stale_responses: int
    steady_p99_us: float
    swap_p99_us: float
    promote_rpc_ms: float
    idle_promote_rpc_ms: float  # the same RPC with no load, before the run: the DB's share
    live_in_process_ms: float
    live_in_process_max_ms: float
    live_cross_process_ms: float
    live_cross_process_max_ms: float
    cross_process_timeouts: int


@dataclass(frozen=True, slots=True)
class _Call:
    start: float
    end: float
    version: str  # "" when the call failed


async def run_swaps(
    target_a: str,
    target_b: str,
    model: str,
    versions: tuple[str, str],
    request,
    *,
    callers: int = 8,
    swaps: int = 20,
    steady_s: float = 3.0,
    gap_s: float = 0.05,
) -> SwapResult:
    """Load A, promote ``swaps`` times alternating ``versions`` (``versions[0]`` serves first).

    Returns:
        The run's figures; nothing here raises on a failed call, it is counted.
    """
    clock = time.perf_counter
    calls: list[_Call] = []
    seen_on_b: list[tuple[float, str]] = []
    observer_failures = 0
    stop = asyncio.Event()

    async def caller(stub: pb_grpc.PredictionServiceStub) -> None:
        while not stop.is_set():
            start = clock()
            try:
                version = (await stub.Predict(request, timeout=CALL_TIMEOUT)).version
            except grpc.aio.AioRpcError:
                version = ""
            calls.append(_Call(start, clock(), version))

    async def observe_b(stub: pb_grpc.PredictionServiceStub) -> None:
        nonlocal observer_failures
        while not stop.is_set():
            try:
                version = (await stub.Predict(request, timeout=CALL_TIMEOUT)).version
                seen_on_b.append((clock(), version))
            except grpc.aio.AioRpcError:
                observer_failures += 1
            await asyncio.sleep(OBSERVE_EVERY)

    async def follow_b(version: str, since: float) -> float | None:
        deadline = since + FOLLOW_TIMEOUT
        while clock() < deadline:
            for seen_at, seen in reversed(seen_on_b):
                if seen_at < since:
                    break
                if seen == version:
                    return seen_at - since
            await asyncio.sleep(OBSERVE_EVERY)
        return None

    async with (
        grpc.aio.insecure_channel(target_a) as load_channel,
        grpc.aio.insecure_channel(target_a) as admin_channel,
        grpc.aio.insecure_channel(target_b) as b_channel,
    ):
        load_stub = pb_grpc.PredictionServiceStub(load_channel)
        probe_a = pb_grpc.PredictionServiceStub(admin_channel)
        admin = admin_pb2_grpc.ModelAdminStub(admin_channel)
        b_stub = pb_grpc.PredictionServiceStub(b_channel)
        for stub in (load_stub, probe_a, b_stub):
            await stub.Predict(request, wait_for_ready=True, timeout=30)

        async def promote(version: str) -> float:
            sent = clock()
            await admin.PromoteModel(
                admin_pb2.PromoteModelRequest(
                    name=model, version=version, stage="production", reason="benchmark swap"
                ),
                timeout=30,
            )
            return clock() - sent

        idle_ms = [await promote(versions[i % 2]) * 1e3 for i in (1, 0, 1, 0)]
        tasks = [asyncio.create_task(caller(load_stub)) for _ in range(callers)]
        tasks.append(asyncio.create_task(observe_b(b_stub)))
        await asyncio.sleep(steady_s * 0.2)  # settle: connections, caches
        steady_start = clock()
        await asyncio.sleep(steady_s)
        swap_start = clock()

        promotions: list[tuple[float, float, str]] = []  # (sent, returned, version)
        rpc_ms, live_ms, cross_ms = [], [], []
        cross_timeouts = 0
        for i in range(swaps):
            new = versions[(i + 1) % 2]
            sent = clock()
            returned = sent + await promote(new)
            promotions.append((sent, returned, new))
            while (await probe_a.Predict(request, timeout=CALL_TIMEOUT)).version != new:
                if clock() - sent > FOLLOW_TIMEOUT:
                    break
            live = clock()
            rpc_ms.append((returned - sent) * 1e3)
            live_ms.append((live - sent) * 1e3)
            followed = await follow_b(new, returned)
            if followed is None:
                cross_timeouts += 1
            else:
                cross_ms.append(followed * 1e3)
            await asyncio.sleep(gap_s)
        swap_end = clock()
        stop.set()
        await asyncio.gather(*tasks)

    steady = [c.end - c.start for c in calls if steady_start <= c.start < swap_start]
    during = [c.end - c.start for c in calls if swap_start <= c.start < swap_end]
    return SwapResult(
        callers=callers,
        swaps=swaps,
        calls=len(calls),
        failed_calls=sum(1 for c in calls if not c.version),
        observer_failures=observer_failures,
        stale_responses=_stale(calls, promotions),
        steady_p99_us=percentiles_us(steady, (99,))[0],
        swap_p99_us=percentiles_us(during, (99,))[0],
        promote_rpc_ms=statistics.median(rpc_ms),
        idle_promote_rpc_ms=statistics.median(idle_ms),
        live_in_process_ms=statistics.median(live_ms),
        live_in_process_max_ms=max(live_ms),
        live_cross_process_ms=statistics.median(cross_ms) if cross_ms else float("nan"),
        live_cross_process_max_ms=max(cross_ms) if cross_ms else float("nan"),
        cross_process_timeouts=cross_timeouts,
    )


def _stale(calls: list[_Call], promotions: list[tuple[float, float, str]]) -> int:
    """Calls wholly inside (promotion i returned, promotion i+1 sent) not served by its version.

    >>> _stale([_Call(2.0, 3.0, "b"), _Call(2.0, 3.0, "a")], [(0.0, 1.0, "b")])
    1
    """
    stale = 0
    for i, (_, returned, version) in enumerate(promotions):
        next_sent = promotions[i + 1][0] if i + 1 < len(promotions) else float("inf")
        stale += sum(
            1
            for c in calls
            if c.version and returned <= c.start and c.end < next_sent and c.version != version
        )
    return stale
