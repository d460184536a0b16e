"""Method handlers for every service, built from its descriptor, that never let a request
the server cannot decode end as UNKNOWN.

grpc turns an exception raised by a request deserializer into UNKNOWN ("Unexpected
DecodeError"). Here every deserializer returns an :class:`Undecodable` marker instead;
the error wrapper (``status.grpc_errors``) answers it INVALID_ARGUMENT for unary
requests, and a request stream raises ``InvalidInputError`` when it reaches one.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from gateway.errors import InvalidInputError

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class Undecodable:
    """What a deserializer returns for bytes that are not a valid request message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def error(self) -> InvalidInputError:
        """The error to answer with."""
        return InvalidInputError(self.message)


def safe_deserializer(cls: type) -> Callable[[bytes], object]:
    """``cls.FromString`` that returns an :class:`Undecodable` instead of raising.

    >>> from google.protobuf.timestamp_pb2 import Timestamp
    >>> decode = safe_deserializer(Timestamp)
    >>> decode(b"\\x08\\x01").seconds, type(decode(b"\\x00")).__name__
    (1, 'Undecodable')
    """
    name = cls.DESCRIPTOR.full_name
    from_string = cls.FromString

    def deserialize(data: bytes) -> object:
        try:
            return from_string(data)
        except DecodeError as exc:
            return Undecodable(
                f"the request is not a valid {name} message ({exc}); send the message the "
                "method's .proto declares"
            )

    return deserialize


async def decoded(requests: AsyncIterator[object]) -> AsyncIterator[object]:
    """A request stream that raises InvalidInputError at its first undecodable message."""
    async for request in requests:
        if request.__class__ is Undecodable:
            raise request.error()
        yield request


def _checked_unary(behaviour: Callable) -> Callable:
    """For servicers without ``grpc_errors``: answer an undecodable request here.

    A response stream may be an async generator or a coroutine writing to the context.
    """
    if inspect.isasyncgenfunction(behaviour):

        async def stream(request, context):
            if request.__class__ is Undecodable:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            async for response in behaviour(request, context):
                yield response

        return stream

    async def unary(request, context):
        if request.__class__ is Undecodable:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        return await behaviour(request, context)

    return unary


def _stream_of_decoded(behaviour: Callable) -> Callable:
    """``behaviour`` fed a request stream that raises at an undecodable message; of the
    same kind (async generator or coroutine), which is how grpc.aio tells them apart."""
    if inspect.isasyncgenfunction(behaviour):

        async def stream(requests, context):
            async for response in behaviour(decoded(requests), context):
                yield response

        return stream

    async def call(requests, context):
        return await behaviour(decoded(requests), context)

    return call


def add_service(
    server: grpc.aio.Server,
    servicer: object,
    service: ServiceDescriptor,
    *,
    registered: bool = False,
    checks_requests: bool = True,
) -> None:
    """Serve ``servicer``'s methods for ``service`` with decode-safe handlers.

    Args:
        server: the grpc.aio server.
        servicer: has one method per RPC of the service, named as in the .proto.
        service: the service's descriptor.
        registered: also add them as registered methods (grpc.aio waits on one task per
            registered method for every call: use it for the hot service only).
        checks_requests: the servicer's unary methods answer Undecodable themselves
            (``status.grpc_errors`` does); otherwise a check is wrapped around them.
    """
    handlers = {}
    for method in service.methods:
        request_cls = GetMessageClass(method.input_type)
        response_cls = GetMessageClass(method.output_type)
        behaviour = getattr(servicer, method.name)
        if method.client_streaming:
            behaviour = _stream_of_decoded(behaviour)
        elif not checks_requests:
            behaviour = _checked_unary(behaviour)
        factory = _FACTORIES[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = factory(
            behaviour,
            request_deserializer=safe_deserializer(request_cls),
            response_serializer=response_cls.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    if registered:
        server.add_registered_method_handlers(service.full_name, handlers)
