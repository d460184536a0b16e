"""Frozen records the registry hands to its callers; ORM rows never leave the registry."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class Stage(enum.StrEnum):
    """Lifecycle stage of a model version."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a caller supplies to register a version (the metadata; bytes travel apart).

    ``signature`` is the JSON document made by ``converters.signature.Signature.to_dict()``:
    the registry stores it as given and never interprets more than ``features``.
    """

    model_type: str
    features: tuple[str, ...]
    signature: Mapping[str, Any]
    target: str = ""
    training_start: datetime | None = None
    training_end: datetime | None = None
    training_samples: int = 0
    training_duration_seconds: float | None = None
    trained_at: datetime | None = None
    trained_by: str = ""
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    feature_importance: Mapping[str, float] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    validation_metrics: Mapping[str, float] = field(default_factory=dict)
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model, as stored."""

    id: int
    name: str
    version: str
    stage: Stage
    spec: VersionSpec
    sha256: str
    size: int
    has_profile: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Model:
    """A model name with its versions' summary."""

    name: str
    created_at: datetime
    versions: tuple[ModelVersion, ...]

    @property
    def production(self) -> ModelVersion | None:
        """The version in production, if any."""
        return next((v for v in self.versions if v.stage is Stage.PRODUCTION), None)


@dataclass(frozen=True, slots=True)
class StageTransition:
    """One row of the append-only audit trail of stage changes."""

    id: int
    name: str
    version: str
    from_stage: Stage | None  # None for the registration itself
    to_stage: Stage
    actor: str
    reason: str
    kind: str  # "register" | "transition" | "demote" | "rollback"
    at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """A change notice, monotonic id, written in the same transaction as the change."""

    id: int
    kind: str  # e.g. "version_registered", "stage_changed"
    name: str
    version: str
    payload: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class ServedVersion:
    """What a gateway needs to serve one version: identity and artifact hash."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What gateways should serve, as of ``event_id`` (the last event included)."""

    event_id: int
    production: Mapping[str, ServedVersion]
    # Running experiments by model name (at most one per model).
    experiments: Mapping[str, ExperimentRoute] = field(default_factory=dict)


class ExperimentState(enum.StrEnum):
    """Lifecycle of an experiment: created -> running <-> paused -> completed | stopped."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """What a caller supplies to create an experiment (validated by the registry)."""

    model: str
    control_version: str
    treatment_version: str
    strategy: str  # "random" | "weighted" | "epsilon_greedy" | "thompson_sampling"
    metric: str  # "squared_error" | "absolute_error" | "accuracy" | "reward"
    split: float = 0.5  # treatment share
    epsilon: float = 0.1
    confidence: float = 0.95
    min_detectable_effect: float = 0.0
    min_samples: int = 100  # outcomes per arm before a winner can be called
    max_loss: float | None = None
    end_time: datetime | None = None
    auto_promote: bool = False
    name: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Experiment:
    """A stored experiment with its state and, once ended, its outcome."""

    id: int
    spec: ExperimentSpec
    state: ExperimentState
    control_sha256: str
    treatment_sha256: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str
    winner: str  # "treatment" | "control" | ""
    # Sequential test mixing variance, fixed once at the first qualifying look (None before).
    tau2: float | None
    # JSON results frozen when the experiment ended ({} while it runs).
    final_results: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExperimentTransition:
    """One row of an experiment's append-only audit trail."""

    id: int
    experiment_id: int
    from_state: ExperimentState | None  # None for the creation itself
    to_state: ExperimentState
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One logged prediction (a request, possibly of several rows)."""

    prediction_id: str
    at: datetime
    model: str
    version: str
    arm: str  # "production" | "control" | "treatment" | "pinned"
    experiment_id: int | None
    routing_key: str
    rows: int
    inputs: bytes  # float32 little-endian, rows x n_features
    outputs: bytes  # float32 little-endian: probabilities (rows x classes) or values (rows)
    predicted: float  # row 0: the predicted class label (numeric labels) or value
    latency_us: int


# A prediction as the log writers hand it to ``Registry.write_prediction_rows``: one tuple
# in PREDICTION_COLUMNS order, ``at`` in seconds since the epoch (``time.time()``).
# Building a frozen record per prediction cost more than writing it; rows bind as they are.
PREDICTION_COLUMNS = (
    "prediction_id", "at", "model", "version", "arm", "experiment_id", "routing_key", "rows",
    "inputs", "outputs", "predicted", "latency_us",
)  # fmt: skip
PredictionRowTuple = tuple[
    str, float, str, str, str, int | None, str, int, bytes, bytes, float, int
]


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """The realised outcome of one single-row prediction."""

    prediction_id: str
    value: float
    # The experiment metric computed from prediction and outcome (None outside experiments).
    metric_value: float | None
    experiment_id: int | None
    arm: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ArmAggregate:
    """Sufficient statistics of one arm's metric values, computed in the database.

    ``m2``..``m4`` are central sums Σ(x − mean)^k, exact to rounding whatever the
    values' offset (computed around a shift near the mean, never from raw Σx²).
    """

    arm: str
    predictions: int
    outcomes: int
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0


@dataclass(frozen=True, slots=True)
class ArmMoments:
    """One arm's count, mean and central sums Σ(x − mean)^k, k = 2..4, at one look."""

    n: int
    mean: float
    m2: float
    m3: float
    m4: float


