"""The fuzz harness: one in-process gateway, authorised stubs, and the checks every call
must pass whatever a hostile client sent.

Every failed call is checked the same way: never INTERNAL or UNKNOWN, details at most
4 KiB and free of the admin token, no oversized status trailers or replies, and a code
from the set a gateway may answer with. A failing check names the call, the status, the
start of the details and the server-side tracebacks logged meanwhile, so a report can be
written from the assertion message alone.
"""

from __future__ import annotations

import logging
import math
import re
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, settings

from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as ppb
from gateway._pb.inference import grpc_predict_v2_pb2_grpc
from gateway.server.app import Gateway
from tests.faults.conftest import iterations
from tests.faults.fuzz.strategies import describe

Code = grpc.StatusCode
MAX_DETAILS = 4096
# Details travel percent-encoded in the grpc-message trailer (every byte outside printable
# ASCII, and "%", takes 3 bytes); a default client refuses trailers over 8 KiB (soft limit,
# at random up to its 16 KiB hard limit). Leave 1 KiB for the other trailers.
MAX_ENCODED_DETAILS = 7 * 1024
CALL_TIMEOUT = 30.0
# What a gateway may answer a hostile message with (README "nothing lost" 1, plus
# ALREADY_EXISTS for registry conflicts). UNAUTHENTICATED is absent: every call is
# authorised here, so it would mean the token check misfired.
EXPECTED = frozenset(
    {
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.FAILED_PRECONDITION,
        Code.RESOURCE_EXHAUSTED,
        Code.ALREADY_EXISTS,
        Code.OUT_OF_RANGE,
    }
)
# grpc's own words when a status's trailers were too large for the receiving side.
_OVERSIZED_TRAILERS = re.compile(r"metadata size|exceeds limit", re.IGNORECASE)
_OVERSIZED_MESSAGE = re.compile(r"larger than max", re.IGNORECASE)
# What grpc's client reports when it cannot write to a call the server has already ended.
_CLIENT_WRITE_FAILED = "Internal error from Core"


def fuzz(examples: int) -> settings:
    """Hypothesis settings for one fuzz test: ``examples`` x GALGATE_FAULT_ITERATIONS (read
    as the rest of the fault suite reads it: tests.faults.conftest.iterations)."""
    return settings(
        max_examples=examples * iterations(),
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )


class ServerLog(logging.Handler):
    """Keeps the gateway's warnings and errors (with tracebacks) for failure messages."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[str] = []
        self._dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.records.append(text)
        if len(self.records) > 400:
            self._dropped += len(self.records) - 200
            del self.records[:-200]

    def mark(self) -> int:
        """A position to read the log from (see ``since``)."""
        return self._dropped + len(self.records)

    def since(self, mark: int) -> str:
        """What was logged after ``mark`` (at most the last 200 records)."""
        return "\n".join(self.records[max(0, mark - self._dropped) :])[-6000:]

    def errors_since(self, mark: int) -> list[str]:
        """The ERROR records logged after ``mark``."""
        recent = self.records[max(0, mark - self._dropped) :]
        return [r for r in recent if r.startswith(("ERROR", "CRITICAL"))]


def encoded_size(details: str) -> int:
    """Bytes ``details`` take in the grpc-message trailer (percent-encoded).

    >>> encoded_size("ok 100%"), encoded_size("é")
    (9, 6)
    """
    return sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in details.encode())


def _short(text: str, limit: int = 300) -> str:
    return repr(text[:limit]) + (f"... ({len(text.encode())} bytes)" if len(text) > limit else "")


def status_problems(
    err: grpc.aio.AioRpcError,
    *,
    request_size: int,
    limit: int,
    secret: str,
    expected: Iterable[grpc.StatusCode] = EXPECTED,
) -> list[str]:
    """Everything wrong with a failed call's status, as sentences (empty: acceptable)."""
    code, details = err.code(), err.details() or ""
    problems = []
    if request_size > limit and (
        code is Code.RESOURCE_EXHAUSTED
        or (code is Code.INTERNAL and details == _CLIENT_WRITE_FAILED)
    ):
        # The client sent a message over the server's limit: the server refuses it, and a
        # streaming client may see its own next write fail first.
        return problems
    if code in (Code.INTERNAL, Code.UNKNOWN):
        problems.append(f"status is {code.name}")
    elif code not in set(expected):
        problems.append(f"status {code.name} is not one a gateway answers this call with")
    size = len(details.encode())
    if size > MAX_DETAILS:
        problems.append(f"status details are {size} bytes (at most {MAX_DETAILS})")
    elif encoded_size(details) > MAX_ENCODED_DETAILS:
        problems.append(
            f"status details take {encoded_size(details)} bytes percent-encoded "
            f"(at most {MAX_ENCODED_DETAILS}: default clients refuse trailers over 8 KiB)"
        )
    if code is Code.RESOURCE_EXHAUSTED and _OVERSIZED_TRAILERS.search(details):
        problems.append("the server sent status trailers larger than the client accepts")
    if _OVERSIZED_MESSAGE.search(details) and request_size <= limit:
        problems.append(
            f"a reply exceeded the message limit ({limit} bytes) for a {request_size}-byte request"
        )
    if secret and secret in details:
        problems.append("status details echo the admin token")
    return problems


