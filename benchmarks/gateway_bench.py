"""Serving benchmark: the gateway against the floor (a bare grpc.aio + onnxruntime server).

One run trains and converts one model (two versions), registers them in a temp SQLite
registry (1.0.0 production, 1.0.1 staging), and starts two server processes serving
1.0.0: ``galgate serve`` and ``benchmarks.floor_server``. This process is the client
(grpc.aio, default asyncio loop). Rounds alternate floor, gateway, floor, gateway...; each
round measures, per server:

- unary sequential latency p50/p99 (1 row) and calls/s;
- 16-concurrent throughput (calls/s) and p99, and the server's CPU per request over that
  load (utime+stime from /proc/<pid>/stat, every thread);
- 64-row batch rows/s (sequential calls);
- PredictStream messages/s on one pipelined stream.

Figures are medians across rounds; ratios are gateway/floor. Then a hot-swap run on the
gateway (see ``benchmarks.swap``) with a second gateway process on the same SQLite file,
both at the default GALGATE_POLL_INTERVAL (0.25 s). Targets print PASS/MISS; a miss never
fails the process.

Usage: python -m benchmarks.gateway_bench [--quick] [--json] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import grpc
import numpy as np

from benchmarks.common import (
    BenchModel,
    CpuMark,
    ServerProcess,
    Target,
    bench_model_description,
    clean_env,
    galgate_argv,
    make_bench_model,
    other_load_line,
    progress,
    register_bench_versions,
    revision,
    start_server,
)
from benchmarks.load import Counts, RoundResult, measure_round, tensor_request
from benchmarks.swap import SwapResult, run_swaps
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc

VERSIONS = ("1.0.0", "1.0.1")
SERVERS = ("floor", "gateway")
NOTE = (
    "2 cores: the client (this process) and the server under test compete for CPU; "
    "absolute figures are pessimistic, read the ratios"
)
LABELS = {
    "seq_p50_us": "unary sequential p50 (us)",
    "seq_p99_us": "unary sequential p99 (us)",
    "seq_calls_per_s": "unary sequential calls/s",
    "conc_calls_per_s": "16-concurrent calls/s",
    "conc_p99_us": "16-concurrent p99 (us)",
    "cpu_us_per_request": "server CPU per request (us)",
    "batch_rows_per_s": "64-row batch rows/s",
    "stream_msgs_per_s": "PredictStream msgs/s",
}
QUICK = Counts(warmup=50, sequential=300, concurrent=600, batch_calls=40, stream=600)


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Everything one run measured."""

    rounds: dict[str, list[RoundResult]]
    medians: dict[str, dict[str, float]]
    ratios: dict[str, float]
    stream_vs_unary_floor: float
    # Cores busy with processes other than this benchmark's during the rounds: noise.
    other_load_cores: float
    swap: SwapResult
    targets: list[Target]


async def _check_same_answers(servers: dict[str, ServerProcess], request) -> None:
    """Both servers must give the same prediction for the same row (else the bench is moot)."""
    answers = {}
    for name, server in servers.items():
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = pb_grpc.PredictionServiceStub(channel)
            answers[name] = await stub.Predict(request, wait_for_ready=True, timeout=30)
    floor, gateway = answers["floor"], answers["gateway"]
    if (
        list(floor.labels) != list(gateway.labels)
        or not np.allclose(floor.probabilities, gateway.probabilities)
        or gateway.version != VERSIONS[0]
    ):
        raise RuntimeError(f"floor and gateway disagree:\n{floor}\n{gateway}")


