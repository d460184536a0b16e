"""SQLite locked past the busy timeout, and a full disk: writes fail with a defined status,
Predict serves on, and the gateway recovers without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from tests.faults.conftest import MODEL, V1, V2, seed, sqlite_database
from tests.faults.disk import small_disk
from tests.faults.invariants import (
    Findings,
    check_fresh_answers,
    check_ok,
    check_outcomes,
    check_registry,
    check_statuses,
    read_registry,
)
from tests.faults.load import Call, Clients, Ledger, Load
from tests.faults.process import gateway

# registry.db.SQLITE_BUSY_TIMEOUT_MS is 5 s: hold the lock well past it.
LOCK_SECONDS = 6.5
# Codes a write may end with while the database cannot take it.
WRITE_FAILED = {"UNAVAILABLE", "RESOURCE_EXHAUSTED"}
RECOVERY = 15.0

_HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@contextlib.asynccontextmanager
async def exclusive_lock(path: Path) -> AsyncIterator[float]:
    """Another process holds ``BEGIN EXCLUSIVE`` on the file until the block ends; yields
    when it got the lock (monotonic)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLD_LOCK,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.strip() == b"locked", f"the lock holder did not get the lock: {line!r}"
        yield time.monotonic()
    finally:
        proc.stdin.write(b"release\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), 30)


def _writes(ledger: Ledger, started_after: float, ended_before: float = math.inf) -> list[Call]:
    return [
        c
        for c in ledger.calls
        if c.method in ("PromoteModel", "RecordOutcome")
        and started_after <= c.started
        and c.ended <= ended_before
    ]


async def _recovers(findings: Findings, clients: Clients, trained, production: str) -> None:
    """Without a restart: a promotion is served, an outcome is acknowledged, the log drains."""
    target = V2 if production == V1 else V1
    findings.expect(
        await clients.promote(target) is not None,
        f"PromoteModel after the fault ended failed: {clients.ledger.calls[-1]}",
    )
    reply = await clients.predict(trained.X[3])
    findings.expect(
        reply is not None and reply.version == target,
        f"after promoting {target} Predict serves "
        f"{reply.version if reply else clients.ledger.calls[-1]}",
    )
    if reply is not None:
        findings.expect(
            await clients.record_outcome(reply.prediction_id, 2.0) is not None,
            f"RecordOutcome after the fault ended failed: {clients.ledger.calls[-1]}",
        )
    drained = await clients.drained(RECOVERY)
    findings.expect(
        drained is not None and drained.prediction_log_queued == 0,
        f"the prediction log was not written out {RECOVERY} s after the fault ended: {drained}",
    )


async def _nothing_lost(findings: Findings, url: str, ledger: Ledger) -> None:
    state = await read_registry(url)
    findings.check(check_registry, state)
    findings.check(check_outcomes, state, ledger)
    missing = [pid for pid in ledger.answers if pid not in state.predictions]
    findings.expect(
        not missing,
        f"{len(missing)} of {len(ledger.answers)} answered predictions were never written "
        f"(e.g. {missing[:3]})",
    )


@pytest.mark.faults
@pytest.mark.timeout(90)
async def test_sqlite_locked_past_busy_timeout_writes_fail_defined_then_recover(tmp_path, trained):
    db = sqlite_database(tmp_path)
    await seed(db.url, trained)
    findings = Findings("SQLite locked past the busy timeout")
    ledger = Ledger(model=MODEL, initial_production=V1)
    # A slow flush keeps the log writer away from the lock at first, so that a promotion
    # and an outcome are the first writers to wait out the busy timeout.
    env = {"GALGATE_PREDLOG_FLUSH_INTERVAL": "1.5"}
    async with gateway(db.url, env=env) as gw, grpc.aio.insecure_channel(gw.address) as channel:
        clients = Clients(channel, ledger)
        async with exclusive_lock(db.path) as locked_at:
            reply = await clients.predict(trained.X[0])
            assert reply is not None, f"Predict failed: {ledger.calls}"
            writes = [
                asyncio.create_task(clients.promote(V2)),
                asyncio.create_task(clients.record_outcome(reply.prediction_id, 1.0)),
            ]
            load = Load(
                clients, trained.X, versions=(), callers=2, outcome_every=0, predict_pause=0.02
            )
            async with load:
                await asyncio.sleep(LOCK_SECONDS - 0.5 - (time.monotonic() - locked_at))
                status = await clients.status()
                await asyncio.sleep(LOCK_SECONDS - (time.monotonic() - locked_at))
        released_at = time.monotonic()
        await asyncio.gather(*writes)

        findings.check(check_statuses, ledger)
        findings.check(check_fresh_answers, ledger)
        findings.check(check_ok, ledger, "Predict", started_after=0, ended_before=math.inf)
        during = _writes(ledger, locked_at)
        seen = [(c.method, c.code.name, round(c.ended - c.started, 1), c.details) for c in during]
        findings.expect(
            all(c.code.name in WRITE_FAILED | {"OK"} for c in during),
            f"writes while the file was locked must succeed once it is free or fail "
            f"{sorted(WRITE_FAILED)}; got (method, code, seconds, details) {seen}",
        )
        findings.expect(
            status is not None and status.prediction_log_queued > 0,
            f"predictions made while the file was locked should wait in the log queue: {status}",
        )
        production = V2 if ledger.count("PromoteModel") else V1
        await _recovers(findings, clients, trained, production)
        await _nothing_lost(findings, db.url, ledger)
        findings.raise_if_any(
            f"lock held {LOCK_SECONDS} s, released {released_at - locked_at:.1f} s after it was "
            f"taken; calls: {ledger.summary()}\ngateway output:\n{gw.output()}"
        )


@pytest.mark.faults
@pytest.mark.timeout(90)
async def test_disk_full_writes_fail_defined_predict_serves_then_recover(tmp_path, trained):
    with small_disk(tmp_path / "disk") as disk:
        db = sqlite_database(disk.path)
        await seed(db.url, trained)
        findings = Findings("disk full under SQLite")
        ledger = Ledger(model=MODEL, initial_production=V1)
        async with (
            gateway(db.url) as gw,
            grpc.aio.insecure_channel(gw.address) as channel,
        ):
            clients = Clients(channel, ledger)
            assert await clients.predict(trained.X[0]) is not None, f"{ledger.calls}"
            await clients.drained(RECOVERY)
            how = disk.fill(gw.pid)
            full_at = time.monotonic()
            load = Load(
                clients, trained.X, versions=(), callers=2, outcome_every=0, predict_pause=0.01
            )
            async with load:
                reply = await clients.predict(trained.X[1])
                assert reply is not None, f"Predict failed on a full disk: {ledger.calls[-1]}"
                await asyncio.gather(
                    clients.promote(V2), clients.record_outcome(reply.prediction_id, 1.0)
                )
                await asyncio.sleep(1.0)
                status = await clients.status()
            disk.free()
            freed_at = time.monotonic()

            findings.check(check_statuses, ledger)
            findings.check(check_fresh_answers, ledger)
            findings.check(check_ok, ledger, "Predict", started_after=0, ended_before=math.inf)
            during = _writes(ledger, full_at, freed_at)
            findings.expect(
                during and all(c.code.name in WRITE_FAILED for c in during),
                f"writes on a full disk must fail {sorted(WRITE_FAILED)}; got "
                f"{[(c.method, c.code.name, c.details) for c in during]}",
            )
            findings.expect(
                status is not None and status.prediction_log_queued > 0,
                f"predictions made on the full disk should wait in the log queue: {status}",
            )
            production = V2 if ledger.count("PromoteModel") else V1
            await _recovers(findings, clients, trained, production)
            await _nothing_lost(findings, db.url, ledger)
            findings.raise_if_any(
                f"{how}; calls: {ledger.summary()}\ngateway output:\n{gw.output()}"
            )
