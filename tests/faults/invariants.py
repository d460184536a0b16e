"""The checker of "nothing lost" (REFERENCE.md), shared by every fault scenario.

Each ``check_*`` function raises AssertionError with a message that says which rule broke,
what was expected and an example. ``check_after_crash`` runs them all after a kill -9:

1. every call ended OK or with an expected status, within its deadline;
2. answers are fresh: a Predict asked after a promotion was acknowledged (and before the
   next one began) is served by the promoted version;
3. the database is sound: SQLite ``PRAGMA integrity_check`` is ok (PostgreSQL: the
   registry opens and answers queries), and every admin change is wholly there or not:
   exactly one production version per model, each version's audit rows chain from its
   registration to its current stage, one event per audit row, event ids unique;
4. the production version is the last acknowledged promotion's, or one whose call was
   still unanswered at the crash;
5. every acknowledged outcome is stored exactly once with its value, and its prediction
   is stored;
6. predictions lost are only those answered within ``window`` seconds before the crash.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from registry.db import normalize_url
from registry.store.registry import Registry
from tests.faults.load import Call, Ledger

Code = grpc.StatusCode
EXPECTED = frozenset(
    {
        Code.OK,
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.FAILED_PRECONDITION,
        Code.RESOURCE_EXHAUSTED,
        Code.DEADLINE_EXCEEDED,
        Code.UNAVAILABLE,
        Code.UNAUTHENTICATED,
    }
)
_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class RegistryState:
    """What the database holds, read after a fault."""

    dialect: str
    integrity: str
    # (name, version) -> stage
    stages: dict[tuple[str, str], str]
    # (name, version) -> [(from_stage, to_stage, kind)] in audit-id order
    transitions: dict[tuple[str, str], list[tuple[str | None, str, str]]]
    # (id, kind, name, version, payload) in id order
    events: list[tuple[int, str, str, str, dict]]
    duplicate_event_ids: int
    outcomes: dict[str, float]
    duplicate_outcomes: int
    predictions: frozenset[str]
    # Through the Registry API: model -> production version ("" when none).
    production: dict[str, str]

    def production_of(self, model: str) -> list[str]:
        """Every version of ``model`` whose row says production."""
        return sorted(v for (n, v), s in self.stages.items() if n == model and s == "production")


async def read_registry(url: str) -> RegistryState:
    """Read everything the invariants need; opening the Registry is itself a check."""
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.connect() as conn:
            dialect = conn.dialect.name
            integrity = "ok"
            if dialect == "sqlite":
                rows = (await conn.execute(text("PRAGMA integrity_check"))).all()
                integrity = "; ".join(str(r[0]) for r in rows)
                fk = (await conn.execute(text("PRAGMA foreign_key_check"))).all()
                if fk:
                    integrity += f"; foreign_key_check: {fk[:_EXAMPLES]}"
            versions = (
                await conn.execute(
                    text(
                        "SELECT v.id, m.name, v.version, v.stage FROM model_versions v "
                        "JOIN models m ON m.id = v.model_id"
                    )
                )
            ).all()
            by_id = {row[0]: (row[1], row[2]) for row in versions}
            stages = {(row[1], row[2]): row[3] for row in versions}
            transitions: dict[tuple[str, str], list[tuple[str | None, str, str]]] = {}
            for vid, from_stage, to_stage, kind in (
                await conn.execute(
                    text(
                        "SELECT model_version_id, from_stage, to_stage, kind "
                        "FROM stage_transitions ORDER BY id"
                    )
                )
            ).all():
                transitions.setdefault(by_id[vid], []).append((from_stage, to_stage, kind))
            events = [
                (int(i), kind, name, version, _json(payload))
                for i, kind, name, version, payload in (
                    await conn.execute(
                        text("SELECT id, kind, name, version, payload FROM events ORDER BY id")
                    )
                ).all()
            ]
            duplicate_event_ids = (
                await conn.execute(text("SELECT count(*) - count(DISTINCT id) FROM events"))
            ).scalar_one()
            outcomes = dict(
                (await conn.execute(text("SELECT prediction_id, value FROM outcomes"))).all()
            )
            duplicate_outcomes = (
                await conn.execute(
                    text("SELECT count(*) - count(DISTINCT prediction_id) FROM outcomes")
                )
            ).scalar_one()
            predictions = frozenset(
                (await conn.execute(text("SELECT prediction_id FROM predictions"))).scalars()
            )
    finally:
        await engine.dispose()
    registry = await Registry.open(url)
    try:
        production = {}
        for model in await registry.list_models():
            served = await registry.production_version(model.name)
            production[model.name] = "" if served is None else served.version
    finally:
        await registry.close()
    return RegistryState(
        dialect=dialect,
        integrity=integrity,
        stages=stages,
        transitions=transitions,
        events=events,
        duplicate_event_ids=int(duplicate_event_ids),
        outcomes={str(k): float(v) for k, v in outcomes.items()},
        duplicate_outcomes=int(duplicate_outcomes),
        predictions=predictions,
        production=production,
    )


def _json(value: object) -> dict:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value or {})


def _describe(calls: Iterable[Call]) -> str:
    groups: dict[tuple[str, str], list[Call]] = {}
    for call in calls:
        groups.setdefault((call.method, call.code.name), []).append(call)
    return "; ".join(
        f"{method} {code} x{len(group)} (e.g. {group[0].details!r} after "
        f"{group[0].ended - group[0].started:.2f} s)"
        for (method, code), group in sorted(groups.items())
    )


# -- the rules ------------------------------------------------------------------------


def check_statuses(ledger: Ledger, *, ok_until: float | None = None) -> None:
    """Rule 1: every call ended with an expected status; those that ended by ``ok_until``
    (before any fault began) ended OK."""
    unexpected = [c for c in ledger.calls if c.code not in EXPECTED]
    assert not unexpected, (
        f"calls ended with unexpected status codes (never UNKNOWN/INTERNAL/...): "
        f"{_describe(unexpected)}; all calls: {ledger.summary()}"
    )
    if ok_until is not None:
        failed = [c for c in ledger.calls if c.ended <= ok_until and c.code is not Code.OK]
        assert not failed, (
            f"calls failed before any fault was injected: {_describe(failed)}; "
            f"all calls: {ledger.summary()}"
        )


def check_ok(ledger: Ledger, method: str, *, started_after: float, ended_before: float) -> int:
    """Every ``method`` call that started after and ended before the given instants was OK;
    returns how many there were."""
    calls = [
        c
        for c in ledger.calls
        if c.method == method and c.started >= started_after and c.ended <= ended_before
    ]
    failed = [c for c in calls if c.code is not Code.OK]
    assert not failed, f"{len(failed)} of {len(calls)} {method} calls failed: {_describe(failed)}"
    return len(calls)


def check_fresh_answers(ledger: Ledger) -> None:
    """Rule 2: after PromoteModel returns, new Predicts get the promoted version."""
    windows: list[tuple[float, float, str]] = []
    promotions = sorted(ledger.promotions, key=lambda p: p.started)
    if ledger.initial_production:
        first = promotions[0].started if promotions else float("inf")
        windows.append((float("-inf"), first, ledger.initial_production))
    for i, promotion in enumerate(promotions):
        if promotion.code is Code.OK:
            until = promotions[i + 1].started if i + 1 < len(promotions) else float("inf")
            windows.append((promotion.ended, until, promotion.version))
    stale = [
        (a, version)
        for start, end, version in windows
        for a in ledger.answers.values()
        if a.asked >= start and a.answered <= end and a.version != version
    ]
    assert not stale, (
        f"{len(stale)} Predicts were answered by a version other than the one in production "
        f"(promotion acknowledged before they were asked), e.g. "
        f"{[(a.prediction_id, a.version, v) for a, v in stale[:_EXAMPLES]]} (id, got, expected)"
    )


def check_registry(state: RegistryState, models: Iterable[str] = ("clf",)) -> None:
    """Rule 3: the database is sound and every admin change is wholly there or not."""
    assert state.integrity == "ok", f"SQLite integrity_check failed: {state.integrity}"
    for model in models:
        productions = state.production_of(model)
        assert len(productions) == 1, (
            f"model {model!r} must have exactly one production version, has {productions}"
        )
        assert state.production.get(model) == productions[0], (
            f"Registry.production_version({model!r}) says {state.production.get(model)!r}, "
            f"the rows say {productions[0]!r}"
        )
    assert state.duplicate_event_ids == 0, f"{state.duplicate_event_ids} duplicate event ids"
    for key, stage in state.stages.items():
        chain = state.transitions.get(key, [])
        assert chain and chain[0][0] is None and chain[0][1] == "development", (
            f"version {key} has no registration audit row first: {chain}"
        )
        for (_, to_stage, _), (from_stage, _, kind) in itertools.pairwise(chain):
            assert from_stage == to_stage, (
                f"audit rows of {key} do not chain: a {kind!r} move from {from_stage!r} "
                f"follows a move to {to_stage!r}: {chain}"
            )
        assert chain[-1][1] == stage, (
            f"version {key} is {stage!r} but its last audit row moved it to {chain[-1][1]!r}: "
            f"{chain}"
        )
        moves = [(f, t) for f, t, _ in chain[1:]]
        events = [
            (p.get("from"), p.get("to"))
            for _, kind, name, version, p in state.events
            if kind == "stage_changed" and (name, version) == key
        ]
        assert moves == events, (
            f"version {key}: stage changes in the audit trail {moves} differ from the "
            f"stage_changed events {events}"
        )
        registered = [
            e for e in state.events if e[1] == "version_registered" and (e[2], e[3]) == key
        ]
        assert len(registered) == 1, f"version {key} has {len(registered)} registration events"


def check_promotions(state: RegistryState, ledger: Ledger) -> None:
    """Rule 4: production is the last acknowledged promotion's target, or the target of a
    call that had not been answered OK (it may or may not have committed)."""
    acknowledged = [p for p in ledger.promotions if p.code is Code.OK]
    last = max(acknowledged, key=lambda p: p.ended, default=None)
    allowed = {last.version} if last else {ledger.initial_production}
    since = last.ended if last else float("-inf")
    allowed |= {p.version for p in ledger.promotions if p.code is not Code.OK and p.ended > since}
    actual = state.production.get(ledger.model)
    assert actual in allowed, (
        f"model {ledger.model!r} has production {actual!r} after the crash; the last "
        f"acknowledged promotion was to {last.version if last else None!r}, so only "
        f"{sorted(allowed)} are possible"
    )


def check_outcomes(state: RegistryState, ledger: Ledger) -> None:
    """Rule 5: every acknowledged outcome is stored once, with its value and prediction."""
    assert state.duplicate_outcomes == 0, f"{state.duplicate_outcomes} outcomes stored twice"
    wrong = {
        pid: (value, state.outcomes.get(pid))
        for pid, value in ledger.acknowledged.items()
        if state.outcomes.get(pid) != value
    }
    assert not wrong, (
        f"{len(wrong)} of {len(ledger.acknowledged)} acknowledged outcomes are missing or "
        f"changed (id: (sent, stored)): {dict(list(wrong.items())[:_EXAMPLES])}"
    )
    orphans = sorted(set(ledger.acknowledged) - state.predictions)
    assert not orphans, (
        f"{len(orphans)} acknowledged outcomes point at predictions that are not stored: "
        f"{orphans[:_EXAMPLES]}"
    )
    foreign = {
        pid: (ledger.sent_outcomes[pid], value)
        for pid, value in state.outcomes.items()
        if pid in ledger.sent_outcomes and value != ledger.sent_outcomes[pid]
    }
    assert not foreign, f"stored outcomes differ from what was sent (sent, stored): {foreign}"


def check_predictions(state: RegistryState, ledger: Ledger, *, written_by: float) -> None:
    """Rule 6: every prediction answered before ``written_by`` is stored."""
    old = [a for a in ledger.answers.values() if a.answered <= written_by]
    lost = [a for a in old if a.prediction_id not in state.predictions]
    if lost:
        oldest = min(lost, key=lambda a: a.answered)
        raise AssertionError(
            f"{len(lost)} of {len(old)} predictions answered before the loss window are not "
            f"in the database; the oldest was answered {written_by - oldest.answered:.2f} s "
            f"before the window began ({oldest.prediction_id!r}); "
            f"{len(ledger.answers)} predictions answered in all"
        )


async def check_after_crash(
    url: str,
    ledger: Ledger,
    *,
    crashed_at: float,
    window: float,
    ok_until: float | None = None,
) -> RegistryState:
    """Every rule after a kill -9 at ``crashed_at`` (monotonic); returns what was read.

    Args:
        url: the registry database.
        ledger: what the clients of the killed gateway saw.
        crashed_at: when the process was killed (or found dead).
        window: seconds before ``crashed_at`` whose predictions may be lost (one flush
            interval plus a margin).
        ok_until: calls that ended by then must have ended OK (the kill came later).
    """
    check_statuses(ledger, ok_until=ok_until)
    check_fresh_answers(ledger)
    state = await read_registry(url)
    check_registry(state, models=(ledger.model,))
    check_promotions(state, ledger)
    check_outcomes(state, ledger)
    check_predictions(state, ledger, written_by=crashed_at - window)
    return state


class Findings:
    """Collects broken rules, so one run of a scenario reports all of them, not the first."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.failures: list[str] = []

    def expect(self, condition: object, message: str) -> None:
        """Record ``message`` unless ``condition`` holds."""
        if not condition:
            self.failures.append(message)

    def check(self, rule, *args, **kwargs):
        """Run one ``check_*`` rule; record its AssertionError instead of raising it."""
        try:
            return rule(*args, **kwargs)
        except AssertionError as exc:
            self.failures.append(str(exc))
            return None

    def raise_if_any(self, context: str = "") -> None:
        """Fail the test with every recorded finding (and ``context``, e.g. the output)."""
        if self.failures:
            lines = "\n".join(f"  {i}. {f}" for i, f in enumerate(self.failures, 1))
            raise AssertionError(
                f"{self.where}: {len(self.failures)} rule(s) broken:\n{lines}\n{context}"
            )
