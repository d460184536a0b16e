"""galgate.v1.PredictionService: decode, route, run, encode — the hot path."""

from __future__ import annotations

import itertools
import os
import time

import grpc

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc
from gateway.errors import GatewayError
from gateway.pool.reconciler import Pool
from gateway.server import codec
from gateway.server.status import grpc_errors, status_for


class PredictionIds:
    """Process-unique, cheap prediction ids: a random per-process prefix and a counter.

    >>> ids = PredictionIds(prefix="ab12")
    >>> ids.next(), ids.next()
    ('ab12-1', 'ab12-2')
    """

    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = prefix or os.urandom(6).hex()
        self._counter = itertools.count(1)

    def next(self) -> str:
        """A new id, never returned before by any process (random prefix)."""
        return f"{self._prefix}-{next(self._counter)}"


@grpc_errors
class PredictionServicer(pb_grpc.PredictionServiceServicer):
    """Thin servicer: all work is in Pool/Snapshot (routing) and codec (conversion)."""

    def __init__(self, pool: Pool, ids: PredictionIds | None = None) -> None:
        self._pool = pool
        self._ids = ids or PredictionIds()
        self.metrics = pool.metrics

    def _predict(self, request: pb.PredictRequest) -> pb.PredictResponse:
        started = time.perf_counter()
        served = self._pool.current.route(request.model, request.routing_key, request.version)
        model = served.model
        x = codec.to_array(request, model)
        outputs = model.run(x)
        response = codec.to_response(
            outputs,
            model,
            rows=x.shape[0],
            prediction_id=self._ids.next(),
            arm=served.arm,
            experiment_id=served.experiment_id,
            request_id=request.request_id,
        )
        if model.latency is not None:
            model.latency.observe(time.perf_counter() - started)
            model.rows.inc(x.shape[0])
        return response

    async def Predict(self, request, context):
        return self._predict(request)

    async def PredictStream(self, request_iterator, context):
        async for request in request_iterator:
            try:
                yield self._predict(request)
            except GatewayError as exc:
                code = status_for(exc) or grpc.StatusCode.INTERNAL
                self.metrics.rpc_errors.labels("PredictStream", code.name).inc()
                yield pb.PredictResponse(
                    request_id=request.request_id,
                    model=request.model,
                    error=pb.PredictError(code=code.name, message=str(exc)),
                )

    async def RecordOutcome(self, request, context):
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "outcome recording is not enabled in this gateway"
        )

    async def RecordOutcomes(self, request, context):
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "outcome recording is not enabled in this gateway"
        )
