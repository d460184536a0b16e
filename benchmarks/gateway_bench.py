"""Serving benchmark: the gateway against the floor (a bare grpc.aio + onnxruntime server).

One run trains and converts one model (two versions) and starts three server processes:
``benchmarks.floor_server`` serving 1.0.0; ``galgate serve`` as it runs in production —
the prediction log on and a random 50/50 experiment running between 1.0.0 and 1.0.1
("logged"); and ``galgate serve`` with the log off (``GALGATE_PREDICTION_LOG=off``) serving
1.0.0 only ("unlogged"), on a registry of its own. This process is the client (grpc.aio,
default asyncio loop). Rounds alternate floor, logged, unlogged; each round measures, per
server and per door (galgate's PredictionService, the Open Inference Protocol's
ModelInfer):

- unary sequential latency p50/p99 (1 row) and calls/s;
- 16-concurrent throughput (calls/s) and p99, and the server's CPU per request over that
  load (utime+stime from /proc/<pid>/stat, every thread);
- 64-row batch rows/s (sequential calls);
- PredictStream messages/s on one pipelined stream (PredictionService only).

Figures are medians across rounds; ratios are server/floor through the same door. Then a
hot-swap run on two fresh gateways (log on) sharing one SQLite file, both at the default
GALGATE_POLL_INTERVAL (0.25 s). Targets print PASS/MISS; a miss never fails the process.

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
from benchmarks.load import (
    DOORS,
    Counts,
    RoundResult,
    infer_request,
    measure_round,
    tensor_request,
)
from benchmarks.swap import SwapResult, run_swaps
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc

VERSIONS = ("1.0.0", "1.0.1")
SERVERS = ("floor", "logged", "unlogged")
GATEWAYS = SERVERS[1:]
NEVER_DECIDE = 2**31 - 1  # min_samples: the monitor never ends the experiment mid-run
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
DOOR_NAMES = {
    "predict": "galgate.v1.PredictionService/Predict",
    "v2": "inference.GRPCInferenceService/ModelInfer (Open Inference Protocol)",
}
QUICK = Counts(warmup=50, sequential=300, concurrent=600, batch_calls=40, stream=600)


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Everything one run measured; keyed by server, then door, then figure."""

    rounds: dict[str, dict[str, list[RoundResult]]]
    medians: dict[str, dict[str, dict[str, float]]]
    ratios: dict[str, dict[str, dict[str, float]]]  # gateways only: server/floor, same door
    stream_vs_unary_floor: float
    # Cores busy with processes other than this benchmark's during the rounds: noise.
    other_load_cores: float
    swap: SwapResult
    targets: list[Target]


async def _check_answers(servers: dict[str, ServerProcess], request) -> None:
    """Every server must give the floor's prediction for the same row through the same
    version (else the bench is moot); the logged gateway must route by its experiment."""
    answers = {}
    for name, server in servers.items():
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = pb_grpc.PredictionServiceStub(channel)
            answers[name] = await stub.Predict(request, wait_for_ready=True, timeout=30)
    floor = answers["floor"]
    for name in GATEWAYS:
        answer = answers[name]
        if answer.version == VERSIONS[0] and (
            list(floor.labels) != list(answer.labels)
            or not np.allclose(floor.probabilities, answer.probabilities)
        ):
            raise RuntimeError(f"floor and {name} disagree:\n{floor}\n{answer}")
    if answers["logged"].arm not in ("control", "treatment"):
        raise RuntimeError(f"the logged gateway is not routing by its experiment: {answers}")
    if answers["unlogged"].version != VERSIONS[0]:
        raise RuntimeError(f"the unlogged gateway serves {answers['unlogged'].version}")


