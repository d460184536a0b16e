"""Pure conversions between registry entities and galgate.v1 admin messages."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway.brief import brief, brief_list
from gateway.errors import InvalidInputError
from gateway.experiments.results import ArmResult, Results
from gateway.predlog import PredictionLog
from gateway.serving.pool import Pool
from registry.entities import (
    Event,
    Experiment,
    ExperimentSpec,
    ExperimentState,
    Model,
    ModelVersion,
    Stage,
    StageTransition,
    VersionSpec,
)

# metadata_json keys a RegisterModel header may carry, and how to read each.
_DATETIME_KEYS = ("training_start", "training_end", "trained_at")
_MAPPING_KEYS = (
    "hyperparameters",
    "preprocessing",
    "feature_importance",
    "metrics",
    "validation_metrics",
    "test_metrics",
)
_SCALAR_KEYS = {"training_samples": int, "training_duration_seconds": float, "trained_by": str}
METADATA_KEYS = frozenset((*_DATETIME_KEYS, *_MAPPING_KEYS, *_SCALAR_KEYS))


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp for a tz-aware datetime (None stays None)."""
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | list):
        return list(value)
    return str(value)


def spec_json(spec: VersionSpec) -> str:
    """The whole stored metadata as JSON (datetimes as ISO 8601)."""
    data = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    return json.dumps(data, default=_json_default, sort_keys=True)


def version_info(v: ModelVersion) -> pb.ModelVersionInfo:
    """Encode one version."""
    signature = v.spec.signature
    return pb.ModelVersionInfo(
        name=v.name,
        version=v.version,
        stage=v.stage.value,
        model_type=v.spec.model_type,
        features=list(v.spec.features),
        target=v.spec.target,
        task=str(signature.get("task", "")),
        class_labels=[str(c) for c in signature.get("class_labels", ())],
        sha256=v.sha256,
        size=v.size,
        has_profile=v.has_profile,
        metrics={k: float(x) for k, x in v.spec.metrics.items()},
        tags=dict(v.spec.tags),
        description=v.spec.description,
        created_at=timestamp(v.created_at),
        updated_at=timestamp(v.updated_at),
        metadata_json=spec_json(v.spec),
    )


def model_info(m: Model, versions: tuple[ModelVersion, ...] | None = None) -> pb.ModelInfo:
    """Encode one model with all its versions (or only ``versions``)."""
    production = m.production
    return pb.ModelInfo(
        name=m.name,
        created_at=timestamp(m.created_at),
        versions=[version_info(v) for v in (m.versions if versions is None else versions)],
        production_version=production.version if production else "",
    )


def transition_info(t: StageTransition) -> pb.StageTransitionInfo:
    """Encode one audit row."""
    return pb.StageTransitionInfo(
        id=t.id,
        name=t.name,
        version=t.version,
        from_stage=t.from_stage.value if t.from_stage else "",
        to_stage=t.to_stage.value,
        actor=t.actor,
        reason=t.reason,
        kind=t.kind,
        at=timestamp(t.at),
    )


def event_info(e: Event) -> pb.RegistryEvent:
    """Encode one registry event."""
    return pb.RegistryEvent(
        id=e.id,
        kind=e.kind,
        name=e.name,
        version=e.version,
        payload_json=json.dumps(dict(e.payload), default=_json_default, sort_keys=True),
        at=timestamp(e.at),
    )


def parse_stage(text: str) -> Stage:
    """A Stage from its name; INVALID_ARGUMENT listing the stages otherwise.

    >>> parse_stage("Production").value
    'production'
    """
    try:
        return Stage(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"unknown stage {brief(text)}; expected one of {[s.value for s in Stage]}"
        ) from None


def _parse_datetime(key: str, raw: object) -> datetime:
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        raise InvalidInputError(
            f"metadata {brief(key)} must be an ISO 8601 time, got {brief(raw)}"
        ) from None
    if value.tzinfo is None:
        raise InvalidInputError(f"metadata {brief(key)} must carry a UTC offset, got {brief(raw)}")
    return value


