"""Smoke test of the experiments benchmark: it runs end to end and reports what it promises.

No wall-clock figure is asserted: only that the ratios are computed and printed, that every
scenario ran through the route it names, and that the prediction log dropped nothing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.experiment_bench import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--quick", "--rounds", "1", "--calls", "150", "--warmup", "10", "--trees", "5"]
TINY += ["--features", "8", "--outcome-batch", "10", "--writer-batches", "2"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """One tiny run: its text tables and its JSON report (--json-out)."""
    path = tmp_path_factory.mktemp("bench") / "report.json"
    argv = [sys.executable, "-m", "benchmarks.experiment_bench", *TINY, "--json-out", str(path)]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout, json.loads(path.read_text())


@pytest.mark.timeout(60)
def test_experiment_bench_quick_json_reports_ratios_and_no_drops(bench) -> None:
    doc = bench[1]

    for kind in ("ratios", "paired_ratios"):
        assert set(doc[kind]) == {s.name for s in SCENARIOS[1:]}
        for ratios in doc[kind].values():
            assert set(ratios) == {"predict_calls_per_s", "p99_us", "server_cpu_us_per_predict"}
            assert all(math.isfinite(v) and v > 0 for v in ratios.values())
    assert set(doc["cpu_us_per_outcome"]) == {"random", "thompson"}
    rounds = [r for rs in doc["rounds"].values() for r in rs]
    assert len(rounds) == len(SCENARIOS)
    assert all(r["log_dropped"] == 0 and r["outcome_failures"] == 0 for r in rounds)
    medians = doc["medians"]
    assert math.isnan(medians["production"]["treatment_share"])
    for name in ("random", "thompson", "routing_only"):
        assert 0.0 <= medians[name]["treatment_share"] <= 1.0
    assert medians["random"]["outcomes_per_s"] > 0
    assert medians["routing_only"]["outcomes_per_s"] == 0
    assert {w["database"] for w in doc["writer"]} == {"sqlite", "postgresql"}
    assert all(w["rows"] == 1000 and w["rows_per_s"] > 0 for w in doc["writer"])
    targets = {t["name"]: t for t in doc["targets"]}
    assert targets["prediction log rows dropped at peak Predict rate"]["pass"] is True


@pytest.mark.timeout(60)
def test_experiment_bench_quick_text_prints_ratios_and_verdicts(bench) -> None:
    out = bench[0]

    ratio_table = out.split("vs production only", 1)[1].split("\n\n", 1)[0]
    for scenario in SCENARIOS[1:]:
        [line] = [x for x in ratio_table.splitlines() if x.startswith(scenario.label)]
        assert line.count("x") == 6
    assert "PASS  prediction log rows dropped at peak Predict rate: 0 rows" in out
