"""Experiments: creation and its checks, the state table, audit and events, desired state."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from registry import (
    ExperimentConflictError,
    ExperimentNotFoundError,
    ExperimentPreconditionError,
    ExperimentState,
    InvalidArgumentError,
    ModelNotFoundError,
    Registry,
    Stage,
    VersionNotFoundError,
)
from tests.helpers import (
    execute_sql,
    experiment_in_state,
    experiment_pair,
    fake_artifact,
    make_experiment_spec,
    make_spec,
    register_in_stage,
)

C, R, P = ExperimentState.CREATED, ExperimentState.RUNNING, ExperimentState.PAUSED
DONE, STOP = ExperimentState.COMPLETED, ExperimentState.STOPPED

# Written out here, independently of registry/experiments.py, from the specification.
VALID = {(C, R), (C, STOP), (R, P), (R, DONE), (R, STOP), (P, R), (P, DONE), (P, STOP)}
ALL_PAIRS = list(itertools.product(ExperimentState, ExperimentState))


def _pair_id(pair: tuple[ExperimentState, ExperimentState]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


async def _counts(registry: Registry, experiment_id: int) -> tuple[int, int]:
    return len(await registry.experiment_history(experiment_id)), await registry.last_event_id()


async def test_create_experiment_running_stores_spec_and_records_it(registry: Registry) -> None:
    control, treatment = await experiment_pair(registry)
    end = datetime.now(UTC) + timedelta(days=2)
    spec = make_experiment_spec(
        control=control.version,
        treatment=treatment.version,
        strategy="thompson_sampling",
        metric="accuracy",
        split=0.2,
        epsilon=0.0,
        confidence=0.99,
        min_detectable_effect=0.01,
        min_samples=10,
        max_loss=5.0,
        end_time=end,
        auto_promote=True,
        description="does v2 trade better",
    )
    before_event = await registry.last_event_id()

    exp = await registry.create_experiment(spec, actor="alice", reason="weekly challenger")

    assert exp.spec == spec
    assert exp.state is R
    assert (exp.control_sha256, exp.treatment_sha256) == (control.sha256, treatment.sha256)
    assert exp.started_at == exp.created_at
    assert (exp.ended_at, exp.end_reason, exp.winner, exp.tau2) == (None, "", "", None)
    assert dict(exp.final_results) == {}
    assert await registry.get_experiment(exp.id) == exp
    [audit] = await registry.experiment_history(exp.id)
    assert (audit.experiment_id, audit.from_state, audit.to_state) == (exp.id, None, R)
    assert (audit.actor, audit.reason) == ("alice", "weekly challenger")
    [event] = await registry.events_since(before_event)
    assert (event.kind, event.name, event.version) == ("experiment_changed", "m", "")
    assert dict(event.payload) == {"id": exp.id, "from": None, "to": "running"}


async def test_create_experiment_without_start_is_created_and_not_active(
    registry: Registry,
) -> None:
    first = await experiment_in_state(registry, C)
    # A created experiment does not hold the model: another may run beside it.
    spec = make_experiment_spec(control="1.0.0", treatment="1.0.1")
    running = await registry.create_experiment(spec)

    assert first.state is C
    assert first.started_at is None
    assert running.state is R
    stopped = await registry.transition_experiment(first.id, STOP, reason="superseded")
    assert stopped.state is STOP


async def test_list_experiments_filters_by_model_and_state_in_id_order(
    registry: Registry,
) -> None:
    a1 = await experiment_in_state(registry, DONE, "a")
    b1 = await experiment_in_state(registry, P, "b")
    a2 = await registry.create_experiment(make_experiment_spec("a"), start=False)
    a3 = await registry.create_experiment(make_experiment_spec("a"))

    assert [e.id for e in await registry.list_experiments()] == [a1.id, b1.id, a2.id, a3.id]
    assert [e.id for e in await registry.list_experiments(model="a")] == [a1.id, a2.id, a3.id]
    active = await registry.list_experiments(states=[R, "paused"])
    assert [(e.id, e.state) for e in active] == [(b1.id, P), (a3.id, R)]
    assert await registry.list_experiments(model="b", states=[DONE]) == []
    with pytest.raises(ModelNotFoundError):
        await registry.list_experiments(model="nope")
    with pytest.raises(InvalidArgumentError, match="unknown experiment state 'live'"):
        await registry.list_experiments(states=["live"])


async def test_get_experiment_unknown_id_raises_not_found(registry: Registry) -> None:
    with pytest.raises(ExperimentNotFoundError, match="experiment 42 does not exist"):
        await registry.get_experiment(42)
    with pytest.raises(ExperimentNotFoundError):
        await registry.experiment_history(42)
    with pytest.raises(ExperimentNotFoundError):
        await registry.transition_experiment(42, STOP)
    with pytest.raises(ExperimentNotFoundError):
        await registry.set_experiment_tau2(42, 1.0)


# uint64 ids from the wire that no database integer can hold, and ids no row can have.
@pytest.mark.parametrize("experiment_id", [2**63, 2**64 - 1, 0, -1])
async def test_experiment_out_of_range_id_raises_not_found(
    registry: Registry, experiment_id: int
) -> None:
    with pytest.raises(ExperimentNotFoundError, match=f"experiment {experiment_id} does not"):
        await registry.get_experiment(experiment_id)
    with pytest.raises(ExperimentNotFoundError):
        await registry.experiment_history(experiment_id)
    with pytest.raises(ExperimentNotFoundError):
        await registry.transition_experiment(experiment_id, STOP)
    with pytest.raises(ExperimentNotFoundError):
        await registry.set_experiment_tau2(experiment_id, 1.0)
    with pytest.raises(ExperimentNotFoundError):
        await registry.arm_aggregates(experiment_id)


async def test_create_experiment_unknown_model_or_version_raises_not_found(
    registry: Registry,
) -> None:
    await experiment_pair(registry)

    with pytest.raises(ModelNotFoundError, match="'nope'"):
        await registry.create_experiment(make_experiment_spec("nope"))
    with pytest.raises(VersionNotFoundError, match=r"'9\.9\.9'"):
        await registry.create_experiment(make_experiment_spec(treatment="9.9.9"))
    assert await registry.list_experiments() == []


_FUTURE = datetime.now(UTC) + timedelta(days=365)

BAD_FIELDS: list[tuple[str, Any, str]] = [
    ("strategy", "ucb", "random, weighted, epsilon_greedy, thompson_sampling"),
    ("metric", "profit", "squared_error, absolute_error, accuracy, reward"),
    ("split", 0.0, "0 < split < 1"),
    ("split", 1.0, "0 < split < 1"),
    ("split", float("nan"), "0 < split < 1"),
    ("epsilon", -0.1, "0 <= epsilon <= 1"),
    ("epsilon", 1.5, "0 <= epsilon <= 1"),
    ("confidence", 1.0, "0 < confidence < 1"),
    ("confidence", 0.0, "0 < confidence < 1"),
    ("min_samples", 0, ">= 1"),
    ("min_samples", 2.5, ">= 1"),
    ("min_detectable_effect", -0.5, ">= 0"),
    ("max_loss", 0.0, "max_loss > 0"),
    ("max_loss", float("inf"), "max_loss > 0"),
    ("end_time", _FUTURE.replace(tzinfo=None), "timezone-aware"),
    ("end_time", datetime.now(UTC) - timedelta(seconds=1), "in the future"),
    ("split", True, "finite number"),
    ("model", "", "non-empty string"),
    ("control_version", "", "non-empty string"),
    ("treatment_version", None, "non-empty string"),
    ("auto_promote", "yes", "True or False"),
    ("name", 7, "must be a string"),
    ("description", None, "must be a string"),
]


async def test_create_experiment_bad_value_raises_invalid_argument_naming_field(
    registry: Registry,
) -> None:
    await experiment_pair(registry)
    before = await registry.last_event_id()

    for field, value, expected in BAD_FIELDS:
        with pytest.raises(InvalidArgumentError) as err:
            await registry.create_experiment(make_experiment_spec(**{field: value}))
        message = str(err.value)
        assert f"ExperimentSpec.{field}" in message, (field, value, message)
        assert expected in message, (field, value, message)

    assert await registry.list_experiments() == []
    assert await registry.last_event_id() == before


async def test_create_experiment_spec_of_wrong_type_raises_invalid_argument(
    registry: Registry,
) -> None:
    await experiment_pair(registry)

    with pytest.raises(InvalidArgumentError, match="spec must be an ExperimentSpec, got dict"):
        await registry.create_experiment({"model": "m"})  # type: ignore[arg-type]

    assert await registry.list_experiments() == []


async def test_create_experiment_versions_with_different_features_are_refused(
    registry: Registry,
) -> None:
    control, _ = await experiment_pair(registry)
    other = await registry.register_version("m", make_spec(("f0", "f1", "f9")), fake_artifact())
    reordered = await registry.register_version("m", make_spec(("f2", "f1", "f0")), fake_artifact())

    with pytest.raises(ExperimentPreconditionError) as err:
        await registry.create_experiment(
            make_experiment_spec(control=control.version, treatment=other.version)
        )
    assert "different features" in str(err.value)
    assert "control only: ['f2'], treatment only: ['f9']" in str(err.value)
    with pytest.raises(ExperimentPreconditionError, match="different order"):
        await registry.create_experiment(
            make_experiment_spec(control=control.version, treatment=reordered.version)
        )
    assert await registry.list_experiments() == []


async def test_create_experiment_same_or_archived_version_is_refused(registry: Registry) -> None:
    control, treatment = await experiment_pair(registry)

    with pytest.raises(ExperimentPreconditionError, match="two different versions"):
        await registry.create_experiment(
            make_experiment_spec(control=control.version, treatment=control.version)
        )
    await registry.archive("m", treatment.version)
    with pytest.raises(ExperimentPreconditionError, match=r"treatment version '1\.0\.1'.*archived"):
        await registry.create_experiment(make_experiment_spec())
    assert await registry.list_experiments() == []


async def test_create_experiment_while_one_is_active_raises_conflict_naming_it(
    registry: Registry,
) -> None:
    paused = await experiment_in_state(registry, P)
    before = await registry.last_event_id()

    with pytest.raises(ExperimentConflictError) as err:
        await registry.create_experiment(make_experiment_spec())

    assert err.value.active_id == paused.id
    assert f"experiment {paused.id}" in str(err.value)
    assert [e.id for e in await registry.list_experiments()] == [paused.id]
    assert await registry.last_event_id() == before
    # Created (not started) experiments may wait beside it; starting one is refused.
    waiting = await registry.create_experiment(make_experiment_spec(), start=False)
    with pytest.raises(ExperimentConflictError, match=f"experiment {paused.id}"):
        await registry.transition_experiment(waiting.id, R)
    await registry.transition_experiment(paused.id, DONE)
    assert (await registry.transition_experiment(waiting.id, R)).state is R


@pytest.mark.parametrize("pair", [p for p in ALL_PAIRS if p in VALID], ids=_pair_id)
async def test_transition_experiment_valid_move_changes_state_and_records_it(
    registry: Registry, pair: tuple[ExperimentState, ExperimentState]
) -> None:
    src, dst = pair
    exp = await experiment_in_state(registry, src)
    before_history, before_event = await _counts(registry, exp.id)

    moved = await registry.transition_experiment(exp.id, dst, actor="bob", reason="because")

    assert moved.state is dst
    assert await registry.get_experiment(exp.id) == moved
    if dst is R:
        assert moved.started_at is not None
    ended = dst in (DONE, STOP)
    assert (moved.ended_at is not None) is ended
    assert moved.end_reason == ("because" if ended else "")
    history = await registry.experiment_history(exp.id)
    assert len(history) == before_history + 1
    last = history[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (src, dst, "bob", "because")
    events = await registry.events_since(before_event)
    assert [(e.kind, e.name, dict(e.payload)) for e in events] == [
        ("experiment_changed", "m", {"id": exp.id, "from": src.value, "to": dst.value})
    ]


@pytest.mark.parametrize("src", list(ExperimentState), ids=lambda s: s.value)
async def test_transition_experiment_invalid_move_raises_and_writes_nothing(
    registry: Registry, src: ExperimentState
) -> None:
    exp = await experiment_in_state(registry, src)
    before = await _counts(registry, exp.id)
    allowed = [t.value for (f, t) in VALID if f is src]
    invalid = [dst for dst in ExperimentState if (src, dst) not in VALID]
    assert invalid  # every state refuses at least the move to itself

    for dst in invalid:
        with pytest.raises(ExperimentPreconditionError) as err:
            await registry.transition_experiment(exp.id, dst, reason="try")
        message = str(err.value)
        assert f"experiment {exp.id} from {src.value} to {dst.value}" in message
        assert all(target in message for target in allowed), message
        if not allowed:
            assert f"{src.value} is final" in message

    assert await registry.get_experiment(exp.id) == exp
    assert await _counts(registry, exp.id) == before


async def test_transition_experiment_completion_stores_winner_and_results(
    registry: Registry,
) -> None:
    exp = await experiment_in_state(registry, R)
    results = {"p_value": 0.003, "lift": -0.12, "samples": [510, 498], "arms": {"c": 1}}

    done = await registry.transition_experiment(
        exp.id,
        DONE,
        actor="monitor",
        reason="treatment significantly better",
        winner="treatment",
        final_results=results,
    )

    assert (done.state, done.winner, done.end_reason) == (
        DONE,
        "treatment",
        "treatment significantly better",
    )
    assert dict(done.final_results) == results
    assert await registry.get_experiment(exp.id) == done
    assert done.ended_at is not None and done.ended_at >= done.started_at


async def test_transition_experiment_bad_result_arguments_raise_invalid_argument(
    registry: Registry,
) -> None:
    exp = await experiment_in_state(registry, R)
    before = await _counts(registry, exp.id)

    with pytest.raises(InvalidArgumentError, match="winner 'both'"):
        await registry.transition_experiment(exp.id, DONE, winner="both")
    with pytest.raises(InvalidArgumentError, match="only when an experiment ends"):
        await registry.transition_experiment(exp.id, P, winner="control")
    with pytest.raises(InvalidArgumentError, match="finite numbers"):
        await registry.transition_experiment(exp.id, DONE, final_results={"x": float("nan")})
    with pytest.raises(InvalidArgumentError, match="unknown experiment state"):
        await registry.transition_experiment(exp.id, "finished")
    with pytest.raises(InvalidArgumentError, match="final_results must be a mapping, got list"):
        await registry.transition_experiment(exp.id, DONE, final_results=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="final_results must be JSON-serializable"):
        await registry.transition_experiment(exp.id, DONE, final_results={"when": datetime.now()})

    assert await registry.get_experiment(exp.id) == exp
    assert await _counts(registry, exp.id) == before


async def test_transition_experiment_results_of_any_mapping_are_stored_as_json(
    registry: Registry,
) -> None:
    exp = await experiment_in_state(registry, R)
    results = MappingProxyType({"samples": (510, 498), "arms": {"c": 1}})

    done = await registry.transition_experiment(exp.id, STOP, final_results=results)

    assert dict(done.final_results) == {"samples": [510, 498], "arms": {"c": 1}}
    assert await registry.get_experiment(exp.id) == done


async def test_transition_experiment_resume_with_archived_version_is_refused(
    registry: Registry,
) -> None:
    exp = await experiment_in_state(registry, P)
    await registry.archive("m", exp.spec.treatment_version)

    with pytest.raises(ExperimentPreconditionError, match="archived"):
        await registry.transition_experiment(exp.id, R)

    assert (await registry.get_experiment(exp.id)).state is P
    assert (await registry.transition_experiment(exp.id, STOP)).state is STOP


async def test_experiment_history_matches_events_one_to_one(registry: Registry) -> None:
    exp = await experiment_in_state(registry, C)
    for step in (R, P, R, DONE):
        await registry.transition_experiment(exp.id, step, actor="ops")

    history = await registry.experiment_history(exp.id)
    events = [e for e in await registry.events_since(0) if e.kind == "experiment_changed"]

    assert [(h.from_state, h.to_state) for h in history] == [
        (None, C),
        (C, R),
        (R, P),
        (P, R),
        (R, DONE),
    ]
    assert [h.id for h in history] == sorted(h.id for h in history)
    assert [dict(e.payload) for e in events] == [
        {
            "id": exp.id,
            "from": None if h.from_state is None else h.from_state.value,
            "to": h.to_state.value,
        }
        for h in history
    ]
    # Resuming keeps the first start time.
    assert (await registry.get_experiment(exp.id)).started_at == history[1].at


async def test_database_refuses_second_active_experiment_behind_code(
    registry: Registry, db_url: str
) -> None:
    await experiment_in_state(registry, R)
    waiting = await registry.create_experiment(make_experiment_spec(), start=False)

    with pytest.raises(IntegrityError):
        await execute_sql(
            db_url, "UPDATE experiments SET state = 'paused' WHERE id = :id", {"id": waiting.id}
        )

    assert (await registry.get_experiment(waiting.id)).state is C


async def test_set_experiment_tau2_first_writer_wins(registry: Registry) -> None:
    exp = await experiment_in_state(registry, R)
    before = await _counts(registry, exp.id)

    first = await registry.set_experiment_tau2(exp.id, 0.25)
    second = await registry.set_experiment_tau2(exp.id, 9.0)

    assert first.tau2 == second.tau2 == 0.25
    assert (await registry.get_experiment(exp.id)).tau2 == 0.25
    assert await _counts(registry, exp.id) == before
    with pytest.raises(InvalidArgumentError, match="tau2"):
        await registry.set_experiment_tau2(exp.id, 0.0)


async def test_desired_state_routes_running_experiments_only(registry: Registry) -> None:
    running = await experiment_in_state(registry, R, "a", strategy="epsilon_greedy", split=0.3)
    await experiment_in_state(registry, P, "b")
    await experiment_in_state(registry, C, "c")
    await experiment_in_state(registry, DONE, "d")

    state = await registry.desired_state()

    assert state.event_id == await registry.last_event_id()
    assert set(state.production) == {"a", "b", "c", "d"}
    assert set(state.experiments) == {"a"}
    route = state.experiments["a"]
    assert (route.id, route.model, route.strategy, route.split) == (
        running.id,
        "a",
        "epsilon_greedy",
        0.3,
    )
    assert (route.epsilon, route.metric, route.min_samples) == (0.1, "squared_error", 50)
    assert (route.control.name, route.control.version, route.control.sha256) == (
        "a",
        running.spec.control_version,
        running.control_sha256,
    )
    assert (route.treatment.version, route.treatment.sha256) == (
        running.spec.treatment_version,
        running.treatment_sha256,
    )
    await registry.transition_experiment(running.id, P)
    assert dict((await registry.desired_state()).experiments) == {}


async def test_experiment_changed_events_do_not_affect_stage_history(registry: Registry) -> None:
    exp = await experiment_in_state(registry, R)
    stage_history = await registry.history("m")

    await registry.transition_experiment(exp.id, STOP)

    assert await registry.history("m") == stage_history
    assert (await registry.get_version("m", exp.spec.control_version)).stage is Stage.PRODUCTION


@pytest.mark.parametrize("stage", [Stage.DEVELOPMENT, Stage.PRODUCTION])
async def test_create_experiment_auto_promote_needs_a_staging_treatment(registry, stage):
    control = await register_in_stage(
        registry, "m", Stage.PRODUCTION if stage is Stage.DEVELOPMENT else Stage.STAGING
    )
    treatment = await register_in_stage(registry, "m", stage)
    spec = make_experiment_spec("m", control.version, treatment.version, auto_promote=True)
    with pytest.raises(
        ExperimentPreconditionError, match="auto_promote needs the treatment in staging"
    ):
        await registry.create_experiment(spec, actor="test")
    plain = make_experiment_spec("m", control.version, treatment.version, auto_promote=False)
    assert (await registry.create_experiment(plain, actor="test")).spec.auto_promote is False


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("name", "n" * 257, "ExperimentSpec.name has 257"), ("description", "d" * 4097, "4097")],
)
async def test_create_experiment_text_is_bounded(registry, field, value, expected):
    control, treatment = await experiment_pair(registry)
    spec = make_experiment_spec("m", control.version, treatment.version, **{field: value})
    with pytest.raises(InvalidArgumentError, match=expected):
        await registry.create_experiment(spec, actor="test")
    experiment = await registry.create_experiment(
        make_experiment_spec("m", control.version, treatment.version), actor="test"
    )
    with pytest.raises(InvalidArgumentError, match="reason has 4097"):
        await registry.transition_experiment(
            experiment.id, ExperimentState.PAUSED, actor="t", reason="r" * 4097
        )
    assert (await registry.get_experiment(experiment.id)).state is ExperimentState.RUNNING
