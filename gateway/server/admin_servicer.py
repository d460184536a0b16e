"""galgate.v1.ModelAdmin: registry changes over gRPC, each followed by a reconcile."""

from __future__ import annotations

import asyncio
import hashlib

from converters import ReferenceProfile, validate_onnx
from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway._pb.galgate.v1 import admin_pb2_grpc as pb_grpc
from gateway.admission import Slots
from gateway.brief import brief_list
from gateway.config import Settings
from gateway.errors import ExperimentStatisticsError, InvalidInputError, PayloadTooLargeError
from gateway.experiments.results import Results
from gateway.experiments.tracker import ExperimentTracker
from gateway.predlog import PredictionLog
from gateway.server import admin_codec as codec
from gateway.server.status import grpc_errors
from gateway.serving.pool import Pool
from registry import crashpoints
from registry.entities import ExperimentState, Stage
from registry.repository import Registry

ACTOR_METADATA = "x-galgate-actor"
# Bytes kept free under the send limit for what grpc adds around a paged reply.
_REPLY_MARGIN = 16 * 1024


def _actor(context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == ACTOR_METADATA and value:
            return value[:128]
    return "admin-api"


@grpc_errors(slots="admission")
class AdminServicer(pb_grpc.ModelAdminServicer):
    """Thin servicer over the Registry; stage changes wait for the pool to swap."""

    def __init__(
        self,
        registry: Registry,
        pool: Pool,
        settings: Settings,
        tracker: ExperimentTracker,
        predlog: PredictionLog,
        *,
        slots: Slots | None = None,
    ) -> None:
        # Every admin call holds one of these while it runs (server.status.grpc_errors).
        self.admission = slots or Slots(settings.max_concurrent_admin, "ModelAdmin")
        self._predlog = predlog
        self._registry = registry
        self._pool = pool
        self._settings = settings
        self._tracker = tracker
        self.metrics = pool.metrics

    async def RegisterModel(self, request_iterator, context):
        header, artifact, profile = await self._receive_upload(request_iterator)
        if header.sha256 and hashlib.sha256(artifact).hexdigest() != header.sha256.lower():
            raise InvalidInputError(
                f"artifact sha256 is {hashlib.sha256(artifact).hexdigest()}, "
                f"header says {header.sha256}"
            )
        signature = await asyncio.to_thread(
            validate_onnx,
            artifact,
            max_bytes=self._settings.max_upload_bytes,
            feature_names=list(header.features) or None,
        )
        if profile:
            # Decompressing an upload is CPU work: keep it off the event loop.
            parsed = await asyncio.to_thread(ReferenceProfile.from_bytes, profile)
            if tuple(parsed.features) != tuple(signature.features):
                raise InvalidInputError(
                    f"reference profile features {brief_list(parsed.features)} differ from "
                    f"the model's {brief_list(signature.features)}"
                )
        spec = codec.spec_from_header(header, signature.to_dict())
        version = await self._registry.register_version(
            header.name,
            spec,
            artifact,
            profile=profile or None,
            version=header.version or None,
            actor=_actor(context),
            reason=header.reason,
        )
        return codec.version_info(version)

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
        token = codec.PageToken.decode(request.page_token)
        per_read = min(request.page_size or codec.MODELS_PER_READ, codec.MODELS_PER_READ)
        models = await self._registry.list_models(
            start=token.model if token else None, limit=per_read + 1
        )
        return codec.models_page(
            models[:per_read],
            token,
            page_size=request.page_size,
            budget=self._settings.max_message_bytes - _REPLY_MARGIN,
            next_model=models[per_read].name if len(models) > per_read else None,
        )

    async def GetModel(self, request, context):
        if request.version:
            version = await self._registry.get_version(request.name, request.version)
            model = await self._registry.get_model(request.name)
            return pb.ModelInfo(
                name=model.name,
                created_at=codec.timestamp(model.created_at),
                versions=[codec.version_info(version)],
                production_version=model.production.version if model.production else "",
            )
        return codec.model_info(await self._registry.get_model(request.name))

    async def PromoteModel(self, request, context):
        stage = codec.parse_stage(request.stage)
        if stage is Stage.PRODUCTION:
            # The artifact must load and warm before the stage change can commit.
            await self._pool.ensure_loaded(request.name, request.version)
        version = await self._registry.transition(
            request.name,
            request.version,
            stage,
            actor=_actor(context),
            reason=request.reason,
            force=request.force,
        )
        if stage is Stage.PRODUCTION:
            crashpoints.reached("promote.after_commit")
        await self._pool.reconcile()
        return codec.version_info(version)

    async def RollbackModel(self, request, context):
        version = await self._registry.rollback(
            request.name, actor=_actor(context), reason=request.reason
        )
        await self._pool.reconcile()
        return codec.version_info(version)

    async def ArchiveModel(self, request, context):
        version = await self._registry.archive(
            request.name,
            request.version,
            actor=_actor(context),
            reason=request.reason,
            force=request.force,
        )
        await self._pool.reconcile()
        return codec.version_info(version)

    async def GetHistory(self, request, context):
        history = await self._registry.history(request.name)
        return pb.GetHistoryResponse(transitions=[codec.transition_info(t) for t in history])

    async def WatchEvents(self, request, context):
        after = request.after_id
        while True:
            events = await self._registry.events_since(after, limit=500)
            for event in events:
                yield codec.event_info(event)
                after = event.id
            if not events:
                if request.backlog_only:
                    return
                await asyncio.sleep(self._settings.poll_interval)

    async def GetStatus(self, request, context):
        snapshot = self._pool.current
        loaded = []
        for name, route in sorted(snapshot.routes.items()):
            production = route.production.model.version if route.production else ""
            for version, model in sorted(route.versions.items()):
                role = "production" if version == production else "retained"
                loaded.append(
                    pb.LoadedVersion(name=name, version=version, sha256=model.sha256, role=role)
                )
        failures = [
            pb.LoadFailure(name=f.name, version=f.version, error=f.error, at=codec.timestamp(f.at))
            for f in self._pool.failures.values()
        ]
        experiment_failures = [
            pb.ExperimentFailure(
                experiment_id=f.experiment_id,
                model=f.model,
                where=f.where,
                error=f.error,
                since=codec.timestamp(f.at),
            )
            for f in self._pool.experiment_failures.all()
        ]
        return pb.GatewayStatus(
            event_id=snapshot.event_id,
            loaded=loaded,
            failures=failures,
            serving=self._pool.ready,
            prediction_log_queued=self._predlog.queued,
            prediction_log_dropped=self._predlog.dropped,
            experiment_failures=experiment_failures,
        )

    async def CreateExperiment(self, request, context):
        spec = codec.experiment_spec(request)
        for version in (spec.control_version, spec.treatment_version):
            await self._registry.get_version(spec.model, version)  # NOT_FOUND first
            # Both arms must load and warm before the experiment can route traffic.
            await self._pool.ensure_loaded(spec.model, version)
        experiment = await self._registry.create_experiment(
            spec, actor=_actor(context), start=not request.create_only
        )
        await self._pool.reconcile()
        return codec.experiment_info(experiment)

    async def ListExperiments(self, request, context):
        states = [codec.parse_experiment_state(request.state)] if request.state else None
        experiments = await self._registry.list_experiments(
            model=request.model or None, states=states
        )
        return pb.ListExperimentsResponse(
            experiments=[codec.experiment_info(e) for e in experiments]
        )

    async def GetExperimentResults(self, request, context):
        experiment = await self._registry.get_experiment(request.id)
        if experiment.final_results:
            results = Results.from_dict(dict(experiment.final_results))
        else:
            results = (await self._tracker.look(experiment, record=False)).results
        return codec.experiment_results(experiment, results)

    async def _move_experiment(self, request, context, to: ExperimentState):
        final = None
        if to is ExperimentState.STOPPED:
            # Freeze the numbers as they stand: later outcomes must not change a stopped
            # experiment's results.
            current = await self._registry.get_experiment(request.id)
            if current.state in (ExperimentState.RUNNING, ExperimentState.PAUSED):
                try:
                    final = (await self._tracker.look(current, record=False)).results.to_dict()
                except ExperimentStatisticsError:
                    final = None  # nothing valid to freeze; stopping must still work
        experiment = await self._registry.transition_experiment(
            request.id, to, actor=_actor(context), reason=request.reason, final_results=final
        )
        if to is ExperimentState.STOPPED:
            self._tracker.forget(experiment.id)
        await self._pool.reconcile()
        return codec.experiment_info(experiment)

    async def PauseExperiment(self, request, context):
        return await self._move_experiment(request, context, ExperimentState.PAUSED)

    async def ResumeExperiment(self, request, context):
        return await self._move_experiment(request, context, ExperimentState.RUNNING)

    async def StopExperiment(self, request, context):
        return await self._move_experiment(request, context, ExperimentState.STOPPED)
