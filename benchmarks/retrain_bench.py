"""Retraining benchmark: one demo-model retraining, data read to registered in staging.

Each repetition makes a fresh SQLite registry, registers the demo model in production
(``gateway.demo.ensure_demo``) and logs ``--rows`` single-row predictions with outcomes
that follow a changed relationship (the demo's sell/buy labels swapped), so the candidate
wins and the whole path runs: training data read, decoded and split (20% held out), the
demo trainer in a spawned process, conversion with the parity check, validation of both
models through onnxruntime, registration and the move to staging. Reported: the median
and each repetition's total seconds, and the part spent in the trainer's process (its
interpreter start-up and imports included).

    python -m benchmarks.retrain_bench [--rows 5000] [--reps 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import progress, revision
from gateway.demo import DEMO_MODEL, ensure_demo, make_demo_data
from gateway.operations import Operations
from gateway.retraining.engine import retrain
from registry.entities import OutcomeRecord, PredictionRecord, RetrainingState
from registry.store.registry import Registry

TRAINER = "gateway.retraining.demo_trainer:train"


async def _log(registry: Registry, rows: int) -> None:
    data = make_demo_data(rows=int(rows / 0.8) + 1, seed=11)
    X = data.X_train[:rows].astype("<f4")
    y = -data.y_train[:rows]  # the market turned: sell and buy swapped
    start = datetime.now(UTC) - timedelta(seconds=rows + 60)
    records = [
        PredictionRecord(
            prediction_id=f"p{i}",
            at=start + timedelta(seconds=i),
            model=DEMO_MODEL,
            version="1.0.0",
            arm="production",
            experiment_id=None,
            routing_key="",
            rows=1,
            inputs=X[i].tobytes(),
            outputs=b"",
            predicted=0.0,
            latency_us=100,
        )
        for i in range(rows)
    ]
    await registry.write_predictions(records)
    await registry.record_outcomes(
        [
            OutcomeRecord(r.prediction_id, float(v), None, None, "production", r.at)
            for r, v in zip(records, y, strict=True)
        ]
    )


async def one(rows: int) -> dict[str, float | str]:
    """One repetition on a fresh registry: seconds, total and in the trainer."""
    with tempfile.TemporaryDirectory() as tmp:
        registry = await Registry.open(f"sqlite+aiosqlite:///{Path(tmp) / 'galgate.db'}")
        try:
            await ensure_demo(registry)
            await _log(registry, rows)
            outcome = await retrain(
                Operations(registry),
                DEMO_MODEL,
                trainer=TRAINER,
                reason="benchmark",
                trigger="admin",
                min_rows=100,
            )
        finally:
            await registry.close()
    if outcome.state is not RetrainingState.SUCCEEDED:
        raise SystemExit(f"the candidate was rejected: {outcome.validation}")
    return {
        "total_s": outcome.total_seconds,
        "trainer_s": outcome.training_seconds,
        "rest_s": outcome.total_seconds - outcome.training_seconds,
        "candidate_accuracy": outcome.validation.candidate,
        "production_accuracy": outcome.validation.production,
        "new_version": outcome.new_version,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runs = []
    for rep in range(args.reps):
        runs.append(asyncio.run(one(args.rows)))
        progress(f"rep {rep + 1}/{args.reps}: {runs[-1]['total_s']:.2f} s")
    median = {
        key: statistics.median(float(run[key]) for run in runs)
        for key in ("total_s", "trainer_s", "rest_s")
    }
    doc = {"config": {"rows": args.rows, "reps": args.reps, "revision": revision()}}
    doc |= {"median": median, "runs": runs}
    if args.json:
        print(json.dumps(doc))
        return
    print(f"demo retraining on {args.rows} logged rows, {args.reps} runs (revision {revision()})")
    print(
        f"  total {median['total_s']:.2f} s (median): trainer process {median['trainer_s']:.2f} s"
        f", read + convert + validate + register + stage {median['rest_s']:.2f} s"
    )
    for run in runs:
        print(
            f"  run: total {run['total_s']:.2f} s, trainer {run['trainer_s']:.2f} s, accuracy "
            f"{run['candidate_accuracy']:.3f} vs production {run['production_accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
