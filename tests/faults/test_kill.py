"""kill -9 at random instants under mixed load, again and again on the same database."""

from __future__ import annotations

import asyncio
import os
import random

import grpc
import pytest

from tests.faults.conftest import MODEL, V1, V2, Database, iterations
from tests.faults.invariants import check_after_crash, check_outcomes, read_registry
from tests.faults.load import Clients, Ledger, Load
from tests.faults.process import BASE_ENV, spawn, started

KILLS = 10 * iterations()
FLUSH_INTERVAL = float(BASE_ENV["GALGATE_PREDLOG_FLUSH_INTERVAL"])
# Predictions answered longer than this before a kill must have been written.
LOSS_WINDOW = FLUSH_INTERVAL + 1.0
# Load runs this long (uniformly drawn) before each kill.
RUN_SECONDS = (0.2, 0.9)


def other(version: str) -> str:
    return V2 if version == V1 else V1


@pytest.mark.faults
@pytest.mark.timeout(60 + 12 * KILLS)
async def test_kill_9_at_random_instants_loses_nothing_acknowledged(seeded: Database, trained):
    seed = int(os.environ.get("GALGATE_FAULT_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    everything = Ledger(model=MODEL)  # every outcome acknowledged in any lifetime
    expected_production = V1
    ahead = await spawn(seeded.url)
    try:
        for kill in range(1, KILLS + 1):
            where = f"kill {kill}/{KILLS} on {seeded.kind} (GALGATE_FAULT_SEED={seed})"
            ledger = Ledger(model=MODEL)
            async with (
                started(ahead) as gw,
                grpc.aio.insecure_channel(gw.address) as channel,
            ):
                # The next gateway does its imports meanwhile; it opens the database only
                # after this one is killed and checked.
                ahead = await spawn(seeded.url) if kill < KILLS else None
                clients = Clients(channel, ledger)
                first = await clients.predict(trained.X[0])
                assert first is not None, (
                    f"{where}: restarted gateway does not answer: {ledger.calls}"
                )
                assert first.version == expected_production, (
                    f"{where}: after the restart the gateway serves {first.version}, the "
                    f"registry's production version is {expected_production}"
                )
                ledger.initial_production = first.version
                load = Load(clients, trained.X, versions=(first.version, other(first.version)))
                async with load:
                    await asyncio.sleep(rng.uniform(*RUN_SECONDS))
                    killed_at = gw.kill()
                    assert await gw.wait(10) is not None, (
                        f"{where}: SIGKILL did not end the gateway"
                    )
            try:
                state = await check_after_crash(
                    seeded.url, ledger, crashed_at=killed_at, window=LOSS_WINDOW, ok_until=killed_at
                )
                everything.acknowledged.update(ledger.acknowledged)
                everything.sent_outcomes.update(ledger.sent_outcomes)
                check_outcomes(state, everything)
            except AssertionError as exc:
                raise AssertionError(
                    f"{where}: {exc}\ncalls: {ledger.summary()}\ngateway output:\n{gw.output()}"
                ) from None
            expected_production = state.production[MODEL]
    finally:
        if ahead is not None:
            await ahead.close()
    state = await read_registry(seeded.url)
    promotions = sum(
        1 for chain in state.transitions.values() for move in chain if move[2] == "transition"
    )
    assert len(everything.acknowledged) >= KILLS and promotions >= KILLS, (
        f"too little load to mean anything: {len(everything.acknowledged)} outcomes "
        f"acknowledged and {promotions} promotions in {KILLS} lifetimes"
    )
