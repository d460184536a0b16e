"""`galgate ... --server`: the CLI against a real in-process gateway on a SQLite registry.

The gateway runs on this test's event loop, so the CLI runs off it: in-process
``main()`` in a worker thread (``asyncio.to_thread``) for most cases, and a few real
``python -m gateway.cli`` processes started with ``asyncio.create_subprocess_exec``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from converters import load_table
from gateway.cli.remote import RemoteBackend, RemoteError, RemoteTarget
from gateway.registration import register_onnx
from registry import Stage
from registry.store.registry import Registry
from tests.cli.conftest import (
    FEATURES,
    CliFiles,
    CliResult,
    Remote,
    StartGateway,
    error_line,
    galgate,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def served(remote: Remote, cli_files: CliFiles) -> Remote:
    """The gateway with model "signal" 1.0.0 (the sklearn classifier as ONNX) in production."""
    table = load_table(cli_files.csv, target="label")
    onnx = cli_files.onnx_model.read_bytes()
    await register_onnx(remote.registry, "signal", onnx, table.X, feature_names=FEATURES)
    for stage in (Stage.STAGING, Stage.PRODUCTION):
        await remote.registry.transition("signal", "1.0.0", stage, actor="test")
    return remote


async def galgate_process(*args: str, **env: str) -> asyncio.subprocess.Process:
    """Start `python -m gateway.cli ARGS` as a real process (stdout/stderr piped)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("GALGATE_TOKEN", "GALGATE_DEBUG")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**environ, "USER": "tester", **env},
        cwd=ROOT,
    )


async def finished(proc: asyncio.subprocess.Process) -> CliResult:
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


