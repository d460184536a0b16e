"""Watch a gateway from the outside: grpc.health.v1 Check/Watch, and whether it listens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def status_name(status: int) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


async def check(channel: grpc.aio.Channel, *, deadline: float = 1.0) -> str:
    """The overall health status name, or the gRPC code name when the call failed."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=deadline)
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    return status_name(reply.status)


@dataclass
class HealthWatch:
    """A grpc.health.v1 Watch stream on its own channel; every status with its arrival time."""

    address: str
    seen: list[tuple[float, str]] = field(default_factory=list)
    ended: tuple[float, str] | None = None
    _task: asyncio.Task | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> HealthWatch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            call = stub.Watch(health_pb2.HealthCheckRequest(service=""), wait_for_ready=True)
            try:
                async for reply in call:
                    self.seen.append((time.monotonic(), status_name(reply.status)))
                    self._changed.set()
                self.ended = (time.monotonic(), "OK")
            except grpc.aio.AioRpcError as exc:
                self.ended = (time.monotonic(), exc.code().name)
            self._changed.set()

    def first(self, status: str) -> float | None:
        """When ``status`` was first seen, or None."""
        return next((t for t, s in self.seen if s == status), None)

    async def wait_for(self, status: str, timeout: float) -> float | None:
        """Wait until ``status`` is seen (or the stream ends); when it was seen, or None."""
        deadline = time.monotonic() + timeout
        while (at := self.first(status)) is None and self.ended is None:
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return at


@dataclass
class ListenerProbe:
    """Opens a TCP connection to the port every ``every`` seconds; when one is first refused."""

    port: int
    every: float = 0.01
    refused_at: float | None = None
    _task: asyncio.Task | None = None

    async def __aenter__(self) -> ListenerProbe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while self.refused_at is None:
            started = time.monotonic()
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.refused_at = started
                return
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            await asyncio.sleep(self.every)
