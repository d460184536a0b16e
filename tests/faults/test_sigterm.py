"""SIGTERM with work queued: accepted calls are answered, health turns NOT_SERVING before
the listener closes, the prediction log is drained, and the process exits 0."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from tests.faults.conftest import MODEL, Database
from tests.faults.health import HealthWatch, ListenerProbe
from tests.faults.invariants import (
    Findings,
    check_fresh_answers,
    check_outcomes,
    check_promotions,
    check_registry,
    check_statuses,
    read_registry,
)
from tests.faults.load import OK, Answer, Clients, Ledger, Load, predict_request
from tests.faults.process import gateway

# The log writer would wait 30 s for a batch of 100 000: everything stays queued until
# the shutdown drains it.
ENV = {
    "GALGATE_PREDLOG_FLUSH_INTERVAL": "30",
    "GALGATE_PREDLOG_BATCH_SIZE": "100000",
    "GALGATE_GRACE_SECONDS": "5",
}
STREAM_AFTER = 0.5  # seconds the stream opened before SIGTERM goes on after it


@pytest.mark.faults
@pytest.mark.timeout(90)
async def test_sigterm_answers_accepted_calls_drains_log_and_exits_0(seeded: Database, trained):
    findings = Findings(f"SIGTERM with work queued on {seeded.kind}")
    ledger = Ledger(model=MODEL)
    stream_problems: list[str] = []
    async with gateway(seeded.url, env=ENV) as gw, grpc.aio.insecure_channel(gw.address) as channel:
        clients = Clients(channel, ledger)
        first = await clients.predict(trained.X[0])
        assert first is not None, f"the gateway does not answer: {ledger.calls}"
        ledger.initial_production = first.version
        async with HealthWatch(gw.address) as watch, ListenerProbe(gw.port) as probe:
            assert await watch.wait_for("SERVING", 10) is not None, f"health: {watch.seen}"
            # A stream opened (and answered) before SIGTERM is an accepted call in flight.
            stream = clients.predictor.PredictStream(timeout=30)

            async def ask(i: int) -> None:
                asked = time.monotonic()
                await stream.write(predict_request(trained.X[i % len(trained.X)], MODEL))
                reply = await stream.read()
                if reply is grpc.aio.EOF or reply.error.code:
                    stream_problems.append(f"message {i}: {reply}")
                    return
                ledger.answers[reply.prediction_id] = Answer(
                    reply.prediction_id, reply.version, asked, time.monotonic()
                )

            await ask(0)
            load = Load(clients, trained.X, callers=3, promote_pause=0.2)
            load.start()
            await asyncio.sleep(1.0)
            status = await clients.status()
            terminated_at = gw.terminate()
            # Well-behaved clients send nothing new once the gateway is told to stop; what
            # they sent before must be answered. The open stream goes on for a while.
            stopping = asyncio.create_task(load.stop())
            i = 1
            try:
                while time.monotonic() - terminated_at < STREAM_AFTER:
                    await ask(i)
                    i += 1
                    await asyncio.sleep(0.05)
                await stream.done_writing()
            except (grpc.aio.AioRpcError, grpc.aio.UsageError) as exc:
                stream_problems.append(f"after {i} messages: {exc!r}")
            stream_code = await stream.code()
            await stopping
            not_serving_at = await watch.wait_for("NOT_SERVING", 10)
        # The Watch stream is closed now: nothing of ours keeps the server from stopping.
        exit_code = await gw.wait(30)

        findings.expect(
            status is not None and status.prediction_log_queued > 0,
            f"no predictions were queued when SIGTERM came: {status}",
        )
        findings.expect(exit_code == 0, f"the gateway exited with status {exit_code}, not 0")
        findings.expect(
            stream_code == OK and not stream_problems,
            f"the PredictStream opened before SIGTERM ended {stream_code} after answering "
            f"{i} messages: {stream_problems}",
        )
        findings.check(check_statuses, ledger)
        findings.check(check_fresh_answers, ledger)
        failed = [
            (c.method, c.code.name, c.details, f"{c.started - terminated_at:+.3f} s")
            for c in ledger.calls
            if c.code != OK
        ]
        findings.expect(
            not failed,
            f"calls sent before SIGTERM were not answered (method, code, details, sent "
            f"relative to SIGTERM): {failed}",
        )
        findings.expect(
            not_serving_at is not None,
            f"health never reported NOT_SERVING; Watch saw {watch.seen}, ended {watch.ended}",
        )
        findings.expect(
            not_serving_at is None
            or probe.refused_at is None
            or not_serving_at <= probe.refused_at,
            f"the listener refused connections {probe.refused_at - terminated_at:.3f} s after "
            f"SIGTERM, before health reported NOT_SERVING "
            f"({(not_serving_at or 0) - terminated_at:.3f} s after SIGTERM)"
            if probe.refused_at and not_serving_at
            else "",
        )

        # The log was drained: every answered prediction is stored, so is every outcome.
        state = await read_registry(seeded.url)
        findings.check(check_registry, state)
        findings.check(check_outcomes, state, ledger)
        findings.check(check_promotions, state, ledger)
        missing = [pid for pid in ledger.answers if pid not in state.predictions]
        findings.expect(
            not missing,
            f"graceful shutdown lost {len(missing)} of {len(ledger.answers)} answered "
            f"predictions (e.g. {missing[:3]})",
        )
        findings.raise_if_any(f"calls: {ledger.summary()}\ngateway output:\n{gw.output()}")
