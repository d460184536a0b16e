"""kill -9 at chosen points: the gateway SIGKILLs itself where ``GALGATE_CRASH_AT`` says.

``GALGATE_CRASH_AT=name@N`` makes a gateway process kill itself (SIGKILL) the N-th time it
reaches the named point. The test walks through every point on one database: a gateway
armed with a point runs the mixed load until it dies, every invariant is checked, and
the next gateway (armed with the next point) must first serve the registry's production
version. A last, unarmed gateway checks that promotions and outcomes work again and
that the outcome committed at the crash is recognised as a duplicate.
"""

from __future__ import annotations

import signal

import grpc
import pytest

from tests.faults.conftest import MODEL, V1, V2, Database, iterations
from tests.faults.invariants import RegistryState, check_after_crash
from tests.faults.load import Clients, Ledger, Load
from tests.faults.process import BASE_ENV, GatewayProcess, spawn, started

FLUSH_INTERVAL = float(BASE_ENV["GALGATE_PREDLOG_FLUSH_INTERVAL"])
LOSS_WINDOW = FLUSH_INTERVAL + 1.0
# Under the load every point is reached within a second or two; a gateway still alive
# after this long ignores GALGATE_CRASH_AT.
CRASH_TIMEOUT = 6.0
# Each point with the N of point@N: late enough that some load has been served first.
POINTS = (
    ("promote.before_commit", 2),
    ("promote.after_commit", 2),
    ("predlog.before_commit", 3),
    ("outcome.after_commit", 5),
)


def other(version: str) -> str:
    return V2 if version == V1 else V1


def armed(point: str, nth: int) -> dict[str, str]:
    return {"GALGATE_CRASH_AT": f"{point}@{nth}"}


async def _crash(
    spawned: GatewayProcess, point: str, nth: int, trained, production: str
) -> tuple[Ledger, GatewayProcess]:
    """Start ``spawned`` (armed with ``point@nth``); check it serves ``production`` (the
    registry's production version after the previous crash); run the load until it dies."""
    ledger = Ledger(model=MODEL)
    async with (
        started(spawned) as gw,
        grpc.aio.insecure_channel(gw.address) as channel,
    ):
        clients = Clients(channel, ledger)
        first = await clients.predict(trained.X[0])
        assert first is not None, f"the restarted gateway does not answer: {ledger.summary()}"
        assert first.version == production, (
            f"after the restart the gateway serves {first.version}, the registry's "
            f"production version is {production}"
        )
        ledger.initial_production = first.version
        async with Load(clients, trained.X, versions=(first.version, other(first.version))):
            code = await gw.wait(CRASH_TIMEOUT)
        if code is None:
            gw.kill()
            await gw.wait(10)
        assert code == -signal.SIGKILL, (
            f"GALGATE_CRASH_AT={point}@{nth}: the gateway did not kill itself within "
            f"{CRASH_TIMEOUT} s under load (exit status {code}; None = still running, so the "
            f"crash point is not implemented or never reached); calls: {ledger.summary()}\n"
            f"gateway output:\n{gw.output()}"
        )
    return ledger, gw


def _cut_outcomes(ledger: Ledger) -> list[str]:
    """Prediction ids of the RecordOutcome calls that got no answer."""
    return [
        c.subject
        for c in ledger.calls
        if c.method == "RecordOutcome" and c.code is not grpc.StatusCode.OK
    ]


def _committed_unanswered(state: RegistryState, ledger: Ledger) -> list[str]:
    """Cut-off outcomes that are stored with the value sent (committed, never answered)."""
    return [
        pid for pid in _cut_outcomes(ledger) if state.outcomes.get(pid) == ledger.sent_outcomes[pid]
    ]


