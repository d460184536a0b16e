"""Fuzz galgate.v1.PredictionService: Predict, PredictStream, RecordOutcome, RecordOutcomes."""

from __future__ import annotations

import math

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway._pb.galgate.v1 import prediction_pb2 as ppb
from tests.faults.fuzz import strategies as s
from tests.faults.fuzz.checks import (
    ECHO,
    MAX_STREAM_ERROR,
    MODELS,
    neighbour_ids,
    predict,
    response_problems,
)
from tests.faults.fuzz.harness import Code, Harness, fuzz
from tests.faults.fuzz.models import FEATURES, NORMAL_ROW
from tests.faults.fuzz.onnx_models import ECHO_FEATURES, trigger_value

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]

STREAM_ERROR_CODES = {
    c.name
    for c in (
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.FAILED_PRECONDITION,
        Code.RESOURCE_EXHAUSTED,
    )
}


@fuzz(100)
@given(request=s.shown(s.predict_requests(MODELS, FEATURES)))
async def test_predict_hostile_request_is_refused_or_answered_sanely(harness, request):
    h = harness
    start = h.log.mark()
    await predict(h, request.pb)
    await h.assert_serving(since=start)


@fuzz(40)
@given(
    model=st.sampled_from(MODELS),
    row=st.fixed_dictionaries(
        {f: st.one_of(st.sampled_from(s.FINITE_SPECIALS), s.plain_floats) for f in FEATURES}
    ),
)
async def test_predict_extreme_finite_features_gives_valid_outputs(harness, model, row):
    """Finite values are accepted or refused, never answered with garbage outputs."""
    h = harness
    start = h.log.mark()
    await predict(h, ppb.PredictRequest(model=model, features=ppb.Features(values=row)))
    await h.assert_serving(since=start)


@fuzz(40)
@given(
    model=st.sampled_from(ECHO),
    label=st.one_of(
        st.integers(-3, 6).map(float),
        st.sampled_from([-1.0, 3.0, 2.0**62, -(2.0**63), 3e38, -3e38, s.F32_MAX, 1e10]),
    ),
    rows=st.integers(1, 3),
)
async def test_predict_classifier_label_outside_its_classes_never_escapes(
    harness, model, label, rows
):
    """A (hostile) graph that answers a label that is not one of its classes must not give
    the caller an index outside ``class_labels``, nor crash the call."""
    h = harness
    start = h.log.mark()
    values = [trigger_value(label), 0.25, 0.25] * rows
    request = ppb.PredictRequest(model=model, tensor=ppb.FloatTensor(rows=rows, values=values))
    await predict(h, request)
    await h.assert_serving(since=start)


@fuzz(30)
@given(
    messages=st.lists(
        st.one_of(
            st.builds(
                lambda model, row, rid: ppb.PredictRequest(
                    model=model, features=ppb.Features(values=row), request_id=rid
                ),
                st.sampled_from(MODELS),
                s.good_row(FEATURES),
                st.text(max_size=8),
            ),
            s.predict_requests(MODELS, FEATURES),
            s.predict_requests(ECHO, ECHO_FEATURES),
        ).map(s.Shown),
        min_size=1,
        max_size=8,
    )
)
async def test_predict_stream_mixed_messages_each_answered_in_order(harness, messages):
    h = harness
    start = h.log.mark()
    messages = [m.pb for m in messages]
    mark = h.log.mark()
    call = h.predict.PredictStream(iter(messages), metadata=h.metadata, timeout=30)
    answers = []
    try:
        async for answer in call:
            answers.append(answer)
    except grpc.aio.AioRpcError as err:
        size = max(m.ByteSize() for m in messages)
        h.check_error("PredictStream", err, request_size=size, mark=mark)
        if size <= h.limit:  # one over-limit message may end the stream; nothing else may
            h.fail("PredictStream", [f"stream ended {err.code().name}"], mark)
        return
    if len(answers) != len(messages):
        h.fail("PredictStream", [f"{len(answers)} answers to {len(messages)} messages"], mark)
    for i, (request, answer) in enumerate(zip(messages, answers, strict=True)):
        if answer.request_id != request.request_id:
            h.fail("PredictStream", [f"answer {i} is not for message {i}"], mark)
        if answer.HasField("error"):
            problems = []
            if answer.error.code not in STREAM_ERROR_CODES:
                problems.append(f"message {i} error code {answer.error.code}")
            if len(answer.error.message.encode()) > MAX_STREAM_ERROR:
                size = len(answer.error.message.encode())
                problems.append(f"message {i} error message is {size} bytes")
            if problems:
                h.fail("PredictStream", problems, mark, f"message {i}: {s.describe(request)}")
        else:
            problems = response_problems(request, answer)
            if problems:
                h.fail("PredictStream", [f"message {i}: {p}" for p in problems], mark)
    await h.assert_serving(since=start)


async def _fresh_prediction(h: Harness, model: str = "clf", rows: int = 1) -> str:
    if rows == 1:
        request = ppb.PredictRequest(model=model, features=ppb.Features(values=NORMAL_ROW))
    else:
        values = [NORMAL_ROW[f] for f in FEATURES] * rows
        request = ppb.PredictRequest(model=model, tensor=ppb.FloatTensor(rows=rows, values=values))
    response = await h.predict.Predict(request, metadata=h.metadata, timeout=30)
    return response.prediction_id


