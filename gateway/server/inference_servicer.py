"""inference.GRPCInferenceService (Open Inference Protocol / KServe v2) over the model pool."""

from __future__ import annotations

import importlib.metadata

from gateway._pb.inference import grpc_predict_v2_pb2 as pb
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from gateway.errors import ModelNotServedError, NotReadyError
from gateway.predict import PredictPath
from gateway.server.status import grpc_errors
from gateway.serving.pool import Pool
from gateway.wire import inference as codec

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
    """Thin servicer: the work is in PredictPath (serving) and inference_codec.

    A model is "ready" when the current snapshot routes to it, i.e. exactly when ModelInfer
    for the same name and version would be served. An empty version means production.
    """

    def __init__(self, pool: Pool, path: PredictPath) -> None:
        self.metrics = pool.metrics
        self._pool = pool
        self._path = path
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
        routed = self._path.begin(
            request.model_name,
            request.model_version,
            codec.routing_key(request),
            lambda model: codec.to_array(request, model),
        )
        chosen = codec.requested_outputs(request, routed.model)
        outputs = await self._path.run(routed, context)
        prediction_id = self._path.finish(routed, outputs)
        response = codec.to_response(
            outputs,
            routed.model,
            rows=routed.rows,
            chosen=chosen,
            request_id=request.id,
            arm=routed.served.arm,
            experiment_id=routed.served.experiment_id,
        )
        response.parameters[PREDICTION_ID_PARAMETER].string_param = prediction_id
        return response
