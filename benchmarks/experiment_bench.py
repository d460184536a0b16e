"""Experiments benchmark: Predict routed through a running experiment, with outcomes, vs production.

One run trains and converts one model (two versions), registers them in a temp SQLite
registry (1.0.0 production, 1.0.1 staging) and starts ``galgate serve`` on it as its own
process, with Prometheus metrics on a free port. This process is the client. Each round
runs these scenarios one after another, 16 concurrent callers sending 1-row Predicts:

- ``production``: no experiment (the baseline); every prediction is still logged;
- ``random``: a running experiment 1.0.0 vs 1.0.1, strategy random, metric accuracy, and
  outcome traffic: a separate client task sends one ``RecordOutcomes`` of N outcomes each
  time N predictions have returned (``--outcome-batch``, default 100; 1 sends one
  ``RecordOutcome`` per prediction, one after another);
- ``thompson``: the same with strategy thompson_sampling (it learns from every outcome);
- ``routing_only``: the random experiment without outcome traffic, which splits the
  experiment rounds' cost into routing and outcomes.

Each experiment round creates its experiment over ``ModelAdmin/CreateExperiment`` (with
``min_samples`` too large for the monitor to end it) and stops it afterwards. Per round:
Predict calls/s (outcome RPCs not counted), Predict p50/p99, the server's CPU per Predict
(utime+stime from /proc over the run, outcome handling included), outcomes acknowledged
per second, and the prediction log: rows written per second during the run
(``galgate_prediction_log_written_total``), the backlog when the run ended, and the drops
(``GetStatus.prediction_log_dropped`` before and after; the next round starts once the
backlog is written). Figures are medians across rounds; ratios are scenario/production.

Then the writer alone: ``Registry.write_predictions`` in batches of 500 gateway-shaped
records on a temp SQLite file and a temp PostgreSQL database, rows/s.

Targets print PASS/MISS; a miss never fails the process.

Usage: python -m benchmarks.experiment_bench [--quick] [--json] [--no-postgres] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
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
    free_port,
    galgate_argv,
    make_bench_model,
    other_load_line,
    percentiles_us,
    progress,
    register_bench_versions,
    revision,
    start_server,
    temp_postgres_database,
)
from benchmarks.load import concurrent_with_outcomes, sequential, tensor_request
from gateway._pb.galgate.v1 import admin_pb2, admin_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc
from registry.entities import PredictionRecord
from registry.store.registry import Registry

VERSIONS = ("1.0.0", "1.0.1")
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
OVERHEAD_TARGET = 0.95  # experiment rounds keep >= 95% of the production rounds' Predict/s
NEVER_DECIDE = 2**31 - 1  # min_samples: the monitor must not end an experiment mid-round
NOTE = (
    "2 cores: the client (this process, outcome task included) and the gateway compete "
    "for CPU; absolute figures are pessimistic, read the ratios"
)
RATIO_KEYS = ("predict_calls_per_s", "p99_us", "server_cpu_us_per_predict")
COLUMNS = {
    "predict_calls_per_s": "Predict/s",
    "p50_us": "p50 us",
    "p99_us": "p99 us",
    "server_cpu_us_per_predict": "CPU us/Pred",
    "outcomes_per_s": "outcomes/s",
    "treatment_share": "treat",
    "log_rows_written_per_s": "log rows/s",
    "log_backlog_at_end": "backlog",
    "log_dropped": "dropped",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of round: which experiment runs (if any) and whether outcomes are sent."""

    name: str
    strategy: str  # "" = no experiment: production only
    outcomes: bool
    label: str


SCENARIOS = (
    Scenario("production", "", False, "production only"),
    Scenario("random", "random", True, "random + outcomes"),
    Scenario("thompson", "thompson_sampling", True, "thompson + outcomes"),
    Scenario("routing_only", "random", False, "random, no outcomes"),
)


@dataclass(frozen=True, slots=True)
class RoundFigures:
    """One scenario's figures in one round (latencies and CPU in microseconds)."""

    predict_calls_per_s: float
    p50_us: float
    p99_us: float
    server_cpu_us_per_predict: float
    outcomes_per_s: float
    outcome_rpcs_per_s: float
    treatment_share: float  # NaN without an experiment
    log_rows_written_per_s: float
    log_backlog_at_end: float  # predictions queued, not yet written, when the run ended
    log_drain_s: float  # seconds after the run until the backlog was written
    log_dropped: float
    outcome_failures: float


