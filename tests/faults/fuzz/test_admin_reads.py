"""Fuzz ModelAdmin's read calls (GetModel, GetHistory, WatchEvents, GetStatus, ListModels)
with hostile names and event ids, on a gateway no hostile write has touched: a read's
failure here is the read's own, not the aftermath of another test's upload."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway._pb.galgate.v1 import admin_pb2 as apb
from tests.faults.fuzz import strategies as s
from tests.faults.fuzz.harness import EXPECTED, Code, fuzz

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]


@fuzz(60)
@given(
    kind=st.sampled_from(["model", "version", "history", "watch", "status", "list"]),
    name=s.text_or("clf", "reg", "nope", ""),
    version=s.text_or("", "1.0.0", "9.9.9"),
    after_id=st.one_of(
        st.integers(0, 50),
        st.sampled_from([2**63 - 1, 2**63, s.UINT64_MAX]),
        st.integers(0, s.UINT64_MAX),
    ),
)
async def test_model_reads_hostile_requests(harness, kind, name, version, after_id):
    h = harness
    start = h.log.mark()
    if kind == "model":
        await h.unary(h.admin.GetModel, apb.GetModelRequest(name=name, version=version))
    elif kind == "version":
        await h.unary(h.admin.GetModel, apb.GetModelRequest(name=name, version=version or "1.0.0"))
    elif kind == "history":
        await h.unary(h.admin.GetHistory, apb.GetHistoryRequest(name=name))
    elif kind == "watch":
        await h.server_streaming(
            h.admin.WatchEvents, apb.WatchEventsRequest(after_id=after_id, backlog_only=True)
        )
    elif kind == "status":
        await h.unary(h.admin.GetStatus, apb.GetStatusRequest(), expected=())
    else:
        await h.unary(h.admin.ListModels, apb.ListModelsRequest(), expected=())
    await h.assert_serving(since=start)


@fuzz(5)
@given(after_id=st.one_of(st.just(0), st.sampled_from([2**63 - 1, s.UINT64_MAX])))
async def test_watch_events_following_ends_at_the_callers_deadline(harness, after_id):
    h = harness
    start = h.log.mark()
    await h.server_streaming(
        h.admin.WatchEvents,
        apb.WatchEventsRequest(after_id=after_id),
        timeout=0.3,
        expected=EXPECTED | {Code.DEADLINE_EXCEEDED},
    )
    await h.assert_serving(since=start)
