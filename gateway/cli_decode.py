"""Decoding of galgate.v1 answers into the entities and records the CLI renders.

Admin answers decode into the registry's own entities (``ModelVersion``, ``Model``,
``StageTransition``, ``Event``, ``Experiment``), so the CLI renders local and remote
results with the same code and prints the same JSON. Pure: no channel, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from gateway._pb.galgate.v1 import admin_pb2 as admin_pb
from gateway._pb.galgate.v1 import prediction_pb2 as predict_pb
from gateway.cli_backend import ExperimentReport
from registry import Event, Model, ModelVersion, Stage, StageTransition, VersionSpec
from registry.entities import Experiment, ExperimentSpec, ExperimentState

_DATETIME_FIELDS = frozenset({"training_start", "training_end", "trained_at"})


@dataclass(frozen=True, slots=True)
class PredictedRow:
    """One row's answer: a class label and its probabilities, or a regression value."""

    label: str | None
    probabilities: Mapping[str, float]
    value: float | None


@dataclass(frozen=True, slots=True)
class Prediction:
    """A decoded PredictResponse."""

    prediction_id: str
    model: str
    version: str
    arm: str
    experiment_id: str
    class_labels: tuple[str, ...]
    rows: tuple[PredictedRow, ...]


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    """A version a gateway process has loaded."""

    name: str
    version: str
    sha256: str
    role: str


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A version that failed to load (and so never went live)."""

    name: str
    version: str
    error: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class SkippedExperiment:
    """A running experiment the gateway skips for routing or monitoring, and why."""

    experiment_id: int
    model: str
    where: str
    error: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A decoded GetStatus answer: what the gateway at ``address`` serves."""

    address: str
    serving: bool
    event_id: int
    loaded: tuple[LoadedVersion, ...]
    failures: tuple[LoadFailure, ...]
    prediction_log_queued: int
    prediction_log_dropped: int
    skipped_experiments: tuple[SkippedExperiment, ...] = ()