def spec_from_header(header: pb.RegisterModelHeader) -> VersionSpec:
    """The VersionSpec of an upload, from its header; the signature (and the features,
    when the header names none) are read from the artifact when it is vetted."""
    try:
        metadata = json.loads(header.metadata_json) if header.metadata_json else {}
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"metadata_json is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInputError("metadata_json nests too deeply to be read") from None
    if not isinstance(metadata, dict):
        raise InvalidInputError("metadata_json must be a JSON object")
    unknown = sorted(set(metadata) - METADATA_KEYS)
    if unknown:
        raise InvalidInputError(
            f"unknown metadata keys {brief_list(unknown)}; allowed: {sorted(METADATA_KEYS)}"
        )
    fields: dict[str, Any] = {}
    for key in _DATETIME_KEYS:
        if metadata.get(key) is not None:
            fields[key] = _parse_datetime(key, metadata[key])
    for key in _MAPPING_KEYS:
        if key in metadata:
            if not isinstance(metadata[key], dict):
                raise InvalidInputError(f"metadata {brief(key)} must be a JSON object")
            fields[key] = metadata[key]
    for key, kind in _SCALAR_KEYS.items():
        if metadata.get(key) is not None:
            try:
                fields[key] = kind(metadata[key])
            except (TypeError, ValueError, OverflowError):
                raise InvalidInputError(
                    f"metadata {brief(key)} must be {kind.__name__}, got {brief(metadata[key])}"
                ) from None
    return VersionSpec(
        model_type=header.model_type or "onnx",
        features=tuple(header.features),
        signature={},
        target=header.target,
        tags=dict(header.tags),
        description=header.description,
        **fields,
    )


def experiment_spec(request: pb.CreateExperimentRequest) -> ExperimentSpec:
    """An ExperimentSpec from a CreateExperiment request, zero values meaning defaults."""
    end_time = None
    if request.HasField("end_time"):
        try:
            end_time = request.end_time.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError) as exc:
            raise InvalidInputError(f"end_time is not a valid timestamp: {exc}") from None
    return ExperimentSpec(
        model=request.model,
        control_version=request.control_version,
        treatment_version=request.treatment_version,
        strategy=request.strategy or "random",
        metric=request.metric,
        split=request.split or 0.5,
        epsilon=request.epsilon or 0.1,
        confidence=request.confidence or 0.95,
        min_detectable_effect=request.min_detectable_effect,
        min_samples=request.min_samples or 100,
        max_loss=request.max_loss or None,
        end_time=end_time,
        auto_promote=request.auto_promote,
        name=request.name,
        description=request.description,
    )


def experiment_info(e: Experiment) -> pb.ExperimentInfo:
    """Encode one experiment."""
    spec = e.spec
    return pb.ExperimentInfo(
        id=e.id,
        name=spec.name,
        model=spec.model,
        control_version=spec.control_version,
        treatment_version=spec.treatment_version,
        strategy=spec.strategy,
        split=spec.split,
        epsilon=spec.epsilon,
        metric=spec.metric,
        confidence=spec.confidence,
        min_detectable_effect=spec.min_detectable_effect,
        min_samples=spec.min_samples,
        max_loss=spec.max_loss or 0.0,
        end_time=timestamp(spec.end_time),
        auto_promote=spec.auto_promote,
        state=e.state.value,
        created_at=timestamp(e.created_at),
        started_at=timestamp(e.started_at),
        ended_at=timestamp(e.ended_at),
        end_reason=e.end_reason,
        winner=e.winner,
        description=spec.description,
    )


def _arm_results(arm: ArmResult) -> pb.ArmResults:
    return pb.ArmResults(
        arm=arm.arm,
        version=arm.version,
        predictions=arm.predictions,
        outcomes=arm.outcomes,
        metric_mean=arm.metric_mean,
        metric_std=arm.metric_std,
    )


def experiment_results(e: Experiment, results: Results) -> pb.ExperimentResults:
    """Encode an experiment's results (live or final)."""
    return pb.ExperimentResults(
        experiment=experiment_info(e),
        control=_arm_results(results.control),
        treatment=_arm_results(results.treatment),
        difference=results.difference,
        ci_low=results.ci_low,
        ci_high=results.ci_high,
        p_value=results.p_value,
        sequential_p_value=results.sequential_p_value,
        sequential_decisive=results.sequential_decisive,
        effect_size=results.effect_size,
        required_samples_per_arm=results.required_samples_per_arm,
        winner=results.winner,
        recommendation=results.recommendation,
        cs_low=results.cs_low,
        cs_high=results.cs_high,
        looks=results.looks,
        loss_exceeded=results.loss_exceeded,
    )


