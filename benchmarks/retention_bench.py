"""Retention benchmark: prune millions of old prediction-log rows while the gateway serves.

A gateway serves a model on a registry whose prediction log holds ``--rows`` predictions
(and an outcome for every tenth) spread over ``--days`` days ending 30 days ago. On
PostgreSQL the log is partitioned by day (``--layout partitioned``, a new registry's, with
the seeded days' partitions made first, so the prune drops whole days) or the plain table
of a registry made before partitioning (``--layout plain``: batched deletes). Predict
runs from 4 concurrent callers throughout: first ``--steady`` seconds with nothing else,
then while `galgate predictions prune --older-than 7d` runs as its own process (an
operator's or a cron job's prune), then after it. The report: rows deleted per second,
and Predict p50/p99 during the prune against steady (ratios of the same run; Predict
touches no database, the log writer shares it with the prune).

    python -m benchmarks.retention_bench [--rows 10000000] [--backend sqlite|postgres]
        [--days 3] [--layout partitioned|plain] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np

from benchmarks.common import (
    clean_env,
    galgate_argv,
    make_bench_model,
    percentiles_us,
    progress,
    register_bench_versions,
    revision,
    start_server,
    temp_postgres_database,
)
from benchmarks.load import tensor_request
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc
from registry.entities import OutcomeRecord, PredictionRecord
from registry.store.registry import Registry

VERSIONS = ("1.0.0", "1.0.1")
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 20_000


async def seed(url: str, rows: int, features: int, days: int) -> float:
    """Write ``rows`` predictions over ``days`` days ending 30 days ago (and outcomes for
    every tenth); on a log partitioned by day, the partitions of those days first."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(CHUNK, features)).astype("<f4")
    old = datetime.now(UTC) - timedelta(days=30 + days)
    registry = await Registry.open(url)
    start = time.perf_counter()
    try:
        await registry.maintain_log(today=old, days_ahead=days)
        for base in range(0, rows, CHUNK):
            n = min(CHUNK, rows - base)
            at = old + timedelta(days=days * base / rows)  # spread over the days
            records = [
                PredictionRecord(
                    prediction_id=f"old-{base + i}", at=at, model="bench", version=VERSIONS[0],
                    arm="production", experiment_id=None, routing_key="", rows=1,
                    inputs=inputs[i].tobytes(), outputs=b"\0" * 12, predicted=1.0,
                    latency_us=300,
                )
                for i in range(n)
            ]  # fmt: skip
            await registry.write_predictions(records)
            await registry.record_outcomes(
                [
                    OutcomeRecord(
                        prediction_id=r.prediction_id,
                        value=1.0,
                        metric_value=None,
                        experiment_id=None,
                        arm="production",
                        at=at,
                    )
                    for r in records[::10]
                ]
            )
            if base and base % (10 * CHUNK) == 0:
                progress(f"  seeded {base:,} rows")
    finally:
        await registry.close()
    return time.perf_counter() - start


async def drive(target: str, request, phases: dict[str, asyncio.Event], stop: asyncio.Event):
    """Predict from 4 callers until ``stop``; latencies by the phase they started in."""
    by_phase: dict[str, list[float]] = {"steady": [], "prune": [], "after": []}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.PredictionServiceStub(channel)

        async def caller() -> None:
            while not stop.is_set():
                phase = (
                    "after"
                    if phases["after"].is_set()
                    else ("prune" if phases["prune"].is_set() else "steady")
                )
                start = time.perf_counter()
                await stub.Predict(request, timeout=10)
                by_phase[phase].append(time.perf_counter() - start)

        await asyncio.gather(*(caller() for _ in range(4)))
    return by_phase


