"""Fuzz every RPC at the wire: bytes that are not a valid request message, and valid
messages carrying unknown fields. A gateway answers undecodable bytes with a status a
client can act on (INVALID_ARGUMENT), never UNKNOWN or INTERNAL, and ignores unknown
fields as protobuf says."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2
from hypothesis import given
from hypothesis import strategies as st

from gateway._pb.galgate.v1 import admin_pb2, prediction_pb2
from gateway._pb.inference import grpc_predict_v2_pb2
from tests.faults.fuzz.harness import CALL_TIMEOUT, EXPECTED, Code, fuzz

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]


def _methods() -> list[tuple[str, bool, bool]]:
    """(path, client streaming, server streaming) of every RPC the gateway serves."""
    methods = []
    for module in (prediction_pb2, grpc_predict_v2_pb2, admin_pb2, health_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.name == "Watch":  # health Watch streams forever by design
                    continue
                path = f"/{service.full_name}/{method.name}"
                methods.append((path, method.client_streaming, method.server_streaming))
    return methods


METHODS = _methods()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def unknown_field(number: int, wire_type: int, payload: bytes) -> bytes:
    """One encoded field with a field number the schemas do not use."""
    key = _varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + _varint(int.from_bytes(payload[:8] or b"\0", "little"))
    if wire_type == 1:
        return key + payload[:8].ljust(8, b"\0")
    if wire_type == 5:
        return key + payload[:4].ljust(4, b"\0")
    return key + _varint(len(payload)) + payload  # wire type 2


payloads = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"\xff", b"\x80", b"\x0a\xff\xff\xff\xff\x0f", b"\x0b", b"\x08\x80\x80\x80"]),
    st.builds(
        unknown_field,
        st.sampled_from([999, 5_000, 2**29 - 1]),
        st.sampled_from([0, 1, 2, 5]),
        st.binary(max_size=32),
    ),
)


@fuzz(80)
@given(method=st.sampled_from(METHODS), messages=st.lists(payloads, min_size=1, max_size=3))
async def test_every_rpc_undecodable_or_unknown_field_bytes(harness, method, messages):
    h = harness
    start = h.log.mark()
    path, client_streaming, server_streaming = method
    kind = {
        (False, False): h.channel.unary_unary,
        (False, True): h.channel.unary_stream,
        (True, False): h.channel.stream_unary,
        (True, True): h.channel.stream_stream,
    }[(client_streaming, server_streaming)]
    call = kind(path)  # no serializers: the payloads go out as they are
    request = iter(messages) if client_streaming else messages[0]
    expected = EXPECTED
    timeout = CALL_TIMEOUT
    if path.endswith("/WatchEvents"):  # may follow new events until the deadline
        expected, timeout = EXPECTED | {Code.DEADLINE_EXCEEDED}, 0.5
    mark = h.log.mark()
    try:
        result = call(request, metadata=h.metadata, timeout=timeout)
        if server_streaming:
            [_ async for _ in result]
        else:
            await result
    except Exception as err:  # grpc.aio.AioRpcError
        if not hasattr(err, "code"):
            raise
        if not (client_streaming and _client_send_race(err)):
            h.check_error(
                path, err, request_size=max(map(len, messages)), mark=mark, expected=expected
            )
    await h.assert_serving(since=start)


def _client_send_race(err) -> bool:
    """The client's own status, not the server's: the server answered the first bad
    message and ended the call while the client was still sending the next one, and grpc
    core on the client reports the failed send as INTERNAL "Internal error from Core".
    (assert_serving then checks the server logged no error.)"""
    return (
        err.code() == Code.INTERNAL
        and err.details() == "Internal error from Core"
        and "SendMessageOperation" in (err.debug_error_string() or "")
    )