@dataclass(frozen=True, slots=True)
class ExperimentLook:
    """One stored look at a running experiment: both arms' moments, in look order.

    The monitor's sequential decisions are a function of the stored looks, so any
    process (or a person) can replay them and get the same results.
    """

    id: int
    experiment_id: int
    at: datetime
    control: ArmMoments
    treatment: ArmMoments


@dataclass(frozen=True, slots=True)
class ExperimentRoute:
    """What a gateway needs to route one running experiment."""

    id: int
    model: str
    control: ServedVersion
    treatment: ServedVersion
    strategy: str
    split: float
    epsilon: float
    metric: str
    min_samples: int


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one retention pass deleted from the prediction log."""

    predictions: int
    outcomes: int


class AlertSeverity(enum.StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the gateway noticed and a person should know of (drift, a rollback, a
    failed retraining, a broken router...).

    Alerts with the same ``key`` raised again within the cooldown fold into the open one
    (``count`` and ``last_seen_at`` grow) instead of repeating.
    """

    id: int
    key: str  # what makes two alerts "the same", e.g. "drift:data:btc:1.2.0"
    kind: str  # "drift", "performance", "srm", "arm_errors", "retraining", "rollback", ...
    severity: AlertSeverity
    model: str  # "" when not about one model
    version: str  # "" when not about one version
    message: str
    details: Mapping[str, Any]  # JSON: the evidence
    created_at: datetime
    last_seen_at: datetime
    count: int
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    acknowledgement: str = ""  # the note given when acknowledging


@dataclass(frozen=True, slots=True)
class DriftReport:
    """One drift check of one served version: what was compared, the statistics, the verdict."""

    id: int
    model: str
    version: str
    created_at: datetime
    drift: bool  # any check decided drift
    kinds: tuple[str, ...]  # the checks that decided drift: "data", "performance", "concept"
    live_rows: int  # inputs in the live window
    outcomes: int  # outcome errors in the live window
    summary: str
    details: Mapping[str, Any]  # JSON: per feature statistics, p-values, PSI, detector states


class RetrainingState(enum.StrEnum):
    """Where a retraining run is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"  # a candidate was registered (and its validation experiment started)
    REJECTED = "rejected"  # trained, but did not beat production by the margin
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class RetrainingRun:
    """One retraining of a model: why, by whom, from which version, and what came of it."""

    id: int
    model: str
    state: RetrainingState
    trigger: str  # "drift", "schedule", "admin"
    reason: str
    parent_version: str  # production when the run started ("" if none)
    owner: str  # the gateway process running it
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None = None
    new_version: str = ""  # the registered candidate, if any
    experiment_id: int | None = None  # its validation experiment, if started
    error: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)  # metrics, window, data hash


@dataclass(frozen=True, slots=True)
class LogPartitions:
    """What one maintenance pass did to the day partitions of the prediction log.

    ``partitioned`` is False on SQLite and on a PostgreSQL log made before partitioning
    (nothing to do). ``left_in_default`` names days the DEFAULT partition already held
    rows of, so no partition was made for them: their rows stay there and go by batched
    deletes.
    """

    partitioned: bool
    created: tuple[date, ...] = ()
    left_in_default: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Single-row predictions of a model joined with their outcomes, oldest first.

    Columns, one entry per joined row: ``inputs`` as logged (float32 little-endian, one
    row of the serving version's features; the registry does not know how many),
    ``values`` the recorded outcomes, ``at`` when the prediction was made, ``versions``
    the version that made it. ``truncated`` is True when more rows matched the window than
    ``limit``: the newest ``limit`` were kept.
    """

    model: str
    inputs: tuple[bytes, ...]
    values: tuple[float, ...]
    at: tuple[datetime, ...]
    versions: tuple[str, ...]
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.values)
