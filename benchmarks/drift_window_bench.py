"""Drift window micro-benchmark: nanoseconds per ``InputWindow.add`` on the Predict path.

Adds a pre-built float32 batch of 1 row and of 64 rows of 8 features to a window of
``--capacity`` rows, ``--repeat`` times each (best of ``--rounds`` rounds; the batches
wrap around the ring, so both the one-slice and the two-slice cases are in the mix).
Prints figures only; nothing here is asserted.

    python -m benchmarks.drift_window_bench [--capacity 4096] [--repeat 200000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gateway.drift import InputWindow

N_FEATURES = 8
BATCHES = (1, 64)


def ns_per_add(rows: int, *, capacity: int, repeat: int, rounds: int) -> float:
    """Best-of-``rounds`` mean nanoseconds of one ``add`` of ``rows`` rows."""
    window = InputWindow(N_FEATURES, capacity)
    batch = np.random.default_rng(0).standard_normal((rows, N_FEATURES)).astype(np.float32)
    add = window.add
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(repeat):
            add(batch)
        best = min(best, (time.perf_counter_ns() - started) / repeat)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    figures = {
        f"add_{rows}_rows_ns": round(
            ns_per_add(rows, capacity=args.capacity, repeat=args.repeat, rounds=args.rounds), 1
        )
        for rows in BATCHES
    }
    if args.json:
        print(json.dumps({"n_features": N_FEATURES, "capacity": args.capacity, **figures}))
    else:
        for rows in BATCHES:
            print(
                f"InputWindow.add  {rows:>2} row(s) x {N_FEATURES} features  "
                f"{figures[f'add_{rows}_rows_ns']:>8.1f} ns"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