async def local_run(
    registry: Registry, version: str, X: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Class labels and probabilities of a stored version, run here with onnxruntime."""
    stored, onnx = await registry.load_version_artifact("signal", version)
    signature = stored.spec.signature
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(
        [signature["label_output"], signature["probability_output"]],
        {signature["input_name"]: X.astype(np.float32)},
    )
    return [str(label) for label in np.asarray(labels).ravel()], np.asarray(probabilities)


def assert_prediction_matches(answer: dict, labels: list[str], probabilities: np.ndarray) -> None:
    got = np.array(
        [[row["probabilities"][c] for c in answer["class_labels"]] for row in answer["rows"]]
    )
    np.testing.assert_allclose(got, probabilities, rtol=1e-6, atol=1e-7)
    assert [row["label"] for row in answer["rows"]] == labels


async def test_remote_lifecycle_register_promote_predict_rollback_matches_local(
    remote: Remote, cli_files: CliFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ("--server", remote.address)
    registered = await galgate(
        capsys,
        "--json",
        *cli_files.register_args(
            cli_files.sklearn_model, "--tag", "desk=crypto", "--description", "three-class signal"
        ),
        *server,
    )
    assert registered.code == 0, registered.stderr
    version = registered.json()["version"]
    assert (version["version"], version["stage"]) == ("1.0.0", "development")
    assert version["spec"]["features"] == list(FEATURES)
    assert version["spec"]["tags"] == {"desk": "crypto"}
    assert version["spec"]["hyperparameters"]["n_estimators"] == 15
    assert version["spec"]["metrics"]["accuracy"] > 0.5
    assert version["has_profile"] is True
    assert registered.json()["parity"] is not None  # conversion and parity ran in the CLI

    # The same version read through the gateway and straight from the database.
    via_server = await galgate(capsys, "--json", "models", "show", "signal", *server)
    via_db = await galgate(capsys, "--db", remote.db, "--json", "models", "show", "signal")
    assert via_server.code == via_db.code == 0, via_server.stderr + via_db.stderr
    assert via_server.json() == via_db.json()
    table_server = await galgate(capsys, "models", "show", "signal", "1.0.0", *server)
    table_db = await galgate(capsys, "--db", remote.db, "models", "show", "signal", "1.0.0")
    assert table_server.stdout == table_db.stdout

    for stage in ("staging", "production"):
        moved = await galgate(capsys, "promote", "signal", "1.0.0", "--to", stage, *server)
        assert moved.code == 0, moved.stderr
        assert moved.stdout.strip() == f"moved signal 1.0.0: now {stage}"

    data = load_table(cli_files.csv, target="label")
    row = ",".join(f"{name}={float(v)!r}" for name, v in zip(FEATURES, data.X[0], strict=True))
    one = await galgate(
        capsys, "--json", "predict", "--model", "signal", "--features", row, *server
    )
    assert one.code == 0, one.stderr
    answer = one.json()
    assert (answer["model"], answer["version"], answer["arm"]) == ("signal", "1.0.0", "production")
    assert answer["prediction_id"]
    labels, probabilities = await local_run(remote.registry, "1.0.0", data.X)
    assert_prediction_matches(answer, labels[:1], probabilities[:1])

    rows = await galgate(
        capsys, "--json", "predict", "--model", "signal", "--rows", str(cli_files.csv),
        "--target", "label", *server,
    )  # fmt: skip
    assert rows.code == 0, rows.stderr
    assert rows.json()["version"] == "1.0.0"
    assert len(rows.json()["rows"]) == len(data.X)
    assert_prediction_matches(rows.json(), labels, probabilities)

    human = await galgate(capsys, "predict", "--model", "signal", "--features", row, *server)
    assert human.code == 0, human.stderr
    head, columns, first = human.stdout.strip().splitlines()
    assert "model signal  version 1.0.0  arm production" in head
    assert columns.split() == ["ROW", "LABEL", "P(0)", "P(1)", "P(2)"]
    assert first.split()[:2] == ["0", labels[0]]

    second = await galgate(capsys, *cli_files.register_args(cli_files.onnx_model), *server)
    assert second.code == 0, second.stderr
    assert second.stdout.startswith("registered signal 1.0.1 (development)")
    for stage in ("staging", "production"):
        moved = await galgate(capsys, "promote", "signal", "1.0.1", "--to", stage, *server)
        assert moved.code == 0, moved.stderr
    pinned_new = await galgate(
        capsys, "--json", "predict", "--model", "signal", "--features", row, *server
    )
    assert pinned_new.json()["version"] == "1.0.1"

    rolled = await galgate(capsys, "--json", "rollback", "signal", "--reason", "worse", *server)
    assert rolled.code == 0, rolled.stderr
    assert (rolled.json()["version"], rolled.json()["stage"]) == ("1.0.0", "production")
    after = await galgate(
        capsys, "--json", "predict", "--model", "signal", "--features", row, *server
    )
    assert after.json()["version"] == "1.0.0"  # the gateway swapped back before answering

    history = await galgate(capsys, "--json", "history", "signal", *server)
    assert history.code == 0, history.stderr
    steps = history.json()
    assert (steps[-1]["kind"], steps[-1]["version"], steps[-1]["reason"]) == (
        "rollback",
        "1.0.0",
        "worse",
    )
    assert {s["actor"] for s in steps} == {"ops"}  # sent as x-galgate-actor
    local_history = await galgate(capsys, "--db", remote.db, "--json", "history", "signal")
    assert local_history.json() == steps

    status = await galgate(capsys, "--json", "status", *server)
    assert status.code == 0, status.stderr
    state = status.json()
    assert state["serving"] is True
    assert state["failures"] == []
    roles = {(v["name"], v["version"]): v["role"] for v in state["loaded"]}
    assert roles[("signal", "1.0.0")] == "production"
    status_text = await galgate(capsys, "status", *server)
    assert f"gateway {remote.address}: serving" in status_text.stdout
    assert "no load failures" in status_text.stdout

    events = await galgate(capsys, "--json", "events", "--after", "0", *server)
    assert events.code == 0, events.stderr
    backlog = events.json()
    ids = [e["id"] for e in backlog]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["kind"] for e in backlog].count("version_registered") == 2
    tail = await galgate(capsys, "events", "--after", str(ids[-2]), *server)
    assert tail.code == 0, tail.stderr
    assert len(tail.stdout.strip().splitlines()) == 1
    assert tail.stdout.split()[0] == str(ids[-1])


async def test_remote_errors_print_the_server_details_and_code(
    served: Remote, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ("--server", served.address)
    unknown = await galgate(capsys, "models", "show", "no-such-model", *server)
    line = error_line(unknown)
    assert "no-such-model" in line and line.endswith("(NOT_FOUND)")

    not_served = await galgate(capsys, "predict", "--model", "nope", "--features", "a=1", *server)
    assert "'nope'" in error_line(not_served) and "(NOT_FOUND)" in not_served.stderr

    bad = await galgate(
        capsys, "predict", "--model", "signal", "--features", "ret_1m=0.1,bogus=2", *server
    )
    line = error_line(bad)
    assert line.endswith("(INVALID_ARGUMENT)")
    assert "missing features ['ret_5m', 'imbalance', 'spread_bps', 'volume_z']" in line
    assert "unknown features ['bogus']" in line

    wrong_stage = await galgate(
        capsys, "promote", "signal", "1.0.0", "--to", "development", *server
    )
    line = error_line(wrong_stage)
    assert "allowed from production: staging, archived" in line
    assert line.endswith("(FAILED_PRECONDITION)")
    archive = await galgate(capsys, "archive", "signal", "1.0.0", *server)
    line = error_line(archive)
    assert "pass --force" in line and line.endswith("(FAILED_PRECONDITION)")

    usage = await galgate(capsys, "predict", "--model", "signal", "--features", "ret_1m", *server)
    assert usage.code == 2
    assert "NAME=NUMBER" in usage.stderr
    needs_server = await galgate(capsys, "status")
    assert needs_server.code == 2 and "--server" in needs_server.stderr
    stray_token = await galgate(capsys, "--db", served.db, "models", "list", "--token", "x")
    assert stray_token.code == 2 and "--token needs --server" in stray_token.stderr


async def test_remote_admin_token_missing_or_wrong_is_unauthenticated_right_one_works(
    start_gateway: StartGateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = await start_gateway(admin_token="s3cret")
    server = ("--server", remote.address)

    missing = await galgate(capsys, "models", "list", *server)
    line = error_line(missing)
    assert "missing bearer token" in line and line.endswith("(UNAUTHENTICATED)")
    wrong = await galgate(capsys, "models", "list", *server, "--token", "guess")
    line = error_line(wrong)
    assert "wrong bearer token" in line and line.endswith("(UNAUTHENTICATED)")

    right = await galgate(capsys, "models", "list", *server, "--token", "s3cret")
    assert right.code == 0, right.stderr
    assert right.stdout.strip() == "no models registered"
    monkeypatch.setenv("GALGATE_TOKEN", "s3cret")
    from_env = await galgate(capsys, "--json", "status", *server)
    assert from_env.code == 0, from_env.stderr
    assert from_env.json()["loaded"] == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_remote_unreachable_server_prints_one_line_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    result = await galgate(capsys, "models", "list", "--server", address)
    line = error_line(result)
    assert f"could not reach the galgate server at {address}" in line
    assert line.endswith("(UNAVAILABLE)")


async def test_remote_backend_server_that_never_answers_gives_up_after_connect_timeout() -> None:
    """A socket that accepts TCP but never speaks HTTP/2: the connection never gets ready."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        target = RemoteTarget(address, connect_timeout=0.5)
        with pytest.raises(RemoteError) as err:
            await asyncio.to_thread(RemoteBackend.connect, target)
    assert err.value.code == "UNAVAILABLE"
    assert f"could not reach the galgate server at {address}: no connection within 0.5 s" in str(
        err.value
    )


async def test_remote_processes_predict_and_follow_events_as_a_user_would(
    served: Remote, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real `galgate` processes: stderr stays one line, --follow streams new events."""
    values = ",".join(f"{name}=0.25" for name in FEATURES)
    predicted = await finished(
        await galgate_process(
            "predict", "--server", served.address, "--model", "signal", "--features", values
        )
    )
    assert predicted.code == 0, predicted.stderr
    assert "model signal  version 1.0.0  arm production" in predicted.stdout
    assert predicted.stderr == ""

    # --tls against this plaintext gateway: the handshake fails; grpc's own log stays quiet.
    handshake = await finished(await galgate_process("status", "--server", served.address, "--tls"))
    line = error_line(handshake)
    assert f"could not reach the galgate server at {served.address} over TLS" in line
    assert line.endswith("(UNAVAILABLE)")

    follow = await galgate_process(
        "--json", "events", "--server", served.address, "--after", "0", "--follow"
    )
    try:
        backlog = [
            json.loads(await asyncio.wait_for(follow.stdout.readline(), timeout=30))  # type: ignore[union-attr]
            for _ in range(3)  # registered, staging, production
        ]
        assert [e["kind"] for e in backlog] == ["version_registered", *["stage_changed"] * 2]
        moved = await galgate(
            capsys, "promote", "signal", "1.0.0", "--to", "staging", "--server", served.address
        )
        assert moved.code == 0, moved.stderr
        line = await asyncio.wait_for(follow.stdout.readline(), timeout=30)  # type: ignore[union-attr]
        event = json.loads(line)
        assert (event["id"], event["kind"], event["version"]) == (
            backlog[-1]["id"] + 1,
            "stage_changed",
            "1.0.0",
        )
        assert event["payload"]["to"] == "staging"
        follow.send_signal(signal.SIGINT)  # Ctrl-C: the usual way to stop following
        stopped = await finished(follow)
        assert (stopped.code, stopped.stderr) == (130, "")
    finally:
        if follow.returncode is None:
            follow.kill()
            await follow.wait()
