"""Retraining runs: one running per model, heartbeat, finish, expiry of dead runs, reads,
racing gateways, and the health tables appearing on a database made before them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from registry import (
    ConflictError,
    ExperimentNotFoundError,
    ExperimentState,
    InvalidArgumentError,
    ModelNotFoundError,
    Registry,
    RetrainingInProgressError,
    RetrainingPreconditionError,
    RetrainingRun,
    RetrainingRunNotFoundError,
    RetrainingState,
    Stage,
    VersionNotFoundError,
)
from tests.helpers import execute_sql, experiment_in_state, race, register_in_stage

RUNNING = RetrainingState.RUNNING
FINISHED = [s for s in RetrainingState if s is not RUNNING]
RACERS = 8


async def _start(registry: Registry, model: str = "m", **kw: Any) -> RetrainingRun:
    fields: dict[str, Any] = {
        "trigger": "drift",
        "reason": "data drift on f0",
        "parent_version": "1.0.0",
        "owner": "gw-1:4242",
        "details": {"drift_report": 7},
    }
    fields.update(kw)
    return await registry.start_retraining(model, **fields)


async def _changes(registry: Registry) -> list[dict[str, Any]]:
    return [
        dict(e.payload) | {"model": e.name}
        for e in await registry.events_since(0)
        if e.kind == "retraining_changed"
    ]


@pytest.fixture
async def model(registry: Registry) -> Registry:
    """``registry`` with model "m": 1.0.0 in production, 1.0.1 in staging."""
    await register_in_stage(registry, "m", Stage.PRODUCTION, version="1.0.0")
    await register_in_stage(registry, "m", Stage.STAGING, version="1.0.1")
    return registry


async def test_start_retraining_stores_running_run_and_event(model: Registry) -> None:
    before = datetime.now(UTC)

    run = await _start(model)

    assert run.state is RUNNING
    assert (run.model, run.trigger, run.reason) == ("m", "drift", "data drift on f0")
    assert (run.parent_version, run.owner) == ("1.0.0", "gw-1:4242")
    assert run.details == {"drift_report": 7}
    assert run.started_at == run.heartbeat_at and run.started_at >= before
    assert run.started_at.tzinfo is not None
    assert (run.finished_at, run.new_version, run.experiment_id, run.error) == (None, "", None, "")
    assert await model.get_retraining_run(run.id) == run
    assert await _changes(model) == [{"id": run.id, "from": None, "to": "running", "model": "m"}]


async def test_start_retraining_without_parent_and_details(model: Registry) -> None:
    run = await _start(model, parent_version="", details=None)

    assert (run.parent_version, run.details) == ("", {})


async def test_start_retraining_unknown_model_or_parent_raises(model: Registry) -> None:
    with pytest.raises(ModelNotFoundError):
        await _start(model, "nope")
    with pytest.raises(VersionNotFoundError):
        await _start(model, parent_version="9.9.9")
    assert await model.list_retraining_runs() == []


async def test_start_retraining_while_running_raises_in_progress(model: Registry) -> None:
    running = await _start(model)

    with pytest.raises(RetrainingInProgressError) as err:
        await _start(model, owner="gw-2")

    assert isinstance(err.value, ConflictError)
    assert (err.value.model, err.value.running_id) == ("m", running.id)
    assert f"run {running.id}" in str(err.value)
    assert [r.id for r in await model.list_retraining_runs()] == [running.id]


async def test_start_retraining_other_model_while_one_runs(model: Registry) -> None:
    await register_in_stage(model, "n", Stage.PRODUCTION)
    await _start(model)

    other = await _start(model, "n")

    assert other.state is RUNNING and other.model == "n"


async def test_start_retraining_after_finish_starts_new_run(model: Registry) -> None:
    first = await _start(model)
    await model.finish_retraining(first.id, RetrainingState.REJECTED)

    second = await _start(model)

    assert second.id > first.id and second.state is RUNNING


_BAD_STARTS = {
    "trigger-bad": ({"trigger": "Drift!"}, "invalid retraining trigger"),
    "reason-long": ({"reason": "r" * 2001}, "2001 characters"),
    "owner-empty": ({"owner": ""}, "owner must name"),
    "owner-long": ({"owner": "o" * 257}, "owner has 257"),
    "parent-long": ({"parent_version": "1" * 65}, "parent_version has 65"),
    "details-nan": ({"details": {"x": float("nan")}}, "finite numbers"),
    "details-tuple": ({"details": ("a",)}, "JSON object"),
    "details-big": ({"details": {"x": "y" * 262_144}}, "at most 262144"),
}


@pytest.mark.parametrize(("change", "match"), _BAD_STARTS.values(), ids=_BAD_STARTS.keys())
async def test_start_retraining_bad_value_raises_invalid_argument_and_writes_nothing(
    model: Registry, change: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        await _start(model, **change)

    assert await model.list_retraining_runs() == []


async def test_heartbeat_retraining_moves_heartbeat_forward(model: Registry) -> None:
    run = await _start(model)

    beat = await model.heartbeat_retraining(run.id)

    assert beat.heartbeat_at > run.heartbeat_at
    assert beat.state is RUNNING and beat.started_at == run.started_at
    assert len(await _changes(model)) == 1  # heartbeats are not events


async def test_heartbeat_retraining_finished_run_raises_precondition(model: Registry) -> None:
    run = await _start(model)
    await model.finish_retraining(run.id, "cancelled")

    with pytest.raises(RetrainingPreconditionError, match="cancelled, not running"):
        await model.heartbeat_retraining(run.id)


@pytest.mark.parametrize("run_id", [42, 0, 2**63], ids=["unknown", "zero", "big"])
async def test_unknown_run_id_raises_not_found(model: Registry, run_id: int) -> None:
    for call in (
        model.get_retraining_run(run_id),
        model.heartbeat_retraining(run_id),
        model.finish_retraining(run_id, "failed"),
    ):
        with pytest.raises(RetrainingRunNotFoundError) as err:
            await call
        assert err.value.run_id == run_id


@pytest.mark.parametrize("state", FINISHED, ids=str)
async def test_finish_retraining_each_finished_state(
    model: Registry, state: RetrainingState
) -> None:
    run = await _start(model)
    before = datetime.now(UTC)

    done = await model.finish_retraining(
        run.id, state.value, new_version="1.0.1", error="", details={"rmse": 0.4}
    )

    assert done.state is state
    assert done.finished_at is not None and done.finished_at >= before
    assert done.new_version == "1.0.1"
    assert done.details == {"drift_report": 7, "rmse": 0.4}
    assert await model.get_retraining_run(run.id) == done
    assert (await _changes(model))[-1] == {
        "id": run.id,
        "from": "running",
        "to": state.value,
        "model": "m",
    }


async def test_finish_retraining_records_validation_experiment(registry: Registry) -> None:
    experiment = await experiment_in_state(registry, ExperimentState.RUNNING, name="m")
    run = await _start(registry, parent_version=experiment.spec.control_version)

    done = await registry.finish_retraining(
        run.id,
        RetrainingState.SUCCEEDED,
        new_version=experiment.spec.treatment_version,
        experiment_id=experiment.id,
    )

    assert (done.experiment_id, done.new_version) == (
        experiment.id,
        experiment.spec.treatment_version,
    )


async def test_finish_retraining_truncates_long_error(model: Registry) -> None:
    run = await _start(model)
    trace = "Traceback (most recent call last):\n" + "x" * 10_000

    done = await model.finish_retraining(run.id, RetrainingState.FAILED, error=trace)

    assert len(done.error) == 2000
    assert done.error.startswith("Traceback") and "more characters" in done.error


async def test_finish_retraining_twice_raises_precondition_and_keeps_first(
    model: Registry,
) -> None:
    run = await _start(model)
    first = await model.finish_retraining(run.id, RetrainingState.REJECTED)

    with pytest.raises(RetrainingPreconditionError, match="it is rejected, not running"):
        await model.finish_retraining(run.id, RetrainingState.SUCCEEDED, new_version="1.0.1")

    assert await model.get_retraining_run(run.id) == first


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"state": "running"}, "not a finished state"),
        ({"state": "done"}, "unknown retraining state 'done'"),
        ({"state": "succeeded"}, "cannot succeed without the new version"),
        ({"state": "failed", "error": 5}, "error must be a string"),
        ({"state": "failed", "details": {"x": float("nan")}}, "finite numbers"),
        ({"state": "failed", "experiment_id": "1"}, "id must be an integer"),
        ({"state": "failed", "new_version": "v" * 65}, "new_version has 65"),
    ],
    ids=lambda v: str(v)[:40],
)
async def test_finish_retraining_bad_value_raises_invalid_argument_and_keeps_run(
    model: Registry, kwargs: dict[str, Any], match: str
) -> None:
    run = await _start(model)

    with pytest.raises(InvalidArgumentError, match=match):
        await model.finish_retraining(run.id, **kwargs)

    assert await model.get_retraining_run(run.id) == run


async def test_finish_retraining_merged_details_too_big_changes_nothing(model: Registry) -> None:
    run = await _start(model, details={"a": "x" * 200_000})

    with pytest.raises(InvalidArgumentError, match="at most 262144"):
        await model.finish_retraining(run.id, "failed", details={"b": "y" * 100_000})

    assert await model.get_retraining_run(run.id) == run


async def test_finish_retraining_unknown_version_or_experiment_raises(model: Registry) -> None:
    run = await _start(model)

    with pytest.raises(VersionNotFoundError):
        await model.finish_retraining(run.id, "succeeded", new_version="9.9.9")
    with pytest.raises(ExperimentNotFoundError):
        await model.finish_retraining(run.id, "failed", experiment_id=77)
    assert (await model.get_retraining_run(run.id)).state is RUNNING


async def test_finish_retraining_experiment_of_other_model_raises(model: Registry) -> None:
    other = await experiment_in_state(model, ExperimentState.RUNNING, name="other")
    run = await _start(model)

    with pytest.raises(InvalidArgumentError, match="of model 'other', not of 'm'"):
        await model.finish_retraining(run.id, "failed", experiment_id=other.id)


async def test_expire_retraining_fails_runs_without_recent_heartbeat(model: Registry) -> None:
    await register_in_stage(model, "n", Stage.PRODUCTION)
    a = await _start(model)
    b = await _start(model, "n", parent_version="")

    assert await model.expire_retraining(stale_after=timedelta(hours=1)) == []
    expired = await model.expire_retraining(stale_after=timedelta(0))

    assert [r.id for r in expired] == [a.id, b.id]
    for run in expired:
        assert run.state is RetrainingState.FAILED
        assert run.finished_at is not None
        assert "no heartbeat since" in run.error and "gw-1:4242" in run.error
        assert await model.get_retraining_run(run.id) == run
    assert await model.expire_retraining(stale_after=timedelta(0)) == []
    assert [c["to"] for c in await _changes(model)] == ["running", "running", "failed", "failed"]
    # The model is free again, and the dead run's owner learns it on its next call.
    assert (await _start(model)).state is RUNNING
    with pytest.raises(RetrainingPreconditionError, match="no heartbeat since"):
        await model.heartbeat_retraining(a.id)
    with pytest.raises(RetrainingPreconditionError):
        await model.finish_retraining(a.id, RetrainingState.SUCCEEDED, new_version="1.0.1")


async def test_expire_retraining_leaves_finished_runs(model: Registry) -> None:
    run = await _start(model)
    done = await model.finish_retraining(run.id, RetrainingState.CANCELLED)

    assert await model.expire_retraining(stale_after=timedelta(0)) == []
    assert await model.get_retraining_run(run.id) == done


@pytest.mark.parametrize("stale_after", [timedelta(seconds=-1), 60, timedelta(days=40_000)])
async def test_expire_retraining_bad_duration_raises_invalid_argument(
    model: Registry, stale_after: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="stale_after must be a timedelta"):
        await model.expire_retraining(stale_after=stale_after)


async def test_list_retraining_runs_newest_first_with_filters(model: Registry) -> None:
    await register_in_stage(model, "n", Stage.PRODUCTION)
    a = await _start(model)
    await model.finish_retraining(a.id, RetrainingState.FAILED, error="boom")
    b = await _start(model, "n", parent_version="")
    c = await _start(model)

    def ids(runs: list[RetrainingRun]) -> list[int]:
        return [r.id for r in runs]

    assert ids(await model.list_retraining_runs()) == [c.id, b.id, a.id]
    assert ids(await model.list_retraining_runs(model="m")) == [c.id, a.id]
    assert ids(await model.list_retraining_runs(state="running")) == [c.id, b.id]
    assert ids(await model.list_retraining_runs(state=RetrainingState.FAILED)) == [a.id]
    assert ids(await model.list_retraining_runs(model="m", state="running")) == [c.id]
    assert ids(await model.list_retraining_runs(limit=1, before_id=c.id)) == [b.id]
    assert ids(await model.list_retraining_runs(before_id=a.id)) == []


async def test_list_retraining_runs_bad_arguments_raise(model: Registry) -> None:
    with pytest.raises(ModelNotFoundError):
        await model.list_retraining_runs(model="nope")
    for kwargs in ({"state": "paused"}, {"limit": 0}, {"limit": 1001}, {"before_id": 0}):
        with pytest.raises(InvalidArgumentError):
            await model.list_retraining_runs(**kwargs)


async def test_concurrent_start_retraining_one_model_starts_exactly_one_run(
    model: Registry, db_url: str
) -> None:
    results = await race(db_url, RACERS, lambda reg, i: _start(reg, owner=f"gw-{i}"))

    winners = [r for r in results if isinstance(r, RetrainingRun)]
    losers = [r for r in results if isinstance(r, RetrainingInProgressError)]
    assert len(winners) == 1, results
    assert len(losers) == RACERS - 1, results
    assert all(e.running_id == winners[0].id for e in losers)
    assert [r.id for r in await model.list_retraining_runs()] == [winners[0].id]
    assert [c["id"] for c in await _changes(model)] == [winners[0].id]


async def test_concurrent_finish_and_expire_have_exactly_one_winner(
    model: Registry, db_url: str
) -> None:
    run = await _start(model)

    async def one(reg: Registry, i: int) -> Any:
        if i % 2:
            return await reg.expire_retraining(stale_after=timedelta(0))
        return await reg.finish_retraining(run.id, RetrainingState.CANCELLED, error=f"by {i}")

    results = await race(db_url, 4, one)

    finished = [r for r in results if isinstance(r, RetrainingRun)]
    expired = [r for r in results if isinstance(r, list) and r]
    refused = [r for r in results if isinstance(r, RetrainingPreconditionError)]
    assert len(finished) + len(expired) == 1, results
    assert len(refused) == len([r for r in results if not isinstance(r, list)]) - len(finished)
    stored = await model.get_retraining_run(run.id)
    assert stored.state is not RUNNING
    assert [c["to"] for c in await _changes(model)] == ["running", stored.state.value]


async def test_open_database_made_before_health_tables_creates_them(
    registry: Registry, db_url: str
) -> None:
    await register_in_stage(registry, "m", Stage.PRODUCTION, version="1.0.0")
    await registry.close()
    for table in ("alerts", "drift_reports", "retraining_runs"):
        await execute_sql(db_url, f"DROP TABLE {table}")

    async with await Registry.open(db_url) as again:
        alert, new = await again.raise_alert(
            "k", "drift", "warning", "drifted", cooldown=timedelta(minutes=5)
        )
        report = await again.record_drift_report(
            model="m",
            version="1.0.0",
            drift=False,
            kinds=[],
            live_rows=1,
            outcomes=0,
            summary="",
            details=None,
        )
        run = await again.start_retraining(
            "m", trigger="admin", reason="", parent_version="1.0.0", owner="cli"
        )
        assert new and await again.get_alert(alert.id) == alert
        assert await again.get_drift_report(report.id) == report
        assert await again.get_retraining_run(run.id) == run
        with pytest.raises(IntegrityError):  # the one-running index came too
            await execute_sql(
                db_url,
                'INSERT INTO retraining_runs (model_id, state, "trigger", reason, '
                "parent_version, owner, started_at, heartbeat_at, new_version, error, details) "
                'SELECT model_id, state, "trigger", reason, parent_version, owner, started_at, '
                "heartbeat_at, new_version, error, details FROM retraining_runs",
            )
