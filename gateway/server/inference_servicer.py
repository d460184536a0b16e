"""inference.GRPCInferenceService (Open Inference Protocol / KServe v2) over the model pool."""

from __future__ import annotations

import importlib.metadata
import time

from gateway._pb.inference import grpc_predict_v2_pb2 as pb
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from gateway.errors import ModelNotServedError, NotReadyError
from gateway.pool.reconciler import Pool
from gateway.prediction_ids import PredictionIds
from gateway.predlog import PredictionLog
from gateway.server import inference_codec as codec
from gateway.server.batching import BatchPolicy, run_off_loop
from gateway.server.status import grpc_errors

SERVER_NAME = "galgate"
# Response parameter carrying the logged prediction's id (for RecordOutcome).
PREDICTION_ID_PARAMETER = "galgate_prediction_id"


def _galgate_version() -> str:
    try:
        return importlib.metadata.version("galgate")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


@grpc_errors
class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Thin servicer: routing is Snapshot.route, conversion is inference_codec.

    A model is "ready" when the current snapshot routes to it, i.e. exactly when ModelInfer
    for the same name and version would be served. An empty version means production.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        log: PredictionLog,
        ids: PredictionIds,
        policy: BatchPolicy,
    ) -> None:
        self.metrics = pool.metrics
        self._policy = policy
        self._pool = pool
        self._log = log
        self._ids = ids
        self._metadata = pb.ServerMetadataResponse(
            name=SERVER_NAME, version=_galgate_version(), extensions=[]
        )

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self._pool.ready)

    async def ServerMetadata(self, request, context):
        return self._metadata

    async def ModelReady(self, request, context):
        try:
            self._pool.current.route(request.name, "", request.version)
        except (ModelNotServedError, NotReadyError):
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request, context):
        snapshot = self._pool.current
        served = snapshot.route(request.name, "", request.version)
        return codec.metadata_response(served.model, snapshot.routes[request.name].versions)

    async def ModelInfer(self, request, context):
        started = time.perf_counter()
        routing_key = codec.routing_key(request)
        served = self._pool.current.route(request.model_name, routing_key, request.model_version)
        model = served.model
        x = codec.to_array(request, model)
        chosen = codec.requested_outputs(request, model)
        self._policy.check(x.shape[0], model)
        self._log.admit()
        if self._policy.offloads(x.shape[0], model):
            outputs = await run_off_loop(model, x, context)
        else:
            outputs = model.run(x)
        response = codec.to_response(
            outputs,
            model,
            rows=x.shape[0],
            chosen=chosen,
            request_id=request.id,
            arm=served.arm,
            experiment_id=served.experiment_id,
        )
        prediction_id = self._ids.next()
        response.parameters[PREDICTION_ID_PARAMETER].string_param = prediction_id
        if model.stats is not None:
            model.stats.observe(time.perf_counter() - started, x.shape[0])
        self._log.append(served, routing_key, x, outputs, prediction_id, started)
        return response
