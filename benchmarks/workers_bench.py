"""Workers benchmark: ``galgate serve --workers 2`` on one SQLite registry, log on, under load.

One run registers the benchmark model in two temp SQLite registries and starts
``galgate serve`` twice: one worker on the first, two workers (one port, SO_REUSEPORT) on
the second. Rounds alternate the two servers; each drives ``--calls`` 1-row Predicts from
``--channels`` client channels (each its own connection, so the kernel spreads them over
the workers) with two calls in flight per channel, and reads the server's CPU (every
worker process) over the round. After the rounds both servers get SIGTERM, which writes
their logs, and the benchmark checks what the issue asks of two writers on one SQLite
file: every answered Predict is a row (no drop, no loss), and no worker logged a failed
write or ``database is locked``.

Usage: python -m benchmarks.workers_bench [--rounds 5] [--calls 10000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc

from benchmarks.common import (
    ServerProcess,
    bench_model_description,
    clean_env,
    cpu_seconds,
    free_port,
    galgate_argv,
    make_bench_model,
    progress,
    register_bench_versions,
    revision,
    start_server,
)
from benchmarks.load import CALL_TIMEOUT, tensor_request
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc

VERSIONS = ("1.0.0", "1.0.1")
SERVERS = {"one": 1, "two": 2}
TROUBLE = ("database is locked", "writing", "dropped", "Traceback")


@dataclass(frozen=True, slots=True)
class WorkersResult:
    """Medians per server, and what the logs and the databases showed."""

    calls_per_s: dict[str, float]
    cpu_us_per_call: dict[str, float]
    answered: dict[str, int]
    rows_written: dict[str, int]
    trouble_lines: dict[str, list[str]]


def _pids(server: ServerProcess) -> list[int]:
    """The server process and its worker children."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [server.pid, *map(int, children)]


async def _round(server: ServerProcess, request, calls: int, channels: int) -> tuple[float, float]:
    options = [("grpc.use_local_subchannel_pool", 1)]
    chans = [grpc.aio.insecure_channel(server.target, options=options) for _ in range(channels)]
    stubs = [pb_grpc.PredictionServiceStub(c) for c in chans]
    for stub in stubs:
        await stub.Predict(request, wait_for_ready=True, timeout=60)
    remaining = calls

    async def caller(stub) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await stub.Predict(request, timeout=CALL_TIMEOUT)

    pids = _pids(server)
    cpu_before = sum(cpu_seconds(p) for p in pids)
    start = time.perf_counter()
    await asyncio.gather(*(caller(stub) for stub in stubs for _ in range(2)))
    wall = time.perf_counter() - start
    cpu = sum(cpu_seconds(p) for p in pids) - cpu_before
    for chan in chans:
        await chan.close()
    return calls / wall, cpu / calls * 1e6


def run(args: argparse.Namespace) -> WorkersResult:
    """Start both servers, alternate rounds, stop them, count rows, read the logs."""
    progress(f"training and converting 2 versions ({args.trees} trees)")
    bench = make_bench_model(args.trees, args.features, args.classes)
    request = tensor_request(bench.name, bench.X[:1])
    with tempfile.TemporaryDirectory(prefix="galgate-workers-bench-") as tmp:
        work = Path(tmp)
        files = {name: work / f"{name}.db" for name in SERVERS}
        servers: dict[str, ServerProcess] = {}
        rates: dict[str, list[float]] = {name: [] for name in SERVERS}
        cpus: dict[str, list[float]] = {name: [] for name in SERVERS}
        answered = dict.fromkeys(SERVERS, 0)
        try:
            for name, workers in SERVERS.items():
                url = f"sqlite+aiosqlite:///{files[name]}"
                asyncio.run(register_bench_versions(url, bench, VERSIONS))
                argv = [*galgate_argv(), "serve", "--db", url, "--workers", str(workers)]
                argv += ["--listen", f"127.0.0.1:{free_port()}"]
                servers[name] = start_server(name, argv, work / f"{name}.log", clean_env())
            for i in range(args.rounds):
                for name in SERVERS:
                    progress(f"round {i + 1}/{args.rounds}: {SERVERS[name]} worker(s)")
                    rate, cpu = asyncio.run(
                        _round(servers[name], request, args.calls, args.channels)
                    )
                    rates[name].append(rate)
                    cpus[name].append(cpu)
                    # Every call above was answered (a failure raises); plus the warm-ups.
                    answered[name] += args.calls + args.channels
        finally:
            for server in servers.values():
                server.stop(timeout=60)
        rows = {}
        for name, path in files.items():
            with sqlite3.connect(path) as db:
                rows[name] = db.execute("SELECT count(*) FROM predictions").fetchone()[0]
        trouble = {
            name: [
                line
                for line in (work / f"{name}.log").read_text(errors="replace").splitlines()
                if any(word in line for word in TROUBLE)
            ]
            for name in SERVERS
        }
    return WorkersResult(
        calls_per_s={n: statistics.median(v) for n, v in rates.items()},
        cpu_us_per_call={n: statistics.median(v) for n, v in cpus.items()},
        answered=answered,
        rows_written=rows,
        trouble_lines=trouble,
    )


def report_text(args: argparse.Namespace, result: WorkersResult) -> str:
    """The human-readable table."""
    lines = [
        f"workers benchmark (HEAD {revision()}): {bench_model_description(args)}; "
        f"{args.calls:,} calls per round from {args.channels} channels x 2 in flight, "
        f"medians of {args.rounds} rounds",
        "",
        f"{'server':<14}{'calls/s':>10}{'CPU/call (us)':>15}{'answered':>10}{'rows':>10}"
        f"{'trouble':>9}",
    ]
    for name, workers in SERVERS.items():
        lines.append(
            f"{f'{workers} worker(s)':<14}{result.calls_per_s[name]:>10,.0f}"
            f"{result.cpu_us_per_call[name]:>15.0f}{result.answered[name]:>10,}"
            f"{result.rows_written[name]:>10,}{len(result.trouble_lines[name]):>9}"
        )
    cpu = result.cpu_us_per_call["two"] / result.cpu_us_per_call["one"]
    rate = result.calls_per_s["two"] / result.calls_per_s["one"]
    lines += ["", f"two workers / one: throughput {rate:.2f}x, CPU per call {cpu:.2f}x"]
    for name, found in result.trouble_lines.items():
        lines += [f"  {name}: {line}" for line in found[:5]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print. Exits 1 when a prediction was lost or a write failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps({"revision": revision(), **asdict(result)}))
    else:
        print(report_text(args, result))
    lost = any(result.rows_written[n] != result.answered[n] for n in SERVERS)
    return 1 if lost or any(result.trouble_lines.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
