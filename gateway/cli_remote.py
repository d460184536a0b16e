"""RemoteBackend: the CLI's commands against a running gateway over gRPC (ModelAdmin, Predict).

The CLI uses synchronous grpc channels: one command makes one or a few calls and
nothing else runs meanwhile, so the blocking calls inside the ``async`` Backend
methods hold up no other work. Responses are decoded into the registry's own
entities (``ModelVersion``, ``Model``, ``StageTransition``, ``Event``), so the CLI
renders local and remote results with the same code and prints the same JSON.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from gateway._pb.galgate.v1 import admin_pb2 as admin_pb
from gateway._pb.galgate.v1 import admin_pb2_grpc as admin_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as predict_pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as predict_grpc
from gateway.cli_backend import CliError, ExperimentReport
from gateway.server.admin_codec import METADATA_KEYS
from registry import Event, Model, ModelVersion, Stage, StageTransition, VersionSpec
from registry.entities import Experiment, ExperimentSpec, ExperimentState

if TYPE_CHECKING:
    from gateway.registration import PreparedVersion

CHUNK_BYTES = 1024 * 1024  # RegisterModel chunk size: well under the 4 MiB message cap
CONNECT_TIMEOUT = 5.0  # seconds to wait for a connection before giving up
CALL_TIMEOUT = 120.0  # per unary call; promotion to production loads and warms a model
MAX_RECEIVE_BYTES = 64 * 1024 * 1024  # a predict over many rows answers with large messages
ACTOR_METADATA = "x-galgate-actor"  # the header gateway.server.admin_servicer reads
_DATETIME_FIELDS = frozenset({"training_start", "training_end", "trained_at"})
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RemoteTarget:
    """Where and how to reach a gateway.

    Args:
        address: HOST:PORT of the gateway's gRPC port.
        token: bearer token sent as ``authorization: Bearer <token>`` (empty: none).
        tls: use TLS with the default root certificates.
        connect_timeout: seconds to wait for a connection before reporting UNAVAILABLE.
        call_timeout: deadline of each unary call in seconds (None: no deadline).
    """

    address: str
    token: str = ""
    tls: bool = False
    connect_timeout: float = CONNECT_TIMEOUT
    call_timeout: float | None = CALL_TIMEOUT


class RemoteError(CliError):
    """A gRPC call failed; the message is ``<details> (<CODE>)``."""

    def __init__(self, code: str, details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(f"{details} ({code})")


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
class GatewayStatus:
    """A decoded GetStatus answer: what the gateway at ``address`` serves."""

    address: str
    serving: bool
    event_id: int
    loaded: tuple[LoadedVersion, ...]
    failures: tuple[LoadFailure, ...]
    prediction_log_queued: int
    prediction_log_dropped: int


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def metadata_json(spec: VersionSpec) -> str:
    """The RegisterModel header's ``metadata_json``: the spec's fields the server accepts.

    Fields the header carries itself (features, tags, ...) and empty values are left out.

    >>> spec = VersionSpec("sklearn", ("a",), {}, training_samples=3, metrics={"acc": 1.0})
    >>> metadata_json(spec)
    '{"metrics": {"acc": 1.0}, "training_samples": 3}'
    """
    data = {
        key: getattr(spec, key)
        for key in sorted(METADATA_KEYS)
        if getattr(spec, key, None) not in (None, "", {})
    }
    return json.dumps(data, default=_json_default, sort_keys=True)


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


def experiment_request(spec: ExperimentSpec, *, start: bool) -> admin_pb.CreateExperimentRequest:
    """Encode a CreateExperiment request. The wire's zero values mean "default", so the
    spec's values must be non-zero where that matters (the CLI's flags ensure it)."""
    request = admin_pb.CreateExperimentRequest(
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
        auto_promote=spec.auto_promote,
        name=spec.name,
        description=spec.description,
        create_only=not start,
    )
    if spec.end_time is not None:
        request.end_time.FromDatetime(spec.end_time)
    return request


def experiment_from_info(info: admin_pb.ExperimentInfo) -> Experiment:
    """Decode an ExperimentInfo. Not sent: the arms' sha256, τ² and the stored final
    results (GetExperimentResults carries those): they decode as "", None and {}."""
    spec = ExperimentSpec(
        model=info.model,
        control_version=info.control_version,
        treatment_version=info.treatment_version,
        strategy=info.strategy,
        metric=info.metric,
        split=info.split,
        epsilon=info.epsilon,
        confidence=info.confidence,
        min_detectable_effect=info.min_detectable_effect,
        min_samples=info.min_samples,
        max_loss=info.max_loss or None,
        end_time=_when_set(info, "end_time"),
        auto_promote=info.auto_promote,
        name=info.name,
        description=info.description,
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

    def arm(a: admin_pb.ArmResults) -> ArmResult:
        return ArmResult(a.arm, a.version, a.predictions, a.outcomes, a.metric_mean, a.metric_std)

    results = Results(
        control=arm(message.control),
        treatment=arm(message.treatment),
        difference=message.difference,
        ci_low=message.ci_low,
        ci_high=message.ci_high,
        p_value=message.p_value,
        sequential_p_value=message.sequential_p_value,
        sequential_decisive=message.sequential_decisive,
        effect_size=message.effect_size,
        required_samples_per_arm=message.required_samples_per_arm,
        winner=message.winner,
        recommendation=message.recommendation,
    )
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


def _upload(
    name: str, prepared: PreparedVersion, version: str | None, reason: str
) -> Iterator[admin_pb.RegisterModelRequest]:
    """The RegisterModel stream: the header, the ONNX bytes, then the reference profile."""
    spec = prepared.spec
    header = admin_pb.RegisterModelHeader(
        name=name,
        version=version or "",
        model_type=spec.model_type,
        features=list(spec.features),
        target=spec.target,
        metadata_json=metadata_json(spec),
        tags=dict(spec.tags),
        description=spec.description,
        sha256=hashlib.sha256(prepared.onnx_bytes).hexdigest(),
        reason=reason,
    )
    yield admin_pb.RegisterModelRequest(header=header)
    artifact, profile = prepared.onnx_bytes, prepared.profile_bytes
    for start in range(0, len(artifact), CHUNK_BYTES):
        yield admin_pb.RegisterModelRequest(artifact_chunk=artifact[start : start + CHUNK_BYTES])
    for start in range(0, len(profile), CHUNK_BYTES):
        yield admin_pb.RegisterModelRequest(profile_chunk=profile[start : start + CHUNK_BYTES])


def _wait_for_connection(channel: grpc.Channel, timeout: float) -> grpc.ChannelConnectivity | None:
    """Try to connect; the state reached (READY or a failure), None if still connecting."""
    settled = threading.Event()
    last: list[grpc.ChannelConnectivity] = []
    final = {
        grpc.ChannelConnectivity.READY,
        grpc.ChannelConnectivity.TRANSIENT_FAILURE,
        grpc.ChannelConnectivity.SHUTDOWN,
    }

    def watch(state: grpc.ChannelConnectivity) -> None:
        last.append(state)
        if state in final:
            settled.set()

    channel.subscribe(watch, try_to_connect=True)
    try:
        settled.wait(timeout)
    finally:
        channel.unsubscribe(watch)
    return last[-1] if settled.is_set() else None


class RemoteBackend:
    """A Backend (see gateway.cli_backend) that calls a gateway's ModelAdmin service.

    Also makes the calls only a running gateway can answer: ``status``, ``events``
    and ``predict``. Errors are raised as ``RemoteError`` (``<details> (<CODE>)``).
    """

    def __init__(self, target: RemoteTarget, channel: grpc.Channel) -> None:
        self._target = target
        self._channel = channel
        self._admin = admin_grpc.ModelAdminStub(channel)
        self._predict = predict_grpc.PredictionServiceStub(channel)

    @classmethod
    async def open(cls, target: RemoteTarget) -> RemoteBackend:
        """Connect to ``target``; RemoteError (UNAVAILABLE) when it cannot be reached in time."""
        return cls.connect(target)

    @classmethod
    def connect(cls, target: RemoteTarget) -> RemoteBackend:
        """Blocking form of ``open``."""
        options = [("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)]
        if target.tls:
            credentials = grpc.ssl_channel_credentials()
            channel = grpc.secure_channel(target.address, credentials, options=options)
        else:
            channel = grpc.insecure_channel(target.address, options=options)
        backend = cls(target, channel)
        try:
            backend._ensure_reachable()
        except BaseException:
            channel.close()
            raise
        return backend

    def _ensure_reachable(self) -> None:
        state = _wait_for_connection(self._channel, self._target.connect_timeout)
        if state is grpc.ChannelConnectivity.READY:
            return
        if state is None:
            raise self._unreachable(f"no connection within {self._target.connect_timeout:g} s")
        # A failed attempt: one call that fails fast brings grpc's reason (refused, TLS...).
        # If the server came up meanwhile the call simply succeeds and we go on.
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        try:
            health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self._target.connect_timeout
            )
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise self._unreachable(exc.details() or exc.code().name) from None

    def _unreachable(self, reason: str) -> RemoteError:
        reason = " ".join(reason.split())
        tls = " over TLS" if self._target.tls else ""
        return RemoteError(
            "UNAVAILABLE",
            f"could not reach the galgate server at {self._target.address}{tls}: {reason}",
        )

    def _error(self, exc: grpc.RpcError) -> RemoteError:
        code: grpc.StatusCode = exc.code()
        details = exc.details() or code.name.lower().replace("_", " ")
        if code is grpc.StatusCode.UNAVAILABLE:
            details = f"the galgate server at {self._target.address} is unavailable: {details}"
        elif code is grpc.StatusCode.UNAUTHENTICATED:
            details = f"{details}; pass --token or set GALGATE_TOKEN"
        elif code is grpc.StatusCode.DEADLINE_EXCEEDED and self._target.call_timeout:
            details = f"{details} (no answer within {self._target.call_timeout:g} s)"
        return RemoteError(code.name, details)

    def _metadata(self, actor: str | None = None) -> list[tuple[str, str]]:
        metadata = []
        if self._target.token:
            metadata.append(("authorization", f"Bearer {self._target.token}"))
        if actor:
            metadata.append((ACTOR_METADATA, actor))
        return metadata

    def _call(self, method: Callable[..., _T], request: Any, actor: str | None = None) -> _T:
        try:
            return method(
                request, timeout=self._target.call_timeout, metadata=self._metadata(actor)
            )
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    async def register(
        self, name: str, prepared: PreparedVersion, *, version: str | None, actor: str, reason: str
    ) -> ModelVersion:
        """Stream the prepared ONNX bytes and profile to RegisterModel."""
        info = self._call(
            self._admin.RegisterModel, _upload(name, prepared, version, reason), actor
        )
        return version_from_info(info)

    async def list_models(self) -> list[Model]:
        response = self._call(self._admin.ListModels, admin_pb.ListModelsRequest())
        return [model_from_info(m) for m in response.models]

    async def get_model(self, name: str) -> Model:
        return model_from_info(
            self._call(self._admin.GetModel, admin_pb.GetModelRequest(name=name))
        )

    async def get_version(self, name: str, version: str) -> ModelVersion:
        request = admin_pb.GetModelRequest(name=name, version=version)
        info = self._call(self._admin.GetModel, request)
        return version_from_info(info.versions[0])

    async def promote(
        self, name: str, version: str, stage: Stage, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        request = admin_pb.PromoteModelRequest(
            name=name, version=version, stage=stage.value, reason=reason, force=force
        )
        return version_from_info(self._call(self._admin.PromoteModel, request, actor))

    async def rollback(self, name: str, *, actor: str, reason: str) -> ModelVersion:
        request = admin_pb.RollbackModelRequest(name=name, reason=reason)
        return version_from_info(self._call(self._admin.RollbackModel, request, actor))

    async def archive(
        self, name: str, version: str, *, actor: str, reason: str, force: bool
    ) -> ModelVersion:
        request = admin_pb.ArchiveModelRequest(
            name=name, version=version, reason=reason, force=force
        )
        return version_from_info(self._call(self._admin.ArchiveModel, request, actor))

    async def history(self, name: str) -> list[StageTransition]:
        response = self._call(self._admin.GetHistory, admin_pb.GetHistoryRequest(name=name))
        return [transition_from_info(t) for t in response.transitions]

    async def demo(self, *, actor: str) -> ModelVersion | None:
        raise CliError("demo works on a local registry only (--db), not through --server")

    async def create_experiment(
        self, spec: ExperimentSpec, *, actor: str, start: bool
    ) -> Experiment:
        """CreateExperiment: the gateway loads and warms both versions before creating it."""
        request = experiment_request(spec, start=start)
        return experiment_from_info(self._call(self._admin.CreateExperiment, request, actor))

    async def list_experiments(
        self, *, model: str | None, state: ExperimentState | None
    ) -> list[Experiment]:
        request = admin_pb.ListExperimentsRequest(
            model=model or "", state=state.value if state is not None else ""
        )
        response = self._call(self._admin.ListExperiments, request)
        return [experiment_from_info(e) for e in response.experiments]

    async def experiment_report(self, experiment_id: int) -> ExperimentReport:
        request = admin_pb.GetExperimentResultsRequest(id=experiment_id)
        return report_from_results(self._call(self._admin.GetExperimentResults, request))

    async def move_experiment(
        self, experiment_id: int, to: ExperimentState, *, actor: str, reason: str
    ) -> Experiment:
        methods = {
            ExperimentState.PAUSED: self._admin.PauseExperiment,
            ExperimentState.RUNNING: self._admin.ResumeExperiment,
            ExperimentState.STOPPED: self._admin.StopExperiment,
        }
        if to not in methods:
            raise CliError(f"an experiment cannot be moved to {to.value} through --server")
        request = admin_pb.ExperimentStateRequest(id=experiment_id, reason=reason)
        return experiment_from_info(self._call(methods[to], request, actor))

    async def status(self) -> GatewayStatus:
        """What the gateway process serves and what failed to load (GetStatus)."""
        s = self._call(self._admin.GetStatus, admin_pb.GetStatusRequest())
        return GatewayStatus(
            address=self._target.address,
            serving=s.serving,
            event_id=s.event_id,
            loaded=tuple(LoadedVersion(v.name, v.version, v.sha256, v.role) for v in s.loaded),
            failures=tuple(
                LoadFailure(f.name, f.version, f.error, _when(f.at) if f.HasField("at") else None)
                for f in s.failures
            ),
            prediction_log_queued=s.prediction_log_queued,
            prediction_log_dropped=s.prediction_log_dropped,
        )

    def events(self, after: int = 0, *, follow: bool = False) -> Iterator[Event]:
        """Registry events with id > ``after``; with ``follow``, wait for new ones forever.

        A blocking iterator (WatchEvents); without ``follow`` it ends after the backlog.
        """
        request = admin_pb.WatchEventsRequest(after_id=after, backlog_only=not follow)
        timeout = None if follow else self._target.call_timeout
        try:
            for info in self._admin.WatchEvents(
                request, timeout=timeout, metadata=self._metadata()
            ):
                yield event_from_info(info)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    async def predict(
        self,
        model: str,
        *,
        features: Mapping[str, float] | None = None,
        rows: np.ndarray | None = None,
        version: str = "",
        routing_key: str = "",
    ) -> Prediction:
        """Call PredictionService/Predict with one named row or packed float32 rows.

        Args:
            model: the registered model name.
            features: one row as feature name -> value (sent as ``features``).
            rows: a [rows, n_features] matrix in the model's feature order (sent as a
                little-endian float32 ``tensor``).
            version: serve exactly this version instead of routing.
            routing_key: sticky experiment assignment.
        """
        request = predict_pb.PredictRequest(model=model, version=version, routing_key=routing_key)
        if (features is None) == (rows is None):
            raise CliError("give either named features or rows, not both or neither")
        if features is not None:
            request.features.values.update({k: float(v) for k, v in features.items()})
        else:
            matrix = np.ascontiguousarray(rows, dtype="<f4")
            if matrix.ndim != 2 or matrix.shape[0] == 0:
                raise CliError(f"rows must be a non-empty 2-D table, got shape {matrix.shape}")
            request.tensor.rows = matrix.shape[0]
            request.tensor.data = matrix.tobytes()
        return prediction_from_response(self._call(self._predict.Predict, request))

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        """Close the channel (blocking form of ``close``)."""
        self._channel.close()
