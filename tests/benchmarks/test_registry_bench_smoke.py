"""Smoke test of the registry benchmark: it runs end to end and reports every step it times.

No wall-clock figure is asserted: only that each step has a positive median.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.registry_bench import STEPS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_registry_bench_tiny_json_run_reports_every_step() -> None:
    argv = [sys.executable, "-m", "benchmarks.registry_bench", "--json", "--no-postgres"]
    argv += ["--reps", "2", "--trees", "5", "--features", "8", "--rows", "200"]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(run.stdout)

    assert doc["config"]["reps"] == 2
    assert list(doc["median_ms"]) == ["sqlite"]
    assert set(doc["median_ms"]["sqlite"]) == set(STEPS)
    assert all(ms > 0 for ms in doc["median_ms"]["sqlite"].values())
