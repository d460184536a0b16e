"""Hostile writes that would spoil later reads: after any accepted write, every read RPC
(ListModels, GetModel, GetHistory, WatchEvents, ListExperiments, GetStatus) still answers
within the message limit.

A write may be refused (with a proper status); what may not happen is a write that is
stored and then makes a read fail for everyone, for good. The cases share the module's
gateway, so each checks only the reads that still answered before its write.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway._pb.galgate.v1 import admin_pb2 as apb
from tests.faults.fuzz import onnx_models
from tests.faults.fuzz.harness import Code, Harness
from tests.faults.fuzz.models import FEATURES
from tests.faults.fuzz.strategies import MESSAGE_LIMIT

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]

MIB = 1024 * 1024
VALID_ONNX = onnx_models.linear_regressor(len(FEATURES))


def upload(header: apb.RegisterModelHeader, artifact: bytes = VALID_ONNX) -> list:
    chunks = [artifact[i : i + MIB] for i in range(0, len(artifact), MIB)]
    return [
        apb.RegisterModelRequest(header=header),
        *(apb.RegisterModelRequest(artifact_chunk=c) for c in chunks),
    ]


async def register(
    h: Harness, header: apb.RegisterModelHeader, artifact: bytes = VALID_ONNX
) -> list[str]:
    """Upload; return what was wrong with the answer (a refusal with a proper status is
    fine), so that the reads after it are checked too."""
    messages = upload(header, artifact)
    mark = h.log.mark()
    try:
        await h.admin.RegisterModel(iter(messages), metadata=h.metadata, timeout=60)
    except Exception as err:  # grpc.aio.AioRpcError
        if not hasattr(err, "code"):
            raise
        size = max(m.ByteSize() for m in messages)
        try:
            h.check_error("RegisterModel", err, request_size=size, mark=mark)
        except AssertionError as problem:
            return [str(problem)]
    return []


async def read_failures(
    h: Harness, names: tuple[str, ...], skip: dict[str, str] | None = None
) -> dict[str, str]:
    """Every read RPC but those in ``skip``, and how it failed: ``{read: problem}``."""
    reads: list[tuple[str, Callable, object]] = [
        ("ListModels", h.admin.ListModels, apb.ListModelsRequest()),
        ("ListExperiments", h.admin.ListExperiments, apb.ListExperimentsRequest()),
        ("GetStatus", h.admin.GetStatus, apb.GetStatusRequest()),
    ]
    for name in names:
        reads.append((f"GetModel({name})", h.admin.GetModel, apb.GetModelRequest(name=name)))
        reads.append((f"GetHistory({name})", h.admin.GetHistory, apb.GetHistoryRequest(name=name)))
    failures = {}
    for what, method, request in reads:
        if skip and what in skip:
            continue
        try:
            await method(request, metadata=h.metadata, timeout=30)
        except Exception as err:  # grpc.aio.AioRpcError
            if not hasattr(err, "code"):
                raise
            if not (what.startswith("Get") and err.code() is Code.NOT_FOUND):
                failures[what] = f"{err.code().name} {(err.details() or '')[:160]!r}"
    if skip and "WatchEvents(0)" in skip:
        return failures
    _, err = await h.server_streaming(
        h.admin.WatchEvents, apb.WatchEventsRequest(after_id=0, backlog_only=True)
    )
    if err is not None:
        failures["WatchEvents(0)"] = f"{err.code().name} {(err.details() or '')[:160]!r}"
    return failures


async def assert_reads_still_answer(
    h: Harness,
    names: tuple[str, ...],
    before: dict[str, str],
    mark: int,
    earlier: list[str] | None = None,
) -> None:
    """Reads that answered before the write (``before``: those that did not) still
    answer; ``earlier``: problems of the write itself, reported with those of the reads.

    Cases share the module's gateway: a read another case broke is not this case's fault.
    """
    after = await read_failures(h, names, skip=before)
    broken = [f"{what}: {problem}" for what, problem in after.items()]
    problems = list(earlier or []) + broken
    if problems:
        h.fail("reads after a hostile write", problems, mark)
    await h.assert_serving()


ODD_METRICS = [
    '{"metrics": {"accuracy": "high"}}',
    '{"metrics": {"accuracy": [1, 2]}}',
    '{"metrics": {"accuracy": null}}',
    '{"metrics": {"accuracy": 1e999}}',
]


@pytest.mark.parametrize("metadata", ODD_METRICS)
async def test_register_odd_metric_values_keep_model_reads_working(harness, metadata):
    h = harness
    name = f"odd-metrics-{ODD_METRICS.index(metadata)}"
    before = await read_failures(h, (name,))
    mark = h.log.mark()
    problems = await register(h, apb.RegisterModelHeader(name=name, metadata_json=metadata))
    await assert_reads_still_answer(h, (name,), before, mark, problems)


async def test_promote_near_limit_reason_keeps_history_and_events_within_limit(harness):
    h = harness
    victim = await h.victim()
    before = await read_failures(h, (victim,))
    mark = h.log.mark()
    reason = "r" * (MESSAGE_LIMIT - 4096)
    await h.unary(
        h.admin.PromoteModel,
        apb.PromoteModelRequest(name=victim, version="1.0.1", stage="production", reason=reason),
    )
    await assert_reads_still_answer(h, (victim,), before, mark)


async def test_two_experiments_with_large_descriptions_keep_list_experiments_within_limit(
    harness,
):
    h = harness
    before = await read_failures(h, ())
    mark = h.log.mark()
    for _ in range(2):
        victim = await h.victim()
        await h.unary(
            h.admin.CreateExperiment,
            apb.CreateExperimentRequest(
                model=victim,
                control_version="1.0.0",
                treatment_version="1.0.1",
                metric="squared_error",
                description="e" * (5 * MIB // 2),
                create_only=True,
            ),
        )
    await assert_reads_still_answer(h, (), before, mark)


async def test_register_3mb_description_keeps_model_reads_within_limit(harness):
    h = harness
    before = await read_failures(h, ("wordy",))
    mark = h.log.mark()
    problems = await register(h, apb.RegisterModelHeader(name="wordy", description="d" * (3 * MIB)))
    await assert_reads_still_answer(h, ("wordy",), before, mark, problems)


async def test_register_2mb_of_tags_keeps_model_reads_within_limit(harness):
    h = harness
    header = apb.RegisterModelHeader(name="tagged")
    header.tags.update({f"t{i}": "v" * 1024 for i in range(2_000)})
    before = await read_failures(h, ("tagged",))
    mark = h.log.mark()
    problems = await register(h, header)
    await assert_reads_still_answer(h, ("tagged",), before, mark, problems)


async def test_register_200k_feature_model_keeps_model_reads_within_limit(harness):
    h = harness
    wide = onnx_models.linear_regressor(200_000)
    before = await read_failures(h, ("wide",))
    mark = h.log.mark()
    problems = await register(h, apb.RegisterModelHeader(name="wide"), wide)
    await assert_reads_still_answer(h, ("wide",), before, mark, problems)
