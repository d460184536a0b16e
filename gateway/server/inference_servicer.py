"""inference.GRPCInferenceService (Open Inference Protocol / KServe v2) over the model pool."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

from gateway._pb.inference import grpc_predict_v2_pb2 as pb
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from gateway.errors import ModelNotServedError
from gateway.pool.reconciler import Pool
from gateway.server import inference_codec as codec
from gateway.server.status import grpc_errors

SERVER_NAME = "galgate"


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

    def __init__(self, pool: Pool, *, ready: Callable[[], bool]) -> None:
        self.metrics = pool.metrics
        self._pool = pool
        self._ready = ready
        self._metadata = pb.ServerMetadataResponse(
            name=SERVER_NAME, version=_galgate_version(), extensions=[]
        )

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=bool(self._ready()))

    async def ServerMetadata(self, request, context):
        return self._metadata

    async def ModelReady(self, request, context):
        try:
            self._pool.current.route(request.name, "", request.version)
        except ModelNotServedError:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request, context):
        snapshot = self._pool.current
        served = snapshot.route(request.name, "", request.version)
        return codec.metadata_response(served.model, snapshot.routes[request.name].versions)

    async def ModelInfer(self, request, context):
        served = self._pool.current.route(
            request.model_name, codec.routing_key(request), request.model_version
        )
        model = served.model
        x = codec.to_array(request, model)
        chosen = codec.requested_outputs(request, model)
        return codec.to_response(
            model.run(x),
            model,
            rows=x.shape[0],
            chosen=chosen,
            request_id=request.id,
            arm=served.arm,
            experiment_id=served.experiment_id,
        )
