"""Fixtures for prediction log and outcome tests: real models, a real registry, real servers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest

from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway.config import Settings
from gateway.server.app import Gateway, build_server
from tests.gateway.conftest import served, sqlite_registry, trained  # noqa: F401 - fixtures

BASE = Settings(listen="127.0.0.1:0", poll_interval=0.05, grace_seconds=1.0)


@dataclass
class Running:
    """A started gateway with stubs on one channel."""

    gateway: Gateway
    channel: grpc.aio.Channel
    stub: prediction_pb2_grpc.PredictionServiceStub
    admin: admin_pb2_grpc.ModelAdminStub
    stopped: bool = False

    async def stop(self, grace: float = 1.0) -> None:
        """Stop the gateway (graceful: drains the prediction log)."""
        if not self.stopped:
            self.stopped = True
            await self.gateway.stop(grace=grace)


StartGateway = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_gateway(served) -> AsyncIterator[StartGateway]:  # noqa: F811 - fixture
    """Start a gateway on the served registry with Settings overrides; stopped at teardown."""
    running: list[Running] = []

    async def start(**overrides: object) -> Running:
        gateway = build_server(dataclasses.replace(BASE, **overrides), served)
        await gateway.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}")
        r = Running(
            gateway,
            channel,
            prediction_pb2_grpc.PredictionServiceStub(channel),
            admin_pb2_grpc.ModelAdminStub(channel),
        )
        running.append(r)
        return r

    yield start
    for r in running:
        await r.channel.close()
        await r.stop(grace=0)
