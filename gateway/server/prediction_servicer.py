"""galgate.v1.PredictionService: decode, the one Predict path, encode; and outcomes."""

from __future__ import annotations

import grpc

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc
from gateway.admission import Slots
from gateway.errors import GatewayError
from gateway.outcomes import OutcomeRecorder
from gateway.predict import PredictPath
from gateway.prometheus import Metrics
from gateway.server.status import grpc_errors, message_for, status_for
from gateway.wire import prediction as codec


@grpc_errors
class PredictionServicer(pb_grpc.PredictionServiceServicer):
    """Thin servicer: the work is in PredictPath (serving) and codec (conversion)."""

    def __init__(
        self,
        path: PredictPath,
        *,
        metrics: Metrics,
        outcomes: OutcomeRecorder,
        outcome_slots: Slots,
    ) -> None:
        self._path = path
        self.metrics = metrics
        self._outcomes = outcomes
        self._outcome_slots = outcome_slots

    async def _predict(self, request: pb.PredictRequest, context) -> pb.PredictResponse:
        routing_key = codec.checked_routing_key(request.routing_key)
        routed = self._path.begin(
            request.model, request.version, routing_key, lambda m: codec.to_array(request, m)
        )
        outputs = await self._path.run(routed, context)
        prediction_id = self._path.finish(routed, outputs)
        return codec.to_response(
            outputs,
            routed.model,
            rows=routed.rows,
            prediction_id=prediction_id,
            arm=routed.served.arm,
            experiment_id=routed.served.experiment_id,
            request_id=request.request_id,
        )

    async def Predict(self, request, context):
        return await self._predict(request, context)

    async def PredictStream(self, request_iterator, context):
        async for request in request_iterator:
            try:
                yield await self._predict(request, context)
            except GatewayError as exc:
                code = status_for(exc) or grpc.StatusCode.INTERNAL
                self.metrics.rpc_errors.labels("PredictStream", code.name).inc()
                yield pb.PredictResponse(
                    request_id=request.request_id,
                    model=request.model,
                    error=pb.PredictError(code=code.name, message=message_for(exc)),
                )

    async def RecordOutcome(self, request, context):
        with self._outcome_slots.take():
            [duplicate] = await self._outcomes.record([(request.prediction_id, request.value)])
        return pb.RecordOutcomeResponse(duplicate=duplicate)

    async def RecordOutcomes(self, request, context):
        with self._outcome_slots.take():
            duplicates = await self._outcomes.record(
                [(item.prediction_id, item.value) for item in request.outcomes]
            )
        repeated = sum(duplicates)
        return pb.RecordOutcomesResponse(recorded=len(duplicates) - repeated, duplicates=repeated)
