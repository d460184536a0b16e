"""`galgate serve --workers N`: several processes answer on one port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from registry.store.registry import Registry
from tests.gateway.conftest import publish
from tests.gateway.procs import free_port, galgate_serve


@pytest.mark.timeout(120)
async def test_two_workers_share_one_port_and_stop_on_sigterm(tmp_path, trained):
    url = f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}"
    registry = await Registry.open(url)
    await publish(registry, "clf", trained.clf_a, trained.X)
    await registry.close()
    workers = galgate_serve(url, "--workers", "2", listen=f"127.0.0.1:{free_port()}")
    async with workers as (proc, port):
        request = pb.PredictRequest(
            model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
        )
        prefixes = set()
        # New channels spread over the workers by SO_REUSEPORT; the second worker may
        # still be starting (loading models) when the first already answers.
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            # A channel-local subchannel pool: each channel opens its own connection
            # instead of reusing one another channel to the same address made.
            options = [("grpc.use_local_subchannel_pool", 1)]
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
                stub = prediction_pb2_grpc.PredictionServiceStub(channel)
                reply = await stub.Predict(request, wait_for_ready=True, timeout=60)
                prefixes.add(reply.prediction_id.split("-")[0])
            if len(prefixes) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(prefixes) == 2, "only one worker answered"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0


@pytest.mark.timeout(180)
async def test_two_workers_log_every_answered_predict_on_one_sqlite_file(tmp_path, trained):
    """Two log writers on one SQLite file under load: small batches flushed often, so the
    workers' write transactions keep meeting. No prediction is dropped or lost, and no
    write fails (``database is locked`` would be retried, and logged)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}"
    registry = await Registry.open(url)
    await publish(registry, "clf", trained.clf_a, trained.X)
    await registry.close()
    env = {"GALGATE_PREDLOG_BATCH_SIZE": "20", "GALGATE_PREDLOG_FLUSH_INTERVAL": "0.005"}
    listen = f"127.0.0.1:{free_port()}"
    request = pb.PredictRequest(
        model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
    )
    answered: list[str] = []
    async with galgate_serve(url, "--workers", "2", listen=listen, env=env) as (proc, port):
        # Connections until each worker has four (the second may still be loading when
        # the first answers); SO_REUSEPORT puts each new connection on one of them.
        options = [("grpc.use_local_subchannel_pool", 1)]
        channels, by_worker = [], {}
        deadline = asyncio.get_running_loop().time() + 60
        while min(map(len, by_worker.values()), default=0) < 4 or len(by_worker) < 2:
            assert asyncio.get_running_loop().time() < deadline, f"workers seen: {by_worker}"
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options)
            channels.append(channel)
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            reply = await stub.Predict(request, wait_for_ready=True, timeout=60)
            by_worker.setdefault(reply.prediction_id.split("-")[0], []).append(stub)
        stubs = [stub for found in by_worker.values() for stub in found[:4]]

        async def caller(stub) -> None:
            for _ in range(150):
                answered.append((await stub.Predict(request, timeout=30)).prediction_id)

        await asyncio.gather(*(caller(stub) for stub in stubs for _ in range(2)))
        for channel in channels:
            await channel.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
        output = b"".join(proc.output).decode(errors="replace")

    assert len({pid.split("-")[0] for pid in answered}) == 2
    registry = await Registry.open(url)
    try:
        stored = await registry.get_predictions(answered)
    finally:
        await registry.close()
    assert len(stored) == len(answered) == 2400
    assert "locked" not in output and "failed" not in output and "dropped" not in output, output


def test_workers_refuse_a_shared_metrics_port(tmp_path):
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
