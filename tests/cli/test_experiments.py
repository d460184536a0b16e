"""`galgate experiments ...`: A/B experiments from the CLI, on a SQLite file and via --server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from converters import load_table
from gateway.registration import register_onnx
from registry.entities import OutcomeRecord, PredictionRecord, Stage
from registry.store.registry import Registry
from tests.cli.conftest import FEATURES, CliFiles, CliResult, Remote, error_line, galgate, run_cli


async def _register_two_versions(registry: Registry, cli_files: CliFiles) -> None:
    """Model "signal" 1.0.0 and 1.0.1: the same ONNX classifier twice (an A/A pair)."""
    table = load_table(cli_files.csv, target="label")
    onnx = cli_files.onnx_model.read_bytes()
    for _ in range(2):
        await register_onnx(registry, "signal", onnx, table.X[:50], feature_names=FEATURES)


@pytest.fixture
async def two_versions(tmp_path: Path, cli_files: CliFiles) -> str:
    """A fresh SQLite registry file with "signal" 1.0.0 and 1.0.1 (development)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'experiments.db'}"
    registry = await Registry.open(url)
    try:
        await _register_two_versions(registry, cli_files)
    finally:
        await registry.close()
    return url


async def cli(capsys: pytest.CaptureFixture[str], db: str, *args: str) -> CliResult:
    """`galgate --db DB ARGS` in-process (as actor "ops")."""
    return await galgate(capsys, "--db", db, *args)


def _fields(text: str) -> dict[str, str]:
    """`experiments show` key/value lines: key -> value (the arm table is skipped)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("  ")
        if sep and key and not key.isupper() and key not in ("control", "treatment"):
            fields[key.strip()] = value.strip()
    return fields


async def _log_outcomes(
    url: str, experiment_id: int, values: dict[str, np.ndarray], start: int = 0
) -> None:
    """Log one answered prediction per value, as the gateway's log writer would."""
    registry = await Registry.open(url)
    try:
        now = datetime.now(UTC)
        predictions, outcomes = [], []
        for arm, metric_values in values.items():
            version = "1.0.0" if arm == "control" else "1.0.1"
            for i, value in enumerate(metric_values, start=start):
                pid = f"{arm}-{i}"
                predictions.append(
                    PredictionRecord(
                        pid, now, "signal", version, arm, experiment_id, "", 1, b"", b"", 1.0, 50
                    )
                )
                outcomes.append(OutcomeRecord(pid, 1.0, float(value), experiment_id, arm, now))
        await registry.write_predictions(predictions)
        await registry.record_outcomes(outcomes)
    finally:
        await registry.close()