@dataclass(repr=False)
class Harness:
    """One started gateway and authorised stubs on one channel."""

    gateway: Gateway
    channel: grpc.aio.Channel
    token: str
    log: ServerLog
    predict: prediction_pb2_grpc.PredictionServiceStub = field(init=False)
    infer: grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub = field(init=False)
    admin: admin_pb2_grpc.ModelAdminStub = field(init=False)
    health: health_pb2_grpc.HealthStub = field(init=False)
    # The session's models (models.build_artifacts), for per-example fresh models.
    artifacts: dict[str, Any] = field(default_factory=dict)
    # Liveness probes: (model, named features of one normal row).
    probes: tuple[tuple[str, dict[str, float]], ...] = ()

    def __repr__(self) -> str:
        return f"Harness(port={self.gateway.port})"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis' pretty printer
        printer.text(repr(self))

    def __post_init__(self) -> None:
        self.predict = prediction_pb2_grpc.PredictionServiceStub(self.channel)
        self.infer = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        self.admin = admin_pb2_grpc.ModelAdminStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    async def victim(self, *, serve: bool = True) -> str:
        """A fresh model (1.0.0 production, 1.0.1 staging, 1.0.2 development) of its own;
        ``serve``: load it into the pool now rather than at the next event poll."""
        from tests.faults.fuzz.models import add_victim

        name = await add_victim(self.gateway.registry, self.artifacts)
        if serve:
            await self.gateway.pool.reconcile()
        return name

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    @property
    def limit(self) -> int:
        return self.gateway.settings.max_message_bytes

    def fail(self, what: str, problems: list[str], mark: int, extra: str = "") -> None:
        """Raise an AssertionError that says what happened and what the server logged."""
        logged = self.log.since(mark)
        if any("\n" in p for p in problems):
            message = f"{what}:\n- " + "\n- ".join(problems)
        else:
            message = f"{what}: {'; '.join(problems)}"
        if extra:
            message += f"\n{extra}"
        if logged:
            message += f"\n--- server log ---\n{logged}"
        raise AssertionError(message)

    def check_error(
        self,
        what: str,
        err: grpc.aio.AioRpcError,
        *,
        request_size: int,
        mark: int,
        expected: Iterable[grpc.StatusCode] = EXPECTED,
        request: Message | None = None,
    ) -> None:
        """Fail unless a failed call's status is one a hostile client may get."""
        problems = status_problems(
            err, request_size=request_size, limit=self.limit, secret=self.token, expected=expected
        )
        if problems:
            extra = f"status {err.code().name}, details {_short(err.details() or '')}"
            if request is not None:
                extra += f"\nrequest {describe(request)}"
            self.fail(what, problems, mark, extra)

    async def unary(
        self,
        method: Callable[..., Awaitable[Any]],
        request: Any,
        *,
        expected: Iterable[grpc.StatusCode] = EXPECTED,
        timeout: float = CALL_TIMEOUT,
    ) -> tuple[Any | None, grpc.aio.AioRpcError | None]:
        """Call a unary RPC; return (response, None) or (None, error) after checking it."""
        what = _method_name(method)
        mark = self.log.mark()
        try:
            return await method(request, metadata=self.metadata, timeout=timeout), None
        except grpc.aio.AioRpcError as err:
            self.check_error(
                what,
                err,
                request_size=request.ByteSize(),
                mark=mark,
                expected=expected,
                request=request,
            )
            return None, err

    async def server_streaming(
        self,
        method: Callable[..., Any],
        request: Any,
        *,
        expected: Iterable[grpc.StatusCode] = EXPECTED,
        timeout: float = CALL_TIMEOUT,
        limit: int | None = None,
    ) -> tuple[list[Any], grpc.aio.AioRpcError | None]:
        """Read a server stream (at most ``limit`` messages, then cancel it)."""
        what = _method_name(method)
        mark = self.log.mark()
        call = method(request, metadata=self.metadata, timeout=timeout)
        received: list[Any] = []
        try:
            async for message in call:
                received.append(message)
                if limit is not None and len(received) >= limit:
                    call.cancel()
                    break
        except grpc.aio.AioRpcError as err:
            self.check_error(
                what,
                err,
                request_size=request.ByteSize(),
                mark=mark,
                expected=expected,
                request=request,
            )
            return received, err
        return received, None

    async def assert_serving(self, since: int | None = None) -> None:
        """The gateway still answers a normal Predict on each production model, and health
        says SERVING; with ``since`` (a log mark), nothing was logged as an ERROR since."""
        if since is not None and self.log.errors_since(since):
            self.fail("server log", ["errors were logged"], since)
        mark = self.log.mark()
        for model, row in self.probes:
            request = ppb.PredictRequest(model=model, features=ppb.Features(values=row))
            try:
                response = await self.predict.Predict(
                    request, metadata=self.metadata, timeout=CALL_TIMEOUT
                )
            except grpc.aio.AioRpcError as err:
                self.fail(
                    f"liveness Predict on {model!r}",
                    [f"failed with {err.code().name} {_short(err.details() or '')}"],
                    mark,
                )
            if response.error.code or response.rows != 1:
                self.fail(f"liveness Predict on {model!r}", [f"bad answer {response}"], mark)
        check = await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        if check.status != health_pb2.HealthCheckResponse.SERVING:
            self.fail("health", [f"status is {check.status}, not SERVING"], mark)


def _method_name(method: Callable[..., Any]) -> str:
    name = getattr(method, "_method", b"")
    if isinstance(name, bytes):
        name = name.decode()
    return name or repr(method)


def finite(values: Iterable[float]) -> bool:
    """True when every value is a finite number."""
    return all(math.isfinite(v) for v in values)
