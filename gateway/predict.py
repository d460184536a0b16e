"""The one Predict path, behind Predict, PredictStream and ModelInfer alike.

1. ``begin``: route the request on the current snapshot (one attribute read), decode its
   rows with the door's codec, check the batch against the limits, admit it to the log.
2. ``run``: run the model, in a thread for a big batch or a slow version.
3. ``finish``: give the answer an id, count it on the version's metrics and log it.

The door then encodes its response, with that id. No step does I/O or takes a lock, and
nothing is logged for a request that failed before ``finish``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gateway.predlog import PredictionLog
from gateway.serving.batching import BatchPolicy, run_off_loop
from gateway.serving.ids import PredictionIds
from gateway.serving.model import LoadedModel, Outputs
from gateway.serving.pool import Pool
from gateway.serving.snapshot import Routed


@dataclass(frozen=True, slots=True)
class Request:
    """A request routed and decoded, ready to run."""

    served: Routed
    routing_key: str
    x: np.ndarray
    started: float

    @property
    def model(self) -> LoadedModel:
        """The version that serves it."""
        return self.served.model

    @property
    def rows(self) -> int:
        """How many rows it carries."""
        return self.x.shape[0]


class PredictPath:
    """Route, decode, check, run, count and log: everything a Predict does but encoding.

    Args:
        pool: the served snapshot's owner.
        ids: issues prediction ids.
        log: the prediction log, or None when predictions are not logged
            (``Settings.prediction_log``).
        policy: row and size limits, and which runs leave the event loop.
    """

    def __init__(
        self, pool: Pool, ids: PredictionIds, log: PredictionLog | None, policy: BatchPolicy
    ) -> None:
        self._pool = pool
        self._ids = ids
        self._admit = log.admit if log is not None else None
        self._append = log.append if log is not None else None
        self._policy = policy

    def begin(
        self,
        model: str,
        version: str,
        routing_key: str,
        decode: Callable[[LoadedModel], np.ndarray],
    ) -> Request:
        """Route and decode one request.

        Args:
            model: the model name.
            version: a pinned version, or "" to route.
            routing_key: the sticky key (already checked).
            decode: the door's decoder: rows as a float32 [rows, n_features] array for
                the routed version.

        Raises:
            ModelNotServedError, NotReadyError, InvalidInputError, PayloadTooLargeError,
            QueueFullError: see ``gateway.errors``.
        """
        started = time.perf_counter()
        served = self._pool.current.route(model, routing_key, version)
        x = decode(served.model)
        self._policy.check(x.shape[0], served.model)
        if self._admit is not None:
            self._admit()
        return Request(served, routing_key, x, started)

    async def run(self, request: Request, context) -> Outputs:
        """Run the routed version on the request's rows (in a thread when it is big or
        the version slow, honouring the caller's deadline).

        Raises:
            ModelOutputError, DeadlineExceededError: see ``gateway.errors``.
        """
        model = request.model
        if self._policy.offloads(request.rows, model):
            return await run_off_loop(model, request.x, context)
        return model.run(request.x)

    def finish(self, request: Request, outputs: Outputs) -> str:
        """Count and log an answered request; returns its prediction id."""
        prediction_id = self._ids.next()
        model = request.model
        if model.stats is not None:
            model.stats.observe(time.perf_counter() - request.started, request.rows)
        if model.live is not None:
            model.live.inputs.add(request.x)
        if self._append is not None:
            self._append(
                request.served,
                request.routing_key,
                request.x,
                outputs,
                prediction_id,
                request.started,
            )
        return prediction_id
