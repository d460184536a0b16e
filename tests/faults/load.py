"""A bounded mixed load against one gateway, and the ledger of what every call returned.

``Load`` runs N callers that Predict (packed float32 tensor) and record an outcome for
every k-th answered prediction, plus one promoter that flips a model's production
version between two versions over ``ModelAdmin/PromoteModel``. Every call has a deadline.
The ``Ledger`` keeps, for every call, its method, status code, start and end (monotonic
clock); for every answered prediction its id, version and when it was asked and
answered; for every outcome sent its value, and whether it was acknowledged; for every
promotion its target and status. The invariants in ``tests.faults.invariants`` are
checked against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb

OK = grpc.StatusCode.OK
# Deadlines: a call that has not ended by then is a hang, reported as DEADLINE_EXCEEDED.
PREDICT_DEADLINE = 5.0
WRITE_DEADLINE = 20.0  # outcomes and promotions (SQLite may wait 5 s on a busy lock)
_BACKOFF = 0.05  # after a failed call, so a dead gateway is not hammered


@dataclass(frozen=True, slots=True)
class Call:
    """One RPC as the client saw it."""

    method: str
    code: grpc.StatusCode
    started: float
    ended: float
    details: str = ""
    subject: str = ""  # prediction id, or the promotion's target version


@dataclass(frozen=True, slots=True)
class Answer:
    """One answered Predict."""

    prediction_id: str
    version: str
    asked: float
    answered: float


@dataclass(frozen=True, slots=True)
class Promotion:
    """One PromoteModel call."""

    version: str
    code: grpc.StatusCode
    started: float
    ended: float


@dataclass
class Ledger:
    """Everything the clients of one gateway lifetime saw."""

    model: str = "clf"
    # Production version when the load started (what Predict served before any flip).
    initial_production: str = ""
    calls: list[Call] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    sent_outcomes: dict[str, float] = field(default_factory=dict)
    acknowledged: dict[str, float] = field(default_factory=dict)
    promotions: list[Promotion] = field(default_factory=list)

    def record(self, call: Call) -> None:
        self.calls.append(call)

    def count(self, method: str, code: grpc.StatusCode | None = OK) -> int:
        """Calls of ``method`` that ended with ``code`` (None: any code)."""
        return sum(1 for c in self.calls if c.method == method and (code is None or c.code == code))

    def summary(self) -> str:
        """Counts per method and code, for assertion messages."""
        counts: dict[tuple[str, str], int] = {}
        for c in self.calls:
            key = (c.method, c.code.name)
            counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{m} {code}: {n}" for (m, code), n in sorted(counts.items()))


def predict_request(rows: np.ndarray, model: str = "clf") -> pb.PredictRequest:
    """A Predict of ``rows`` (2-D float32) as a packed tensor."""
    rows = np.ascontiguousarray(rows, dtype="<f4").reshape(-1, rows.shape[-1])
    return pb.PredictRequest(
        model=model, tensor=pb.FloatTensor(rows=len(rows), data=rows.tobytes())
    )


class Clients:
    """The stubs of one channel, with every call timed and put in a ledger."""

    def __init__(self, channel: grpc.aio.Channel, ledger: Ledger) -> None:
        self.predictor = prediction_pb2_grpc.PredictionServiceStub(channel)
        self.admin = admin_pb2_grpc.ModelAdminStub(channel)
        self.ledger = ledger

    async def predict(self, row: np.ndarray, *, deadline: float = PREDICT_DEADLINE):
        """Predict one row; the reply, or None when the call failed (recorded either way)."""
        started = time.monotonic()
        try:
            reply = await self.predictor.Predict(
                predict_request(row, self.ledger.model), timeout=deadline
            )
        except grpc.aio.AioRpcError as exc:
            self._failed("Predict", exc, started)
            return None
        ended = time.monotonic()
        pid = reply.prediction_id
        self.ledger.record(Call("Predict", OK, started, ended, subject=pid))
        self.ledger.answers[pid] = Answer(pid, reply.version, started, ended)
        return reply

    async def record_outcome(
        self, prediction_id: str, value: float, *, deadline: float = WRITE_DEADLINE
    ):
        """RecordOutcome; the reply, or None when the call failed (recorded either way)."""
        started = time.monotonic()
        self.ledger.sent_outcomes[prediction_id] = value
        try:
            reply = await self.predictor.RecordOutcome(
                pb.RecordOutcomeRequest(prediction_id=prediction_id, value=value), timeout=deadline
            )
        except grpc.aio.AioRpcError as exc:
            self._failed("RecordOutcome", exc, started, prediction_id)
            return None
        self.ledger.record(
            Call("RecordOutcome", OK, started, time.monotonic(), subject=prediction_id)
        )
        self.ledger.acknowledged[prediction_id] = value
        return reply

    async def promote(self, version: str, *, deadline: float = WRITE_DEADLINE):
        """PromoteModel to production; the reply, or None when the call failed."""
        started = time.monotonic()
        request = apb.PromoteModelRequest(
            name=self.ledger.model, version=version, stage="production", reason="fault test"
        )
        try:
            reply = await self.admin.PromoteModel(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            self._failed("PromoteModel", exc, started, version)
            self.ledger.promotions.append(Promotion(version, exc.code(), started, time.monotonic()))
            return None
        ended = time.monotonic()
        self.ledger.record(Call("PromoteModel", OK, started, ended, subject=version))
        self.ledger.promotions.append(Promotion(version, OK, started, ended))
        return reply

    async def status(self, *, deadline: float = PREDICT_DEADLINE) -> apb.GatewayStatus | None:
        """GetStatus (not put in the ledger: it is a probe, not load)."""
        try:
            return await self.admin.GetStatus(apb.GetStatusRequest(), timeout=deadline)
        except grpc.aio.AioRpcError:
            return None

    async def drained(self, timeout: float) -> apb.GatewayStatus | None:
        """Poll GetStatus until prediction_log_queued is 0; that status, or the last one
        seen when ``timeout`` seconds have passed (None if GetStatus never answered)."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = await self.status() or status
            if status is not None and status.prediction_log_queued == 0:
                break
            await asyncio.sleep(0.1)
        return status

    def _failed(self, method: str, exc: grpc.aio.AioRpcError, started: float, subject: str = ""):
        details = (exc.details() or "")[:300]
        self.ledger.record(
            Call(method, exc.code(), started, time.monotonic(), details=details, subject=subject)
        )


