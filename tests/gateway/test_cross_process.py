"""A gateway in another process follows promotions made elsewhere (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from registry.entities import Stage
from registry.repository import Registry
from tests.gateway.conftest import publish, register

FOLLOW_DEADLINE = 2.0


async def _start_gateway(db_url: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--db",
        db_url,
        "--listen",
        "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "GALGATE_POLL_INTERVAL": "0.1"},
    )
    seen = []
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        if not line:
            raise AssertionError(f"gateway exited early: {b''.join(seen).decode()}")
        seen.append(line)
        if match := re.search(rb"serving on 127\.0\.0\.1:(\d+)", line):
            return proc, int(match.group(1))


@pytest.mark.timeout(120)
async def test_second_process_serves_new_version_within_two_seconds(db_url, trained):
    registry = await Registry.open(db_url)
    proc = None
    try:
        await publish(registry, "clf", trained.clf_a, trained.X)
        await register(registry, "clf", trained.clf_b, trained.X)
        await registry.transition("clf", "1.0.1", Stage.STAGING, actor="test")
        proc, port = await _start_gateway(db_url)
        request = pb.PredictRequest(
            model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            assert (await stub.Predict(request, wait_for_ready=True, timeout=30)).version == "1.0.0"
            await registry.transition("clf", "1.0.1", Stage.PRODUCTION, actor="elsewhere")
            promoted = time.perf_counter()
            while (await stub.Predict(request)).version != "1.0.1":
                assert time.perf_counter() - promoted < FOLLOW_DEADLINE
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await registry.close()
