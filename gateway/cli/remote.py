"""RemoteBackend: the CLI's commands against a running gateway over gRPC (ModelAdmin, Predict).

The CLI uses synchronous grpc channels: one command makes one or a few calls and
nothing else runs meanwhile, so the blocking calls inside the ``async`` Backend
methods hold up no other work. Requests are built and
answers decoded by ``gateway.wire`` into the registry's own entities.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import numpy as np

from gateway._pb.galgate.v1 import admin_pb2 as admin_pb
from gateway._pb.galgate.v1 import admin_pb2_grpc as admin_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as predict_pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as predict_grpc
from gateway.cli.backend import CliError, ExperimentReport
from gateway.wire import health as wire_health
from gateway.wire.common import ACTOR_METADATA
from gateway.wire.experiments import experiment_from_info, experiment_request, results_from_message
from gateway.wire.models import (
    event_from_info,
    model_from_info,
    transition_from_info,
    version_from_info,
)
from gateway.wire.prediction import Prediction, prediction_from_response
from gateway.wire.status import GatewayStatus, status_from_message
from gateway.wire.uploads import upload_requests
from registry import Event, Model, ModelVersion, Stage, StageTransition
from registry.entities import (
    Alert,
    AlertSeverity,
    DriftReport,
    Experiment,
    ExperimentSpec,
    ExperimentState,
    RetrainingRun,
    RetrainingState,
)

if TYPE_CHECKING:
    from gateway.registration import PreparedVersion

CONNECT_TIMEOUT = 5.0  # seconds to wait for a connection before giving up
CALL_TIMEOUT = 120.0  # per unary call; promotion to production loads and warms a model
MAX_RECEIVE_BYTES = 64 * 1024 * 1024  # a predict over many rows answers with large messages
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
    """A Backend (see gateway.cli.backend) that calls a gateway's ModelAdmin service.

    Also makes the calls only a running gateway can answer: ``status``, ``events``
    and ``predict``. Errors are raised as ``RemoteError`` (``<details> (<CODE>)``).
    """

    def __init__(self, target: RemoteTarget, channel: grpc.Channel) -> None:
        self._target = target
        self._channel = channel
        self._admin = admin_grpc.ModelAdminStub(channel)
        self._predict = predict_grpc.PredictionServiceStub(channel)

    @classmethod
    def connect(cls, target: RemoteTarget) -> RemoteBackend:
        """Connect to ``target`` (blocking); RemoteError (UNAVAILABLE) when it cannot be
        reached within ``target.connect_timeout``."""
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
            self._admin.RegisterModel, upload_requests(name, prepared, version, reason), actor
        )
        return version_from_info(info)

    async def list_models(self) -> list[Model]:
        """Every model, following ListModels pages (a model may span two pages)."""
        infos: dict[str, admin_pb.ModelInfo] = {}
        token = ""
        while True:
            request = admin_pb.ListModelsRequest(page_token=token)
            response = self._call(self._admin.ListModels, request)
            for info in response.models:
                if info.name in infos:
                    infos[info.name].versions.extend(info.versions)
                else:
                    infos[info.name] = info
            token = response.next_page_token
            if not token:
                return [model_from_info(m) for m in infos.values()]

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
        return ExperimentReport(
            *results_from_message(self._call(self._admin.GetExperimentResults, request))
        )

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

    async def check_drift(self, *, model: str | None, version: str | None) -> list[DriftReport]:
        request = admin_pb.CheckDriftRequest(model=model or "", version=version or "")
        response = self._call(self._admin.CheckDrift, request)
        return [wire_health.drift_report(r) for r in response.reports]

    async def list_drift_reports(
        self, *, model: str | None, version: str | None, drift_only: bool, limit: int
    ) -> list[DriftReport]:
        request = admin_pb.ListDriftReportsRequest(
            model=model or "", version=version or "", drift_only=drift_only, limit=limit
        )
        response = self._call(self._admin.ListDriftReports, request)
        return [wire_health.drift_report(r) for r in response.reports]

    async def get_drift_report(self, report_id: int) -> DriftReport:
        request = admin_pb.GetDriftReportRequest(id=report_id)
        return wire_health.drift_report(self._call(self._admin.GetDriftReport, request))

    async def list_alerts(
        self,
        *,
        open_only: bool,
        model: str | None,
        severity: AlertSeverity | None,
        limit: int,
    ) -> list[Alert]:
        request = admin_pb.ListAlertsRequest(
            open_only=open_only,
            model=model or "",
            severity=severity.value if severity is not None else "",
            limit=limit,
        )
        response = self._call(self._admin.ListAlerts, request)
        return [wire_health.alert(a) for a in response.alerts]

    async def acknowledge_alert(self, alert_id: int, *, actor: str, note: str) -> Alert:
        request = admin_pb.AcknowledgeAlertRequest(id=alert_id, note=note)
        return wire_health.alert(self._call(self._admin.AcknowledgeAlert, request, actor))

    async def trigger_retraining(self, model: str, *, reason: str) -> RetrainingRun:
        request = admin_pb.TriggerRetrainingRequest(model=model, reason=reason)
        return wire_health.run(self._call(self._admin.TriggerRetraining, request))

    async def list_retraining_runs(
        self, *, model: str | None, state: RetrainingState | None, limit: int
    ) -> list[RetrainingRun]:
        request = admin_pb.ListRetrainingRunsRequest(
            model=model or "", state=state.value if state is not None else "", limit=limit
        )
        response = self._call(self._admin.ListRetrainingRuns, request)
        return [wire_health.run(r) for r in response.runs]

    async def status(self) -> GatewayStatus:
        """What the gateway process serves and what failed to load (GetStatus)."""
        response = self._call(self._admin.GetStatus, admin_pb.GetStatusRequest())
        return status_from_message(response, self._target.address)

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
