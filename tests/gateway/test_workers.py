"""`galgate serve --workers N`: several processes answer on one port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from registry.repository import Registry
from tests.gateway.conftest import publish


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(120)
async def test_two_workers_share_one_port_and_stop_on_sigterm(tmp_path, trained):
    url = f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}"
    registry = await Registry.open(url)
    await publish(registry, "clf", trained.clf_a, trained.X)
    await registry.close()
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--db",
        url,
        "--listen",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        request = pb.PredictRequest(
            model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
        )
        prefixes = set()
        for _ in range(40):  # new channels spread over the workers by SO_REUSEPORT
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = prediction_pb2_grpc.PredictionServiceStub(channel)
                reply = await stub.Predict(request, wait_for_ready=True, timeout=60)
                prefixes.add(reply.prediction_id.split("-")[0])
            if len(prefixes) == 2:
                break
        assert len(prefixes) == 2, "only one worker answered"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_workers_refuse_a_shared_metrics_port(tmp_path):
    import subprocess

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--db",
            str(tmp_path / "x.db"),
            "--listen",
            "127.0.0.1:50123",
            "--workers",
            "2",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr and result.stderr.count("\n") == 1
