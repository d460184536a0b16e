"""The registry's error hierarchy; messages say what was wrong and what was expected."""

from __future__ import annotations


class RegistryError(Exception):
    """Root of every error the registry raises."""


class ModelNotFoundError(RegistryError):
    """No model of that name is registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"model {name!r} is not registered")


class VersionNotFoundError(ModelNotFoundError):
    """The model exists but not the version asked for."""

    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version
        RegistryError.__init__(self, f"model {name!r} has no version {version!r}")


class InvalidStageTransitionError(RegistryError):
    """A stage move that the stage machine does not allow, or whose precondition fails."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ArtifactNotFoundError(RegistryError):
    """No artifact is stored under that sha256."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        super().__init__(f"no artifact is stored under sha256 {sha256!r}")


class ConflictError(RegistryError):
    """The change collides with existing state (duplicate version, concurrent promotion)."""


class CorruptArtifactError(RegistryError):
    """Stored artifact bytes do not hash to the sha256 they are filed under."""

    def __init__(self, sha256: str, actual: str) -> None:
        self.sha256 = sha256
        self.actual = actual
        super().__init__(
            f"artifact {sha256[:12]}… is corrupt: its bytes hash to {actual[:12]}…, "
            f"expected {sha256[:12]}…"
        )


class SchemaMismatchError(RegistryError):
    """The database schema is newer (or unknown) to this code."""


class InvalidArgumentError(RegistryError):
    """A caller-supplied value is malformed (bad version string, empty name, ...)."""


class ExperimentNotFoundError(RegistryError):
    """No experiment has that id."""

    def __init__(self, experiment_id: int) -> None:
        self.experiment_id = experiment_id
        super().__init__(f"experiment {experiment_id} does not exist")


class ExperimentPreconditionError(RegistryError):
    """An experiment change whose precondition fails: a move the experiment state machine
    does not allow, versions that cannot be compared, an archived version."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ExperimentConflictError(ConflictError):
    """The model already has an active (running or paused) experiment."""

    def __init__(self, model: str, active_id: int | None) -> None:
        self.model = model
        self.active_id = active_id
        which = (
            f"experiment {active_id}"
            if active_id is not None
            else "an experiment started concurrently"
        )
        super().__init__(
            f"model {model!r} already has an active experiment ({which}); at most one "
            "experiment per model may be running or paused: stop or complete it first"
        )


class OutcomeConflictError(RegistryError):
    """An outcome for that prediction is already stored with a different value."""

    def __init__(self, prediction_id: str, stored: float, new: float) -> None:
        self.prediction_id = prediction_id
        self.stored = stored
        self.new = new
        super().__init__(
            f"prediction {prediction_id!r} already has outcome {stored!r}; refusing the "
            f"different value {new!r} (an outcome is recorded exactly once; resending the "
            "same value is accepted)"
        )


class UnavailableError(RegistryError):
    """The database cannot be reached, or stayed locked or failing; retry later."""


class StorageFullError(RegistryError):
    """The database refused a write because its disk (or quota) is full."""


class StoredDataError(RegistryError):
    """Stored rows cannot be read as asked (e.g. a sum over them is out of range)."""


class AlertNotFoundError(RegistryError):
    """No alert has that id."""

    def __init__(self, alert_id: int) -> None:
        self.alert_id = alert_id
        super().__init__(f"alert {alert_id} does not exist")


class DriftReportNotFoundError(RegistryError):
    """No drift report has that id."""

    def __init__(self, report_id: int) -> None:
        self.report_id = report_id
        super().__init__(f"drift report {report_id} does not exist")


class RetrainingRunNotFoundError(RegistryError):
    """No retraining run has that id."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"retraining run {run_id} does not exist")


class RetrainingPreconditionError(RegistryError):
    """A retraining run change whose precondition fails: the run is no longer running
    (finished, cancelled, or expired for want of heartbeats)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class RetrainingInProgressError(ConflictError):
    """The model already has a running retraining run."""

    def __init__(self, model: str, running_id: int | None) -> None:
        self.model = model
        self.running_id = running_id
        which = f"run {running_id}" if running_id is not None else "a run started concurrently"
        super().__init__(
            f"model {model!r} is already being retrained ({which}); at most one retraining "
            "run per model may be running: wait for it to finish, or let it expire when its "
            "heartbeats stop"
        )
