"""Stage transitions: the full 4x4 table, promotion, rollback, archive, audit and events."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.exc import IntegrityError

from registry import (
    InvalidArgumentError,
    InvalidStageTransitionError,
    ModelNotFoundError,
    Registry,
    Stage,
    VersionNotFoundError,
)
from tests.helpers import execute_sql, register_in_stage

D, S, P, A = Stage.DEVELOPMENT, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED

# Written out here, independently of registry/stages.py, from the specification.
VALID = {(D, S), (D, A), (S, P), (S, D), (S, A), (P, S), (P, A), (A, D)}
ALL_PAIRS = list(itertools.product(Stage, Stage))


def _pair_id(pair: tuple[Stage, Stage]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


async def _counts(registry: Registry, name: str) -> tuple[int, int]:
    return len(await registry.history(name)), await registry.last_event_id()


@pytest.mark.parametrize("pair", [p for p in ALL_PAIRS if p in VALID], ids=_pair_id)
async def test_transition_valid_move_changes_stage_and_records_it(
    registry: Registry, pair: tuple[Stage, Stage]
) -> None:
    src, dst = pair
    mv = await register_in_stage(registry, "m", src)
    before_history, before_event = await _counts(registry, "m")

    moved = await registry.transition(
        "m", mv.version, dst, actor="alice", reason="why not", force=(src, dst) == (P, A)
    )

    assert moved.stage is dst
    assert (await registry.get_version("m", mv.version)).stage is dst
    last = (await registry.history("m"))[-1]
    assert (last.version, last.from_stage, last.to_stage) == (mv.version, src, dst)
    assert (last.actor, last.reason, last.kind) == ("alice", "why not", "transition")
    events = await registry.events_since(before_event)
    assert [(e.kind, e.version, dict(e.payload)) for e in events] == [
        ("stage_changed", mv.version, {"from": src.value, "to": dst.value, "kind": "transition"})
    ]
    assert len(await registry.history("m")) == before_history + 1


@pytest.mark.parametrize("pair", [p for p in ALL_PAIRS if p not in VALID], ids=_pair_id)
async def test_transition_invalid_move_raises_and_writes_nothing(
    registry: Registry, pair: tuple[Stage, Stage]
) -> None:
    src, dst = pair
    mv = await register_in_stage(registry, "m", src)
    before = await _counts(registry, "m")

    with pytest.raises(InvalidStageTransitionError) as err:
        await registry.transition("m", mv.version, dst, force=True)

    message = str(err.value)
    assert f"from {src.value} to {dst.value}" in message
    allowed = [t.value for (f, t) in VALID if f is src]
    assert all(target in message for target in allowed)
    assert (await registry.get_version("m", mv.version)).stage is src
    assert await _counts(registry, "m") == before


async def test_transition_production_to_archived_without_force_is_refused(
    registry: Registry,
) -> None:
    mv = await register_in_stage(registry, "m", P)
    before = await _counts(registry, "m")

    with pytest.raises(InvalidStageTransitionError, match="force=True"):
        await registry.archive("m", mv.version)

    assert (await registry.production_version("m")) == await registry.get_version("m", mv.version)
    assert await _counts(registry, "m") == before
    archived = await registry.archive("m", mv.version, force=True, reason="retired")
    assert archived.stage is A
    assert await registry.production_version("m") is None


async def test_transition_promotion_demotes_previous_production_in_same_change(
    registry: Registry,
) -> None:
    old = await register_in_stage(registry, "m", P)
    new = await register_in_stage(registry, "m", S)
    _, before_event = await _counts(registry, "m")

    await registry.transition("m", new.version, P, actor="bob", reason="better")

    assert (await registry.get_version("m", old.version)).stage is S
    assert (await registry.production_version("m")).version == new.version
    demote, promote = (await registry.history("m"))[-2:]
    assert (demote.version, demote.from_stage, demote.to_stage, demote.kind) == (
        old.version,
        P,
        S,
        "demote",
    )
    assert demote.actor == "bob"
    assert (promote.version, promote.from_stage, promote.to_stage, promote.kind) == (
        new.version,
        S,
        P,
        "transition",
    )
    events = await registry.events_since(before_event)
    assert [(e.version, e.payload["kind"]) for e in events] == [
        (old.version, "demote"),
        (new.version, "transition"),
    ]


async def test_transition_archived_to_development_restores_version(registry: Registry) -> None:
    mv = await register_in_stage(registry, "m", A)

    restored = await registry.transition("m", mv.version, D, reason="needed again")

    assert restored.stage is D
    staged = await registry.transition("m", mv.version, S)
    assert staged.stage is S


async def test_transition_unknown_names_raise_not_found(registry: Registry) -> None:
    mv = await register_in_stage(registry, "m", D)

    with pytest.raises(ModelNotFoundError, match="'nope'"):
        await registry.transition("nope", "1.0.0", S)
    with pytest.raises(VersionNotFoundError, match=r"'9\.9\.9'"):
        await registry.transition("m", "9.9.9", S)
    with pytest.raises(InvalidArgumentError, match="unknown stage"):
        await registry.transition("m", mv.version, "live")


@pytest.mark.parametrize("kind", ["", "Auto", "auto-check", "x" * 33, "9lives"])
async def test_transition_invalid_kind_raises_invalid_argument_and_writes_nothing(
    registry: Registry, kind: str
) -> None:
    mv = await register_in_stage(registry, "m", D)
    before = await _counts(registry, "m")

    with pytest.raises(InvalidArgumentError, match=r"invalid transition kind.*lower snake case"):
        await registry.transition("m", mv.version, S, kind=kind)

    assert (await registry.get_version("m", mv.version)).stage is D
    assert await _counts(registry, "m") == before


async def test_transition_accepts_stage_string_and_custom_kind(registry: Registry) -> None:
    mv = await register_in_stage(registry, "m", D)

    moved = await registry.transition("m", mv.version, "staging", kind="auto_check")

    assert moved.stage is S
    assert (await registry.history("m"))[-1].kind == "auto_check"


async def test_rollback_restores_previous_production_and_records_rollback(
    registry: Registry,
) -> None:
    v1 = await register_in_stage(registry, "m", P)
    v2 = await register_in_stage(registry, "m", P)
    _, before_event = await _counts(registry, "m")

    restored = await registry.rollback("m", actor="oncall", reason="v2 loses money")

    assert restored.version == v1.version
    assert restored.stage is P
    assert (await registry.get_version("m", v2.version)).stage is S
    down, up = (await registry.history("m"))[-2:]
    assert (down.version, down.from_stage, down.to_stage, down.kind) == (
        v2.version,
        P,
        S,
        "rollback",
    )
    assert (up.version, up.from_stage, up.to_stage, up.kind) == (v1.version, S, P, "rollback")
    assert up.actor == "oncall"
    assert up.reason == "v2 loses money"
    events = await registry.events_since(before_event)
    assert [(e.version, e.payload["to"], e.payload["kind"]) for e in events] == [
        (v2.version, "staging", "rollback"),
        (v1.version, "production", "rollback"),
    ]


async def test_rollback_twice_returns_to_the_newer_version(registry: Registry) -> None:
    v1 = await register_in_stage(registry, "m", P)
    v2 = await register_in_stage(registry, "m", P)

    assert (await registry.rollback("m")).version == v1.version
    assert (await registry.rollback("m")).version == v2.version


async def test_rollback_picks_most_recent_previous_production(registry: Registry) -> None:
    await register_in_stage(registry, "m", P)
    v2 = await register_in_stage(registry, "m", P)
    await register_in_stage(registry, "m", P)

    assert (await registry.rollback("m")).version == v2.version


async def test_rollback_skips_archived_versions(registry: Registry) -> None:
    v1 = await register_in_stage(registry, "m", P)
    v2 = await register_in_stage(registry, "m", P)
    await register_in_stage(registry, "m", P)
    await registry.archive("m", v2.version)

    assert (await registry.rollback("m")).version == v1.version


async def test_rollback_without_previous_production_raises(registry: Registry) -> None:
    await register_in_stage(registry, "m", P)
    await register_in_stage(registry, "m", S)
    before = await _counts(registry, "m")

    with pytest.raises(InvalidStageTransitionError, match="no previous production version"):
        await registry.rollback("m")

    assert await _counts(registry, "m") == before
    with pytest.raises(ModelNotFoundError):
        await registry.rollback("nope")


async def test_rollback_after_forced_archive_restores_last_production(
    registry: Registry,
) -> None:
    v1 = await register_in_stage(registry, "m", P)
    v2 = await register_in_stage(registry, "m", P)
    await registry.archive("m", v2.version, force=True)

    restored = await registry.rollback("m")

    assert restored.version == v1.version
    assert (await registry.production_version("m")).version == v1.version


async def test_history_lists_every_change_in_order(registry: Registry) -> None:
    v1 = await register_in_stage(registry, "m", P)
    v2 = await register_in_stage(registry, "m", P)
    await register_in_stage(registry, "other", S)
    await registry.rollback("m")
    await registry.archive("m", v2.version)

    history = await registry.history("m")

    assert [(h.version, h.from_stage, h.to_stage, h.kind) for h in history] == [
        (v1.version, None, D, "register"),
        (v1.version, D, S, "transition"),
        (v1.version, S, P, "transition"),
        (v2.version, None, D, "register"),
        (v2.version, D, S, "transition"),
        (v1.version, P, S, "demote"),
        (v2.version, S, P, "transition"),
        (v2.version, P, S, "rollback"),
        (v1.version, S, P, "rollback"),
        (v2.version, S, A, "transition"),
    ]
    ids = [h.id for h in history]
    assert ids == sorted(ids)
    assert all(h.name == "m" for h in history)
    assert [h.at for h in history] == sorted(h.at for h in history)
    with pytest.raises(ModelNotFoundError):
        await registry.history("nope")


async def test_history_matches_events_one_to_one(registry: Registry) -> None:
    await register_in_stage(registry, "m", P)
    await register_in_stage(registry, "m", P)
    await registry.rollback("m")

    history = await registry.history("m")
    events = await registry.events_since(0)

    assert len(events) == len(history)
    for h, e in zip(history, events, strict=True):
        assert (e.name, e.version) == (h.name, h.version)
        if h.kind == "register":
            assert e.kind == "version_registered"
        else:
            assert e.kind == "stage_changed"
            assert dict(e.payload) == {"from": h.from_stage, "to": h.to_stage, "kind": h.kind}


async def test_database_refuses_second_production_version_behind_code(
    registry: Registry, db_url: str
) -> None:
    await register_in_stage(registry, "m", P)
    other = await register_in_stage(registry, "m", S)

    with pytest.raises(IntegrityError):
        await execute_sql(
            db_url,
            "UPDATE model_versions SET stage = 'production' WHERE id = :id",
            {"id": other.id},
        )

    assert (await registry.get_version("m", other.version)).stage is S


async def test_desired_state_follows_promotions_and_archive(registry: Registry) -> None:
    empty = await registry.desired_state()
    assert (empty.event_id, dict(empty.production)) == (0, {})

    v1 = await register_in_stage(registry, "a", P)
    await register_in_stage(registry, "b", S)
    state = await registry.desired_state()
    assert set(state.production) == {"a"}
    assert (state.production["a"].version, state.production["a"].sha256) == (v1.version, v1.sha256)
    assert state.event_id == await registry.last_event_id()

    v2 = await register_in_stage(registry, "a", P)
    assert (await registry.desired_state()).production["a"].version == v2.version

    await registry.archive("a", v2.version, force=True)
    state = await registry.desired_state()
    assert dict(state.production) == {}
    assert state.event_id == await registry.last_event_id()