@dataclass(frozen=True, slots=True)
class WriterFigures:
    """``Registry.write_predictions`` alone on one database."""

    database: str
    rows: int
    batch_size: int
    rows_per_s: float  # all timed rows / the sum of their batch times
    batch_ms_median: float
    batch_ms_max: float


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Everything one run measured."""

    rounds: dict[str, list[RoundFigures]]
    medians: dict[str, dict[str, float]]
    ratios: dict[str, dict[str, float]]  # scenario -> metric -> scenario / production
    # The same, as the median of each round's scenario / that round's production: pairs
    # rounds run seconds apart, so slow drifts of the machine's other load cancel out.
    paired_ratios: dict[str, dict[str, float]]
    # Server CPU per acknowledged outcome: CPU per Predict above the routing-only rounds,
    # times Predicts, over outcomes (scenarios with outcome traffic).
    cpu_us_per_outcome: dict[str, float]
    writer: list[WriterFigures]
    other_load_cores: float  # cores busy with processes other than the bench's
    targets: list[Target]


@dataclass(frozen=True, slots=True)
class _Conn:
    """What a round needs to talk to the gateway."""

    server: ServerProcess
    metrics_port: int
    predict: pb_grpc.PredictionServiceStub
    admin: admin_pb2_grpc.ModelAdminStub


def _written_total(port: int) -> float:
    """The gateway's ``galgate_prediction_log_written_total`` (blocking HTTP GET)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith("galgate_prediction_log_written_total "):
            return float(line.split()[1])
    raise RuntimeError("galgate_prediction_log_written_total missing from /metrics")


async def _drain(admin: admin_pb2_grpc.ModelAdminStub, timeout: float = 60.0) -> float:
    """Wait until the gateway's prediction log has written everything; seconds waited."""
    start = time.perf_counter()
    while True:
        status = await admin.GetStatus(admin_pb2.GetStatusRequest(), timeout=10)
        if status.prediction_log_queued == 0:
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"prediction log still holds {status.prediction_log_queued} rows")
        await asyncio.sleep(0.01)


async def _round(
    conn: _Conn, scenario: Scenario, index: int, request, args: argparse.Namespace
) -> RoundFigures:
    experiment = None
    if scenario.strategy:
        experiment = await conn.admin.CreateExperiment(
            admin_pb2.CreateExperimentRequest(
                model=request.model,
                control_version=VERSIONS[0],
                treatment_version=VERSIONS[1],
                strategy=scenario.strategy,
                metric="accuracy",
                min_samples=NEVER_DECIDE,
                name=f"bench-{scenario.name}-{index}",
            ),
            timeout=60,
        )
    try:
        await sequential(conn.predict, request, args.warmup)
        check = await conn.predict.Predict(request, timeout=10)
        expected = str(experiment.id) if experiment is not None else ""
        if check.experiment_id != expected:
            raise RuntimeError(f"{scenario.name}: served by experiment {check.experiment_id!r}")
        await _drain(conn.admin)
        rng = random.Random(index)
        classes = args.classes
        before = await conn.admin.GetStatus(admin_pb2.GetStatusRequest(), timeout=10)
        written_before = await asyncio.to_thread(_written_total, conn.metrics_port)
        window_start = time.perf_counter()
        run = await concurrent_with_outcomes(
            conn.predict,
            request,
            args.calls,
            args.concurrency,
            pid=conn.server.pid,
            outcome_batch=args.outcome_batch if scenario.outcomes else 0,
            outcome_value=lambda: float(rng.randrange(classes)),
        )
        after = await conn.admin.GetStatus(admin_pb2.GetStatusRequest(), timeout=10)
        written = await asyncio.to_thread(_written_total, conn.metrics_port) - written_before
        window = time.perf_counter() - window_start
        drain_s = await _drain(conn.admin)
        final = await conn.admin.GetStatus(admin_pb2.GetStatusRequest(), timeout=10)
    finally:
        if experiment is not None:
            await conn.admin.StopExperiment(
                admin_pb2.ExperimentStateRequest(id=experiment.id, reason="bench round over"),
                timeout=60,
            )
    p50, p99 = percentiles_us(run.latencies_s)
    routed = run.arms.get("control", 0) + run.arms.get("treatment", 0)
    return RoundFigures(
        predict_calls_per_s=len(run.latencies_s) / run.wall_s,
        p50_us=p50,
        p99_us=p99,
        server_cpu_us_per_predict=run.server_cpu_s / len(run.latencies_s) * 1e6,
        outcomes_per_s=run.outcomes_acked / run.wall_s,
        outcome_rpcs_per_s=run.outcome_rpcs / run.wall_s,
        treatment_share=run.arms.get("treatment", 0) / routed if routed else math.nan,
        log_rows_written_per_s=written / window,
        log_backlog_at_end=float(after.prediction_log_queued),
        log_drain_s=drain_s,
        log_dropped=float(final.prediction_log_dropped - before.prediction_log_dropped),
        outcome_failures=float(run.outcome_failures),
    )


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


