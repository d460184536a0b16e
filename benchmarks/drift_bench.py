"""Drift benchmark: what live windows cost Predict, and how soon a shift raises an alert.

One run trains and converts the benchmark model and registers it in two temp SQLite
registries. Part 1 starts two ``galgate serve`` processes, drift monitoring on (the
default 4096-row windows) and off (``GALGATE_DRIFT_WINDOW_ROWS=0``); rounds alternate
them and measure 16-concurrent Predict throughput and the server's CPU per call; figures
are medians, the ratio is on/off. Part 2 starts one gateway checking every second
(``GALGATE_DRIFT_INTERVAL=1``) and sends 1-row Predicts at ``--rate`` calls/s: first
in-distribution rows for ``--steady`` seconds, then rows with one feature shifted by
``--shift`` standard deviations; it reports the seconds from the first shifted call to
the drift alert (``ModelAdmin/ListAlerts``), and whether a steady phase raised any.

Usage: python -m benchmarks.drift_bench [--rounds 5] [--rate 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import numpy as np

from benchmarks.common import (
    ServerProcess,
    bench_model_description,
    clean_env,
    cpu_seconds,
    galgate_argv,
    make_bench_model,
    progress,
    register_bench_versions,
    revision,
    start_server,
)
from benchmarks.load import concurrent, tensor_request
from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc

VERSIONS = ("1.0.0", "1.0.1")


@dataclass(frozen=True, slots=True)
class DriftFigures:
    """Medians of part 1 and the timings of part 2."""

    calls_per_s_on: float
    calls_per_s_off: float
    cpu_us_on: float
    cpu_us_off: float
    throughput_on_vs_off: float
    alerts_while_steady: int
    seconds_to_alert: float  # NaN when no alert came within the timeout
    rate: float
    shift_sd: float


async def _throughput(server: ServerProcess, request, calls: int) -> tuple[float, float]:
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.PredictionServiceStub(channel)
        await stub.Predict(request, wait_for_ready=True, timeout=30)
        await concurrent(stub, request, 500, 16)  # warm-up
        before = cpu_seconds(server.pid)
        _, wall = await concurrent(stub, request, calls, 16)
        cpu = cpu_seconds(server.pid) - before
    return calls / wall, cpu / calls * 1e6


async def _time_to_alert(server: ServerProcess, bench, args: argparse.Namespace):
    rng = np.random.default_rng(0)
    X = bench.X
    std = X.std(axis=0)
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.PredictionServiceStub(channel)
        admin = admin_pb2_grpc.ModelAdminStub(channel)
        await stub.Predict(tensor_request(bench.name, X[:1]), wait_for_ready=True, timeout=30)

        async def drive(seconds: float, shifted: bool, stop: asyncio.Event | None = None):
            interval = 1.0 / args.rate
            next_at = time.perf_counter()
            end = next_at + seconds
            pending = set()
            while time.perf_counter() < end and not (stop and stop.is_set()):
                row = X[rng.integers(len(X))].copy()
                if shifted:
                    row[0] += args.shift * std[0]
                pending.add(
                    asyncio.ensure_future(stub.Predict(tensor_request(bench.name, row[None])))
                )
                if len(pending) > 256:
                    _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if pending:
                await asyncio.wait(pending)

        await drive(args.steady, shifted=False)
        steady_alerts = len((await admin.ListAlerts(apb.ListAlertsRequest())).alerts)
        stop = asyncio.Event()
        started = time.perf_counter()
        sender = asyncio.create_task(drive(args.timeout, shifted=True, stop=stop))
        seconds = float("nan")
        while time.perf_counter() - started < args.timeout:
            alerts = (await admin.ListAlerts(apb.ListAlertsRequest(open_only=True))).alerts
            if any(a.kind == "drift" for a in alerts):
                seconds = time.perf_counter() - started
                break
            await asyncio.sleep(0.05)
        stop.set()
        await sender
    return steady_alerts, seconds


def run(args: argparse.Namespace) -> DriftFigures:
    """Both parts; every server started is stopped."""
    progress(f"training and converting 2 versions ({args.trees} trees)")
    bench = make_bench_model(args.trees, args.features, args.classes)
    request = tensor_request(bench.name, bench.X[:1])
    with tempfile.TemporaryDirectory(prefix="galgate-drift-bench-") as tmp:
        work = Path(tmp)
        servers: dict[str, ServerProcess] = {}

        def serve(name: str, **env: str) -> ServerProcess:
            url = f"sqlite+aiosqlite:///{work / f'{name}.db'}"
            asyncio.run(register_bench_versions(url, bench, VERSIONS))
            argv = [*galgate_argv(), "serve", "--db", url, "--listen", "127.0.0.1:0"]
            servers[name] = start_server(name, argv, work / f"{name}.log", clean_env(**env))
            return servers[name]

        try:
            on = serve("on", GALGATE_DRIFT_INTERVAL="0")
            off = serve("off", GALGATE_DRIFT_WINDOW_ROWS="0")
            figures: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
            for i in range(args.rounds):
                for name, server in (("on", on), ("off", off)):
                    progress(f"round {i + 1}/{args.rounds}: drift monitoring {name}")
                    figures[name].append(asyncio.run(_throughput(server, request, args.calls)))
            for name in ("on", "off"):
                servers.pop(name).stop()
            progress(f"time to alert: {args.rate:.0f} calls/s, shift {args.shift} sd")
            watch = serve(
                "watch", GALGATE_DRIFT_INTERVAL="1", GALGATE_DRIFT_MIN_ROWS=str(args.min_rows)
            )
            steady_alerts, seconds = asyncio.run(_time_to_alert(watch, bench, args))
        finally:
            for server in servers.values():
                server.stop()
    rate_on = statistics.median(r for r, _ in figures["on"])
    rate_off = statistics.median(r for r, _ in figures["off"])
    return DriftFigures(
        calls_per_s_on=rate_on,
        calls_per_s_off=rate_off,
        cpu_us_on=statistics.median(c for _, c in figures["on"]),
        cpu_us_off=statistics.median(c for _, c in figures["off"]),
        throughput_on_vs_off=rate_on / rate_off,
        alerts_while_steady=steady_alerts,
        seconds_to_alert=seconds,
        rate=args.rate,
        shift_sd=args.shift,
    )


def report_text(args: argparse.Namespace, f: DriftFigures) -> str:
    """The human-readable lines."""
    return "\n".join(
        [
            f"drift benchmark (HEAD {revision()}): {bench_model_description(args)}; "
            f"{args.rounds} rounds of {args.calls:,} 16-concurrent calls, medians",
            "",
            f"16-concurrent calls/s: monitoring on {f.calls_per_s_on:,.0f}, off "
            f"{f.calls_per_s_off:,.0f} -> on/off {f.throughput_on_vs_off:.3f}x",
            f"server CPU per call: on {f.cpu_us_on:.0f} us, off {f.cpu_us_off:.0f} us "
            f"({f.cpu_us_on / f.cpu_us_off:.3f}x)",
            f"shift of {f.shift_sd} sd at {f.rate:.0f} calls/s (check every 1 s, "
            f"{args.min_rows} rows needed): drift alert after {f.seconds_to_alert:.1f} s; "
            f"alerts during the steady phase: {f.alerts_while_steady}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--shift", type=float, default=1.0)
    parser.add_argument("--steady", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--min-rows", type=int, default=1000)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args)
    print(json.dumps(asdict(figures)) if args.json else report_text(args, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
