"""Fuzz galgate.v1.ModelAdmin's model-changing calls: RegisterModel streams, PromoteModel,
RollbackModel and ArchiveModel, each followed by GetModel, GetHistory and WatchEvents of
what it changed (the read calls' own fuzz is in test_admin_reads.py).

Every call is authorised (admin token). Stage changes only touch a model made for the
example (``Harness.victim``), and what an example wrote is read back within the same
example, so one example's damage is reported by that example and not by the next.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway.wire.uploads import METADATA_KEYS
from tests.faults.fuzz import onnx_models
from tests.faults.fuzz import strategies as s
from tests.faults.fuzz.harness import Harness, fuzz
from tests.faults.fuzz.models import FEATURES

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]

STAGES = ("development", "staging", "production", "archived")
_names = itertools.count(1)
VALID_ONNX = onnx_models.linear_regressor(len(FEATURES))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | s.odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(s.odd_text, inner, max_size=3),
    max_leaves=8,
)
metadata_json = st.one_of(
    st.just(""),
    s.hostile_text,
    st.builds(
        json.dumps,
        st.dictionaries(st.sampled_from([*sorted(METADATA_KEYS), "evil"]), json_values, max_size=4),
    ),
    st.builds(lambda n: "[" * n + "]" * n, st.sampled_from([100, 5_000, 200_000])),
    st.builds(
        lambda n: '{"hyperparameters": ' + '{"a": ' * n + "1" + "}" * n + "}",
        st.sampled_from([10, 900, 5_000]),
    ),
    st.sampled_from(
        [
            '{"training_samples": 1e999}',
            '{"training_samples": 100000000000000000000000000}',
            '{"training_samples": -1}',
            '{"training_duration_seconds": NaN}',
            '{"training_duration_seconds": 1e999}',
            '{"trained_at": "9999-12-31T23:59:59-14:00"}',
            '{"training_start": "0001-01-01T00:00:00+14:00"}',
            '{"trained_at": "2024-01-01T00:00:00"}',
            '{"metrics": {"accuracy": NaN}}',
            '{"metrics": {"accuracy": 1e999}}',
            '{"metrics": {"accuracy": "high"}}',
            '{"metrics": {"accuracy": [1, 2]}}',
            '{"metrics": {"accuracy": null}}',
            '{"feature_importance": {"\\u0000": 1}}',
            '{"trained_by": {"a": 1}}',
            "null",
            "[]",
            '"x"',
            "1",
        ]
    ),
)


def feature_lists() -> st.SearchStrategy:
    return st.one_of(
        st.just([]),
        st.just(list(FEATURES)),
        st.lists(s.text_or(*FEATURES), max_size=8),
        st.builds(lambda n: [f"f{i}" for i in range(n)], st.sampled_from([5, 7, 400, 20_000])),
        st.builds(lambda name: [name, *FEATURES[1:]], s.long_text()),
        st.just([FEATURES[0]] * len(FEATURES)),  # duplicates
    )


def artifacts() -> st.SearchStrategy:
    flipped = st.builds(
        lambda i, b: VALID_ONNX[:i] + bytes([b]) + VALID_ONNX[i + 1 :],
        st.integers(0, len(VALID_ONNX) - 1),
        st.integers(0, 255),
    )
    return st.one_of(
        st.just(VALID_ONNX),
        st.just(VALID_ONNX),
        st.builds(lambda n: VALID_ONNX[:n], st.integers(0, len(VALID_ONNX) - 1)),
        flipped,
        st.binary(max_size=256),
        st.builds(
            lambda w, doc: onnx_models.linear_regressor(w, doc=doc),
            st.sampled_from([1, len(FEATURES), 7, 400]),
            st.one_of(st.just(""), s.long_text((15_000, 1_000_000))),
        ),
        st.builds(
            onnx_models.linear_regressor, st.just(len(FEATURES)), input_name=s.odd_text.filter(bool)
        ),
        st.just(onnx_models.echo_classifier()),
    )


# What a RegisterModel example may spoil, starting from a valid upload.
UPLOAD_PARTS = (
    "name",
    "version",
    "model_type",
    "features",
    "target",
    "metadata",
    "metadata",
    "tags",
    "description",
    "sha256",
    "reason",
    "artifact",
    "artifact",
    "chunks",
    "profile",
    "order",
)


@st.composite
def register_streams(draw: st.DrawFn) -> s.Shown:
    """A RegisterModel stream: a valid upload (header, then the artifact in chunks) with
    up to three of its parts made hostile, so most examples get deep into registration."""
    spoiled = set(draw(st.lists(st.sampled_from(UPLOAD_PARTS), max_size=3)))
    artifact = draw(artifacts()) if "artifact" in spoiled else VALID_ONNX
    header = apb.RegisterModelHeader(name=f"fz-{next(_names)}")
    if "name" in spoiled:
        header.name = draw(s.hostile_text)
    if "version" in spoiled:
        header.version = draw(s.text_or("1.0.0", "2.0.0-rc.1+b", "01.2.3", "1.0.0+" + "b" * 70))
    if "model_type" in spoiled:
        header.model_type = draw(s.hostile_text)
    if "features" in spoiled:
        header.features.extend(draw(feature_lists()))
    if "target" in spoiled:
        header.target = draw(s.hostile_text)
    if "metadata" in spoiled:
        header.metadata_json = draw(metadata_json)
    if "tags" in spoiled:
        header.tags.update(draw(st.dictionaries(s.text_or("team"), s.text_or(""), max_size=3)))
        if draw(st.booleans()):
            count = draw(st.sampled_from([1_000, 20_000]))
            header.tags.update({f"t{i}": "v" for i in range(count)})
    if "description" in spoiled:
        header.description = draw(st.one_of(s.hostile_text, s.near_limit_text(16_384)))
    if "sha256" in spoiled:
        digest = hashlib.sha256(artifact).hexdigest()
        header.sha256 = draw(s.text_or(digest, digest.upper(), digest[:-1], "0" * 64))
    if "reason" in spoiled:
        header.reason = draw(s.hostile_text)
    chunk = len(artifact) or 1
    if "chunks" in spoiled:
        chunk = draw(st.sampled_from([1, 7, 1024]))
    pieces = [artifact[i : i + chunk] for i in range(0, len(artifact), chunk)][:2_000]
    messages = [apb.RegisterModelRequest(artifact_chunk=p) for p in pieces]
    if "profile" in spoiled:
        profile = draw(st.one_of(st.binary(min_size=1, max_size=64), st.just(b"\x1f\x8b" * 40)))
        messages.append(apb.RegisterModelRequest(profile_chunk=profile))
    first = apb.RegisterModelRequest(header=header)
    order = "header-first"
    if "order" in spoiled:
        order = draw(
            st.sampled_from(["no-header", "header-last", "two-headers", "header-only", "empty"])
        )
    if order == "header-first":
        messages = [first, *messages]
    elif order == "header-last":
        messages = [*messages, first]
    elif order == "two-headers":
        messages = [first, *messages, first]
    elif order == "header-only":
        messages = [first]
    elif order == "empty":
        messages = [first] + [apb.RegisterModelRequest(artifact_chunk=b"")] * 3 + messages
    return s.Shown(messages)


async def assert_readable(h: Harness, name: str, after_event: int) -> None:
    """What an example wrote about ``name`` can be read back (status OK, within limits)."""
    for method, request in (
        (h.admin.GetModel, apb.GetModelRequest(name=name)),
        (h.admin.GetHistory, apb.GetHistoryRequest(name=name)),
    ):
        mark = h.log.mark()
        _, err = await h.unary(method, request)
        if err is not None:
            h.fail(
                f"reading back {name[:60]!r}", [f"{err.code().name} {err.details()[:200]!r}"], mark
            )
    mark = h.log.mark()
    _, err = await h.server_streaming(
        h.admin.WatchEvents, apb.WatchEventsRequest(after_id=after_event, backlog_only=True)
    )
    if err is not None:
        h.fail("WatchEvents after a change", [f"{err.code().name} {err.details()[:200]!r}"], mark)


@fuzz(30)
@given(stream=register_streams())
async def test_register_model_hostile_stream(harness, stream):
    h = harness
    start = h.log.mark()
    messages = stream.pb
    headers = [m.header for m in messages if m.HasField("header")]
    name = headers[0].name if headers else ""
    before = await h.gateway.registry.last_event_id()
    mark = h.log.mark()
    call = h.admin.RegisterModel(iter(messages), metadata=h.metadata, timeout=60)
    try:
        info = await call
    except grpc.aio.AioRpcError as err:
        size = max((m.ByteSize() for m in messages), default=0)
        h.check_error("RegisterModel", err, request_size=size, mark=mark)
    else:
        if info.name != name:
            h.fail("RegisterModel", [f"registered {info.name!r} for {name!r}"], mark)
        await assert_readable(h, name, before)
    await h.assert_serving(since=start)


@st.composite
def stage_moves(draw: st.DrawFn, victim: str) -> list[tuple[str, object]]:
    names = s.text_or(victim, victim, victim, "clf-not-this", "")
    versions = s.text_or("1.0.0", "1.0.1", "1.0.2", "1.0.2", "9.9.9", "")
    reasons = st.one_of(s.text_or("", "drill"), s.near_limit_text(4096))
    moves = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["promote", "promote", "rollback", "archive"]))
        if kind == "promote":
            request = apb.PromoteModelRequest(
                name=draw(names),
                version=draw(versions),
                stage=draw(s.text_or(*STAGES, *STAGES, "Production ", "PRODUCTION")),
                reason=draw(reasons),
                force=draw(st.booleans()),
            )
        elif kind == "rollback":
            request = apb.RollbackModelRequest(name=draw(names), reason=draw(reasons))
        else:
            request = apb.ArchiveModelRequest(
                name=draw(names),
                version=draw(versions),
                reason=draw(reasons),
                force=draw(st.booleans()),
            )
        moves.append((kind, s.Shown(request)))
    return moves


@fuzz(12)
@given(data=st.data())
async def test_stage_changes_hostile_requests(harness, data):
    h = harness
    start = h.log.mark()
    victim = await h.victim(serve=False)
    before = await h.gateway.registry.last_event_id()
    methods = {
        "promote": h.admin.PromoteModel,
        "rollback": h.admin.RollbackModel,
        "archive": h.admin.ArchiveModel,
    }
    for kind, request in data.draw(stage_moves(victim), label="moves"):
        await h.unary(methods[kind], request.pb)
    await assert_readable(h, victim, before)
    mark = h.log.mark()
    model = await h.admin.GetModel(apb.GetModelRequest(name=victim), metadata=h.metadata)
    production = [v.version for v in model.versions if v.stage == "production"]
    if len(production) > 1 or model.production_version not in ("", *production):
        h.fail(
            "stage changes",
            [f"production versions {production}, {model.production_version!r}"],
            mark,
        )
    await h.assert_serving(since=start)