def _when(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _spec(info: admin_pb.ModelVersionInfo) -> VersionSpec:
    """The stored VersionSpec from ``metadata_json``, else from the message's own fields."""
    data: dict[str, Any] = json.loads(info.metadata_json) if info.metadata_json else {}
    known = {f.name for f in fields(VersionSpec)}
    values = {k: v for k, v in data.items() if k in known}
    for key in _DATETIME_FIELDS & values.keys():
        if values[key] is not None:
            values[key] = datetime.fromisoformat(values[key])
    values.setdefault("model_type", info.model_type)
    values["features"] = tuple(values.get("features", info.features))
    values.setdefault(
        "signature",
        {"features": list(info.features), "task": info.task, "class_labels": [*info.class_labels]},
    )
    values.setdefault("target", info.target)
    values.setdefault("metrics", dict(info.metrics))
    values.setdefault("tags", dict(info.tags))
    values.setdefault("description", info.description)
    return VersionSpec(**values)


def version_from_info(info: admin_pb.ModelVersionInfo) -> ModelVersion:
    """Decode a ModelVersionInfo. The database row id is not sent: ``id`` is 0."""
    return ModelVersion(
        id=0,
        name=info.name,
        version=info.version,
        stage=Stage(info.stage),
        spec=_spec(info),
        sha256=info.sha256,
        size=info.size,
        has_profile=info.has_profile,
        created_at=_when(info.created_at),
        updated_at=_when(info.updated_at),
    )


def model_from_info(info: admin_pb.ModelInfo) -> Model:
    """Decode a ModelInfo with its versions."""
    return Model(
        name=info.name,
        created_at=_when(info.created_at),
        versions=tuple(version_from_info(v) for v in info.versions),
    )


def transition_from_info(info: admin_pb.StageTransitionInfo) -> StageTransition:
    """Decode one audit row."""
    return StageTransition(
        id=info.id,
        name=info.name,
        version=info.version,
        from_stage=Stage(info.from_stage) if info.from_stage else None,
        to_stage=Stage(info.to_stage),
        actor=info.actor,
        reason=info.reason,
        kind=info.kind,
        at=_when(info.at),
    )


def event_from_info(info: admin_pb.RegistryEvent) -> Event:
    """Decode one registry event."""
    return Event(
        id=info.id,
        kind=info.kind,
        name=info.name,
        version=info.version,
        payload=json.loads(info.payload_json) if info.payload_json else {},
        at=_when(info.at),
    )


def _when_set(message: Any, field: str) -> datetime | None:
    return _when(getattr(message, field)) if message.HasField(field) else None


def _same_named(message: Any, record: type) -> dict[str, Any]:
    """The values of ``record``'s fields, read from the message's fields of the same names
    (ExperimentInfo and ExperimentResults mirror ExperimentSpec and Results)."""
    return {f.name: getattr(message, f.name) for f in fields(record)}


def experiment_from_info(info: admin_pb.ExperimentInfo) -> Experiment:
    """Decode an ExperimentInfo. Not sent: the arms' sha256, τ² and the stored final
    results (GetExperimentResults carries those): they decode as "", None and {}."""
    spec = ExperimentSpec(
        **_same_named(info, ExperimentSpec)
        | {"max_loss": info.max_loss or None, "end_time": _when_set(info, "end_time")}
    )
    return Experiment(
        id=info.id,
        spec=spec,
        state=ExperimentState(info.state),
        control_sha256="",
        treatment_sha256="",
        created_at=_when(info.created_at),
        started_at=_when_set(info, "started_at"),
        ended_at=_when_set(info, "ended_at"),
        end_reason=info.end_reason,
        winner=info.winner,
        tau2=None,
        final_results={},
    )


def report_from_results(message: admin_pb.ExperimentResults) -> ExperimentReport:
    """Decode GetExperimentResults into the experiment and its results."""
    from gateway.experiments.results import ArmResult, Results

    arms = {
        arm: ArmResult(**_same_named(getattr(message, arm), ArmResult))
        for arm in ("control", "treatment")
    }
    results = Results(**_same_named(message, Results) | arms)
    return ExperimentReport(experiment_from_info(message.experiment), results)


def prediction_from_response(response: predict_pb.PredictResponse) -> Prediction:
    """Decode a PredictResponse into one record per row."""
    labels = tuple(response.class_labels)
    rows: list[PredictedRow] = []
    if labels:
        probabilities = np.asarray(response.probabilities, dtype=np.float32)
        probabilities = probabilities.reshape(response.rows, len(labels))
        for index, row in zip(response.labels, probabilities, strict=True):
            rows.append(
                PredictedRow(
                    label=labels[index],
                    probabilities={c: float(p) for c, p in zip(labels, row, strict=True)},
                    value=None,
                )
            )
    else:
        rows = [PredictedRow(label=None, probabilities={}, value=v) for v in response.values]
    return Prediction(
        prediction_id=response.prediction_id,
        model=response.model,
        version=response.version,
        arm=response.arm,
        experiment_id=response.experiment_id,
        class_labels=labels,
        rows=tuple(rows),
    )


def status_from_response(message: admin_pb.GatewayStatus, address: str) -> GatewayStatus:
    """Decode a GetStatus answer from the gateway at ``address``."""
    return GatewayStatus(
        address=address,
        serving=message.serving,
        event_id=message.event_id,
        loaded=tuple(LoadedVersion(v.name, v.version, v.sha256, v.role) for v in message.loaded),
        failures=tuple(
            LoadFailure(f.name, f.version, f.error, _when_set(f, "at")) for f in message.failures
        ),
        prediction_log_queued=message.prediction_log_queued,
        prediction_log_dropped=message.prediction_log_dropped,
        skipped_experiments=tuple(
            SkippedExperiment(f.experiment_id, f.model, f.where, f.error, _when_set(f, "since"))
            for f in message.experiment_failures
        ),
    )
