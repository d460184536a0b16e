"""The soak's traffic besides ``tests.faults.load.Load``: bearer tokens on the load's
channel, experiments created / read / stopped, and forged and malformed calls.

Every call here goes into the soak's one :class:`~tests.faults.load.Ledger` as a
:class:`~tests.faults.load.Call` whose method is labelled ``Method[case]`` (e.g.
``RecordOutcome[wrong-token]``), so the report counts it by label and status code. Each
hostile case says which codes answer it properly; an OK to a call that must be refused
is a finding (see ``benchmarks.soak_report``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from tests.faults.load import Call, Ledger, predict_request

Code = grpc.StatusCode
ADMIN_PREFIX = "/galgate.v1.ModelAdmin/"
OUTCOME_METHODS = ("/galgate.v1.PredictionService/RecordOutcome",)  # and RecordOutcomes
# Client channel options: reconnect fast to a restarted gateway on the same port.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)
DEADLINE = 5.0
WRITE_DEADLINE = 20.0
# Codes any call may end with while a fault is injected (gateway down, database locked).
OUTAGE = frozenset({Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.RESOURCE_EXHAUSTED})


@dataclass(frozen=True, slots=True)
class Tokens:
    """The gateway's three bearer tokens (GALGATE_ADMIN_TOKEN and friends)."""

    admin: str
    predict: str
    outcome: str

    @classmethod
    def random(cls) -> Tokens:
        return cls(*(f"soak-{kind}-{os.urandom(8).hex()}" for kind in ("admin", "predict", "out")))

    def env(self) -> dict[str, str]:
        return {
            "GALGATE_ADMIN_TOKEN": self.admin,
            "GALGATE_PREDICT_TOKEN": self.predict,
            "GALGATE_OUTCOME_TOKEN": self.outcome,
        }

    def for_method(self, method: str) -> str:
        """The token a well-behaved client sends on ``method`` (a full method path)."""
        if method.startswith(ADMIN_PREFIX):
            return self.admin
        if method.startswith(OUTCOME_METHODS):
            return self.outcome
        return self.predict


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


class BearerInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every unary call, the token chosen by
    method, so the fault suite's ``Clients`` (which sends no metadata) works against a
    gateway with tokens set."""

    def __init__(self, token_for: Callable[[str], str]) -> None:
        self._token_for = token_for

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        method = client_call_details.method
        name = method.decode() if isinstance(method, bytes) else method
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        metadata.add("authorization", f"Bearer {self._token_for(name)}")
        details = client_call_details._replace(metadata=metadata)
        return await continuation(details, request)


def authorized_channel(address: str, tokens: Tokens) -> grpc.aio.Channel:
    """A channel whose unary calls carry the right token for their method."""
    return grpc.aio.insecure_channel(
        address, options=CHANNEL_OPTIONS, interceptors=[BearerInterceptor(tokens.for_method)]
    )


def raw_channel(address: str) -> grpc.aio.Channel:
    """A channel that sends only the metadata each call is given."""
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class Caller:
    """Labelled calls into the ledger, with the codes that would answer each properly."""

    def __init__(self, channel: grpc.aio.Channel, ledger: Ledger) -> None:
        self.predictor = prediction_pb2_grpc.PredictionServiceStub(channel)
        self.admin = admin_pb2_grpc.ModelAdminStub(channel)
        self.ledger = ledger
        # label -> codes that answer the case properly (besides the OUTAGE codes)
        self.proper: dict[str, frozenset[Code]] = {}

    async def call(
        self,
        label: str,
        method,
        request,
        *,
        proper: Sequence[Code],
        metadata: Sequence[tuple[str, str]] | None = None,
        deadline: float = DEADLINE,
        subject: str = "",
    ):
        """Call ``method``; the reply, or None when it failed (recorded either way)."""
        self.proper.setdefault(label, frozenset(proper))
        started = time.monotonic()
        try:
            reply = await method(request, timeout=deadline, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            details = (exc.details() or "")[:300]
            self.ledger.record(
                Call(label, exc.code(), started, time.monotonic(), details=details, subject=subject)
            )
            return None
        self.ledger.record(Call(label, Code.OK, started, time.monotonic(), subject=subject))
        return reply


@dataclass
class ExperimentCounts:
    created: int = 0
    stopped: int = 0
    paused: int = 0
    resumed: int = 0
    results_read: int = 0
    completed_elsewhere: int = 0  # ended by the gateway's monitor before we stopped it
    ids: list[int] = field(default_factory=list)


STRATEGIES = ("random", "weighted", "epsilon_greedy", "thompson_sampling")
METRICS = ("accuracy", "squared_error", "absolute_error", "reward")


class ExperimentCycler:
    """Creates an experiment between the two versions, reads its results a few times
    (pausing and resuming it once), stops it, waits, and again, until stopped."""

    def __init__(
        self,
        caller: Caller,
        model: str,
        versions: tuple[str, str],
        *,
        run_seconds: float,
        pause_seconds: float,
        rng: random.Random,
    ) -> None:
        self.caller = caller
        self.model = model
        self.versions = versions
        self.run_seconds = run_seconds
        self.pause_seconds = pause_seconds
        self.rng = rng
        self.counts = ExperimentCounts()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; True when the cycler was stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    async def run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            control, treatment = self.versions if n % 2 else self.versions[::-1]
            request = apb.CreateExperimentRequest(
                model=self.model,
                control_version=control,
                treatment_version=treatment,
                strategy=STRATEGIES[n % len(STRATEGIES)],
                metric=METRICS[n % len(METRICS)],
                split=0.3,
                min_samples=20,
                name=f"soak-{n}",
                description="soak benchmark",
            )
            info = await self.caller.call(
                "CreateExperiment",
                self.caller.admin.CreateExperiment,
                request,
                proper=(Code.OK,),
                deadline=WRITE_DEADLINE,
            )
            if info is None:
                await self._stop_active()
                if await self._sleep(2.0):
                    return
                continue
            self.counts.created += 1
            self.counts.ids.append(info.id)
            await self._exercise(info.id)
            await self._stop_experiment(info.id)
            if await self._sleep(self.pause_seconds):
                return

    async def _exercise(self, experiment_id: int) -> None:
        end = time.monotonic() + self.run_seconds
        paused = False
        step = max(0.5, self.run_seconds / 6)
        while time.monotonic() < end and not self._stop.is_set():
            if await self._sleep(step):
                return
            results = await self.caller.call(
                "GetExperimentResults",
                self.caller.admin.GetExperimentResults,
                apb.GetExperimentResultsRequest(id=experiment_id),
                # FAILED_PRECONDITION: statistics not computable yet (too few outcomes)
                proper=(Code.OK, Code.FAILED_PRECONDITION),
            )
            if results is not None:
                self.counts.results_read += 1
            await self.caller.call(
                "ListExperiments",
                self.caller.admin.ListExperiments,
                apb.ListExperimentsRequest(model=self.model, state="running"),
                proper=(Code.OK,),
            )
            if not paused and time.monotonic() > end - self.run_seconds / 2:
                paused = True
                moved = await self.caller.call(
                    "PauseExperiment",
                    self.caller.admin.PauseExperiment,
                    apb.ExperimentStateRequest(id=experiment_id, reason="soak"),
                    proper=(Code.OK, Code.FAILED_PRECONDITION),
                    deadline=WRITE_DEADLINE,
                )
                if moved is None:
                    continue
                self.counts.paused += 1
                if await self._sleep(0.5):
                    return
                moved = await self.caller.call(
                    "ResumeExperiment",
                    self.caller.admin.ResumeExperiment,
                    apb.ExperimentStateRequest(id=experiment_id, reason="soak"),
                    proper=(Code.OK, Code.FAILED_PRECONDITION),
                    deadline=WRITE_DEADLINE,
                )
                if moved is not None:
                    self.counts.resumed += 1

    async def _stop_experiment(self, experiment_id: int) -> None:
        for _ in range(5):
            reply = await self.caller.call(
                "StopExperiment",
                self.caller.admin.StopExperiment,
                apb.ExperimentStateRequest(id=experiment_id, reason="soak"),
                # FAILED_PRECONDITION: the monitor completed it first
                proper=(Code.OK, Code.FAILED_PRECONDITION),
                deadline=WRITE_DEADLINE,
            )
            if reply is not None:
                self.counts.stopped += 1
                return
            last = self.caller.ledger.calls[-1]
            if last.code is Code.FAILED_PRECONDITION:
                self.counts.completed_elsewhere += 1
                return
            await asyncio.sleep(1.0)  # the gateway is down or the database locked: retry

    async def _stop_active(self) -> None:
        """Stop whatever experiment of the model is still active (e.g. one whose stop was
        lost to a kill), so the next create can start."""
        for state in ("running", "paused"):
            listed = await self.caller.call(
                "ListExperiments",
                self.caller.admin.ListExperiments,
                apb.ListExperimentsRequest(model=self.model, state=state),
                proper=(Code.OK,),
            )
            for experiment in listed.experiments if listed is not None else ():
                await self._stop_experiment(experiment.id)

    async def stop_all(self) -> None:
        """At the end: leave no experiment active (so production serves every Predict)."""
        await self._stop_active()


def tampered(prediction_id: str) -> str:
    """A forged id: a real one with its counter moved on and the MAC kept.

    >>> tampered("ab12-7-00ff")
    'ab12-8-00ff'
    """
    prefix, _, rest = prediction_id.partition("-")
    counter, _, mac = rest.partition("-")
    return f"{prefix}-{int(counter) + 1}-{mac}" if counter.isdigit() else prediction_id + "0"


class Hostile:
    """Forged and malformed calls, one every ``pause`` seconds, cycling through cases.

    ``raw`` is a channel without tokens (the forged calls bring their own metadata);
    the malformed calls carry the right token so they reach the gateway's checks.
    """

    def __init__(
        self,
        raw: Caller,
        tokens: Tokens,
        ledger: Ledger,
        *,
        model: str,
        versions: tuple[str, str],
        width: int,
        features: Sequence[str],
        rows: np.ndarray,
        pause: float,
        rng: random.Random,
    ) -> None:
        self.c = raw
        self.t = tokens
        self.ledger = ledger
        self.model = model
        self.versions = versions
        self.width = width
        self.features = tuple(features)
        self.rows = rows
        self.pause = pause
        self.rng = rng
        self._stop = asyncio.Event()
        self.calls = 0
        # ids of real predictions that hostile outcomes were sent for (never recorded)
        self.hostile_outcome_ids: set[str] = set()
        # PredictStream answers that were not what a mixed stream must get
        self.stream_problems: list[str] = []
        # repeats of an acknowledged outcome answered OK but not flagged duplicate
        self.repeats_not_duplicate: list[str] = []
        self._cases = self._make_cases()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        i = 0
        while not self._stop.is_set():
            case = self._cases[i % len(self._cases)]
            i += 1
            await case()
            self.calls += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.pause)

    # -- helpers ------------------------------------------------------------------

    def _unrecorded_id(self) -> str | None:
        """A real prediction id answered over 2 s ago whose outcome the load never sent
        (so any stored outcome for it came from a hostile call)."""
        answers = self.ledger.answers
        if not answers:
            return None
        now = time.monotonic()
        recent = list(answers)[-3000:]
        self.rng.shuffle(recent)
        for pid in recent:
            a = answers[pid]
            if (
                now - a.answered > 2.0
                and pid not in self.ledger.sent_outcomes
                and pid not in self.hostile_outcome_ids
            ):
                self.hostile_outcome_ids.add(pid)
                return pid
        return None

    def _acknowledged_id(self) -> tuple[str, float] | None:
        if not self.ledger.acknowledged:
            return None
        pid = self.rng.choice(list(self.ledger.acknowledged)[-400:])
        return pid, self.ledger.acknowledged[pid]

    def _outcome(self, label, request, proper, metadata=None, subject=""):
        return self.c.call(
            label,
            self.c.predictor.RecordOutcome,
            request,
            proper=proper,
            metadata=metadata if metadata is not None else bearer(self.t.outcome),
            deadline=WRITE_DEADLINE,
            subject=subject,
        )

    def _predict(self, label, request, proper, metadata=None):
        return self.c.call(
            label,
            self.c.predictor.Predict,
            request,
            proper=proper,
            metadata=metadata if metadata is not None else bearer(self.t.predict),
        )

    def _admin(self, label, method, request, proper, metadata=None):
        return self.c.call(
            label,
            method,
            request,
            proper=proper,
            metadata=metadata if metadata is not None else bearer(self.t.admin),
            deadline=WRITE_DEADLINE,
        )

    def _row(self) -> np.ndarray:
        return self.rows[self.rng.randrange(len(self.rows))].astype(np.float32)

    def _named(self, **override: float) -> pb.PredictRequest:
        values = {name: float(v) for name, v in zip(self.features, self._row(), strict=True)}
        values.update(override)
        return pb.PredictRequest(model=self.model, features=pb.Features(values=values))

    # -- the cases ----------------------------------------------------------------

    def _make_cases(self) -> list[Callable[[], object]]:
        unauth = (Code.UNAUTHENTICATED,)
        invalid = (Code.INVALID_ARGUMENT,)
        missing = (Code.NOT_FOUND, Code.INVALID_ARGUMENT)
        admin = self.c.admin
        wrong = bearer("soak-wrong-" + os.urandom(4).hex())
        other = self.versions[1]

        async def forged_random_id():
            fake = f"{os.urandom(6).hex()}-{self.rng.randrange(1, 10**6)}-{os.urandom(10).hex()}"
            req = pb.RecordOutcomeRequest(prediction_id=fake, value=1.0)
            await self._outcome("RecordOutcome[forged-id]", req, missing, subject=fake)

        async def forged_tampered_id():
            if not self.ledger.answers:
                return
            pid = tampered(next(reversed(self.ledger.answers)))
            req = pb.RecordOutcomeRequest(prediction_id=pid, value=1.0)
            await self._outcome("RecordOutcome[tampered-id]", req, missing, subject=pid)

        async def outcome_wrong_token():
            pid = self._unrecorded_id()
            if pid is not None:
                req = pb.RecordOutcomeRequest(prediction_id=pid, value=2.0)
                await self._outcome("RecordOutcome[wrong-token]", req, unauth, wrong, pid)

        async def outcome_no_token():
            pid = self._unrecorded_id()
            if pid is not None:
                req = pb.RecordOutcomeRequest(prediction_id=pid, value=2.0)
                await self._outcome("RecordOutcome[no-token]", req, unauth, (), pid)

        async def outcome_predict_token():
            # The predict token does not open the outcome door when an outcome token is set.
            pid = self._unrecorded_id()
            if pid is not None:
                req = pb.RecordOutcomeRequest(prediction_id=pid, value=2.0)
                md = bearer(self.t.predict)
                await self._outcome("RecordOutcome[predict-token]", req, unauth, md, pid)

        async def outcome_conflict():
            got = self._acknowledged_id()
            if got is not None:
                pid, value = got
                req = pb.RecordOutcomeRequest(prediction_id=pid, value=value + 1.0)
                proper = (Code.FAILED_PRECONDITION,)
                await self._outcome("RecordOutcome[conflict]", req, proper, subject=pid)

        async def outcome_repeat():
            got = self._acknowledged_id()
            if got is not None:
                pid, value = got
                req = pb.RecordOutcomeRequest(prediction_id=pid, value=value)
                reply = await self._outcome("RecordOutcome[repeat]", req, (Code.OK,), subject=pid)
                if reply is not None and not reply.duplicate:
                    self.repeats_not_duplicate.append(pid)

        async def outcome_nan():
            pid = self._unrecorded_id()
            if pid is not None:
                req = pb.RecordOutcomeRequest(prediction_id=pid, value=math.nan)
                await self._outcome("RecordOutcome[nan]", req, invalid, subject=pid)

        async def outcome_huge():
            pid = self._unrecorded_id()
            if pid is not None:
                req = pb.RecordOutcomeRequest(prediction_id=pid, value=1e300)
                await self._outcome("RecordOutcome[1e300]", req, invalid, subject=pid)

        async def outcome_empty():
            await self._outcome("RecordOutcome[empty]", pb.RecordOutcomeRequest(), missing)

        async def predict_no_token():
            await self._predict("Predict[no-token]", predict_request(self._row()), unauth, ())

        async def predict_wrong_token():
            await self._predict("Predict[wrong-token]", predict_request(self._row()), unauth, wrong)

        async def promote_wrong_token():
            req = apb.PromoteModelRequest(
                name=self.model, version=other, stage="production", reason="forged"
            )
            await self._admin("PromoteModel[wrong-token]", admin.PromoteModel, req, unauth, wrong)

        async def promote_predict_token():
            req = apb.PromoteModelRequest(
                name=self.model, version=other, stage="production", reason="forged"
            )
            md = bearer(self.t.predict)
            await self._admin("PromoteModel[predict-token]", admin.PromoteModel, req, unauth, md)

        async def create_experiment_wrong_token():
            req = apb.CreateExperimentRequest(
                model=self.model,
                control_version=self.versions[0],
                treatment_version=self.versions[1],
                metric="accuracy",
            )
            label = "CreateExperiment[wrong-token]"
            await self._admin(label, admin.CreateExperiment, req, unauth, wrong)

        async def status_outcome_token():
            md = bearer(self.t.outcome)
            req = apb.GetStatusRequest()
            await self._admin("GetStatus[outcome-token]", admin.GetStatus, req, unauth, md)

        async def predict_nan():
            row = self._row()
            row[self.rng.randrange(self.width)] = np.nan
            await self._predict("Predict[nan]", predict_request(row), invalid)

        async def predict_inf_bytes():
            row = self._row()
            row[0] = np.inf
            await self._predict("Predict[inf]", predict_request(row), invalid)

        async def predict_huge_named():
            # 1e300 is a finite double but no float32: it must not reach the model as inf.
            req = self._named(**{self.features[0]: 1e300})
            await self._predict("Predict[1e300-named]", req, invalid)

        async def predict_huge_values():
            values = [1e300] + [0.5] * (self.width - 1)
            req = pb.PredictRequest(model=self.model, tensor=pb.FloatTensor(rows=1, values=values))
            await self._predict("Predict[1e300-values]", req, invalid)

        async def predict_wrong_width():
            row = np.zeros(self.width + 1, dtype=np.float32)
            await self._predict("Predict[wrong-width]", predict_request(row), invalid)

        async def predict_short_bytes():
            data = np.zeros(self.width, dtype="<f4").tobytes()[:-3]
            req = pb.PredictRequest(model=self.model, tensor=pb.FloatTensor(rows=1, data=data))
            await self._predict("Predict[ragged-bytes]", req, invalid)

        async def predict_missing_feature():
            req = self._named()
            del req.features.values[self.features[-1]]
            req.features.values["not_a_feature"] = 1.0
            await self._predict("Predict[wrong-names]", req, invalid)

        async def predict_long_name():
            req = predict_request(self._row(), model="m" * 100_000)
            await self._predict("Predict[100kB-model-name]", req, missing)

        async def predict_oversized():
            # over the 4 MiB receive limit
            req = predict_request(self._row(), model="m" * (5 * 1024 * 1024))
            await self._predict("Predict[5MiB-message]", req, (Code.RESOURCE_EXHAUSTED,))

        async def predict_empty():
            await self._predict("Predict[empty]", pb.PredictRequest(), missing)

        async def predict_zero_rows():
            req = pb.PredictRequest(model=self.model, tensor=pb.FloatTensor(rows=0))
            await self._predict("Predict[zero-rows]", req, invalid)

        async def predict_too_many_rows():
            req = pb.PredictRequest(model=self.model, tensor=pb.FloatTensor(rows=4_000_000_000))
            await self._predict("Predict[4e9-rows]", req, invalid)

        async def predict_unknown_version():
            req = predict_request(self._row())
            req.version = "9.9.9"
            await self._predict("Predict[unknown-version]", req, missing)

        async def predict_stream_mixed():
            # good, NaN, good on one stream: answered in order, the bad one with an error
            bad = self._row()
            bad[0] = np.nan
            requests = [predict_request(self._row()), predict_request(bad)]
            requests.append(predict_request(self._row()))
            for i, r in enumerate(requests):
                r.request_id = str(i)
            label = "PredictStream[good,nan,good]"
            self.c.proper.setdefault(label, frozenset({Code.OK}))
            started = time.monotonic()
            try:
                stream = self.c.predictor.PredictStream(
                    iter(requests), timeout=DEADLINE, metadata=bearer(self.t.predict)
                )
                replies = [reply async for reply in stream]
            except grpc.aio.AioRpcError as exc:
                details = (exc.details() or "")[:300]
                self.ledger.record(Call(label, exc.code(), started, time.monotonic(), details))
                return
            self.ledger.record(Call(label, Code.OK, started, time.monotonic()))
            got = [(r.request_id, r.error.code, bool(r.prediction_id)) for r in replies]
            want = [("0", "", True), ("1", "INVALID_ARGUMENT", False), ("2", "", True)]
            if got != want:
                self.stream_problems.append(f"got (request_id, error, has id) {got}")

        async def predict_long_routing_key():
            req = predict_request(self._row())
            req.routing_key = "k" * 300
            await self._predict("Predict[300-char-routing-key]", req, invalid)

        async def predict_nul_routing_key():
            req = predict_request(self._row())
            req.routing_key = "acct\x00-17"
            await self._predict("Predict[NUL-routing-key]", req, invalid)

        async def predict_huge_request_id():
            # echoed back: answered, or refused before the model runs if the answer
            # could not be sent
            req = predict_request(self._row())
            req.request_id = "r" * (3 * 1024 * 1024)
            proper = (Code.OK, Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED)
            await self._predict("Predict[3MiB-request-id]", req, proper)

        def _batch(label, items, proper, metadata=None):
            request = pb.RecordOutcomesRequest(
                outcomes=[pb.RecordOutcomeRequest(prediction_id=p, value=v) for p, v in items]
            )
            return self.c.call(
                label,
                self.c.predictor.RecordOutcomes,
                request,
                proper=proper,
                metadata=metadata if metadata is not None else bearer(self.t.outcome),
                deadline=WRITE_DEADLINE,
                subject=",".join(p for p, _ in items)[:200],
            )

        async def outcomes_real_and_forged():
            # all or nothing: the real prediction's outcome must not be stored either
            pid = self._unrecorded_id()
            if pid is not None:
                forged = tampered(pid)
                label = "RecordOutcomes[real+forged]"
                await _batch(label, [(pid, 1.0), (forged, 1.0)], missing)

        async def outcomes_same_id_twice():
            pid = self._unrecorded_id()
            if pid is not None:
                label = "RecordOutcomes[same-id-2-values]"
                await _batch(label, [(pid, 1.0), (pid, 2.0)], invalid)

        async def outcomes_wrong_token():
            pid = self._unrecorded_id()
            if pid is not None:
                await _batch("RecordOutcomes[wrong-token]", [(pid, 1.0)], unauth, wrong)

        async def create_experiment_bad():
            req = apb.CreateExperimentRequest(
                model=self.model,
                control_version=self.versions[0],
                treatment_version=self.versions[1],
                metric="accuracy",
                split=math.nan,
                strategy="no-such-strategy",
            )
            label = "CreateExperiment[nan-split]"
            await self._admin(label, admin.CreateExperiment, req, (*invalid, *missing))

        async def create_experiment_same():
            req = apb.CreateExperimentRequest(
                model=self.model,
                control_version=self.versions[0],
                treatment_version=self.versions[0],
                metric="accuracy",
            )
            proper = (Code.FAILED_PRECONDITION, Code.INVALID_ARGUMENT)
            await self._admin("CreateExperiment[same-arms]", admin.CreateExperiment, req, proper)

        async def results_unknown():
            req = apb.GetExperimentResultsRequest(id=2**63)
            await self._admin(
                "GetExperimentResults[unknown]", admin.GetExperimentResults, req, missing
            )

        async def stop_unknown():
            req = apb.ExperimentStateRequest(id=2**64 - 1)
            await self._admin("StopExperiment[unknown]", admin.StopExperiment, req, missing)

        async def promote_unknown():
            req = apb.PromoteModelRequest(name=self.model, version="9.9.9", stage="production")
            await self._admin("PromoteModel[unknown-version]", admin.PromoteModel, req, missing)

        async def promote_bad_stage():
            req = apb.PromoteModelRequest(name=self.model, version=other, stage="heaven")
            await self._admin("PromoteModel[bad-stage]", admin.PromoteModel, req, invalid)

        async def get_model_long_name():
            req = apb.GetModelRequest(name="m" * 100_000)
            await self._admin("GetModel[100kB-name]", admin.GetModel, req, missing)

        cases = [
            forged_random_id,
            predict_nan,
            outcome_wrong_token,
            predict_huge_named,
            forged_tampered_id,
            predict_wrong_width,
            outcome_no_token,
            predict_empty,
            outcome_predict_token,
            predict_huge_values,
            outcome_conflict,
            predict_no_token,
            outcome_repeat,
            predict_wrong_token,
            outcome_nan,
            predict_inf_bytes,
            outcome_huge,
            promote_wrong_token,
            outcome_empty,
            predict_short_bytes,
            promote_predict_token,
            predict_missing_feature,
            create_experiment_wrong_token,
            predict_long_name,
            status_outcome_token,
            predict_zero_rows,
            create_experiment_bad,
            predict_too_many_rows,
            create_experiment_same,
            predict_unknown_version,
            predict_stream_mixed,
            predict_long_routing_key,
            outcomes_real_and_forged,
            predict_nul_routing_key,
            outcomes_same_id_twice,
            outcomes_wrong_token,
            predict_huge_request_id,
            results_unknown,
            stop_unknown,
            promote_unknown,
            promote_bad_stage,
            get_model_long_name,
        ]
        # the 5 MiB message once per round, at most
        cases.append(predict_oversized)
        return cases