async def measure(args, url: str, target: str, request) -> dict:
    phases = {"prune": asyncio.Event(), "after": asyncio.Event()}
    stop = asyncio.Event()
    driver = asyncio.create_task(drive(target, request, phases, stop))
    await asyncio.sleep(args.steady)
    progress("pruning while Predict runs")
    phases["prune"].set()
    started = time.perf_counter()
    argv = [*galgate_argv(), "predictions", "prune", "--older-than", "7d", "--json"]
    argv += ["--batch-size", str(args.batch_size), "--db", url]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env()
    )
    out, err = await proc.communicate()
    prune_s = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"prune failed: {err.decode()[-2000:]}")
    phases["after"].set()
    await asyncio.sleep(min(args.steady, 5.0))
    stop.set()
    latencies = await driver
    pruned = json.loads(out)
    figures = {"prune_seconds": prune_s, "pruned": pruned}
    figures["rows_per_s"] = (pruned["predictions"] + pruned["outcomes"]) / prune_s
    for phase, values in latencies.items():
        p50, p99 = percentiles_us(values) if values else (float("nan"), float("nan"))
        figures[phase] = {"calls": len(values), "p50_us": p50, "p99_us": p99}
    figures["p99_prune_vs_steady"] = figures["prune"]["p99_us"] / figures["steady"]["p99_us"]
    figures["p50_prune_vs_steady"] = figures["prune"]["p50_us"] / figures["steady"]["p50_us"]
    return figures


async def _create_plain_log(url: str) -> None:
    """The unpartitioned log of a PostgreSQL registry made before partitioning."""
    import asyncpg
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from registry.schema import PredictionRow

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(
            str(CreateTable(PredictionRow.__table__).compile(dialect=postgresql.dialect()))
        )
    finally:
        await conn.close()


async def _day_partitions(url: str) -> int:
    """How many partitions the log has (0 on SQLite or an unpartitioned log)."""
    if not url.startswith("postgresql"):
        return 0
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('predictions')"
            )
        )
    finally:
        await conn.close()


def run(args) -> dict:
    progress("training and converting the bench model")
    bench = make_bench_model(args.trees, args.features, 3)
    x = np.asarray(bench.X[:1], dtype=np.float32)
    request = tensor_request(bench.name, x)

    async def setup_and_measure(url: str, work: Path) -> dict:
        if args.backend == "postgres" and args.layout == "plain":
            await _create_plain_log(url)
        await register_bench_versions(url, bench, VERSIONS)
        progress(f"seeding {args.rows:,} old predictions ({args.backend})")
        seed_s = await seed(url, args.rows, args.features, args.days)
        partitions_before = await _day_partitions(url)
        env = clean_env(GALGATE_GRACE_SECONDS="1")
        argv = [*galgate_argv(), "serve", "--db", url, "--listen", "127.0.0.1:0"]
        server = await asyncio.to_thread(start_server, "gateway", argv, work / "gw.log", env)
        try:
            figures = await measure(args, url, server.target, request)
        finally:
            await asyncio.to_thread(server.stop)
        figures["seed_seconds"] = seed_s
        figures["day_partitions_dropped"] = partitions_before - await _day_partitions(url)
        return figures

    async def main() -> dict:
        with tempfile.TemporaryDirectory(prefix="galgate-retention-") as tmp:
            work = Path(tmp)
            async with AsyncExitStack() as stack:
                if args.backend == "postgres":
                    url = await stack.enter_async_context(temp_postgres_database(PG_ADMIN_DSN))
                else:
                    url = f"sqlite+aiosqlite:///{work / 'registry.db'}"
                return await setup_and_measure(url, work)

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--steady", type=float, default=10.0, help="seconds before the prune")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=1, help="days the old rows span")
    parser.add_argument(
        "--layout",
        choices=("partitioned", "plain"),
        default="partitioned",
        help="PostgreSQL log: partitioned by day (a new registry's) or plain (an older one's)",
    )
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args)
    layout = args.layout if args.backend == "postgres" else "plain"
    figures.update(revision=revision(), rows=args.rows, backend=args.backend, layout=layout)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"retention benchmark (HEAD {figures['revision']}), {args.backend} ({layout} log), "
        f"{args.rows:,} rows over {args.days} day(s)"
    )
    pruned = figures["pruned"]
    print(
        f"pruned {pruned['predictions']:,} predictions + {pruned['outcomes']:,} outcomes in "
        f"{figures['prune_seconds']:.1f} s ({figures['rows_per_s']:,.0f} rows/s, "
        f"batches of {args.batch_size}; {figures['day_partitions_dropped']} day partitions "
        "dropped)"
    )
    for phase in ("steady", "prune", "after"):
        f = figures[phase]
        print(f"  Predict {phase:>6}: {f['calls']:>7,} calls, p50 {f['p50_us']:,.0f} us, "
              f"p99 {f['p99_us']:,.0f} us")  # fmt: skip
    print(
        f"  during the prune vs steady: p50 {figures['p50_prune_vs_steady']:.2f}x, "
        f"p99 {figures['p99_prune_vs_steady']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