async def test_experiments_local_lifecycle_create_show_pause_resume_stop_freezes_results(
    two_versions: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = two_versions
    # A real `galgate` process (as user "tester"); the rest runs main() in-process.
    created = run_cli(
        db, "experiments", "create", "signal", "--control", "1.0.0", "--treatment", "1.0.1",
        "--metric", "squared_error", "--name", "aa", "--min-samples", "20",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    assert created.stdout.startswith(
        "created experiment 1 'aa' on signal: control 1.0.0, treatment 1.0.1 (running)"
    )
    assert "squared_error (lower is better)" in created.stdout
    assert created.stdout.rstrip().endswith("next: galgate experiments show 1")

    listed = await cli(capsys, db, "experiments", "list")
    assert listed.code == 0, listed.stderr
    head, row = listed.stdout.strip().splitlines()
    assert head.split()[:8] == [
        "ID", "NAME", "MODEL", "CONTROL", "TREATMENT", "STRATEGY", "METRIC", "STATE",
    ]  # fmt: skip
    assert row.split()[:9] == [
        "1", "aa", "signal", "1.0.0", "1.0.1", "random", "squared_error", "running", "-",
    ]  # fmt: skip
    as_json = await cli(capsys, db, "--json", "experiments", "list", "--model", "signal")
    [info] = as_json.json()
    assert (info["id"], info["state"], info["spec"]["metric"]) == (1, "running", "squared_error")
    assert info["started_at"] is not None and info["ended_at"] is None
    paused = await cli(capsys, db, "--json", "experiments", "list", "--state", "paused")
    assert paused.json() == []

    empty = await cli(capsys, db, "experiments", "show", "1")
    assert empty.code == 0, empty.stderr
    shown = _fields(empty.stdout)
    assert shown["state"] == "running"
    assert shown["recommendation"] == "keep collecting: 0 of 20 outcomes in the smaller arm"
    assert shown["winner"] == "-"
    assert "not defined yet" in shown["difference"]
    lines = empty.stdout.splitlines()
    arms = [line.split() for line in lines if line.startswith(("control ", "treatment "))]
    assert arms == [
        ["control", "1.0.0", "0", "0", "-", "-"],
        ["treatment", "1.0.1", "0", "0", "-", "-"],
    ]
    empty_json = (await cli(capsys, db, "--json", "experiments", "show", "1")).json()
    assert empty_json["results"]["ci_low"] is None and empty_json["results"]["ci_high"] is None
    assert empty_json["results"]["control"]["outcomes"] == 0

    # 60 outcomes per arm: the numbers are the Welch test of exactly these values.
    rng = np.random.default_rng(7)
    values = {"control": rng.gamma(2.0, 0.5, 60), "treatment": rng.gamma(2.0, 0.4, 60)}
    await _log_outcomes(db, 1, values)
    live = (await cli(capsys, db, "--json", "experiments", "show", "1")).json()["results"]
    c, t = values["control"], values["treatment"]
    assert (live["control"]["predictions"], live["control"]["outcomes"]) == (60, 60)
    assert live["control"]["metric_mean"] == pytest.approx(c.mean())
    assert live["treatment"]["metric_std"] == pytest.approx(t.std(ddof=1))
    assert live["difference"] == pytest.approx(t.mean() - c.mean())
    assert live["p_value"] == pytest.approx(stats.ttest_ind(t, c, equal_var=False).pvalue)
    assert live["ci_low"] < live["difference"] < live["ci_high"]
    assert 0.0 < live["sequential_p_value"] <= 1.0
    assert live["cs_low"] < live["difference"] < live["cs_high"]
    # The always-valid interval is wider than the fixed-horizon one at any single look.
    assert live["cs_low"] < live["ci_low"] and live["ci_high"] < live["cs_high"]
    human = await cli(capsys, db, "experiments", "show", "1")
    assert f"(treatment - control), fixed-horizon 95% CI [{live['ci_low']:.6g}," in human.stdout
    assert f"95% CI [{live['cs_low']:.6g}," in human.stdout and "what decides" in human.stdout
    assert "valid for a single look only" in human.stdout

    pause = await cli(capsys, db, "experiments", "pause", "1", "--reason", "data outage")
    assert pause.stdout.strip().endswith(": now paused"), pause.stderr
    paused = await cli(capsys, db, "--json", "experiments", "list", "--state", "paused")
    assert [e["id"] for e in paused.json()] == [1]
    resumed = await cli(capsys, db, "experiments", "resume", "1")
    assert resumed.code == 0, resumed.stderr
    assert resumed.stdout.strip().endswith(": now running")
    stopped = await cli(capsys, db, "experiments", "stop", "1", "--reason", "enough seen")
    assert stopped.code == 0, stopped.stderr
    assert stopped.stdout.strip() == (
        "stopped experiment 1 'aa' on signal: control 1.0.0, treatment 1.0.1: now stopped"
    )
    assert stopped.stderr == ""

    # Outcomes of earlier predictions arriving after the stop leave the stored results alone.
    await _log_outcomes(db, 1, {"treatment": rng.gamma(2.0, 5.0, 10)}, start=100)
    after = (await cli(capsys, db, "--json", "experiments", "show", "1")).json()
    assert after["experiment"]["state"] == "stopped"
    assert after["experiment"]["end_reason"] == "enough seen"
    assert after["experiment"]["ended_at"] is not None
    assert after["results"] == live | {"sequential_p_value": after["results"]["sequential_p_value"]}
    shown = _fields((await cli(capsys, db, "experiments", "show", "1")).stdout)
    assert shown["state"] == "stopped: enough seen"
    assert shown["winner"].startswith("none")  # a stop records no winner

    registry = await Registry.open(db)
    try:
        trail = await registry.experiment_history(1)
    finally:
        await registry.close()
    assert [(s.to_state.value, s.actor, s.reason) for s in trail] == [
        ("running", "tester", ""),
        ("paused", "ops", "data outage"),
        ("running", "ops", ""),
        ("stopped", "ops", "enough seen"),
    ]


async def test_experiments_local_errors_are_one_line_exit_1_usage_errors_exit_2(
    two_versions: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = two_versions
    base = ("experiments", "create", "signal", "--control", "1.0.0", "--treatment", "1.0.1")
    assert (await cli(capsys, db, *base, "--metric", "accuracy")).code == 0

    second = error_line(run_cli(db, *base, "--metric", "reward"))  # a real process
    assert "model 'signal' already has an active experiment (experiment 1)" in second
    unknown = error_line(await cli(capsys, db, "experiments", "show", "999"))
    assert unknown == "galgate: error: experiment 999 does not exist"
    assert "experiment 999 does not exist" in error_line(
        await cli(capsys, db, "experiments", "pause", "999")
    )
    missing = error_line(await cli(capsys, db, *base[:6], "9.9.9", "--metric", "accuracy"))
    assert "has no version '9.9.9'" in missing

    assert (await cli(capsys, db, "experiments", "stop", "1")).code == 0
    resume = error_line(await cli(capsys, db, "experiments", "resume", "1"))
    assert "cannot move experiment 1 from stopped to running; stopped is final" in resume
    past = error_line(
        await cli(capsys, db, *base, "--metric", "accuracy", "--end-time", "2020-01-01T00:00Z")
    )
    assert "end_time must be in the future" in past

    for flags, expected in (
        (("--metric", "accuracy", "--split", "1.5"), "expected a number between 0 and 1"),
        (("--metric", "accuracy", "--epsilon", "0"), "expected a number in (0, 1]"),
        (("--metric", "mse"), "invalid choice: 'mse'"),
        (("--metric", "accuracy", "--end-time", "2030-01-01T00:00"), "with a UTC offset"),
        (("--metric", "accuracy", "--duration", "2 hours"), "expected a span such as 90m"),
        (
            ("--metric", "accuracy", "--duration", "2h", "--end-time", "2030-01-01T00:00Z"),
            "not allowed with argument",
        ),
    ):
        usage = error_line(await cli(capsys, db, *base, *flags), code=2)
        assert expected in usage, usage
    assert "expected an experiment id" in error_line(
        await cli(capsys, db, "experiments", "show", "x"), code=2
    )
    [only] = (await cli(capsys, db, "--json", "experiments", "list")).json()
    assert only["state"] == "stopped"


async def test_experiments_remote_create_show_stop_match_local_output(
    remote: Remote, cli_files: CliFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    await _register_two_versions(remote.registry, cli_files)
    # auto-promotion moves a staging version to production, so the treatment is staged
    await remote.registry.transition("signal", "1.0.1", Stage.STAGING, actor="test")
    server = ("--server", remote.address)
    local = ("--db", remote.db)
    before = datetime.now(UTC)
    created = await galgate(
        capsys, "--json", "experiments", "create", "signal", "--control", "1.0.0",
        "--treatment", "1.0.1", "--strategy", "weighted", "--split", "0.25", "--metric",
        "absolute_error", "--confidence", "0.9", "--mde", "0.05", "--min-samples", "50",
        "--max-loss", "0.2", "--duration", "2h", "--auto-promote", "--name", "gbm-v2",
        "--description", "new features", *server,
    )  # fmt: skip
    assert created.code == 0, created.stderr
    experiment = created.json()
    assert experiment["state"] == "running"
    spec = experiment["spec"]
    assert spec == spec | {
        "model": "signal", "control_version": "1.0.0", "treatment_version": "1.0.1",
        "strategy": "weighted", "split": 0.25, "metric": "absolute_error", "confidence": 0.9,
        "min_detectable_effect": 0.05, "min_samples": 50, "max_loss": 0.2,
        "auto_promote": True, "name": "gbm-v2", "description": "new features",
    }  # fmt: skip
    end = datetime.fromisoformat(spec["end_time"])
    assert before + timedelta(hours=2) <= end <= datetime.now(UTC) + timedelta(hours=2)

    # Through the gateway and straight from its database: the same JSON and tables.
    for args in (("experiments", "list"), ("experiments", "show", "1")):
        for json_flag in (("--json",), ()):
            via_server = await galgate(capsys, *json_flag, *args, *server)
            via_db = await galgate(capsys, *json_flag, *args, *local)
            assert via_server.code == via_db.code == 0, via_server.stderr + via_db.stderr
            assert via_server.stdout == via_db.stdout
    report = (await galgate(capsys, "--json", "experiments", "show", "1", *server)).json()
    assert report["experiment"] == experiment
    assert report["results"]["recommendation"].startswith("keep collecting: 0 of 50")
    shown = _fields((await galgate(capsys, "experiments", "show", "1", *server)).stdout)
    assert shown["strategy"] == "weighted (treatment share 0.25)"
    assert shown["max loss"] == "0.2"

    second = await galgate(
        capsys, "experiments", "create", "signal", "--control", "1.0.1", "--treatment",
        "1.0.0", "--metric", "reward", *server,
    )  # fmt: skip
    line = error_line(second)
    assert "(experiment 1)" in line and line.endswith("(FAILED_PRECONDITION)")
    unknown = error_line(await galgate(capsys, "experiments", "show", "42", *server))
    assert unknown == "galgate: error: experiment 42 does not exist (NOT_FOUND)"

    paused = await galgate(capsys, "experiments", "pause", "1", "--reason", "check", *server)
    assert paused.stdout.strip().endswith(": now paused"), paused.stderr
    stopped = await galgate(
        capsys, "--json", "experiments", "stop", "1", "--reason", "bad data", *server
    )
    assert stopped.code == 0, stopped.stderr
    assert (stopped.json()["state"], stopped.json()["end_reason"]) == ("stopped", "bad data")
    again = error_line(await galgate(capsys, "experiments", "stop", "1", *server))
    assert "stopped is final" in again and again.endswith("(FAILED_PRECONDITION)")
    after_server = await galgate(capsys, "--json", "experiments", "show", "1", *server)
    after_db = await galgate(capsys, "--json", "experiments", "show", "1", *local)
    assert after_server.json() == after_db.json()
    assert after_server.json()["experiment"] == stopped.json()
    trail = await remote.registry.experiment_history(1)
    assert [(s.to_state.value, s.actor) for s in trail][-1] == ("stopped", "ops")


def test_experiments_cli_choices_are_what_the_gateway_serves() -> None:
    """The names are defined once (the registry); every door offers the same ones."""
    from gateway.cli import experiments as cli_experiments
    from gateway.routing import STRATEGY_NAMES, make_strategy
    from gateway.stats import METRICS, metric_named

    parser = cli_experiments.__dict__
    assert tuple(parser["STRATEGIES"]) == STRATEGY_NAMES and tuple(parser["METRICS"]) == tuple(
        METRICS
    )
    for name in STRATEGY_NAMES:
        assert make_strategy(name).name == name
    for name in METRICS:
        assert metric_named(name).name == name
