"""kill -9 at chosen points: the gateway SIGKILLs itself where ``GALGATE_CRASH_AT`` says.

``GALGATE_CRASH_AT=name@N`` makes a gateway process kill itself (SIGKILL) the N-th time it
reaches the named point. Each test starts a gateway armed with one point under the mixed
load, waits for it to die, checks every invariant, restarts it unarmed and checks that
it serves the registry's production version and takes writes again.
"""

from __future__ import annotations

import signal

import grpc
import pytest

from tests.faults.conftest import MODEL, V1, V2, Database, iterations
from tests.faults.invariants import RegistryState, check_after_crash
from tests.faults.load import Clients, Ledger, Load
from tests.faults.process import BASE_ENV, GatewayProcess, gateway

FLUSH_INTERVAL = float(BASE_ENV["GALGATE_PREDLOG_FLUSH_INTERVAL"])
LOSS_WINDOW = FLUSH_INTERVAL + 1.0
# Under the load every point is reached within a second or two; a gateway still alive
# after this long ignores GALGATE_CRASH_AT.
CRASH_TIMEOUT = 6.0
# The N of name@N: late enough that some load has been served first.
POINTS = {
    "promote.before_commit": 2,
    "promote.after_commit": 2,
    "predlog.before_commit": 3,
    "outcome.after_commit": 5,
}


def other(version: str) -> str:
    return V2 if version == V1 else V1


async def _crash(url: str, point: str, nth: int, trained) -> tuple[Ledger, GatewayProcess]:
    """Run the load on a gateway armed with ``point@nth`` until it kills itself."""
    ledger = Ledger(model=MODEL)
    env = {"GALGATE_CRASH_AT": f"{point}@{nth}"}
    async with gateway(url, env=env) as gw, grpc.aio.insecure_channel(gw.address) as channel:
        clients = Clients(channel, ledger)
        first = await clients.predict(trained.X[0])
        assert first is not None, f"the gateway does not answer: {ledger.summary()}"
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


@pytest.mark.faults
@pytest.mark.timeout(60 + 40 * iterations())
@pytest.mark.parametrize("point", list(POINTS))
async def test_kill_9_at_crash_point_leaves_changes_whole(
    point: str, seeded: Database, trained
) -> None:
    for i in range(iterations()):
        nth = POINTS[point] + i
        ledger, crashed = await _crash(seeded.url, point, nth, trained)
        where = f"crash at {point}@{nth} on {seeded.kind}"
        assert crashed.exited_at is not None
        try:
            state = await check_after_crash(
                seeded.url, ledger, crashed_at=crashed.exited_at, window=LOSS_WINDOW, ok_until=None
            )
            _point_checks(point, state, ledger)
        except AssertionError as exc:
            raise AssertionError(
                f"{where}: {exc}\ncalls: {ledger.summary()}\ngateway output:\n{crashed.output()}"
            ) from None

        # Restarted without the crash point: it serves the registry's production version,
        # and promotions and outcomes work.
        production = state.production[MODEL]
        after = Ledger(model=MODEL)
        async with (
            gateway(seeded.url) as gw,
            grpc.aio.insecure_channel(gw.address) as channel,
        ):
            clients = Clients(channel, after)
            reply = await clients.predict(trained.X[1])
            assert reply is not None and reply.version == production, (
                f"{where}: after the restart the gateway serves "
                f"{reply.version if reply else after.calls}, the registry says {production}"
            )
            if point == "outcome.after_commit":
                pid = _committed_unanswered(state, ledger)[0]
                again = await clients.record_outcome(pid, ledger.sent_outcomes[pid])
                assert again is not None and again.duplicate, (
                    f"{where}: resending the outcome committed before the crash must be "
                    f"answered duplicate=true, got {again if again else after.calls[-1]}"
                )
            assert await clients.promote(other(production)) is not None, (
                f"{where}: promotion after the restart failed: {after.calls[-1]}"
            )
            reply = await clients.predict(trained.X[2])
            assert reply is not None and reply.version == other(production)
            assert await clients.record_outcome(reply.prediction_id, 1.0) is not None, (
                f"{where}: RecordOutcome after the restart failed: {after.calls[-1]}"
            )
