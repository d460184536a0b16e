"""Smoke test of the soak benchmark: 16 seconds on SQLite with one kill -9 + restart and one
database lock, forged and malformed calls, promotions and an experiment; the report must
hold its figures and no finding (no INTERNAL/UNKNOWN, no lost acknowledged outcome, no
forged call accepted). The real soak (``python -m benchmarks.soak --minutes 10``) is not
part of CI."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_soak_helpers_doctests_pass() -> None:
    # imported here, not at collection: benchmarks.soak imports the fault suite's conftest
    from benchmarks import soak, soak_traffic

    for module in (soak, soak_traffic):
        assert doctest.testmod(module).failed == 0


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_soak_sixteen_seconds_on_sqlite_has_no_findings(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    argv = [sys.executable, "-m", "benchmarks.soak", "--seconds", "16", "--backend", "sqlite"]
    argv += ["--json", str(out), "--seed", "1"]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert out.exists(), f"no report (exit {run.returncode}):\n{run.stdout}\n{run.stderr[-4000:]}"
    figures = json.loads(out.read_text())
    assert figures["findings"] == [], run.stdout
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-4000:]}"

    calls = figures["calls_by_method_and_code"]
    assert calls["Predict"]["OK"] > 100, calls["Predict"]
    assert not {"INTERNAL", "UNKNOWN"} & {code for row in calls.values() for code in row}
    assert set(calls["RecordOutcome[wrong-token]"]) <= {"UNAUTHENTICATED", "UNAVAILABLE"}
    outcomes = figures["outcomes"]
    assert outcomes["acknowledged"] > 10
    assert outcomes["acknowledged_stored_once_with_value"] == outcomes["acknowledged"]
    assert outcomes["stored_unauthorized"] == 0
    assert figures["kills"] == 1 and figures["locks"] == 1, figures["faults"]
    assert figures["promotions_ok"] >= 1
    assert figures["experiments"]["created"] >= 1
    assert [m["minute"] for m in figures["per_minute"]] == [1]
    assert figures["per_minute"][0]["rss_mb_max"] > 0
    assert figures["per_minute"][0]["predict_p99_ms"] > 0
    assert len(figures["lifetimes"]) == 2