async def _measure(
    args: argparse.Namespace,
    bench: BenchModel,
    servers: dict[str, ServerProcess],
    start_b: Callable[[], ServerProcess],
) -> BenchResult:
    counts = QUICK if args.quick else Counts()
    one_row = tensor_request(bench.name, bench.X[:1])
    batch = tensor_request(bench.name, bench.X[: counts.batch_rows])
    await _check_same_answers(servers, one_row)
    rounds: dict[str, list[RoundResult]] = {name: [] for name in SERVERS}
    mark = CpuMark.now((os.getpid(), *(s.pid for s in servers.values())))
    for i in range(args.rounds):
        for name in SERVERS:
            progress(f"round {i + 1}/{args.rounds}: {name}")
            server = servers[name]
            rounds[name].append(
                await measure_round(server.target, server.pid, one_row, batch, counts)
            )
    other_load = mark.other_load_cores()

    medians = {
        name: {
            f.name: statistics.median(getattr(r, f.name) for r in rs) for f in fields(RoundResult)
        }
        for name, rs in rounds.items()
    }
    ratios = {k: medians["gateway"][k] / medians["floor"][k] for k in medians["floor"]}
    stream_vs_floor = medians["gateway"]["stream_msgs_per_s"] / medians["floor"]["seq_calls_per_s"]

    progress("hot swap: starting a second gateway on the same registry")
    server_b = await asyncio.to_thread(start_b)
    servers["gateway-b"] = server_b
    progress(f"hot swap: {args.callers} callers, {args.swaps} promotions")
    swap = await run_swaps(
        servers["gateway"].target,
        server_b.target,
        bench.name,
        VERSIONS,
        one_row,
        callers=args.callers,
        swaps=args.swaps,
        steady_s=args.steady_seconds,
    )
    targets = [
        Target("unary sequential p50, gateway/floor", ratios["seq_p50_us"], "<=", 1.10),
        Target("16-concurrent throughput, gateway/floor", ratios["conc_calls_per_s"], ">=", 0.90),
        Target("server CPU per request, gateway/floor", ratios["cpu_us_per_request"], "<=", 1.15),
        Target("PredictStream msgs/s / unary floor calls/s", stream_vs_floor, ">=", 2.0),
        Target("failed calls during swaps", float(swap.failed_calls), "==", 0.0, "calls"),
        Target("p99 during swaps / steady p99", swap.swap_p99_us / swap.steady_p99_us, "<=", 1.5),
        Target("promote-to-live in-process (median)", swap.live_in_process_ms, "<=", 50.0, "ms"),
        Target(
            "promote-to-live across processes (median)",
            swap.live_cross_process_ms,
            "<=",
            1000.0,
            "ms",
        ),
    ]
    return BenchResult(rounds, medians, ratios, stream_vs_floor, other_load, swap, targets)


