"""galgate.v1.PredictionService: decode, route, run, encode — the hot path."""

from __future__ import annotations

import time

import grpc
import numpy as np

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc
from gateway.admission import Slots
from gateway.errors import GatewayError
from gateway.outcomes import OutcomeRecorder
from gateway.pool.model import Outputs
from gateway.pool.reconciler import Pool
from gateway.pool.snapshot import Served
from gateway.prediction_ids import PredictionIds
from gateway.predlog import PredictionLog
from gateway.server import codec
from gateway.server.batching import BatchPolicy, run_off_loop
from gateway.server.status import grpc_errors, message_for, status_for


@grpc_errors
class PredictionServicer(pb_grpc.PredictionServiceServicer):
    """Thin servicer: all work is in Pool/Snapshot (routing) and codec (conversion)."""

    def __init__(
        self,
        pool: Pool,
        ids: PredictionIds,
        *,
        log: PredictionLog,
        outcomes: OutcomeRecorder,
        policy: BatchPolicy,
        outcome_slots: Slots,
    ) -> None:
        self._pool = pool
        self._ids = ids
        self.metrics = pool.metrics
        self._log = log
        self._outcomes = outcomes
        self._policy = policy
        self._outcome_slots = outcome_slots

    def _decode(self, request: pb.PredictRequest) -> tuple[Served, str, np.ndarray]:
        routing_key = codec.checked_routing_key(request.routing_key)
        served = self._pool.current.route(request.model, routing_key, request.version)
        x = codec.to_array(request, served.model)
        self._policy.check(x.shape[0], served.model)
        self._log.admit()
        return served, routing_key, x

    def _answer(
        self,
        request: pb.PredictRequest,
        served: Served,
        routing_key: str,
        x: np.ndarray,
        outputs: Outputs,
        started: float,
    ) -> pb.PredictResponse:
        model = served.model
        prediction_id = self._ids.next()
        response = codec.to_response(
            outputs,
            model,
            rows=x.shape[0],
            prediction_id=prediction_id,
            arm=served.arm,
            experiment_id=served.experiment_id,
            request_id=request.request_id,
        )
        if model.stats is not None:
            model.stats.observe(time.perf_counter() - started, x.shape[0])
        self._log.append(served, routing_key, x, outputs, prediction_id, started)
        return response

    async def _predict(self, request: pb.PredictRequest, context) -> pb.PredictResponse:
        started = time.perf_counter()
        served, routing_key, x = self._decode(request)
        if self._policy.offloads(x.shape[0], served.model):
            outputs = await run_off_loop(served.model, x, context)
        else:
            outputs = served.model.run(x)
        return self._answer(request, served, routing_key, x, outputs, started)

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
