"""Bearer-token check for RPCs, as a server interceptor (constant-time compare)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence

import grpc

_UNARY_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _token_from(metadata: tuple | None) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _rejecting(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind that aborts UNAUTHENTICATED."""
    kind = (handler.request_streaming, handler.response_streaming)

    async def unary_reject(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def stream_reject(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - makes this an async generator

    behaviour = stream_reject if handler.response_streaming else unary_reject
    return _UNARY_KINDS[kind](
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Require `authorization: Bearer <token>` on methods under the configured prefixes.

    Args:
        tokens: method-name prefix (e.g. "/galgate.v1.ModelAdmin/" or a whole method
            name) -> the tokens accepted there; the longest matching prefix decides. A
            prefix whose tokens are all empty is open.
    """

    def __init__(self, tokens: Mapping[str, Sequence[str]]) -> None:
        accepted = {
            prefix: tuple(t.encode() for t in allowed if t) for prefix, allowed in tokens.items()
        }
        # Longest prefix first, so "/svc/Method" overrides "/svc/".
        self._tokens = dict(sorted(accepted.items(), key=lambda item: -len(item[0])))

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        required = next(
            (t for prefix, t in self._tokens.items() if details.method.startswith(prefix)), None
        )
        if not required:
            return handler
        given = _token_from(details.invocation_metadata).encode()
        # Compare with every accepted token, so the time taken does not say which matched.
        matches = [hmac.compare_digest(given, token) for token in required]
        if any(matches):
            return handler
        reason = "wrong bearer token" if given else "missing bearer token"
        return _rejecting(
            handler, f"{reason}: send metadata 'authorization: Bearer <token>' for {details.method}"
        )
