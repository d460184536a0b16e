"""Registry benchmark: how long a model takes from fitted estimator to deployable version.

For a 100-tree GradientBoostingClassifier on 32 features it times, as medians over
``--reps`` repetitions, on SQLite (a temp file) and PostgreSQL (a temp database):

- convert + parity + profile (``gateway.registration.prepare_estimator``)
- register (``Registry.register_version`` with the in-transaction ONNX validation)
- promote staging -> production (one ``Registry.transition``)
- load from the registry (``load_version_artifact`` + onnxruntime session creation)
- deployable end to end: convert + register + promote development -> staging -> production

Target: deployable under 2 s end to end.

Usage: python -m benchmarks.registry_bench [--reps 5] [--json] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import temp_postgres_database
from converters import load_session
from gateway.registration import prepare_estimator, register_prepared
from registry import Stage
from registry.store.registry import Registry

TARGET_SECONDS = 2.0
STEPS = ("convert_parity", "register", "promote", "load", "deployable")
LABELS = {
    "convert_parity": "convert + parity + profile",
    "register": "register (validated, 1 txn)",
    "promote": "promote staging -> production",
    "load": "load artifact + ORT session",
    "deployable": "deployable end to end",
}
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(slots=True)
class Timings:
    """Seconds per step, one entry per repetition."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})

    def median_ms(self, step: str) -> float:
        return statistics.median(self.samples[step]) * 1000.0


def _make_model(rows: int, features: int, trees: int) -> tuple[object, np.ndarray, list[str]]:
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features))
    y = (X[:, :4].sum(axis=1) + 0.5 * rng.normal(size=rows) > 0).astype(np.int64)
    model = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=0)
    return model.fit(X, y), X, [f"f{i:02d}" for i in range(features)]


async def _bench_one(
    url: str, model: object, X: np.ndarray, names: list[str], reps: int
) -> Timings:
    timings = Timings()
    registry = await Registry.open(url)
    try:
        for rep in range(reps):
            version = f"1.0.{rep}"
            start = time.perf_counter()
            prepared = prepare_estimator(model, X, feature_names=names)
            timings.samples["convert_parity"].append(time.perf_counter() - start)

            t = time.perf_counter()
            await register_prepared(registry, "bench", prepared, version=version, actor="bench")
            timings.samples["register"].append(time.perf_counter() - t)

            await registry.transition("bench", version, Stage.STAGING, actor="bench")
            t = time.perf_counter()
            await registry.transition("bench", version, Stage.PRODUCTION, actor="bench")
            done = time.perf_counter()
            timings.samples["promote"].append(done - t)
            timings.samples["deployable"].append(done - start)

            t = time.perf_counter()
            _, artifact = await registry.load_version_artifact("bench", version)
            load_session(artifact)
            timings.samples["load"].append(time.perf_counter() - t)
    finally:
        await registry.close()
    return timings


async def run(args: argparse.Namespace) -> dict[str, Timings]:
    """Run the benchmark on each database; returns timings by database name."""
    model, X, names = _make_model(args.rows, args.features, args.trees)
    results: dict[str, Timings] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        results["sqlite"] = await _bench_one(url, model, X, names, args.reps)
    if not args.no_postgres:
        try:
            async with temp_postgres_database(args.pg_admin_dsn) as url:
                results["postgresql"] = await _bench_one(url, model, X, names, args.reps)
        except OSError as exc:
            print(f"postgresql skipped: {exc}", file=sys.stderr)
    return results


def _report(args: argparse.Namespace, results: dict[str, Timings]) -> str:
    if args.json:
        doc = {
            "config": {
                "model": "GradientBoostingClassifier",
                "trees": args.trees,
                "features": args.features,
                "rows": args.rows,
                "reps": args.reps,
            },
            "target_deployable_seconds": TARGET_SECONDS,
            "median_ms": {
                db: {step: round(t.median_ms(step), 2) for step in STEPS}
                for db, t in results.items()
            },
        }
        return json.dumps(doc, indent=2)
    dbs = list(results)
    width = max(len(v) for v in LABELS.values())
    lines = [
        f"registry benchmark: GradientBoostingClassifier, {args.trees} trees, "
        f"{args.features} features, {args.rows} parity/profile rows; median of {args.reps} (ms)",
        f"{'step'.ljust(width)}  " + "  ".join(db.rjust(10) for db in dbs),
    ]
    for step in STEPS:
        cells = "  ".join(f"{results[db].median_ms(step):10.1f}" for db in dbs)
        lines.append(f"{LABELS[step].ljust(width)}  {cells}")
    for db in dbs:
        seconds = results[db].median_ms("deployable") / 1000.0
        verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
        lines.append(
            f"{db}: deployable in {seconds:.2f} s, {verdict} the {TARGET_SECONDS:.0f} s target"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--rows", type=int, default=2000, help="rows for training/parity/profile")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-admin-dsn", default=PG_ADMIN_DSN)
    args = parser.parse_args(argv)
    print(_report(args, asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