def run(args: argparse.Namespace) -> BenchResult:
    """Set up the model, registry and servers; measure; stop every process it started."""
    progress(f"training and converting 2 versions ({args.trees} trees)")
    bench = make_bench_model(args.trees, args.features, args.classes)
    servers: dict[str, ServerProcess] = {}
    with tempfile.TemporaryDirectory(prefix="galgate-bench-") as tmp:
        work = Path(tmp)
        url = f"sqlite+aiosqlite:///{work / 'registry.db'}"
        asyncio.run(register_bench_versions(url, bench, VERSIONS))
        model_file = work / "model.onnx"
        model_file.write_bytes(bench.versions[0].onnx_bytes)
        env = clean_env(GALGATE_POLL_INTERVAL="0.25", GALGATE_GRACE_SECONDS="1")
        gateway_cmd = [*galgate_argv(), "serve", "--db", url, "--listen", "127.0.0.1:0"]
        floor_cmd = [
            sys.executable,
            "-m",
            "benchmarks.floor_server",
            "--model-file",
            str(model_file),
            "--listen",
            "127.0.0.1:0",
            "--model",
            bench.name,
            "--version",
            VERSIONS[0],
        ]
        try:
            servers["floor"] = start_server("floor", floor_cmd, work / "floor.log", env)
            servers["gateway"] = start_server("gateway", gateway_cmd, work / "gateway.log", env)
            return asyncio.run(
                _measure(
                    args,
                    bench,
                    servers,
                    lambda: start_server("gateway-b", gateway_cmd, work / "gateway-b.log", env),
                )
            )
        finally:
            for server in servers.values():
                server.stop()


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _fmt_target(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "calls":
        return f"{value:.0f} calls"
    return f"{value:.1f} {unit}"


def report_text(args: argparse.Namespace, result: BenchResult, description: str) -> str:
    """The human-readable table."""
    lines = [
        f"serving benchmark (HEAD {revision()}): {description}; {args.rounds} rounds "
        "alternating floor/gateway, medians across rounds",
        f"note: {NOTE}",
        other_load_line(result.other_load_cores),
        "",
        f"{'metric':<30}{'floor':>12}{'gateway':>12}{'gw/floor':>10}",
    ]
    for key, label in LABELS.items():
        floor, gateway = result.medians["floor"][key], result.medians["gateway"][key]
        lines.append(f"{label:<30}{_fmt(floor):>12}{_fmt(gateway):>12}{result.ratios[key]:>10.2f}")
    swap = result.swap
    lines += [
        "",
        f"hot swap (gateway): {swap.callers} concurrent callers, {swap.swaps} promotions, "
        f"{swap.calls} calls",
        f"  failed calls {swap.failed_calls}, stale responses after promote returned "
        f"{swap.stale_responses}, observer (gateway B) failures {swap.observer_failures}",
        f"  p99 steady {_fmt(swap.steady_p99_us)} us, during swaps {_fmt(swap.swap_p99_us)} us",
        f"  PromoteModel RPC median {swap.promote_rpc_ms:.1f} ms under load, "
        f"{swap.idle_promote_rpc_ms:.1f} ms idle; promote-to-live in-process "
        f"median {swap.live_in_process_ms:.1f} ms (max {swap.live_in_process_max_ms:.1f})",
        f"  promote-to-live across processes median {swap.live_cross_process_ms:.0f} ms "
        f"(max {swap.live_cross_process_max_ms:.0f}, timeouts {swap.cross_process_timeouts}; "
        "poll interval 0.25 s)",
        "",
        "targets:",
    ]
    for t in result.targets:
        value, limit = (_fmt_target(v, t.unit) for v in (t.value, t.limit))
        verdict = "PASS" if t.passed else "MISS"
        lines.append(f"  {verdict}  {t.name}: {value} (target {t.op} {limit})")
    return "\n".join(lines)


def report_json(args: argparse.Namespace, result: BenchResult, description: str) -> str:
    """The machine-readable report."""
    doc = {
        "config": {
            "model": description,
            "revision": revision(),
            "rounds": args.rounds,
            "quick": args.quick,
            "callers": args.callers,
            "swaps": args.swaps,
            "note": NOTE,
        },
        "medians": result.medians,
        "ratios": result.ratios,
        "stream_vs_unary_floor": result.stream_vs_unary_floor,
        "other_load_cores": result.other_load_cores,
        "swap": asdict(result.swap),
        "targets": [{**asdict(t), "pass": t.passed} for t in result.targets],
        "rounds": {name: [asdict(r) for r in rs] for name, rs in result.rounds.items()},
    }
    return json.dumps(doc, indent=2, allow_nan=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table (or JSON). Misses never fail the process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls: a smoke run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=None, help="default 7 (3 with --quick)")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--callers", type=int, default=8, help="concurrent callers during swaps")
    parser.add_argument("--swaps", type=int, default=None, help="default 20 (6 with --quick)")
    parser.add_argument("--steady-seconds", type=float, default=None, help="default 4 (1 quick)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.swaps = args.swaps or (6 if args.quick else 20)
    args.steady_seconds = args.steady_seconds or (1.0 if args.quick else 4.0)
    result = run(args)
    report = report_json if args.json else report_text
    print(report(args, result, bench_model_description(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