async def _serving_rounds(
    args: argparse.Namespace, bench: BenchModel, server: ServerProcess, metrics_port: int
) -> tuple[dict[str, list[RoundFigures]], float]:
    request = tensor_request(bench.name, bench.X[:1])
    rounds: dict[str, list[RoundFigures]] = {s.name: [] for s in SCENARIOS}
    async with grpc.aio.insecure_channel(server.target) as channel:
        conn = _Conn(
            server,
            metrics_port,
            pb_grpc.PredictionServiceStub(channel),
            admin_pb2_grpc.ModelAdminStub(channel),
        )
        await conn.predict.Predict(request, wait_for_ready=True, timeout=30)
        mark = CpuMark.now((os.getpid(), server.pid))
        for i in range(args.rounds):
            for scenario in SCENARIOS:
                progress(f"round {i + 1}/{args.rounds}: {scenario.label}")
                rounds[scenario.name].append(await _round(conn, scenario, i, request, args))
        other_load = mark.other_load_cores()
    return rounds, other_load


def _records(count: int, prefix: str, features: int, classes: int) -> list[PredictionRecord]:
    """``count`` records shaped like the gateway's (1 row, float32 inputs and probabilities)."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(count, features)).astype("<f4")
    outputs = rng.dirichlet(np.ones(classes), size=count).astype("<f4")
    at = datetime.now(UTC)
    return [
        PredictionRecord(
            prediction_id=f"{prefix}-{i}",
            at=at,
            model="bench",
            version=VERSIONS[i % 2],
            arm="control" if i % 2 == 0 else "treatment",
            experiment_id=1,
            routing_key="",
            rows=1,
            inputs=inputs[i].tobytes(),
            outputs=outputs[i].tobytes(),
            predicted=float(np.argmax(outputs[i])),
            latency_us=300,
        )
        for i in range(count)
    ]


async def _writer_one(database: str, url: str, args: argparse.Namespace) -> WriterFigures:
    size = args.writer_batch
    records = _records(size * (args.writer_batches + 1), database, args.features, args.classes)
    times = []
    registry = await Registry.open(url)
    try:
        await registry.write_predictions(records[:size])  # warm-up: connection, statements
        for b in range(1, args.writer_batches + 1):
            batch = records[b * size : (b + 1) * size]
            start = time.perf_counter()
            await registry.write_predictions(batch)
            times.append(time.perf_counter() - start)
    finally:
        await registry.close()
    return WriterFigures(
        database=database,
        rows=size * len(times),
        batch_size=size,
        rows_per_s=size * len(times) / sum(times),
        batch_ms_median=statistics.median(times) * 1000.0,
        batch_ms_max=max(times) * 1000.0,
    )


async def _writer_bench(args: argparse.Namespace, work: Path) -> list[WriterFigures]:
    progress(f"prediction log writer alone: {args.writer_batches} batches of {args.writer_batch}")
    results = [await _writer_one("sqlite", f"sqlite+aiosqlite:///{work / 'writer.db'}", args)]
    if not args.no_postgres:
        try:
            async with temp_postgres_database(args.pg_admin_dsn) as url:
                results.append(await _writer_one("postgresql", url, args))
        except OSError as exc:
            progress(f"postgresql skipped: {exc}")
    return results


def _targets(ratios: dict[str, dict[str, float]], rounds: dict[str, list[RoundFigures]]):
    dropped = sum(r.log_dropped for rs in rounds.values() for r in rs)
    failed = sum(r.outcome_failures for rs in rounds.values() for r in rs)
    return [
        Target(
            "Predict/s, random experiment + outcomes / production only",
            ratios["random"]["predict_calls_per_s"],
            ">=",
            OVERHEAD_TARGET,
        ),
        Target(
            "Predict/s, thompson experiment + outcomes / production only",
            ratios["thompson"]["predict_calls_per_s"],
            ">=",
            OVERHEAD_TARGET,
        ),
        Target("prediction log rows dropped at peak Predict rate", dropped, "==", 0.0, "rows"),
        Target("failed outcome RPCs", failed, "==", 0.0, "calls"),
    ]


def run(args: argparse.Namespace) -> BenchResult:
    """Set up model, registry and gateway; measure; stop the gateway; then the writer alone."""
    progress(f"training and converting 2 versions ({args.trees} trees)")
    bench = make_bench_model(args.trees, args.features, args.classes)
    with tempfile.TemporaryDirectory(prefix="galgate-exp-bench-") as tmp:
        work = Path(tmp)
        url = f"sqlite+aiosqlite:///{work / 'registry.db'}"
        asyncio.run(register_bench_versions(url, bench, VERSIONS))
        metrics_port = free_port()
        env = clean_env(GALGATE_GRACE_SECONDS="1")
        argv = [
            *galgate_argv(),
            "serve",
            "--db",
            url,
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            f"127.0.0.1:{metrics_port}",
        ]
        server = start_server("gateway", argv, work / "gateway.log", env)
        try:
            rounds, other_load = asyncio.run(_serving_rounds(args, bench, server, metrics_port))
        finally:
            server.stop()
        writer = asyncio.run(_writer_bench(args, work))
    medians = {
        name: {f.name: _median([getattr(r, f.name) for r in rs]) for f in fields(RoundFigures)}
        for name, rs in rounds.items()
    }
    base, keys = medians["production"], RATIO_KEYS
    ratios = {s.name: {k: medians[s.name][k] / base[k] for k in keys} for s in SCENARIOS[1:]}
    paired = {
        s.name: {
            k: _median(
                [
                    getattr(r, k) / getattr(p, k)
                    for r, p in zip(rounds[s.name], rounds["production"], strict=True)
                ]
            )
            for k in keys
        }
        for s in SCENARIOS[1:]
    }
    routing_cpu = medians["routing_only"]["server_cpu_us_per_predict"]
    per_outcome = {
        s.name: (m["server_cpu_us_per_predict"] - routing_cpu)
        * m["predict_calls_per_s"]
        / m["outcomes_per_s"]
        for s in SCENARIOS
        if s.outcomes and (m := medians[s.name])["outcomes_per_s"] > 0
    }
    targets = _targets(ratios, rounds)
    return BenchResult(rounds, medians, ratios, paired, per_outcome, writer, other_load, targets)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _outcome_mode(args: argparse.Namespace) -> str:
    if args.outcome_batch == 1:
        return "one RecordOutcome per prediction, sent one after another by one task"
    return f"one RecordOutcomes of {args.outcome_batch} every {args.outcome_batch} predictions"


def report_text(args: argparse.Namespace, result: BenchResult, description: str) -> str:
    """The human-readable tables."""
    lines = [
        f"experiments benchmark (HEAD {revision()}): {description}; {args.rounds} rounds of "
        f"{len(SCENARIOS)} scenarios, {args.concurrency} concurrent callers, 1 row, "
        f"{args.calls} Predicts per scenario per round; medians across rounds",
        f"outcome traffic: {_outcome_mode(args)}, metric accuracy; Predict/s counts "
        "Predict calls only, server CPU per Predict includes the outcome handling",
        f"note: {NOTE}",
        other_load_line(result.other_load_cores),
        "",
        f"{'scenario':<22}" + "".join(f"{c:>12}" for c in COLUMNS.values()),
    ]
    for s in SCENARIOS:
        row = result.medians[s.name]
        lines.append(f"{s.label:<22}" + "".join(f"{_fmt(row[k]):>12}" for k in COLUMNS))
    heads = "".join(f"{h:>12}" for h in ("Predict/s", "p99", "CPU/Predict"))
    lines += [
        "",
        f"{'vs production only':<22}{'ratio of medians':>36}    {'median of per-round ratios':>36}",
        f"{'':<22}{heads}    {heads}",
    ]
    for s in SCENARIOS[1:]:
        r, p = result.ratios[s.name], result.paired_ratios[s.name]
        lines.append(
            f"{s.label:<22}"
            + "".join(f"{r[k]:>11.3f}x" for k in RATIO_KEYS)
            + "    "
            + "".join(f"{p[k]:>11.3f}x" for k in RATIO_KEYS)
        )
    for name, cpu in result.cpu_us_per_outcome.items():
        lines.append(
            f"server CPU per acknowledged outcome ({name}, above routing only): {cpu:,.0f} us"
        )
    lines += ["", "prediction log writer alone (Registry.write_predictions):"]
    for w in result.writer:
        lines.append(
            f"  {w.database:<11} {w.rows_per_s:>10,.0f} rows/s  ({w.rows} rows in batches of "
            f"{w.batch_size}; batch median {w.batch_ms_median:.1f} ms, max "
            f"{w.batch_ms_max:.1f} ms)"
        )
    lines += ["", "targets:"]
    for t in result.targets:
        value = f"{t.value:.3f}x" if t.unit == "x" else f"{t.value:.0f} {t.unit}"
        limit = f"{t.limit:.2f}x" if t.unit == "x" else f"{t.limit:.0f} {t.unit}"
        lines.append(
            f"  {'PASS' if t.passed else 'MISS'}  {t.name}: {value} (target {t.op} {limit})"
        )
    return "\n".join(lines)


def report_json(args: argparse.Namespace, result: BenchResult, description: str) -> str:
    """The machine-readable report."""
    doc = {
        "config": {
            "model": description,
            "revision": revision(),
            "rounds": args.rounds,
            "calls": args.calls,
            "concurrency": args.concurrency,
            "outcome_traffic": _outcome_mode(args),
            "quick": args.quick,
            "note": NOTE,
        },
        "medians": result.medians,
        "ratios": result.ratios,
        "paired_ratios": result.paired_ratios,
        "cpu_us_per_outcome": result.cpu_us_per_outcome,
        "writer": [asdict(w) for w in result.writer],
        "other_load_cores": result.other_load_cores,
        "targets": [{**asdict(t), "pass": t.passed} for t in result.targets],
        "rounds": {name: [asdict(r) for r in rs] for name, rs in result.rounds.items()},
    }
    return json.dumps(doc, indent=2, allow_nan=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the tables (or JSON). Misses never fail the process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls: a smoke run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--json-out", default=None, help="also write the JSON report here")
    parser.add_argument("--no-postgres", action="store_true", help="writer-only on SQLite only")
    parser.add_argument("--pg-admin-dsn", default=PG_ADMIN_DSN)
    parser.add_argument("--rounds", type=int, default=None, help="default 7 (2 with --quick)")
    parser.add_argument("--calls", type=int, default=None, help="Predicts per scenario per round")
    parser.add_argument("--warmup", type=int, default=None, help="calls before each run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--outcome-batch", type=int, default=100, help="1: RecordOutcome each")
    parser.add_argument("--writer-batch", type=int, default=500)
    parser.add_argument("--writer-batches", type=int, default=None, help="default 40 (4 quick)")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--classes", type=int, default=3)
    args = parser.parse_args(argv)
    if args.outcome_batch < 1:
        parser.error("--outcome-batch must be at least 1")
    args.rounds = args.rounds or (2 if args.quick else 7)
    args.calls = args.calls or (600 if args.quick else 4000)
    args.warmup = args.warmup if args.warmup is not None else (50 if args.quick else 200)
    args.writer_batches = args.writer_batches or (4 if args.quick else 40)
    result = run(args)
    description = bench_model_description(args)
    report = report_json if args.json else report_text
    print(report(args, result, description))
    if args.json_out:
        Path(args.json_out).write_text(report_json(args, result, description))
    return 0


if __name__ == "__main__":
    sys.exit(main())
