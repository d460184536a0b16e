"""The doors agree: one sequence of admin operations through the gRPC API, the CLI through
a gateway (``--server``) and the CLI on the database (``--db``) leaves the same registry
state and audit trail, and fails with the same errors."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import grpc
import numpy as np

from converters import build_profile, load_table
from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc
from registry.store.registry import Registry
from tests.cli.conftest import FEATURES, CliFiles, galgate

# (operation, arguments); each step either succeeds or fails with a message.
STEPS: list[tuple[str, dict]] = [
    ("register", {"version": "1.0.0", "reason": "first"}),
    ("promote", {"version": "1.0.0", "stage": "staging", "reason": "canary"}),
    ("promote", {"version": "1.0.0", "stage": "production", "reason": "go"}),
    ("register", {"version": "1.0.1", "reason": "second"}),
    ("promote", {"version": "1.0.1", "stage": "production", "reason": "skip staging"}),  # fails
    ("promote", {"version": "1.0.1", "stage": "staging", "reason": "canary"}),
    ("promote", {"version": "1.0.1", "stage": "production", "reason": "better"}),
    ("rollback", {"reason": "worse pnl"}),
    ("archive", {"version": "1.0.0", "reason": "retire"}),  # fails: production needs force
    # fails: the treatment is in production, and auto-promotion moves staging versions
    ("create", {"control": "1.0.1", "treatment": "1.0.0", "auto_promote": True}),
    ("create", {"control": "1.0.0", "treatment": "1.0.1", "auto_promote": True}),
    ("stop", {"reason": "enough seen"}),
    ("archive", {"version": "1.0.1", "reason": "retire"}),
    ("rollback", {"reason": "again"}),  # fails: the previous one is archived
]

Door = Callable[[str, dict], Awaitable[str]]  # runs one step; returns "" or the error text


def _grpc_door(address: str, cli_files: CliFiles | None) -> Door:
    metadata = (("x-galgate-actor", "ops"),)

    async def run(op: str, args: dict) -> str:
        async with grpc.aio.insecure_channel(address) as channel:
            admin = admin_pb2_grpc.ModelAdminStub(channel)
            try:
                if op == "register":
                    assert cli_files is not None
                    table = load_table(cli_files.csv, target="label")
                    onnx = cli_files.onnx_model.read_bytes()
                    profile = build_profile(np.asarray(table.X), FEATURES).to_bytes()
                    header = apb.RegisterModelHeader(
                        name="signal",
                        version=args["version"],
                        reason=args["reason"],
                        features=list(FEATURES),
                    )

                    async def upload():
                        yield apb.RegisterModelRequest(header=header)
                        yield apb.RegisterModelRequest(artifact_chunk=onnx)
                        yield apb.RegisterModelRequest(profile_chunk=profile)

                    await admin.RegisterModel(upload(), metadata=metadata)
                elif op == "promote":
                    await admin.PromoteModel(
                        apb.PromoteModelRequest(name="signal", **args), metadata=metadata
                    )
                elif op == "rollback":
                    await admin.RollbackModel(
                        apb.RollbackModelRequest(name="signal", **args), metadata=metadata
                    )
                elif op == "archive":
                    await admin.ArchiveModel(
                        apb.ArchiveModelRequest(name="signal", **args), metadata=metadata
                    )
                elif op == "create":
                    await admin.CreateExperiment(
                        apb.CreateExperimentRequest(
                            model="signal",
                            control_version=args["control"],
                            treatment_version=args["treatment"],
                            metric="accuracy",
                            auto_promote=args["auto_promote"],
                        ),
                        metadata=metadata,
                    )
                elif op == "stop":
                    await admin.StopExperiment(
                        apb.ExperimentStateRequest(id=1, reason=args["reason"]), metadata=metadata
                    )
            except grpc.aio.AioRpcError as exc:
                # The one difference in wording: the API's field is force=True, the
                # CLI's flag --force.
                return exc.details().replace("force=True", "--force")
        return ""

    return run


def _cli_door(capsys, cli_files: CliFiles | None, where: tuple[str, ...]) -> Door:
    async def run(op: str, args: dict) -> str:
        argv: list[str]
        if op == "register":
            assert cli_files is not None
            argv = [
                "register", str(cli_files.onnx_model), "--name", "signal", "--data",
                str(cli_files.csv), "--target", "label", "--version", args["version"],
                "--reason", args["reason"],
            ]  # fmt: skip
        elif op == "promote":
            argv = ["promote", "signal", args["version"], "--to", args["stage"]]
            argv += ["--reason", args["reason"]]
        elif op == "rollback":
            argv = ["rollback", "signal", "--reason", args["reason"]]
        elif op == "archive":
            argv = ["archive", "signal", args["version"], "--reason", args["reason"]]
        elif op == "create":
            argv = ["experiments", "create", "signal", "--control", args["control"], "--treatment"]
            argv += [args["treatment"], "--metric", "accuracy"]
            argv += ["--auto-promote"] if args["auto_promote"] else []
        else:
            argv = ["experiments", "stop", "1", "--reason", args["reason"]]
        result = await galgate(capsys, *argv, *where)
        if result.code == 0:
            return ""
        line = result.stderr.strip().splitlines()[-1]
        # "galgate: error: <message>" locally; through a gateway " (<CODE>)" follows.
        return re.sub(r" \([A-Z_]+\)$", "", line.removeprefix("galgate: error: "))

    return run


async def _state(url: str) -> dict:
    registry = await Registry.open(url)
    try:
        model = await registry.get_model("signal")
        history = await registry.history("signal")
        experiments = await registry.list_experiments()
        transitions = [await registry.experiment_history(e.id) for e in experiments]
    finally:
        await registry.close()
    return {
        "stages": {v.version: v.stage.value for v in model.versions},
        "sha256": {v.version: v.sha256 for v in model.versions},
        "audit": [
            (t.version, t.from_stage, t.to_stage, t.kind, t.actor, t.reason) for t in history
        ],
        "experiments": [
            (e.id, e.state.value, e.spec.treatment_version, e.spec.auto_promote, e.winner)
            for e in experiments
        ],
        "experiment_audit": [
            [(t.from_state, t.to_state, t.actor, t.reason) for t in steps] for steps in transitions
        ],
    }


async def test_every_door_makes_the_same_changes_and_the_same_errors(
    start_gateway, cli_files, capsys, tmp_path
) -> None:
    grpc_gw, cli_gw = await start_gateway(), await start_gateway()
    local_db = f"sqlite+aiosqlite:///{tmp_path / 'local.db'}"
    doors = {
        "grpc": (_grpc_door(grpc_gw.address, cli_files), grpc_gw.db),
        "cli --server": (_cli_door(capsys, cli_files, ("--server", cli_gw.address)), cli_gw.db),
        "cli --db": (_cli_door(capsys, cli_files, ("--db", local_db)), local_db),
    }
    outcomes: dict[str, list[str]] = {}
    for name, (door, _) in doors.items():
        outcomes[name] = [await door(op, args) for op, args in STEPS]
    expected_failures = [4, 8, 9, 13]
    for name, errors in outcomes.items():
        failed = [i for i, error in enumerate(errors) if error]
        assert failed == expected_failures, (name, errors)
    assert outcomes["grpc"] == outcomes["cli --server"] == outcomes["cli --db"]
    assert "allowed from development" in outcomes["grpc"][4]
    assert "force" in outcomes["grpc"][8]
    assert "auto_promote needs the treatment in staging" in outcomes["grpc"][9]
    assert "no previous production version" in outcomes["grpc"][13]

    states = {name: await _state(url) for name, (_, url) in doors.items()}
    assert states["grpc"] == states["cli --server"] == states["cli --db"]
    assert states["grpc"]["stages"] == {"1.0.0": "production", "1.0.1": "archived"}
    assert [e[1] for e in states["grpc"]["experiments"]] == ["stopped"]


async def test_a_version_that_cannot_serve_is_refused_by_every_door_before_commit(
    start_gateway, capsys, tmp_path
) -> None:
    """Promotion, rollback target and experiment arms are loaded and probed first, by the
    CLI on the database as by the gateway: nothing is committed for a broken version."""
    from sklearn.ensemble import GradientBoostingClassifier

    from converters import convert
    from registry.entities import Stage, VersionSpec
    from tests.cli.conftest import _data
    from tests.gateway.hostile_models import tampered_classifier

    X, y = _data()
    model = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X, y)
    conversion = convert(model, X, feature_names=list(FEATURES))
    spec = VersionSpec(
        model_type="gbm", features=FEATURES, signature=conversion.signature.to_dict()
    )

    async def seed(url: str) -> None:
        registry = await Registry.open(url)
        try:
            good = await registry.register_version("signal", spec, conversion.onnx_bytes)
            bad = await registry.register_version(
                "signal", spec, tampered_classifier(conversion, "label_offset")
            )
            for version in (good.version, bad.version):
                await registry.transition("signal", version, Stage.STAGING, actor="t")
            await registry.transition("signal", good.version, Stage.PRODUCTION, actor="t")
        finally:
            await registry.close()

    gw = await start_gateway()
    local_db = f"sqlite+aiosqlite:///{tmp_path / 'local.db'}"
    cli_db = _cli_door(capsys, None, ("--db", local_db))
    grpc_door = _grpc_door(gw.address, None)
    for url in (gw.db, local_db):
        await seed(url)
    steps = [
        ("promote", {"version": "1.0.1", "stage": "production", "reason": "try"}),
        ("create", {"control": "1.0.0", "treatment": "1.0.1", "auto_promote": False}),
    ]
    for op, args in steps:
        via_db, via_grpc = await cli_db(op, args), await grpc_door(op, args)
        assert via_db == via_grpc, (op, via_db, via_grpc)
        assert "version '1.0.1' cannot go live" in via_db
        assert "not one of its 3 classes" in via_db
    for url in (gw.db, local_db):
        state = await _state(url)
        assert state["stages"] == {"1.0.0": "production", "1.0.1": "staging"}
        assert state["experiments"] == []