class Load:
    """N Predict+RecordOutcome callers and one promoter, until ``stop()``.

    Args:
        clients: the stubs and the ledger.
        rows: feature rows to cycle through.
        versions: the two versions the promoter flips between (first: production at start);
            empty: no promoter.
        callers: concurrent Predict callers.
        outcome_every: record an outcome for every k-th answered prediction (0: never).
        promote_pause: seconds between two promotions.
        predict_pause: seconds each caller sleeps between two Predicts (0: as fast as it can).
    """

    def __init__(
        self,
        clients: Clients,
        rows: np.ndarray,
        *,
        versions: Sequence[str] = ("1.0.0", "1.0.1"),
        callers: int = 4,
        outcome_every: int = 3,
        promote_pause: float = 0.1,
        predict_pause: float = 0.0,
    ) -> None:
        self.clients = clients
        self.ledger = clients.ledger
        self._rows = rows
        self._versions = tuple(versions)
        self._callers = callers
        self._outcome_every = outcome_every
        self._promote_pause = promote_pause
        self._predict_pause = predict_pause
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.production = self._versions[0] if self._versions else ""

    async def __aenter__(self) -> Load:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start(self) -> None:
        if not self.ledger.initial_production:
            self.ledger.initial_production = self.production
        self._tasks = [
            asyncio.create_task(self._predict_loop(i), name=f"caller-{i}")
            for i in range(self._callers)
        ]
        if len(self._versions) == 2:
            self._tasks.append(asyncio.create_task(self._promote_loop(), name="promoter"))

    async def stop(self) -> None:
        """Stop issuing calls and wait for the calls in flight (each has a deadline)."""
        self._stop.set()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _predict_loop(self, caller: int) -> None:
        rows = self._rows
        i = caller
        while not self._stop.is_set():
            i += self._callers
            reply = await self.clients.predict(rows[i % len(rows)])
            if reply is None:
                await self._pause(_BACKOFF)
                continue
            if self._stop.is_set():
                break
            if self._outcome_every and (i // self._callers) % self._outcome_every == 0:
                value = float(i % 3)  # a class label of the 3-class models
                if await self.clients.record_outcome(reply.prediction_id, value) is None:
                    await self._pause(_BACKOFF)
            if self._predict_pause:
                await self._pause(self._predict_pause)

    async def _promote_loop(self) -> None:
        while not self._stop.is_set():
            target = (
                self._versions[1] if self.production == self._versions[0] else self._versions[0]
            )
            reply = await self.clients.promote(target)
            if reply is not None:
                self.production = target
            elif self.ledger.promotions[-1].code is grpc.StatusCode.FAILED_PRECONDITION:
                self.production = target  # already there (e.g. after a restart we misjudged)
            await self._pause(self._promote_pause)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
