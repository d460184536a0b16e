"""ModelAdmin over a real server: uploads, stage changes with hot swap, history, events."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway.config import Settings
from gateway.server.app import build_server
from registry.entities import Stage, VersionSpec
from tests.gateway.conftest import FEATURES, register


def _upload(conversion, *, name="clf", chunk=1000, profile=b"", **header):
    header.setdefault("features", list(FEATURES))
    yield apb.RegisterModelRequest(header=apb.RegisterModelHeader(name=name, **header))
    data = conversion.onnx_bytes
    for i in range(0, len(data), chunk):
        yield apb.RegisterModelRequest(artifact_chunk=data[i : i + chunk])
    if profile:
        yield apb.RegisterModelRequest(profile_chunk=profile)


def _request(row) -> pb.PredictRequest:
    return pb.PredictRequest(
        model="clf",
        features=pb.Features(values={f: float(v) for f, v in zip(FEATURES, row, strict=True)}),
    )


async def _error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_register_model_stream_creates_next_version(admin, trained):
    from converters import build_profile

    profile = build_profile(trained.X, FEATURES).to_bytes()
    info = await admin.RegisterModel(
        _upload(
            trained.clf_b,
            profile=profile,
            model_type="sklearn.LogisticRegression",
            sha256=hashlib.sha256(trained.clf_b.onnx_bytes).hexdigest(),
            metadata_json=json.dumps({"training_samples": 400, "metrics": {"accuracy": 0.8}}),
            tags={"team": "alpha"},
        )
    )
    assert (info.name, info.version, info.stage) == ("clf", "1.0.1", "development")
    assert info.task == "classification" and list(info.class_labels) == ["0", "1", "2"]
    assert info.has_profile and info.tags["team"] == "alpha" and info.metrics["accuracy"] == 0.8
    assert info.sha256 == hashlib.sha256(trained.clf_b.onnx_bytes).hexdigest()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"sha256": "0" * 64}, "sha256"),
        ({"metadata_json": '{"bogus": 1}'}, "unknown metadata keys ['bogus']"),
        ({"metadata_json": "not json"}, "not valid JSON"),
        ({"metadata_json": '{"trained_at": "yesterday"}'}, "ISO 8601"),
        ({"features": ["a", "b"]}, ""),
    ],
)
async def test_register_model_bad_header_is_invalid_argument(admin, trained, header, expected):
    err = await _error(admin.RegisterModel(_upload(trained.clf_b, **header)))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert expected in err.details()


async def test_register_model_garbage_bytes_rejected_and_nothing_written(admin, served):
    def upload():
        yield apb.RegisterModelRequest(header=apb.RegisterModelHeader(name="junk"))
        yield apb.RegisterModelRequest(artifact_chunk=b"\x08\x01garbage" * 50)

    err = await _error(admin.RegisterModel(upload()))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "junk" not in {m.name for m in await served.list_models()}


async def test_register_model_without_header_or_artifact_is_invalid(admin):
    def chunks_only():
        yield apb.RegisterModelRequest(artifact_chunk=b"abc")

    err = await _error(admin.RegisterModel(chunks_only()))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and "header" in err.details()

    def header_only():
        yield apb.RegisterModelRequest(header=apb.RegisterModelHeader(name="x"))

    err = await _error(admin.RegisterModel(header_only()))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and "artifact" in err.details()


async def test_register_model_over_cap_is_resource_exhausted(served, trained):
    import grpc as _grpc

    from gateway._pb.galgate.v1 import admin_pb2_grpc

    gw = build_server(Settings(listen="127.0.0.1:0", max_upload_bytes=500), served)
    await gw.start()
    try:
        async with _grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as ch:
            stub = admin_pb2_grpc.ModelAdminStub(ch)
            err = await _error(stub.RegisterModel(_upload(trained.clf_a, chunk=200)))
        assert err.code() is _grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "500" in err.details()
    finally:
        await gw.stop(grace=0)


async def test_register_model_duplicate_version_is_already_exists(admin, trained):
    err = await _error(admin.RegisterModel(_upload(trained.clf_b, version="1.0.0")))
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "1.0.0" in err.details()


async def test_list_and_get_models(admin):
    listed = await admin.ListModels(apb.ListModelsRequest())
    assert {m.name: m.production_version for m in listed.models} == {"clf": "1.0.0", "reg": "1.0.0"}
    model = await admin.GetModel(apb.GetModelRequest(name="clf"))
    assert [v.version for v in model.versions] == ["1.0.0"]
    one = await admin.GetModel(apb.GetModelRequest(name="clf", version="1.0.0"))
    assert one.versions[0].stage == "production"
    assert json.loads(one.versions[0].metadata_json)["features"] == list(FEATURES)


@pytest.mark.parametrize(
    "request_",
    [apb.GetModelRequest(name="nope"), apb.GetModelRequest(name="clf", version="7.7.7")],
)
async def test_get_model_unknown_is_not_found(admin, request_):
    err = await _error(admin.GetModel(request_))
    assert err.code() is grpc.StatusCode.NOT_FOUND


async def test_promote_to_production_swaps_before_returning(admin, stub, served, trained):
    await register(served, "clf", trained.clf_b, trained.X)
    await admin.PromoteModel(apb.PromoteModelRequest(name="clf", version="1.0.1", stage="staging"))
    info = await admin.PromoteModel(
        apb.PromoteModelRequest(name="clf", version="1.0.1", stage="production", reason="better")
    )
    assert info.stage == "production"
    assert (await stub.Predict(_request(trained.X[0]))).version == "1.0.1"
    assert (await served.get_version("clf", "1.0.0")).stage is Stage.STAGING
    history = await admin.GetHistory(apb.GetHistoryRequest(name="clf"))
    assert [(t.version, t.to_stage, t.kind) for t in history.transitions][-2:] == [
        ("1.0.0", "staging", "demote"),
        ("1.0.1", "production", "transition"),
    ]
    rolled = await admin.RollbackModel(apb.RollbackModelRequest(name="clf", reason="regressed"))
    assert rolled.version == "1.0.0"
    assert (await stub.Predict(_request(trained.X[0]))).version == "1.0.0"


async def test_promote_invalid_stage_and_move_are_rejected(admin, served, trained):
    err = await _error(
        admin.PromoteModel(apb.PromoteModelRequest(name="clf", version="1.0.0", stage="prod"))
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and "production" in err.details()
    await register(served, "clf", trained.clf_b, trained.X)
    err = await _error(
        admin.PromoteModel(apb.PromoteModelRequest(name="clf", version="1.0.1", stage="production"))
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "staging" in err.details()
    err = await _error(
        admin.PromoteModel(apb.PromoteModelRequest(name="clf", version="3.0.0", stage="staging"))
    )
    assert err.code() is grpc.StatusCode.NOT_FOUND


async def test_promote_broken_artifact_is_refused_and_old_keeps_serving(
    admin, stub, served, trained
):
    spec = VersionSpec(
        model_type="onnx",
        features=trained.clf_a.signature.features,
        signature=trained.clf_a.signature.to_dict(),
    )
    # Written straight into the registry, skipping upload validation: bytes that cannot load.
    broken = await served.register_version("clf", spec, b"not an onnx model", actor="test")
    await served.transition("clf", broken.version, Stage.STAGING, actor="test")
    err = await _error(
        admin.PromoteModel(
            apb.PromoteModelRequest(name="clf", version=broken.version, stage="production")
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "failed to load" in err.details()
    assert (await served.get_version("clf", broken.version)).stage is Stage.STAGING
    assert (await stub.Predict(_request(trained.X[0]))).version == "1.0.0"
    status = await admin.GetStatus(apb.GetStatusRequest())
    assert any(f.version == broken.version for f in status.failures)


async def test_promotion_made_elsewhere_with_broken_artifact_keeps_old_serving(
    admin, stub, gateway, served, trained
):
    spec = VersionSpec(
        model_type="onnx",
        features=trained.clf_a.signature.features,
        signature=trained.clf_a.signature.to_dict(),
    )
    broken = await served.register_version("clf", spec, b"garbage", actor="test")
    await served.transition("clf", broken.version, Stage.STAGING, actor="test")
    await served.transition("clf", broken.version, Stage.PRODUCTION, actor="cli")
    await gateway.pool.reconcile()
    assert (await stub.Predict(_request(trained.X[0]))).version == "1.0.0"
    status = await admin.GetStatus(apb.GetStatusRequest())
    assert [(f.name, f.version) for f in status.failures] == [("clf", broken.version)]


async def test_archive_production_needs_force_then_model_stops_serving(admin, stub, trained):
    err = await _error(admin.ArchiveModel(apb.ArchiveModelRequest(name="clf", version="1.0.0")))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION and "force" in err.details()
    info = await admin.ArchiveModel(
        apb.ArchiveModelRequest(name="clf", version="1.0.0", force=True, reason="retired")
    )
    assert info.stage == "archived"
    err = await _error(stub.Predict(_request(trained.X[0])))
    assert err.code() is grpc.StatusCode.NOT_FOUND


async def test_rollback_without_previous_is_failed_precondition(admin):
    err = await _error(admin.RollbackModel(apb.RollbackModelRequest(name="clf")))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_watch_events_streams_backlog_then_live(admin, served, trained):
    backlog = [e async for e in admin.WatchEvents(apb.WatchEventsRequest(backlog_only=True))]
    assert backlog and [e.id for e in backlog] == sorted(e.id for e in backlog)
    assert backlog[0].kind == "version_registered"
    stream = admin.WatchEvents(apb.WatchEventsRequest(after_id=backlog[-1].id))
    await register(served, "clf", trained.clf_b, trained.X)
    event = await stream.read()
    assert (event.kind, event.name, event.version) == ("version_registered", "clf", "1.0.1")
    stream.cancel()


async def test_get_status_lists_loaded_versions(admin, gateway):
    status = await admin.GetStatus(apb.GetStatusRequest())
    assert status.serving
    assert {(v.name, v.version, v.role) for v in status.loaded} == {
        ("clf", "1.0.0", "production"),
        ("reg", "1.0.0", "production"),
    }
    assert status.event_id == gateway.pool.current.event_id


async def test_register_model_corrupt_profile_is_invalid_argument(admin, served, trained):
    err = await _error(admin.RegisterModel(_upload(trained.clf_b, profile=b"PK\x03\x04broken")))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "profile" in err.details()
    assert [v.version for v in (await served.get_model("clf")).versions] == ["1.0.0"]


async def test_register_model_profile_of_other_features_is_invalid_argument(admin, trained):
    from converters import build_profile

    profile = build_profile(trained.X, [f"x{i}" for i in range(len(FEATURES))]).to_bytes()
    err = await _error(admin.RegisterModel(_upload(trained.clf_b, profile=profile)))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "differ from the model's" in err.details()
