"""The trust model: which token each door needs, and prediction ids that cannot be forged."""

from __future__ import annotations

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from gateway.config import Settings
from gateway.server.app import build_server

ADMIN, PREDICT, OUTCOME = "admin-t", "predict-t", "outcome-t"


def _bearer(token: str | None):
    return None if token is None else (("authorization", f"Bearer {token}"),)


async def _start(served, **tokens):
    gw = build_server(
        Settings(listen="127.0.0.1:0", predlog_flush_interval=0.02, outcome_wait=30.0, **tokens),
        served,
    )
    await gw.start()
    return gw


def _request(trained) -> pb.PredictRequest:
    return pb.PredictRequest(
        model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
    )


async def _code(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


# (tokens configured, token sent to RecordOutcome) -> accepted?
_OUTCOME_CASES = [
    ({}, None, True),  # nothing configured: open (ids are still unforgeable)
    ({"admin_token": ADMIN}, None, False),  # only admin set: outcomes are no longer open
    ({"admin_token": ADMIN}, ADMIN, True),
    ({"predict_token": PREDICT}, PREDICT, True),  # the engine's one credential
    ({"predict_token": PREDICT}, None, False),
    ({"predict_token": PREDICT, "outcome_token": OUTCOME}, PREDICT, False),
    ({"predict_token": PREDICT, "outcome_token": OUTCOME}, OUTCOME, True),
    ({"admin_token": ADMIN, "outcome_token": OUTCOME}, ADMIN, True),
    ({"admin_token": ADMIN, "outcome_token": OUTCOME}, "wrong", False),
]


@pytest.mark.parametrize(("tokens", "sent", "accepted"), _OUTCOME_CASES)
async def test_record_outcome_needs_the_outcome_credential(served, trained, tokens, sent, accepted):
    gw = await _start(served, **tokens)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            predict_token = tokens.get("predict_token")
            reply = await stub.Predict(_request(trained), metadata=_bearer(predict_token))
            outcome = pb.RecordOutcomeRequest(prediction_id=reply.prediction_id, value=1.0)
            single = await _code(stub.RecordOutcome(outcome, metadata=_bearer(sent), timeout=5))
            batch = await _code(
                stub.RecordOutcomes(
                    pb.RecordOutcomesRequest(outcomes=[outcome]), metadata=_bearer(sent), timeout=5
                )
            )
    finally:
        await gw.stop(grace=0)
    expected = grpc.StatusCode.OK if accepted else grpc.StatusCode.UNAUTHENTICATED
    assert (single, batch) == (expected, expected)


async def test_admin_token_also_opens_predict(served, trained):
    gw = await _start(served, admin_token=ADMIN, predict_token=PREDICT)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            stub = prediction_pb2_grpc.PredictionServiceStub(channel)
            assert await _code(stub.Predict(_request(trained), metadata=_bearer(ADMIN))) is (
                grpc.StatusCode.OK
            )
            assert await _code(stub.Predict(_request(trained), metadata=_bearer(OUTCOME))) is (
                grpc.StatusCode.UNAUTHENTICATED
            )
    finally:
        await gw.stop(grace=0)


@pytest.fixture
async def stub(served):
    gw = await _start(served)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
        yield prediction_pb2_grpc.PredictionServiceStub(channel)
    await gw.stop(grace=0)


async def test_prediction_ids_are_not_a_guessable_counter(stub, trained):
    ids = [(await stub.Predict(_request(trained))).prediction_id for _ in range(3)]
    assert len(set(ids)) == 3
    prefix, counter, mac = ids[0].split("-")
    assert [i.split("-")[:2] for i in ids] == [[prefix, str(int(counter) + k)] for k in range(3)]
    # The tails share nothing a client could extrapolate.
    assert len({i.split("-")[2] for i in ids}) == 3 and len(mac) == 20


@pytest.mark.parametrize("tamper", ["counter", "mac", "old-format", "junk", "long"])
async def test_forged_prediction_id_is_not_found_at_once(stub, trained, tamper):
    """outcome_wait is 30 s: a forged id that waited for a log writer would time out."""
    genuine = (await stub.Predict(_request(trained))).prediction_id
    prefix, counter, mac = genuine.split("-")
    forged = {
        "counter": f"{prefix}-{int(counter) + 1}-{mac}",
        "mac": f"{prefix}-{counter}-{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",
        "old-format": f"{prefix}-{counter}",
        "junk": "not-an-id",
        "long": "x" * 5000,
    }[tamper]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RecordOutcome(
            pb.RecordOutcomeRequest(prediction_id=forged, value=1.0), timeout=5
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert "no gateway of this registry issued this id" in err.value.details()
    assert len(err.value.details()) < 400
    # The genuine owner's outcome is untouched by the forgery.
    ok = await stub.RecordOutcome(pb.RecordOutcomeRequest(prediction_id=genuine, value=1.0))
    assert ok.duplicate is False


async def test_ids_issued_by_one_gateway_are_accepted_by_another_on_the_same_registry(
    served, trained
):
    first, second = await _start(served), await _start(served)
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as a,
            grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as b,
        ):
            reply = await prediction_pb2_grpc.PredictionServiceStub(a).Predict(_request(trained))
            outcome = pb.RecordOutcomeRequest(prediction_id=reply.prediction_id, value=2.0)
            ack = await prediction_pb2_grpc.PredictionServiceStub(b).RecordOutcome(outcome)
            assert ack.duplicate is False
    finally:
        await first.stop(grace=0)
        await second.stop(grace=0)