def _point_checks(point: str, state: RegistryState, ledger: Ledger) -> None:
    """What the crash point itself implies, beyond the shared invariants."""
    failed = [p for p in ledger.promotions if p.code is not grpc.StatusCode.OK]
    acknowledged = [p for p in ledger.promotions if p.code is grpc.StatusCode.OK]
    before = acknowledged[-1].version if acknowledged else ledger.initial_production
    production = state.production[MODEL]
    if point.startswith("promote."):
        assert failed, f"no PromoteModel call was cut off by the crash: {ledger.promotions}"
        crashed = failed[0]
        # Inside the transaction: nothing of the promotion is there. After the commit:
        # all of it is, although the caller never got an answer.
        expected = before if point == "promote.before_commit" else crashed.version
        assert production == expected, (
            f"crash at {point} during the promotion to {crashed.version} (production was "
            f"{before}): production is now {production}, expected {expected}"
        )
    if point == "outcome.after_commit":
        committed = _committed_unanswered(state, ledger)
        assert committed, (
            "none of the RecordOutcome calls cut off by the crash is stored, yet the crash "
            f"came after one of them committed: {_cut_outcomes(ledger)}"
        )
        assert committed[0] in state.predictions, (
            f"the crashed outcome's prediction {committed[0]!r} is not stored"
        )


@pytest.mark.faults
@pytest.mark.timeout(60 + 60 * iterations())
async def test_kill_9_at_each_crash_point_leaves_changes_whole(seeded: Database, trained):
    production = V1
    unanswered: list[tuple[str, float]] = []  # outcomes committed at a crash, never answered
    walk = [(point, first_nth + i) for i in range(iterations()) for point, first_nth in POINTS]
    # Each next gateway is spawned while the current one runs, so that its imports are
    # done; it opens the database only when started, after the crash and the checks.
    ahead = await spawn(seeded.url, env=armed(*walk[0]))
    try:
        for step, (point, nth) in enumerate(walk):
            where = f"crash at {point}@{nth} on {seeded.kind}"
            current = ahead
            following = walk[step + 1] if step + 1 < len(walk) else None
            ahead = await spawn(seeded.url, env=armed(*following) if following else None)
            try:
                ledger, crashed = await _crash(current, point, nth, trained, production)
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from None
            assert crashed.exited_at is not None
            try:
                state = await check_after_crash(
                    seeded.url, ledger, crashed_at=crashed.exited_at, window=LOSS_WINDOW
                )
                _point_checks(point, state, ledger)
            except AssertionError as exc:
                raise AssertionError(
                    f"{where}: {exc}\ncalls: {ledger.summary()}\n"
                    f"gateway output:\n{crashed.output()}"
                ) from None
            production = state.production[MODEL]
            unanswered += [
                (p, ledger.sent_outcomes[p]) for p in _committed_unanswered(state, ledger)
            ]
    except BaseException:
        await ahead.close()
        raise

    # Unarmed: it serves the registry's production version, recognises the outcomes
    # committed at the crashes, and takes promotions and outcomes again.
    after = Ledger(model=MODEL)
    async with (
        started(ahead) as gw,
        grpc.aio.insecure_channel(gw.address) as channel,
    ):
        clients = Clients(channel, after)
        reply = await clients.predict(trained.X[1])
        assert reply is not None and reply.version == production, (
            f"after the last crash the gateway serves "
            f"{reply.version if reply else after.calls}, the registry says {production}"
        )
        for pid, value in unanswered:
            again = await clients.record_outcome(pid, value)
            assert again is not None and again.duplicate, (
                f"resending the outcome committed at a crash ({pid!r}) must be answered "
                f"duplicate=true, got {again if again else after.calls[-1]}"
            )
        assert await clients.promote(other(production)) is not None, (
            f"promotion after the restart failed: {after.calls[-1]}"
        )
        reply = await clients.predict(trained.X[2])
        assert reply is not None and reply.version == other(production), f"{after.calls[-1]}"
        assert await clients.record_outcome(reply.prediction_id, 1.0) is not None, (
            f"RecordOutcome after the restart failed: {after.calls[-1]}"
        )