def _requests(bench: BenchModel, counts: Counts) -> dict[str, tuple[object, object]]:
    """Per door: the one-row request and the batch request."""
    one, many = bench.X[:1], bench.X[: counts.batch_rows]
    name = bench.versions[0].signature.input_name
    return {
        "predict": (tensor_request(bench.name, one), tensor_request(bench.name, many)),
        "v2": (infer_request(bench.name, one, name), infer_request(bench.name, many, name)),
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if not any(math.isnan(v) for v in values) else math.nan


async def _measure(
    args: argparse.Namespace,
    bench: BenchModel,
    servers: dict[str, ServerProcess],
    start_swap_pair: Callable[[], tuple[ServerProcess, ServerProcess]],
) -> BenchResult:
    counts = QUICK if args.quick else Counts()
    requests = _requests(bench, counts)
    await _check_answers(servers, requests["predict"][0])
    rounds = {name: {door: [] for door in DOORS} for name in SERVERS}
    mark = CpuMark.now((os.getpid(), *(s.pid for s in servers.values())))
    for i in range(args.rounds):
        for name in SERVERS:
            for door in DOORS:
                progress(f"round {i + 1}/{args.rounds}: {name} {door}")
                server = servers[name]
                one_row, batch = requests[door]
                rounds[name][door].append(
                    await measure_round(server.target, server.pid, one_row, batch, counts, door)
                )
    other_load = mark.other_load_cores()

    medians = {
        name: {
            door: {f.name: _median([getattr(r, f.name) for r in rs]) for f in fields(RoundResult)}
            for door, rs in by_door.items()
        }
        for name, by_door in rounds.items()
    }
    ratios = {
        name: {
            door: {k: medians[name][door][k] / medians["floor"][door][k] for k in LABELS}
            for door in DOORS
        }
        for name in GATEWAYS
    }
    stream_vs_floor = (
        medians["logged"]["predict"]["stream_msgs_per_s"]
        / medians["floor"]["predict"]["seq_calls_per_s"]
    )

    for name in GATEWAYS:
        servers.pop(name).stop()  # the swap run gets the machine to itself
    progress("hot swap: starting two gateways on one registry")
    swap_a, swap_b = await asyncio.to_thread(start_swap_pair)
    servers["swap-a"], servers["swap-b"] = swap_a, swap_b
    progress(f"hot swap: {args.callers} callers, {args.swaps} promotions")
    swap = await run_swaps(
        swap_a.target,
        swap_b.target,
        bench.name,
        VERSIONS,
        requests["predict"][0],
        callers=args.callers,
        swaps=args.swaps,
        steady_s=args.steady_seconds,
    )
    return BenchResult(
        rounds, medians, ratios, stream_vs_floor, other_load, swap, _targets(ratios, swap)
    )


def _targets(ratios: dict[str, dict[str, dict[str, float]]], swap: SwapResult) -> list[Target]:
    targets = []
    for door in DOORS:
        r = ratios["logged"][door]
        label = f"{door}, log on + experiment / floor"
        targets += [
            Target(f"unary sequential p50, {label}", r["seq_p50_us"], "<=", 1.05),
            Target(f"16-concurrent throughput, {label}", r["conc_calls_per_s"], ">=", 0.95),
            Target(f"server CPU per request, {label}", r["cpu_us_per_request"], "<=", 1.10),
            Target(f"64-row batch rows/s, {label}", r["batch_rows_per_s"], ">=", 0.95),
        ]
    return [
        *targets,
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


async def _start_experiment(url: str, model: str) -> None:
    """A random 50/50 experiment 1.0.0 vs 1.0.1 that never decides during the run."""
    from registry.entities import ExperimentSpec
    from registry.store.registry import Registry

    registry = await Registry.open(url)
    try:
        spec = ExperimentSpec(
            model=model,
            control_version=VERSIONS[0],
            treatment_version=VERSIONS[1],
            strategy="random",
            metric="accuracy",
            min_samples=NEVER_DECIDE,
            name="bench",
        )
        await registry.create_experiment(spec, actor="bench")
    finally:
        await registry.close()


def run(args: argparse.Namespace) -> BenchResult:
    """Set up the model, registries and servers; measure; stop every process it started."""
    progress(f"training and converting 2 versions ({args.trees} trees)")
    bench = make_bench_model(args.trees, args.features, args.classes)
    servers: dict[str, ServerProcess] = {}
    with tempfile.TemporaryDirectory(prefix="galgate-bench-") as tmp:
        work = Path(tmp)
        urls = {name: f"sqlite+aiosqlite:///{work / f'{name}.db'}" for name in (*GATEWAYS, "swap")}
        for url in urls.values():
            asyncio.run(register_bench_versions(url, bench, VERSIONS))
        asyncio.run(_start_experiment(urls["logged"], bench.name))
        model_file = work / "model.onnx"
        model_file.write_bytes(bench.versions[0].onnx_bytes)
        env = clean_env(GALGATE_POLL_INTERVAL="0.25", GALGATE_GRACE_SECONDS="1")

        def gateway(name: str, url: str, **extra: str) -> ServerProcess:
            argv = [*galgate_argv(), "serve", "--db", url, "--listen", "127.0.0.1:0"]
            return start_server(name, argv, work / f"{name}.log", {**env, **extra})

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
            servers["logged"] = gateway("logged", urls["logged"])
            servers["unlogged"] = gateway(
                "unlogged", urls["unlogged"], GALGATE_PREDICTION_LOG="off"
            )
            return asyncio.run(
                _measure(
                    args,
                    bench,
                    servers,
                    lambda: (gateway("swap-a", urls["swap"]), gateway("swap-b", urls["swap"])),
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
        "alternating floor/logged/unlogged, medians across rounds",
        "logged: prediction log on, random 50/50 experiment running; unlogged: log off, "
        "production only",
        f"note: {NOTE}",
        other_load_line(result.other_load_cores),
    ]
    for door in DOORS:
        m, r = result.medians, result.ratios
        lines += [
            "",
            f"door: {DOOR_NAMES[door]}",
            f"{'metric':<30}{'floor':>10}{'logged':>10}{'unlogged':>10}"
            f"{'log/floor':>11}{'unlog/floor':>12}",
        ]
        for key, label in LABELS.items():
            if door != "predict" and key == "stream_msgs_per_s":
                continue
            lines.append(
                f"{label:<30}{_fmt(m['floor'][door][key]):>10}{_fmt(m['logged'][door][key]):>10}"
                f"{_fmt(m['unlogged'][door][key]):>10}{r['logged'][door][key]:>11.2f}"
                f"{r['unlogged'][door][key]:>12.2f}"
            )
    swap = result.swap
    lines += [
        "",
        f"hot swap (two gateways, log on): {swap.callers} concurrent callers, {swap.swaps} "
        f"promotions, {swap.calls} calls",
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
        "rounds": {
            name: {door: [asdict(r) for r in rs] for door, rs in by_door.items()}
            for name, by_door in result.rounds.items()
        },
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
