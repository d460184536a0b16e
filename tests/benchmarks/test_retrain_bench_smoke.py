"""Smoke test of the retraining benchmark: it runs end to end and reports its figures.

No wall-clock figure is asserted: only that the run registered a candidate and timed it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_retrain_bench_tiny_json_run_registers_and_times_a_candidate() -> None:
    argv = [sys.executable, "-m", "benchmarks.retrain_bench", "--json", "--rows", "600"]
    argv += ["--reps", "1"]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(run.stdout)
    assert doc["config"]["rows"] == 600
    (only,) = doc["runs"]
    assert only["new_version"] == "1.0.1"
    assert 0 < doc["median"]["trainer_s"] < doc["median"]["total_s"]
