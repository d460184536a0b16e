"""Prediction log benchmark: the hot-path append and the writer alone, on both databases.

One run trains and converts the benchmark model, registers it in a temp SQLite file and a
temp PostgreSQL database, loads it as the gateway does and runs it on 1,000 rows to get
real outputs. Then, per database and round: ``PredictionLog.append`` is called for
``--rows`` predictions shaped like the gateway's (1 row each, a running experiment's
arm) with the writer parked, timing the appends (the cost Predict pays); then the writer
is let go and timed until everything is written (rows built from the entries, bound and
committed: what the log costs beside Predict). Figures are medians across rounds.

Usage: python -m benchmarks.predlog_bench [--rounds 5] [--rows 100000] [--batch-size 500]
       [--no-postgres] [--json]
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

from benchmarks.common import (
    bench_model_description,
    make_bench_model,
    progress,
    register_bench_versions,
    revision,
    temp_postgres_database,
)
from gateway.predlog import PredictionLog
from gateway.serving.loader import load_version
from gateway.serving.snapshot import Routed
from registry.store.registry import Registry

VERSIONS = ("1.0.0", "1.0.1")
WRITER_GOALS = {"sqlite": 300_000.0, "postgresql": 150_000.0}


@dataclass(frozen=True, slots=True)
class LogFigures:
    """One database's medians."""

    database: str
    rows: int
    batch_size: int
    append_us: float  # hot path: one PredictionLog.append
    writer_rows_per_s: float  # entries to committed rows, writer alone
    goal_rows_per_s: float


async def _one_database(database: str, url: str, bench, args: argparse.Namespace) -> LogFigures:
    await register_bench_versions(url, bench, VERSIONS)
    registry = await Registry.open(url)
    try:
        model = await load_version(registry, bench.name, VERSIONS[0])
        rows = [bench.X[i : i + 1].astype("float32") for i in range(1000)]
        outputs = [model.run(x) for x in rows]
        arms = (Routed(model, "control", "1"), Routed(model, "treatment", "1"))
        appends, writes = [], []
        for r in range(args.rounds):
            log = PredictionLog(
                registry,
                queue_size=args.rows + 1,
                queue_bytes=1 << 34,
                batch_size=args.batch_size,
                flush_interval=3600.0,
            )
            started = time.perf_counter()
            clock = time.perf_counter
            begin = clock()
            for i in range(args.rows):
                j = i % 1000
                log.append(arms[i & 1], "", rows[j], outputs[j], f"{database}-{r}-{i}", started)
            appends.append((clock() - begin) / args.rows * 1e6)
            begin = clock()
            log.start()
            await log.stop(timeout=600)
            writes.append(args.rows / (clock() - begin))
            if log.written != args.rows:
                raise RuntimeError(f"{database}: wrote {log.written} of {args.rows} rows")
            progress(f"{database} round {r + 1}: {writes[-1]:,.0f} rows/s")
    finally:
        await registry.close()
    return LogFigures(
        database=database,
        rows=args.rows,
        batch_size=args.batch_size,
        append_us=statistics.median(appends),
        writer_rows_per_s=statistics.median(writes),
        goal_rows_per_s=WRITER_GOALS[database],
    )


async def _run(args: argparse.Namespace) -> list[LogFigures]:
    progress("training and converting the benchmark model")
    bench = make_bench_model(args.trees, args.features, args.classes)
    results = []
    with tempfile.TemporaryDirectory(prefix="galgate-predlog-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'log.db'}"
        results.append(await _one_database("sqlite", url, bench, args))
    if not args.no_postgres:
        try:
            async with temp_postgres_database(args.pg_admin_dsn) as url:
                results.append(await _one_database("postgresql", url, bench, args))
        except OSError as exc:
            progress(f"postgresql skipped: {exc}")
    return results


def report_text(args: argparse.Namespace, results: list[LogFigures]) -> str:
    """The human-readable table."""
    lines = [
        f"prediction log benchmark (HEAD {revision()}): {bench_model_description(args)}; "
        f"{args.rows:,} predictions per round, batches of {args.batch_size}, "
        f"medians of {args.rounds} rounds",
        "",
        f"{'database':<12}{'append (us)':>12}{'writer rows/s':>15}{'goal':>10}{'ratio':>8}",
    ]
    for f in results:
        ratio = f.writer_rows_per_s / f.goal_rows_per_s
        lines.append(
            f"{f.database:<12}{f.append_us:>12.2f}{f.writer_rows_per_s:>15,.0f}"
            f"{f.goal_rows_per_s:>10,.0f}{ratio:>8.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table (or JSON). Misses never fail the process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-admin-dsn", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = asyncio.run(_run(args))
    if args.json:
        print(json.dumps({"revision": revision(), "results": [asdict(r) for r in results]}))
    else:
        print(report_text(args, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
