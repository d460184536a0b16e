"""End-to-end `galgate` CLI runs in subprocesses on fresh SQLite files and a Postgres database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from tests.cli.conftest import FEATURES, CliFiles, CliResult, run_cli, stderr_line


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `galgate --db DB ARGS` in this process (the console script's code path), as
    user 'tester'; one real subprocess per test is enough to cover process start."""
    monkeypatch.setenv("USER", "tester")
    monkeypatch.delenv("GALGATE_DEBUG", raising=False)

    def run(db: str, *args: str) -> CliResult:
        capsys.readouterr()
        code = main(["--db", db, *args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def _versions(db: str, name: str, run=run_cli) -> dict[str, str]:
    result = run(db, "--json", "models", "show", name)
    assert result.code == 0, result.stderr
    return {v["version"]: v["stage"] for v in result.json()["versions"]}


def test_cli_lifecycle_register_promote_rollback_history_records_every_step(
    cli_files: CliFiles, db_url: str, cli
) -> None:
    """Runs on a SQLite file and on PostgreSQL (the shared ``db_url`` fixture)."""
    db = db_url
    first = run_cli(
        db, *cli_files.register_args(cli_files.sklearn_model, "--tag", "desk=crypto", "--json")
    )
    assert first.code == 0, first.stderr
    registered = first.json()
    assert registered["version"]["version"] == "1.0.0"
    assert registered["version"]["stage"] == "development"
    assert registered["version"]["spec"]["features"] == list(FEATURES)
    assert registered["version"]["spec"]["tags"] == {"desk": "crypto"}
    assert registered["version"]["has_profile"] is True
    assert registered["parity"] is not None

    listed = cli(db, "models", "list")
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split() == ["NAME", "PRODUCTION", "VERSIONS", "LATEST", "REGISTERED"]
    assert row.split()[:4] == ["signal", "-", "1", "1.0.0"]

    staged = cli(db, "promote", "signal", "1.0.0", "--to", "staging", "--reason", "canary")
    assert staged.code == 0, staged.stderr
    assert "staging" in staged.stdout
    live = cli(db, "--json", "promote", "signal", "1.0.0", "--to", "production")
    assert live.code == 0, live.stderr
    assert live.json()["stage"] == "production"

    second = cli(db, *cli_files.register_args(cli_files.xgboost_model))
    assert second.code == 0, second.stderr
    assert second.stdout.startswith("registered signal 1.0.1 (development)")
    assert "parity" in second.stdout
    for stage in ("staging", "production"):
        moved = cli(db, "promote", "signal", "1.0.1", "--to", stage)
        assert moved.code == 0, moved.stderr
    assert _versions(db, "signal", cli) == {"1.0.0": "staging", "1.0.1": "production"}

    rolled = cli(db, "rollback", "signal", "--reason", "worse pnl", "--json")
    assert rolled.code == 0, rolled.stderr
    assert (rolled.json()["version"], rolled.json()["stage"]) == ("1.0.0", "production")

    history = cli(db, "--json", "history", "signal")
    assert history.code == 0, history.stderr
    steps = history.json()
    assert steps[-1]["kind"] == "rollback"
    assert steps[-1]["version"] == "1.0.0"
    assert steps[-1]["to_stage"] == "production"
    assert steps[-1]["reason"] == "worse pnl"
    assert {s["actor"] for s in steps} == {"tester"}
    assert [s["kind"] for s in steps].count("register") == 2

    table = cli(db, "history", "signal")
    assert table.code == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "AT",
        "VERSION",
        "FROM",
        "TO",
        "KIND",
        "ACTOR",
        "REASON",
    ]
    assert "rollback" in table.stdout.splitlines()[-1]


def test_cli_errors_print_one_line_and_exit_nonzero(
    cli_files: CliFiles, sqlite_url: str, cli
) -> None:
    db = sqlite_url
    ok = run_cli(db, *cli_files.register_args(cli_files.onnx_model, "--version", "2.0.0"))
    assert ok.code == 0, ok.stderr
    assert "not checked" in ok.stdout  # ready-made ONNX: no parity to compute

    unknown = cli(db, "models", "show", "no-such-model")
    assert unknown.code == 1
    assert "no-such-model" in stderr_line(unknown.stderr)

    invalid = cli(db, "promote", "signal", "2.0.0", "--to", "production")
    assert invalid.code == 1
    line = stderr_line(invalid.stderr)
    assert "development" in line and "production" in line
    assert "allowed from development: staging, archived" in line

    garbage = cli(db, *cli_files.register_args(cli_files.garbage_onnx))
    assert garbage.code == 1
    stderr_line(garbage.stderr)
    assert _versions(db, "signal", cli) == {"2.0.0": "development"}

    missing = cli(
        db,
        "register",
        str(cli_files.sklearn_model),
        "--name",
        "signal",
        "--data",
        str(cli_files.csv.with_name("nope.csv")),
    )
    assert missing.code == 1
    assert "nope.csv" in stderr_line(missing.stderr)

    usage = cli(db, "register", str(cli_files.sklearn_model), "--data", str(cli_files.csv))
    assert usage.code == 2
    assert "--name" in stderr_line(usage.stderr)


def test_cli_demo_registers_once_and_serves_from_production(tmp_path: Path, cli) -> None:
    db = str(tmp_path / "demo.db")  # a plain path means an embedded SQLite file
    first = run_cli(db, "demo")
    assert first.code == 0, first.stderr
    assert "production" in first.stdout
    again = cli(db, "--json", "demo")
    assert again.code == 0, again.stderr
    assert again.json() == {"created": False, "version": None}
    assert _versions(db, "demo", cli) == {"1.0.0": "production"}


def test_cli_archive_production_needs_force_and_rollback_needs_a_previous_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process `main()` (same code path as the console script, no subprocess)."""
    db = ["--db", str(tmp_path / "archive.db"), "--actor", "ops"]
    assert main([*db, "demo"]) == 0
    capsys.readouterr()

    assert main([*db, "archive", "demo", "1.0.0"]) == 1
    assert "pass --force" in stderr_line(capsys.readouterr().err)

    assert main([*db, "rollback", "demo"]) == 1
    assert "no previous production version" in stderr_line(capsys.readouterr().err)

    assert main([*db, "--json", "archive", "demo", "1.0.0", "--force", "--reason", "retired"]) == 0
    archived = json.loads(capsys.readouterr().out)
    assert (archived["version"], archived["stage"]) == ("1.0.0", "archived")
    assert main([*db, "models", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["demo", "-"]
