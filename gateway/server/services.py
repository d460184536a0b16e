"""The services one gateway serves: their names, who may call them (the trust model), and
the standard health and reflection services held to concurrency budgets of their own."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha._async import ReflectionServicer

from gateway._pb.galgate.v1 import admin_pb2, prediction_pb2
from gateway._pb.inference import grpc_predict_v2_pb2
from gateway.admission import Slots
from gateway.config import Settings
from gateway.errors import InvalidInputError, QueueFullError

PREDICTION = prediction_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name
ADMIN = admin_pb2.DESCRIPTOR.services_by_name["ModelAdmin"].full_name
INFERENCE = grpc_predict_v2_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
SERVICES = (PREDICTION, ADMIN, INFERENCE)
OUTCOME_METHODS = ("RecordOutcome", "RecordOutcomes")
# Concurrent health Watch and server reflection streams (both open to anyone).
WATCH_STREAMS = 32
REFLECTION_STREAMS = 16


class BoundedHealth(health.aio.HealthServicer):
    """The standard health service; its Watch streams are held to a budget of their own."""

    def __init__(self, slots: Slots) -> None:
        super().__init__()
        self._slots = slots

    async def Watch(self, request, context) -> None:
        try:
            with self._slots.take():
                await super().Watch(request, context)
        except QueueFullError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))


def service_descriptor(module, name: str):
    """The service descriptor ``name`` of a generated ``*_pb2`` module."""
    return module.DESCRIPTOR.services_by_name[name]


class BoundedReflection(ReflectionServicer):
    """The standard reflection service; its streams are held to a budget of their own."""

    def __init__(self, service_names, slots: Slots) -> None:
        super().__init__(service_names)
        self._slots = slots

    async def ServerReflectionInfo(self, request_iterator, context):
        try:
            with self._slots.take():
                async for response in super().ServerReflectionInfo(request_iterator, context):
                    yield response
        except QueueFullError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except InvalidInputError as exc:  # an undecodable request message
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))


def access_tokens(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Which bearer tokens each door accepts (empty: open). The README's trust model.

    - ModelAdmin: the admin token.
    - Predict, PredictStream and the Open Inference Protocol: the predict token, or the
      admin token; open when no predict token is set.
    - RecordOutcome(s): the outcome token (the predict token when none is set), or the
      admin token; open only when none of the three is set. Outcomes move bandit
      traffic and decide experiments, so setting any token closes them.
    """
    predict = (settings.predict_token, settings.admin_token) if settings.predict_token else ()
    outcome_token = settings.outcome_token or settings.predict_token
    outcome = (outcome_token, settings.admin_token)
    tokens = {
        f"/{ADMIN}/": (settings.admin_token,),
        f"/{PREDICTION}/": predict,
        f"/{INFERENCE}/": predict,
    }
    for method in OUTCOME_METHODS:
        tokens[f"/{PREDICTION}/{method}"] = outcome
    return tokens
