"""Fuzz ModelAdmin's experiment calls (Create/List/GetResults/Pause/Resume/Stop) and the
outcomes that feed experiments: no request may poison an experiment's statistics, its
routing, or the monitor that ends experiments.

Each example runs on a model made for it (``Harness.victim``: a linear regressor with
1.0.0 in production, 1.0.1 in staging, 1.0.2 in development).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import prediction_pb2 as ppb
from registry.entities import ExperimentState
from tests.faults.fuzz import strategies as s
from tests.faults.fuzz.checks import check_results, end_experiment, poison_and_check, predict_victim
from tests.faults.fuzz.harness import Harness, fuzz

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]

STRATEGIES = ("random", "weighted", "epsilon_greedy", "thompson_sampling")
METRICS = ("squared_error", "absolute_error", "accuracy", "reward")
STATES = ("created", "running", "paused", "completed", "stopped")


def timestamps() -> st.SearchStrategy:
    now = int(time.time())
    seconds = st.sampled_from(
        [now + 3600, now + 1, now - 3600, 0, -62135596801, 253402300800, 2**62, -(2**62), 2**63 - 1]
    )
    nanos = st.sampled_from([0, 999_999_999, 1_000_000_000, -1, 2**31 - 1])
    return st.builds(lambda sec, ns: Timestamp(seconds=sec, nanos=ns), seconds, nanos)


@st.composite
def create_requests(draw: st.DrawFn, victim: str) -> apb.CreateExperimentRequest:
    versions = s.text_or("1.0.0", "1.0.1", "1.0.2", "1.0.1", "9.9.9", "")
    request = apb.CreateExperimentRequest(
        model=draw(s.text_or(victim, victim, victim, "")),
        control_version=draw(versions),
        treatment_version=draw(versions),
        strategy=draw(s.text_or(*STRATEGIES, *STRATEGIES, "")),
        split=draw(st.one_of(st.just(0.0), s.hostile_floats, st.floats(0, 1))),
        epsilon=draw(st.one_of(st.just(0.0), s.hostile_floats, st.floats(0, 1))),
        metric=draw(s.text_or(*METRICS, *METRICS)),
        confidence=draw(st.one_of(st.just(0.0), s.hostile_floats, st.floats(0, 1))),
        min_detectable_effect=draw(st.one_of(st.just(0.0), s.hostile_floats)),
        min_samples=draw(st.one_of(st.integers(0, 5), st.just(s.UINT32_MAX))),
        max_loss=draw(st.one_of(st.just(0.0), s.hostile_floats)),
        auto_promote=draw(st.booleans()),
        name=draw(s.text_or("")),
        description=draw(s.text_or("")),
        create_only=draw(st.booleans()),
    )
    if draw(st.booleans()):
        request.end_time.CopyFrom(draw(timestamps()))
    return request


@fuzz(15)
@given(data=st.data())
async def test_create_experiment_hostile_spec_then_moves(harness, data):
    h = harness
    start = h.log.mark()
    victim = await h.victim()
    request = data.draw(create_requests(victim).map(s.Shown), label="create").pb
    info, _ = await h.unary(h.admin.CreateExperiment, request)
    if info is None:
        await predict_victim(h, victim)
        await h.assert_serving(since=start)
        return
    try:
        await _route_and_move(h, data, victim, info.id)
    finally:
        await end_experiment(h, info.id)
    await h.assert_serving(since=start)


async def _route_and_move(h: Harness, data, victim: str, experiment_id: int) -> None:
    for key in ("", "a", "b", "c"):
        await predict_victim(h, victim, key)
    await check_results(h, experiment_id)
    await h.unary(h.admin.ListExperiments, apb.ListExperimentsRequest(model=victim))
    moves = data.draw(
        st.lists(
            st.tuples(st.sampled_from(["pause", "resume", "stop"]), s.text_or("")), max_size=4
        ),
        label="moves",
    )
    methods = {
        "pause": h.admin.PauseExperiment,
        "resume": h.admin.ResumeExperiment,
        "stop": h.admin.StopExperiment,
    }
    for move, reason in moves:
        await h.unary(methods[move], apb.ExperimentStateRequest(id=experiment_id, reason=reason))
        await predict_victim(h, victim, "k")
    await check_results(h, experiment_id)
    await h.unary(h.admin.StopExperiment, apb.ExperimentStateRequest(id=experiment_id))


@fuzz(50)
@given(
    kind=st.sampled_from(["results", "pause", "resume", "stop", "list"]),
    experiment_id=st.one_of(st.integers(0, 200), st.sampled_from([2**63 - 1, 2**63, s.UINT64_MAX])),
    reason=s.text_or(""),
    model=s.text_or("", "clf", "nope"),
    state=s.text_or("", *STATES, "RUNNING", " running "),
)
async def test_experiment_calls_hostile_ids_and_filters(
    harness, kind, experiment_id, reason, model, state
):
    h = harness
    start = h.log.mark()
    state_request = apb.ExperimentStateRequest(id=experiment_id, reason=reason)
    if kind == "results":
        await h.unary(
            h.admin.GetExperimentResults, apb.GetExperimentResultsRequest(id=experiment_id)
        )
    elif kind == "list":
        await h.unary(h.admin.ListExperiments, apb.ListExperimentsRequest(model=model, state=state))
    elif experiment_id > 1_000:  # never move the experiments other tests made
        method = {
            "pause": h.admin.PauseExperiment,
            "resume": h.admin.ResumeExperiment,
            "stop": h.admin.StopExperiment,
        }[kind]
        await h.unary(method, state_request)
    await h.assert_serving(since=start)


outcome_values = st.one_of(
    st.sampled_from([1e200, -1e200, 1e300, -1e300, 3.4e38, s.F32_MAX, 1.7976931348623157e308]),
    s.finite_floats,
    st.floats(-10, 10),
)


@fuzz(10)
@given(
    metric=st.sampled_from(METRICS),
    strategy=st.sampled_from(STRATEGIES),
    values=st.lists(outcome_values, min_size=2, max_size=8),
    batch=st.booleans(),
)
async def test_outcome_values_never_poison_experiment_statistics(
    harness, metric, strategy, values, batch
):
    """Outcomes are untrusted (DESIGN, trust model): whatever finite values arrive, an
    experiment's statistics stay finite, its routing keeps serving, it can be stopped, and
    the monitor keeps working."""
    h = harness
    start = h.log.mark()
    victim = await h.victim()
    mark = h.log.mark()
    info, err = await h.unary(
        h.admin.CreateExperiment,
        apb.CreateExperimentRequest(
            model=victim,
            control_version="1.0.0",
            treatment_version="1.0.1",
            strategy=strategy,
            metric=metric,
            min_samples=1,
        ),
    )
    if err is not None:
        h.fail("CreateExperiment", [f"{err.code().name} {err.details()[:300]!r}"], mark)
    try:
        await poison_and_check(h, victim, info.id, values, batch)
    finally:
        await end_experiment(h, info.id)
    await h.assert_serving(since=start)


async def test_monitor_ends_other_experiments_when_one_has_hostile_outcomes(harness):
    """One bad experiment never stops the others (DESIGN, trust model): after an outcome
    of 1e300 was accepted for one experiment, the monitor still completes another whose
    end time has passed."""
    h = harness
    start = h.log.mark()
    poisoned, timed = await h.victim(), await h.victim()
    bad, _ = await h.unary(
        h.admin.CreateExperiment,
        apb.CreateExperimentRequest(
            model=poisoned, control_version="1.0.0", treatment_version="1.0.1", metric="reward"
        ),
    )
    ends = Timestamp(seconds=int(time.time()) + 2)
    good, _ = await h.unary(
        h.admin.CreateExperiment,
        apb.CreateExperimentRequest(
            model=timed,
            control_version="1.0.0",
            treatment_version="1.0.1",
            metric="reward",
            end_time=ends,
        ),
    )
    try:
        for i in range(2):
            answer = await predict_victim(h, poisoned, f"k{i}")
            await h.unary(
                h.predict.RecordOutcome,
                ppb.RecordOutcomeRequest(prediction_id=answer.prediction_id, value=1e300),
            )
        while time.time() <= ends.seconds + 0.1:
            await asyncio.sleep(0.1)
        mark = h.log.mark()
        try:
            await h.gateway.monitor.tick()
        except Exception as exc:  # reported below, with what it did to the other experiment
            failure = f"the monitor tick raised {exc!r}"
        else:
            failure = ""
        state = (await h.gateway.registry.get_experiment(good.id)).state
        if state is not ExperimentState.COMPLETED:
            h.fail(
                "experiment monitor",
                [f"experiment {good.id} past its end time is {state.value}; {failure}"],
                mark,
            )
    finally:
        await end_experiment(h, bad.id)
        await end_experiment(h, good.id)
    await h.assert_serving(since=start)
