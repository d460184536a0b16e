"""`galgate` failures a user can cause: one 'galgate: error:' line, exit 2 (usage) or 1."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from gateway.cli import main
from gateway.cli.errors import report_expected
from tests.cli.conftest import CliFiles, CliResult, error_line, run_cli


def _main(capsys: pytest.CaptureFixture[str], db: Path | str, *args: str) -> CliResult:
    """`galgate --db DB ARGS` in-process."""
    code = main(["--db", str(db), "--actor", "ops", *args])
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("models", "list", "--tls"), "--tls needs --server HOST:PORT"),
        (("models", "list", "--server", "gw"), "argument --server: expected HOST:PORT, got 'gw'"),
        (("events", "--server", "gw:1", "--after", "-1"), "expected an event id (0 or more)"),
        (("predict", "--model", "m", "--features", "a=1"), "arguments are required: --server"),
        (("demo", "--server", "gw:1"), "unrecognized arguments: --server gw:1"),
        (
            ("register", "m.joblib", "--name", "m", "--data", "d.csv", "--tag", "desk"),
            "--tag expects KEY=VALUE, got 'desk'",
        ),
        (("serve", "--workers", "0"), "argument --workers: expected a whole number >= 1, got '0'"),
        (("serve", "--listen", "50051"), "argument --listen: expected HOST:PORT, got '50051'"),
        (("serve", "--metrics-listen", "9100"), "argument --metrics-listen: expected HOST:PORT"),
    ],
)
def test_cli_usage_error_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    line = error_line(_main(capsys, tmp_path / "g.db", *args), code=2)
    assert expected in line
    assert not (tmp_path / "g.db").exists()  # refused before anything was opened


def test_cli_serve_bad_setting_in_environment_exits_2_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALGATE_POLL_INTERVAL", "soon")
    result = _main(capsys, tmp_path / "g.db", "serve", "--listen", "127.0.0.1:0")
    assert "GALGATE_POLL_INTERVAL='soon'" in error_line(result, code=2)
    assert result.stdout == ""


def test_cli_database_that_cannot_be_opened_prints_one_line_without_password_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_dir = tmp_path / "missing" / "g.db"
    line = error_line(_main(capsys, missing_dir, "models", "list"))
    assert line == (
        f"galgate: error: cannot open database sqlite+aiosqlite:///{missing_dir}: "
        "unable to open database file"
    )

    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n" * 100)
    assert "file is not a database" in error_line(_main(capsys, not_a_db, "models", "list"))

    refused = error_line(
        _main(capsys, "postgresql+asyncpg://ops:s3cret@127.0.0.1:1/galgate", "models", "list")
    )
    assert "cannot open database postgresql+asyncpg://ops:***@127.0.0.1:1/galgate" in refused
    assert "s3cret" not in refused


def test_cli_register_unusable_files_print_one_line_and_exit_1(
    tmp_path: Path, cli_files: CliFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    not_a_model = error_line(_main(capsys, db, *cli_files.register_args(cli_files.csv)))
    assert f"cannot load estimator from '{cli_files.csv}'" in not_a_model
    assert "expected a joblib/pickle file of a fitted estimator or an .onnx file" in not_a_model

    absent = tmp_path / "absent.joblib"
    missing = error_line(_main(capsys, db, *cli_files.register_args(absent)))
    assert missing == f"galgate: error: model file '{absent}' not found"

    directory = (
        "register", str(cli_files.sklearn_model), "--name", "signal", "--data", str(tmp_path),
    )  # fmt: skip
    assert f"data file '{tmp_path}' is not a file" in error_line(_main(capsys, db, *directory))
    assert "no models registered" in _main(capsys, db, "models", "list").stdout


def test_report_expected_os_and_database_errors_are_one_line_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report_expected(FileNotFoundError(2, "No such file or directory", "rows.csv")) == 1
    assert capsys.readouterr().err == "galgate: error: No such file or directory: rows.csv\n"

    failed = OperationalError("INSERT ...", {}, sqlite3.OperationalError("disk I/O error"))
    assert report_expected(failed) == 1
    assert capsys.readouterr().err == "galgate: error: database error: disk I/O error\n"


def test_report_expected_unexpected_exception_prints_nothing_returns_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report_expected(ZeroDivisionError("a bug")) is None
    assert capsys.readouterr().err == ""


def test_serve_on_a_busy_port_is_one_line(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "serve",
                "--db",
                str(tmp_path / "g.db"),
                "--listen",
                address,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("galgate:")]
    assert lines == [
        f"galgate: error: cannot listen on {address}: the port is in use or the "
        "host is not an address of this machine"
    ]


def test_cli_output_into_a_closed_pipe_ends_quietly_with_141(sqlite_url: str) -> None:
    """`galgate history m | head -0`: the reader is gone before the first line."""
    registry_ready = run_cli(sqlite_url, "demo")
    assert registry_ready.code == 0, registry_ready.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "--db", sqlite_url, "history", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # nobody will read what it prints
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 141
    assert stderr == ""


def test_serve_never_prints_the_database_password(tmp_path):
    """The registry is down: the gateway listens, says so, and masks the password."""
    import signal
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql+asyncpg://ops:s3cretPW@127.0.0.1:{dead_port}/galgate"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--db", url, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = ""
        while "serving on 127.0.0.1:" not in first:
            line = proc.stdout.readline()
            assert line, first
            first += line
        time.sleep(1.5)  # at least one retry is logged
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    output = first + proc.stdout.read()  # what readline() buffered is read here too
    assert proc.returncode == 0, output
    assert "s3cretPW" not in output
    assert f"ops:***@127.0.0.1:{dead_port}/galgate" in output
    assert "registry not reachable yet" in output
