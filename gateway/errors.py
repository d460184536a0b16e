"""The gateway's error hierarchy; it knows nothing about gRPC (server/status.py maps it)."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises itself."""


class InvalidInputError(GatewayError):
    """A request's payload is malformed: wrong shape, NaN/Inf, missing or unknown features."""


class ModelNotServedError(GatewayError):
    """The model (or the pinned version) is not loaded in this gateway."""


class QueueFullError(GatewayError):
    """A bounded queue is full; the caller should back off and retry."""


class PayloadTooLargeError(GatewayError):
    """An upload exceeds its configured size cap."""


class UnauthenticatedError(GatewayError):
    """Missing or wrong bearer token."""


class NotReadyError(GatewayError):
    """The gateway is starting or shutting down."""


class ArtifactLoadError(GatewayError):
    """A version's artifact failed to load into onnxruntime; it cannot go live."""

    def __init__(self, name: str, version: str, reason: str) -> None:
        self.name = name
        self.version = version
        self.reason = reason
        super().__init__(
            f"model {name!r} version {version!r} cannot go live: its artifact failed to load "
            f"({reason}); the serving version is unchanged"
        )