def parse_experiment_state(text: str) -> ExperimentState:
    """An ExperimentState from its name; INVALID_ARGUMENT listing the states otherwise.

    >>> parse_experiment_state("Running").value
    'running'
    """
    try:
        return ExperimentState(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"unknown experiment state {brief(text)}; expected one of "
            f"{[s.value for s in ExperimentState]}"
        ) from None


# -- paging ListModels ----------------------------------------------------------------

# Models read from the registry per page when the caller sets no page size.
MODELS_PER_READ = 200


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where the next ListModels page starts: a model name and versions of it to skip."""

    model: str
    skip: int = 0

    def encode(self) -> str:
        """Opaque text for ``next_page_token``."""
        raw = json.dumps({"m": self.model, "s": self.skip}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def decode(cls, text: str) -> PageToken | None:
        """The token a previous page returned (None for the first page).

        Raises:
            InvalidInputError: the text is not a token this gateway issued.
        """
        if not text:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(text.encode()))
            token = cls(model=data["m"], skip=data["s"])
            if not isinstance(token.model, str) or not isinstance(token.skip, int):
                raise TypeError
            if token.skip < 0:
                raise ValueError
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
            raise InvalidInputError(
                f"page_token {brief(text)} is not a next_page_token of ListModels; send it "
                "exactly as received, or empty for the first page"
            ) from None
        return token


def models_page(
    models: list[Model],
    token: PageToken | None,
    *,
    page_size: int,
    budget: int,
    next_model: str | None,
) -> pb.ListModelsResponse:
    """One ListModels reply of at most ``budget`` bytes.

    A model whose versions do not all fit is continued on the next page (its ModelInfo
    repeats with the remaining versions; clients merge by name).

    Args:
        models: models read from ``token.model`` onwards, at most ``page_size`` of them
            when it is set.
        token: where this page starts (None: the first page).
        page_size: most models in the page (0: as many as fit).
        budget: most bytes of the encoded reply.
        next_model: the name of the model after the last of ``models``, if any.
    """
    reply = pb.ListModelsResponse()
    size = 0
    for model in models:
        skip = token.skip if token is not None and model.name == token.model else 0
        production = model.production
        info = pb.ModelInfo(
            name=model.name,
            created_at=timestamp(model.created_at),
            production_version=production.version if production else "",
        )
        size += info.ByteSize() + 8
        for position, version in enumerate(model.versions[skip:], start=skip):
            encoded = version_info(version)
            cost = encoded.ByteSize() + 8
            if size + cost > budget and (reply.models or info.versions):
                if info.versions:
                    reply.models.append(info)
                reply.next_page_token = PageToken(model.name, position).encode()
                return reply
            info.versions.append(encoded)
            size += cost
        reply.models.append(info)
    if next_model is not None:
        reply.next_page_token = PageToken(next_model).encode()
    return reply


def gateway_status(pool: Pool, predlog: PredictionLog) -> pb.GatewayStatus:
    """What this gateway serves, what failed to load or route, and its log backlog."""
    snapshot = pool.current
    loaded = []
    for name, route in sorted(snapshot.routes.items()):
        production = route.production.model.version if route.production else ""
        for version, model in sorted(route.versions.items()):
            role = "production" if version == production else "retained"
            loaded.append(
                pb.LoadedVersion(name=name, version=version, sha256=model.sha256, role=role)
            )
    return pb.GatewayStatus(
        event_id=snapshot.event_id,
        loaded=loaded,
        failures=[
            pb.LoadFailure(name=f.name, version=f.version, error=f.error, at=timestamp(f.at))
            for f in pool.failures.values()
        ],
        serving=pool.ready,
        prediction_log_queued=predlog.queued,
        prediction_log_dropped=predlog.dropped,
        experiment_failures=[
            pb.ExperimentFailure(
                experiment_id=f.experiment_id,
                model=f.model,
                where=f.where,
                error=f.error,
                since=timestamp(f.at),
            )
            for f in pool.experiment_failures.all()
        ],
    )
