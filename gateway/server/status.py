"""The one place where domain errors become gRPC status codes, and the wrapper that applies it."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import uuid
from collections.abc import Callable

import grpc

from converters.errors import ConversionError
from gateway.brief import clip_message
from gateway.errors import (
    ArtifactLoadError,
    DeadlineExceededError,
    DriftMonitoringOffError,
    ExperimentStatisticsError,
    InvalidInputError,
    ListenError,
    ModelNotServedError,
    ModelOutputError,
    NotReadyError,
    OutcomeNotAllowedError,
    PayloadTooLargeError,
    PredictionNotFoundError,
    QueueFullError,
    RetrainingCancelledError,
    RetrainingError,
    RetrainingNotConfiguredError,
    TrainerTimeoutError,
)
from gateway.server.handlers import Undecodable
from registry.errors import (
    AlertNotFoundError,
    ArtifactNotFoundError,
    ConflictError,
    CorruptArtifactError,
    DriftReportNotFoundError,
    ExperimentConflictError,
    ExperimentNotFoundError,
    ExperimentPreconditionError,
    InvalidArgumentError,
    InvalidStageTransitionError,
    ModelNotFoundError,
    OutcomeConflictError,
    RetrainingInProgressError,
    RetrainingPreconditionError,
    RetrainingRunNotFoundError,
    SchemaMismatchError,
    StorageFullError,
    StoredDataError,
    UnavailableError,
)

log = logging.getLogger(__name__)
Code = grpc.StatusCode
# Status messages ride in trailing metadata, which C-core clients cap at 8 KiB in all;
# a longer message would reach them as a RESOURCE_EXHAUSTED of their own.
MAX_MESSAGE_BYTES = 2048

_STATUS: dict[type[Exception], grpc.StatusCode] = {
    # gateway
    InvalidInputError: Code.INVALID_ARGUMENT,
    ModelNotServedError: Code.NOT_FOUND,
    QueueFullError: Code.RESOURCE_EXHAUSTED,
    NotReadyError: Code.UNAVAILABLE,
    PayloadTooLargeError: Code.RESOURCE_EXHAUSTED,
    ArtifactLoadError: Code.FAILED_PRECONDITION,
    ListenError: Code.UNAVAILABLE,  # raised at startup only; never reaches a client
    PredictionNotFoundError: Code.NOT_FOUND,
    OutcomeNotAllowedError: Code.FAILED_PRECONDITION,
    ExperimentStatisticsError: Code.FAILED_PRECONDITION,
    DriftMonitoringOffError: Code.FAILED_PRECONDITION,
    RetrainingNotConfiguredError: Code.FAILED_PRECONDITION,
    ModelOutputError: Code.FAILED_PRECONDITION,
    DeadlineExceededError: Code.DEADLINE_EXCEEDED,
    # retraining (its data, config and trainer failures: TrainerError and the others)
    RetrainingError: Code.FAILED_PRECONDITION,
    TrainerTimeoutError: Code.DEADLINE_EXCEEDED,
    RetrainingCancelledError: Code.CANCELLED,
    # registry
    ModelNotFoundError: Code.NOT_FOUND,
    InvalidArgumentError: Code.INVALID_ARGUMENT,
    InvalidStageTransitionError: Code.FAILED_PRECONDITION,
    ConflictError: Code.ALREADY_EXISTS,
    CorruptArtifactError: Code.DATA_LOSS,
    ArtifactNotFoundError: Code.DATA_LOSS,
    ExperimentNotFoundError: Code.NOT_FOUND,
    ExperimentPreconditionError: Code.FAILED_PRECONDITION,
    ExperimentConflictError: Code.FAILED_PRECONDITION,
    OutcomeConflictError: Code.FAILED_PRECONDITION,
    AlertNotFoundError: Code.NOT_FOUND,
    DriftReportNotFoundError: Code.NOT_FOUND,
    RetrainingRunNotFoundError: Code.NOT_FOUND,
    RetrainingPreconditionError: Code.FAILED_PRECONDITION,
    RetrainingInProgressError: Code.FAILED_PRECONDITION,
    SchemaMismatchError: Code.FAILED_PRECONDITION,
    UnavailableError: Code.UNAVAILABLE,
    StorageFullError: Code.RESOURCE_EXHAUSTED,
    StoredDataError: Code.FAILED_PRECONDITION,
    # converters: every conversion/validation failure is about what the caller sent
    ConversionError: Code.INVALID_ARGUMENT,
}


def status_for(exc: BaseException) -> grpc.StatusCode | None:
    """The status code for a domain error; subclasses inherit their parent's code.

    >>> status_for(InvalidInputError("x")).name
    'INVALID_ARGUMENT'
    >>> status_for(KeyError("x")) is None
    True
    """
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return None


def message_for(exc: BaseException) -> str:
    """The status message of a domain error, at most MAX_MESSAGE_BYTES of UTF-8.

    >>> len(message_for(InvalidInputError("x" * 10_000)).encode()) <= MAX_MESSAGE_BYTES
    True
    """
    return clip_message(str(exc), MAX_MESSAGE_BYTES)


def _count(servicer: object, method: str, code: grpc.StatusCode) -> None:
    metrics = getattr(servicer, "metrics", None)
    if metrics is not None:
        metrics.rpc_errors.labels(method, code.name).inc()


async def _abort(servicer: object, method: str, context, exc: Exception) -> None:
    code = status_for(exc)
    _count(servicer, method, code or Code.INTERNAL)
    if code is None:
        ref = uuid.uuid4().hex[:12]
        log.error("unhandled error (ref=%s)", ref, exc_info=exc)
        await context.abort(Code.INTERNAL, f"internal error (ref={ref})")
    await context.abort(code, message_for(exc))


def _slots_of(servicer: object, attr: str | None) -> contextlib.AbstractContextManager:
    return getattr(servicer, attr).take() if attr else contextlib.nullcontext()


def _wrap_unary(method: Callable, slots: str | None) -> Callable:
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            if request.__class__ is Undecodable:
                raise request.error()
            with _slots_of(self, slots):
                return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(self, method.__name__, context, exc)

    wrapper.__grpc_errors__ = True
    return wrapper


def _wrap_stream(method: Callable, slots: str | None) -> Callable:
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            if request.__class__ is Undecodable:
                raise request.error()
            with _slots_of(self, slots):
                async for item in method(self, request, context):
                    yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(self, method.__name__, context, exc)

    wrapper.__grpc_errors__ = True
    return wrapper


def grpc_errors(cls: type | None = None, *, slots: str | None = None):
    """Class decorator: wrap every public CamelCase RPC method with the error mapping.

    A servicer with a ``metrics`` attribute (gateway.prometheus.Metrics) gets its failed
    RPCs counted by method and status code. With ``slots="attr"``, every call holds one
    of ``self.attr`` (gateway.admission.Slots) while it runs: RESOURCE_EXHAUSTED when
    they are all taken.
    """

    def decorate(cls: type) -> type:
        for name, member in list(vars(cls).items()):
            if name.startswith("_") or not name[:1].isupper() or not callable(member):
                continue
            if inspect.isasyncgenfunction(member):
                setattr(cls, name, _wrap_stream(member, slots))
            elif inspect.iscoroutinefunction(member):
                setattr(cls, name, _wrap_unary(member, slots))
            else:
                raise TypeError(f"{cls.__name__}.{name} must be async (grpc.aio)")
        return cls

    return decorate if cls is None else decorate(cls)


def rpc_methods(cls: type) -> dict[str, Callable]:
    """Every RPC method a servicer class defines (for the wrapped-everywhere test)."""
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and name[:1].isupper() and callable(member)
    }
