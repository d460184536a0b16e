"""galgate.v1.ModelAdmin: decode, one call to the use-case layer (gateway.operations), encode."""

from __future__ import annotations

import asyncio
import hashlib

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway._pb.galgate.v1 import admin_pb2_grpc as pb_grpc
from gateway.admission import Slots
from gateway.config import Settings
from gateway.errors import InvalidInputError, PayloadTooLargeError
from gateway.operations import Operations
from gateway.predlog import PredictionLog
from gateway.server.status import grpc_errors
from gateway.wire import experiments as wire_experiments
from gateway.wire import health as wire_health
from gateway.wire import models as wire_models
from gateway.wire import status as wire_status
from gateway.wire import uploads as wire_uploads
from gateway.wire.common import ACTOR_METADATA
from registry.entities import ExperimentState

# Bytes kept free under the send limit for what grpc adds around a paged reply.
_REPLY_MARGIN = 16 * 1024


def _actor(context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == ACTOR_METADATA and value:
            return value[:128]
    return "admin-api"


@grpc_errors(slots="admission")
class AdminServicer(pb_grpc.ModelAdminServicer):
    """Thin servicer over Operations; changes return once the pool serves them."""

    def __init__(
        self,
        operations: Operations,
        settings: Settings,
        predlog: PredictionLog,
        *,
        slots: Slots | None = None,
    ) -> None:
        # Every admin call holds one of these while it runs (server.status.grpc_errors).
        self.admission = slots or Slots(settings.max_concurrent_admin, "ModelAdmin")
        self._ops = operations
        self._pool = operations.pool
        self._predlog = predlog
        self._settings = settings
        self.metrics = self._pool.metrics
        # Bytes a list reply may take (the client pages on with before_id).
        self._budget = settings.max_message_bytes - _REPLY_MARGIN

    async def RegisterModel(self, request_iterator, context):
        header, artifact, profile = await self._receive_upload(request_iterator)
        if header.sha256 and hashlib.sha256(artifact).hexdigest() != header.sha256.lower():
            raise InvalidInputError(
                f"artifact sha256 is {hashlib.sha256(artifact).hexdigest()}, "
                f"header says {header.sha256}"
            )
        version = await self._ops.register(
            header.name,
            wire_uploads.spec_from_header(header),
            artifact,
            profile=profile or None,
            version=header.version or None,
            actor=_actor(context),
            reason=header.reason,
        )
        return wire_models.version_info(version)

    async def _receive_upload(self, request_iterator):
        cap = self._settings.max_upload_bytes
        header = None
        artifact, profile = bytearray(), bytearray()
        async for message in request_iterator:
            part = message.WhichOneof("part")
            if header is None and part != "header":
                raise InvalidInputError("the first RegisterModel message must carry the header")
            if part == "header":
                if header is not None:
                    raise InvalidInputError("RegisterModel got a second header")
                header = message.header
            elif part == "artifact_chunk":
                artifact += message.artifact_chunk
            elif part == "profile_chunk":
                profile += message.profile_chunk
            if len(artifact) > cap or len(profile) > cap:
                raise PayloadTooLargeError(f"upload exceeds the {cap}-byte cap (max_upload_bytes)")
        if header is None:
            raise InvalidInputError("RegisterModel got no messages; send a header then chunks")
        if not artifact:
            raise InvalidInputError("RegisterModel got no artifact_chunk messages")
        return header, bytes(artifact), bytes(profile)

    async def ListModels(self, request, context):
        token = wire_models.PageToken.decode(request.page_token)
        per_read = min(
            request.page_size or wire_models.MODELS_PER_READ, wire_models.MODELS_PER_READ
        )
        models = await self._ops.list_models(
            start=token.model if token else None, limit=per_read + 1
        )
        return wire_models.models_page(
            models[:per_read],
            token,
            page_size=request.page_size,
            budget=self._settings.max_message_bytes - _REPLY_MARGIN,
            next_model=models[per_read].name if len(models) > per_read else None,
        )

    async def GetModel(self, request, context):
        model = await self._ops.get_model(request.name)
        if request.version:
            version = await self._ops.get_version(request.name, request.version)
            return wire_models.model_info(model, versions=(version,))
        return wire_models.model_info(model)

    async def PromoteModel(self, request, context):
        version = await self._ops.promote(
            request.name,
            request.version,
            wire_models.parse_stage(request.stage),
            actor=_actor(context),
            reason=request.reason,
            force=request.force,
        )
        return wire_models.version_info(version)

    async def RollbackModel(self, request, context):
        version = await self._ops.rollback(
            request.name, actor=_actor(context), reason=request.reason
        )
        return wire_models.version_info(version)

    async def ArchiveModel(self, request, context):
        version = await self._ops.archive(
            request.name,
            request.version,
            actor=_actor(context),
            reason=request.reason,
            force=request.force,
        )
        return wire_models.version_info(version)

    async def GetHistory(self, request, context):
        history = await self._ops.history(request.name)
        return pb.GetHistoryResponse(transitions=[wire_models.transition_info(t) for t in history])

    async def WatchEvents(self, request, context):
        after = request.after_id
        while True:
            events = await self._ops.registry.events_since(after, limit=500)
            for event in events:
                yield wire_models.event_info(event)
                after = event.id
            if not events:
                if request.backlog_only:
                    return
                await asyncio.sleep(self._settings.poll_interval)

    async def GetStatus(self, request, context):
        return wire_status.status_message(wire_status.status_of(self._pool, self._predlog))

    async def CreateExperiment(self, request, context):
        experiment = await self._ops.create_experiment(
            wire_experiments.experiment_spec(request),
            actor=_actor(context),
            start=not request.create_only,
        )
        return wire_experiments.experiment_info(experiment)

    async def ListExperiments(self, request, context):
        state = wire_experiments.parse_experiment_state(request.state) if request.state else None
        experiments = await self._ops.list_experiments(model=request.model or None, state=state)
        return pb.ListExperimentsResponse(
            experiments=[wire_experiments.experiment_info(e) for e in experiments]
        )

    async def GetExperimentResults(self, request, context):
        experiment, results = await self._ops.experiment_results(request.id)
        return wire_experiments.experiment_results(experiment, results)

    async def _move(self, request, context, to: ExperimentState):
        experiment = await self._ops.move_experiment(
            request.id, to, actor=_actor(context), reason=request.reason
        )
        return wire_experiments.experiment_info(experiment)

    async def PauseExperiment(self, request, context):
        return await self._move(request, context, ExperimentState.PAUSED)

    async def ResumeExperiment(self, request, context):
        return await self._move(request, context, ExperimentState.RUNNING)

    async def StopExperiment(self, request, context):
        return await self._move(request, context, ExperimentState.STOPPED)

    async def CheckDrift(self, request, context):
        reports = await self._ops.check_drift(request.model or None, request.version or None)
        return pb.ListDriftReportsResponse(
            reports=wire_health.within_budget(reports, wire_health.drift_report_info, self._budget)
        )

    async def GetDriftReport(self, request, context):
        return wire_health.drift_report_info(await self._ops.get_drift_report(request.id))

    async def ListDriftReports(self, request, context):
        reports = await self._ops.list_drift_reports(
            model=request.model or None,
            version=request.version or None,
            drift_only=request.drift_only,
            limit=wire_health.list_limit(request.limit, wire_health.DEFAULT_REPORTS),
            before_id=request.before_id or None,
        )
        return pb.ListDriftReportsResponse(
            reports=wire_health.within_budget(reports, wire_health.drift_report_info, self._budget)
        )

    async def ListAlerts(self, request, context):
        alerts = await self._ops.list_alerts(
            open_only=request.open_only,
            model=request.model or None,
            severity=wire_health.parse_severity(request.severity) if request.severity else None,
            limit=wire_health.list_limit(request.limit, wire_health.DEFAULT_ALERTS),
            before_id=request.before_id or None,
        )
        return pb.ListAlertsResponse(
            alerts=wire_health.within_budget(alerts, wire_health.alert_info, self._budget)
        )

    async def AcknowledgeAlert(self, request, context):
        alert = await self._ops.acknowledge_alert(
            request.id, actor=_actor(context), note=request.note
        )
        return wire_health.alert_info(alert)

    async def TriggerRetraining(self, request, context):
        reason = request.reason or f"asked by {_actor(context)}"
        run = await self._ops.trigger_retraining(request.model, trigger="admin", reason=reason)
        return wire_health.run_info(run)

    async def ListRetrainingRuns(self, request, context):
        runs = await self._ops.list_retraining_runs(
            model=request.model or None,
            state=wire_health.parse_run_state(request.state) if request.state else None,
            limit=wire_health.list_limit(request.limit, wire_health.DEFAULT_REPORTS),
            before_id=request.before_id or None,
        )
        return pb.ListRetrainingRunsResponse(
            runs=wire_health.within_budget(runs, wire_health.run_info, self._budget)
        )
