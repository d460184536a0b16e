"""PostgreSQL down and back: the gateway serves from memory, fails writes UNAVAILABLE,
queues its log within the bound, and catches up when the database returns."""

from __future__ import annotations

import asyncio
import math
import time

import grpc
import pytest

from registry.entities import Stage
from registry.store.registry import Registry
from tests.faults.conftest import MODEL, V1, V2, seed
from tests.faults.health import check
from tests.faults.invariants import (
    Findings,
    check_fresh_answers,
    check_ok,
    check_outcomes,
    check_promotions,
    check_registry,
    check_statuses,
    read_registry,
)
from tests.faults.load import Clients, Ledger, Load
from tests.faults.pgcluster import PgCluster
from tests.faults.process import BASE_ENV, gateway
from tests.gateway.procs import free_port

QUEUE_SIZE = 300  # small, so the outage fills it
OUTAGE = 3.0
# Calls that began this soon after the stop may still have reached the database.
SETTLE = 0.5
LOSS_WINDOW = float(BASE_ENV["GALGATE_PREDLOG_FLUSH_INTERVAL"]) + 1.0
MEMORY_GROWTH = 100 * 1024 * 1024
RECOVERY = 20.0  # seconds to drain the log and serve again once the database is back


async def _served_version(clients: Clients, row, want: str, timeout: float) -> str:
    """Predict until the answer comes from ``want`` (or ``timeout``); the last version seen."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        reply = await clients.predict(row)
        seen = reply.version if reply else seen
        if seen == want:
            break
        await asyncio.sleep(0.1)
    return seen


@pytest.mark.faults
@pytest.mark.timeout(120)
async def test_postgres_down_predict_serves_writes_unavailable_then_all_recovers(
    pg: PgCluster, trained
):
    url = await pg.create_database()
    await seed(url, trained)
    findings = Findings("PostgreSQL down and back")
    ledger = Ledger(model=MODEL)
    probes = Ledger(model=MODEL)
    samples: list[tuple[int | None, int | None, int]] = []  # queued, dropped, rss
    env = {"GALGATE_PREDLOG_QUEUE_SIZE": str(QUEUE_SIZE)}
    async with (
        gateway(url, env=env) as gw,
        grpc.aio.insecure_channel(gw.address) as channel,
        grpc.aio.insecure_channel(gw.address) as probe_channel,
    ):
        clients = Clients(channel, ledger)
        probe = Clients(probe_channel, probes)
        async with Load(clients, trained.X, callers=3, promote_pause=0.2):
            await asyncio.sleep(1.0)
            rss_before = gw.rss_bytes()
            await asyncio.to_thread(pg.stop)  # the load goes on meanwhile
            down_at = time.monotonic()
            while time.monotonic() < down_at + OUTAGE:
                status = await probe.status()
                samples.append(
                    (
                        status.prediction_log_queued if status else None,
                        status.prediction_log_dropped if status else None,
                        gw.rss_bytes(),
                    )
                )
                await asyncio.sleep(0.2)
            # Calls that ended before the restart began saw PostgreSQL down; later ones
            # may already reach the restarted server while pg.start is still waiting.
            restart_at = time.monotonic()
            await asyncio.to_thread(pg.start)
            await asyncio.sleep(0.5)  # load goes on across the recovery
        drained = await probe.drained(RECOVERY)
        dropped = drained.prediction_log_dropped if drained else math.inf

        # Every call: expected codes; Predict always OK; writes during the outage
        # UNAVAILABLE (never INTERNAL, never OK without a row: see the outcomes below).
        findings.check(check_statuses, ledger)
        findings.check(check_fresh_answers, ledger)
        findings.check(check_ok, ledger, "Predict", started_after=-math.inf, ended_before=math.inf)
        for method in ("RecordOutcome", "PromoteModel"):
            during = [
                c
                for c in ledger.calls
                if c.method == method and c.started >= down_at + SETTLE and c.ended <= restart_at
            ]
            codes = sorted({c.code.name for c in during})
            findings.expect(during, f"no {method} call was made while PostgreSQL was down")
            findings.expect(
                codes == ["UNAVAILABLE"],
                f"{method} while PostgreSQL was down must fail UNAVAILABLE; got {codes} "
                f"({len(during)} calls, e.g. {[c.details for c in during[:2]]})",
            )

        # The log queued within its bound, the gateway's memory stayed bounded.
        queued = [q for q, _, _ in samples if q is not None]
        findings.expect(
            len(queued) == len(samples),
            f"GetStatus failed {len(samples) - len(queued)} of {len(samples)} times during the "
            "outage (it reads no database)",
        )
        findings.expect(queued and max(queued) > 0, f"prediction_log_queued never grew: {queued}")
        findings.expect(
            not queued or max(queued) <= QUEUE_SIZE,
            f"prediction_log_queued {max(queued or [0])} exceeded the bound {QUEUE_SIZE}",
        )
        growth = max(rss for _, _, rss in samples) - rss_before
        findings.expect(
            growth < MEMORY_GROWTH,
            f"the gateway's memory grew {growth / 2**20:.0f} MiB during a {OUTAGE} s outage",
        )
        findings.expect(
            drained is not None and drained.prediction_log_queued == 0,
            f"the log was not drained {RECOVERY} s after PostgreSQL came back: {drained}",
        )

        # After recovery: every queued prediction is written, every acknowledged outcome
        # (including any acknowledged during the outage) is stored, the registry is whole.
        state = await read_registry(url)
        findings.check(check_registry, state)
        findings.check(check_outcomes, state, ledger)
        findings.check(check_promotions, state, ledger)
        missing = [pid for pid in ledger.answers if pid not in state.predictions]
        findings.expect(
            len(missing) == dropped,
            f"{len(missing)} of {len(ledger.answers)} answered predictions are not stored, "
            f"but the gateway reports {dropped} dropped (queue bound {QUEUE_SIZE})",
        )
        before = [
            a.prediction_id for a in ledger.answers.values() if a.answered < down_at - LOSS_WINDOW
        ]
        lost_before = [pid for pid in before if pid not in state.predictions]
        findings.expect(
            not lost_before,
            f"{len(lost_before)} predictions answered before the outage are not stored",
        )

        # Writes work again without a restart; promotions are served, also those made
        # elsewhere (the reconciler catches up).
        after = Ledger(model=MODEL, initial_production=state.production.get(MODEL, ""))
        again = Clients(channel, after)
        reply = await again.predict(trained.X[0])
        findings.expect(reply is not None, f"Predict after recovery failed: {after.calls}")
        if reply is not None:
            findings.expect(
                await again.record_outcome(reply.prediction_id, 1.0) is not None,
                f"RecordOutcome after recovery failed: {after.calls[-1]}",
            )
        target = V2 if state.production.get(MODEL) == V1 else V1
        promoted = await again.promote(target)
        findings.expect(promoted is not None, f"PromoteModel after recovery failed: {after.calls}")
        if promoted is not None:
            served = await _served_version(again, trained.X[1], target, 1.0)
            findings.expect(served == target, f"promoted {target}, Predict serves {served}")
        elsewhere = V2 if target == V1 else V1
        registry = await Registry.open(url)
        try:
            await registry.transition(MODEL, elsewhere, Stage.PRODUCTION, actor="test")
        finally:
            await registry.close()
        served = await _served_version(again, trained.X[2], elsewhere, 10.0)
        findings.expect(
            served == elsewhere,
            f"a promotion to {elsewhere} made in the registry after recovery is not served "
            f"10 s later (serves {served})",
        )
        findings.raise_if_any(f"calls: {ledger.summary()}\ngateway output:\n{gw.output()}")


@pytest.mark.faults
@pytest.mark.timeout(90)
async def test_gateway_started_while_postgres_down_is_not_serving_then_serves(
    pg: PgCluster, trained
):
    url = await pg.create_database()
    await seed(url, trained)
    pg.stop()
    port = free_port()
    address = f"127.0.0.1:{port}"
    findings = Findings("gateway started while PostgreSQL is down")
    observed: list[tuple[str, str, str]] = []  # (health, Predict, PromoteModel) while down
    ledger = Ledger(model=MODEL)
    async with gateway(url, listen=address, wait_serving=False) as gw:
        started = time.monotonic()
        not_serving_since = None
        # Watch until it has answered NOT_SERVING for a second (or 10 s have passed). A
        # fresh channel each time: a channel's reconnect backoff would hide the moment
        # the gateway starts listening.
        while time.monotonic() - started < 10.0 and gw.returncode is None:
            async with grpc.aio.insecure_channel(address) as channel:
                health = await check(channel)
                clients = Clients(channel, ledger)
                await clients.predict(trained.X[0], deadline=1.0)
                await clients.promote(V2, deadline=2.0)
                predicted, promoted = ledger.calls[-2:]
                observed.append((health, predicted.code.name, promoted.code.name))
            if health == "NOT_SERVING":
                not_serving_since = not_serving_since or time.monotonic()
                if time.monotonic() - not_serving_since > 1.0:
                    break
            await asyncio.sleep(0.2)
        assert gw.returncode is None, (
            f"the gateway exited (status {gw.returncode}) while PostgreSQL was down; it must "
            f"keep retrying. (health, Predict, PromoteModel) seen: {observed}\n"
            f"output:\n{gw.output()}"
        )
        findings.expect(
            "NOT_SERVING" in {h for h, _, _ in observed},
            f"health never answered NOT_SERVING while the database was down: {observed}",
        )
        findings.expect(
            all(h != "SERVING" and p == a == "UNAVAILABLE" for h, p, a in observed),
            f"while the database was down health must not be SERVING and calls must be "
            f"UNAVAILABLE: (health, Predict, PromoteModel) seen {observed}",
        )

        pg.start()
        up_at = time.monotonic()
        health = ""
        while time.monotonic() - up_at < RECOVERY and gw.returncode is None:
            async with grpc.aio.insecure_channel(address) as channel:
                health = await check(channel)
            if health == "SERVING":
                break
            await asyncio.sleep(0.2)
        findings.expect(
            health == "SERVING",
            f"health is {health!r} {RECOVERY} s after PostgreSQL came back (exit status "
            f"{gw.returncode})",
        )
        if health == "SERVING":
            async with grpc.aio.insecure_channel(address) as channel:
                clients = Clients(channel, ledger)
                reply = await clients.predict(trained.X[0])
                # Nothing of the refused promotions happened: 1.0.0 is still production.
                findings.expect(
                    reply is not None and reply.version == V1,
                    f"Predict once serving: {reply.version if reply else ledger.calls[-1]}",
                )
                if reply is not None:
                    findings.expect(
                        await clients.record_outcome(reply.prediction_id, 2.0) is not None,
                        f"RecordOutcome once serving failed: {ledger.calls[-1]}",
                    )
        findings.check(check_statuses, ledger)
        findings.raise_if_any(f"gateway output:\n{gw.output()}")