def forged_ids(real: str) -> st.SearchStrategy:
    """Ids a hostile client may try: random strings, the id's prefix with other counters,
    near-misses of the real id."""
    prefix = real.split("-")[0]
    return st.one_of(
        s.hostile_text,
        st.builds(
            lambda k, which: neighbour_ids(real, k)[which % len(neighbour_ids(real, k))],
            st.integers(-5, 5).filter(bool),
            st.integers(0, 1),
        ),
        st.builds(lambda k: f"{prefix}-{k}", st.sampled_from([0, -1, 2**64, 10**30])),
        st.sampled_from(
            [real.upper(), real + " ", " " + real, real + "\x00", prefix, f"{prefix}-"]
        ),
    )


@fuzz(30)
@given(data=st.data(), value=s.hostile_floats, rows=st.sampled_from([1, 1, 1, 2]))
async def test_record_outcome_hostile_ids_and_values(harness, data, value, rows):
    h = harness
    start = h.log.mark()
    real = await _fresh_prediction(h, rows=rows)
    pid = data.draw(st.one_of(st.just(real), forged_ids(real)), label="prediction_id")
    _, err = await h.unary(
        h.predict.RecordOutcome, ppb.RecordOutcomeRequest(prediction_id=pid, value=value)
    )
    mark = h.log.mark()
    if pid == real:
        if not math.isfinite(value) and err is None:
            h.fail("RecordOutcome", [f"accepted the non-finite value {value}"], mark)
        if rows > 1 and err is None:
            h.fail("RecordOutcome", ["accepted an outcome for a 2-row prediction"], mark)
        if err is None:
            # The same value again is a duplicate; a different one is refused, once stored.
            again, _ = await h.unary(
                h.predict.RecordOutcome, ppb.RecordOutcomeRequest(prediction_id=pid, value=value)
            )
            if again is None or not again.duplicate:
                h.fail("RecordOutcome", ["a resent identical outcome is not a duplicate"], mark)
            other = 1.0 if value != 1.0 else 2.0
            _, conflict = await h.unary(
                h.predict.RecordOutcome, ppb.RecordOutcomeRequest(prediction_id=pid, value=other)
            )
            if conflict is None or conflict.code() is not Code.FAILED_PRECONDITION:
                h.fail("RecordOutcome", ["a conflicting value was not FAILED_PRECONDITION"], mark)
    await h.assert_serving(since=start)


@fuzz(15)
@given(
    victim_rpc=st.sampled_from(["Predict", "PredictStream"]),
    offset=st.integers(1, 3),
    value=st.sampled_from([0.0, 1.0, 2.0]),
)
async def test_record_outcome_guessed_id_of_another_callers_prediction_is_not_found(
    harness, victim_rpc, offset, value
):
    """Prediction ids are unguessable (DESIGN, trust model): from its own id a client must
    not be able to name, and score, the predictions served to other callers."""
    h = harness
    mine = await _fresh_prediction(h)
    theirs = []
    for _ in range(offset):
        request = ppb.PredictRequest(model="clf", features=ppb.Features(values=NORMAL_ROW))
        if victim_rpc == "Predict":
            answer = await h.predict.Predict(request, metadata=h.metadata)
        else:
            answers = [a async for a in h.predict.PredictStream(iter([request]))]
            answer = answers[0]
        theirs.append(answer.prediction_id)
    for guess in neighbour_ids(mine, offset):
        mark = h.log.mark()
        _, err = await h.unary(
            h.predict.RecordOutcome, ppb.RecordOutcomeRequest(prediction_id=guess, value=value)
        )
        if err is None:
            h.fail(
                "RecordOutcome",
                [
                    f"an outcome for the guessed id {guess!r} was accepted (own id {mine!r}, "
                    f"another caller's ids {theirs})"
                ],
                mark,
            )


@st.composite
def outcome_batches(draw: st.DrawFn, real: str) -> list[ppb.RecordOutcomeRequest]:
    """Outcomes for one RecordOutcomes call: repeats, many forged ids, conflicts, mixes."""
    kind = draw(st.sampled_from(["mixed", "repeat", "forged-many", "conflict", "empty"]))
    if kind == "empty":
        return []
    if kind == "repeat":  # one id many times
        n = draw(st.sampled_from([2, 100, 40_000]))
        return [ppb.RecordOutcomeRequest(prediction_id=real, value=1.0)] * n
    if kind == "forged-many":  # many distinct unknown ids in one request
        n = draw(st.sampled_from([2, 1_000, 40_000]))
        prefix = real.rpartition("-")[0]
        return [
            ppb.RecordOutcomeRequest(prediction_id=f"{prefix}-x{i}", value=0.0) for i in range(n)
        ]
    if kind == "conflict":
        a, b = draw(s.finite_floats), draw(s.finite_floats)
        return [
            ppb.RecordOutcomeRequest(prediction_id=real, value=a),
            ppb.RecordOutcomeRequest(prediction_id=real, value=b),
        ]
    ids = st.one_of(st.just(real), forged_ids(real))
    items = draw(st.lists(st.tuples(ids, s.hostile_floats), min_size=1, max_size=6))
    return [ppb.RecordOutcomeRequest(prediction_id=pid, value=v) for pid, v in items]


@fuzz(15)
@given(data=st.data())
async def test_record_outcomes_hostile_batches(harness, data):
    h = harness
    start = h.log.mark()
    real = await _fresh_prediction(h)
    outcomes = data.draw(outcome_batches(real).map(s.Shown), label="outcomes").pb
    request = ppb.RecordOutcomesRequest(outcomes=outcomes)
    response, _ = await h.unary(h.predict.RecordOutcomes, request)
    mark = h.log.mark()
    if response is not None and response.recorded + response.duplicates != len(outcomes):
        h.fail("RecordOutcomes", [f"counted {response} for {len(outcomes)} outcomes"], mark)
    await h.assert_serving(since=start)
