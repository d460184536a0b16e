"""The gateway's error hierarchy; it knows nothing about gRPC (server/status.py maps it)."""

from __future__ import annotations

from gateway.brief import brief


class GatewayError(Exception):
    """Root of every error the gateway raises itself."""


class InvalidInputError(GatewayError):
    """A request's payload is malformed: wrong shape, NaN/Inf, missing or unknown features."""


class ModelNotServedError(GatewayError):
    """The model (or the pinned version) is not loaded in this gateway."""


class NotReadyError(GatewayError):
    """The gateway has not loaded its first snapshot of the registry yet (retryable)."""


class QueueFullError(GatewayError):
    """A bounded queue is full; the caller should back off and retry."""


class PayloadTooLargeError(GatewayError):
    """An upload exceeds its configured size cap."""


class ListenError(GatewayError):
    """The server cannot bind its address (in use, or not an address of this machine)."""


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


class PredictionNotFoundError(GatewayError):
    """An outcome names a prediction id that no gateway has logged."""

    def __init__(
        self, prediction_id: str, waited: float, others: int = 0, *, forged: bool = False
    ) -> None:
        self.prediction_id = prediction_id
        self.waited = waited
        more = f" (and {others} more of this request's ids)" if others else ""
        why = (
            "no gateway of this registry issued this id"
            if forged
            else f"no prediction with this id was logged (waited {waited:g} s for it to be written)"
        )
        super().__init__(
            f"prediction {brief(prediction_id)} not found{more}: {why}; expected a "
            "prediction_id returned by Predict"
        )


class ModelOutputError(GatewayError):
    """A served version failed to run or returned something its signature does not allow
    (wrong row count, a label outside its classes, NaN): the answer is refused, never sent."""

    def __init__(self, name: str, version: str, reason: str) -> None:
        self.name = name
        self.version = version
        self.reason = reason
        super().__init__(
            f"model {brief(name)} version {brief(version)} produced no valid answer: {reason}"
        )


class DeadlineExceededError(GatewayError):
    """The caller's deadline passed before the answer was ready; nothing was logged."""


class OutcomeNotAllowedError(GatewayError):
    """An outcome cannot be recorded for this prediction (e.g. it has several rows)."""


class DriftMonitoringOffError(GatewayError):
    """A drift check was asked of a gateway that keeps no live windows (or of a door that
    has none: the CLI on a database)."""


class RetrainingNotConfiguredError(GatewayError):
    """Retraining was asked of a gateway (or door) with no trainer configured."""


class ExperimentStatisticsError(GatewayError):
    """An experiment's stored outcomes give no valid statistics (e.g. sums that overflowed
    before outcome values were bounded); the experiment is skipped, never the others."""

    def __init__(self, reason: str, experiment_id: int | None = None) -> None:
        self.experiment_id = experiment_id
        self.reason = reason
        where = f"experiment {experiment_id}" if experiment_id is not None else "an experiment"
        super().__init__(
            f"{where}: its stored outcomes give no valid statistics ({reason}); its results "
            "cannot be computed and it does not route traffic — stop it and start a new one"
        )


class RetrainingError(GatewayError):
    """A retraining cannot go on (e.g. the model has no production version to start from,
    or the candidate does not do the production version's task); nothing was registered."""


class RetrainingDataError(RetrainingError):
    """The prediction log holds too little usable training data (joined rows of logged
    inputs and recorded outcomes) for a retraining."""

    def __init__(self, model: str, rows: int, needed: int, skipped: int = 0) -> None:
        self.model = model
        self.rows = rows
        self.needed = needed
        self.skipped = skipped
        extra = f" ({skipped} more skipped: their width is not the model's)" if skipped else ""
        super().__init__(
            f"model {brief(model)}: {rows} logged single-row predictions with outcomes{extra}; "
            f"retraining needs at least {needed}"
        )


class TrainerConfigError(RetrainingError):
    """A trainer spec is not ``"module:function"``, or names nothing importable and callable."""


class TrainerError(RetrainingError):
    """The trainer raised, returned something that is not a fitted estimator, or its
    process died; ``remote_traceback`` holds the child's traceback text (bounded)."""

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        self.remote_traceback = remote_traceback
        super().__init__(message)


class TrainerTimeoutError(RetrainingError):
    """The trainer ran past its time limit; its process was stopped."""

    def __init__(self, spec: str, timeout: float) -> None:
        self.spec = spec
        self.timeout = timeout
        super().__init__(
            f"trainer {brief(spec)} did not finish within {timeout:g} s; its process was stopped"
        )


class RetrainingCancelledError(RetrainingError):
    """A retraining was cancelled; its trainer process was stopped, nothing was registered."""
