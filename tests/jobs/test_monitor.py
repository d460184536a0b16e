"""The monitor's decisions on a real registry, fed simulated metric values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gateway.experiments.tracker import ExperimentTracker
from gateway.jobs.monitor import Monitor
from gateway.operations import Operations
from registry.entities import ExperimentState, Stage
from registry.store.registry import Registry
from tests.helpers import experiment_pair, make_experiment_spec, make_outcome, make_prediction


@pytest.fixture
async def registry(tmp_path):
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}")
    yield reg
    await reg.close()


async def _experiment(registry, **overrides):
    # Real models: an auto-promotion loads and probes the treatment before committing.
    control, treatment = await experiment_pair(registry, servable=True)
    spec = make_experiment_spec("m", control.version, treatment.version, **overrides)
    return await registry.create_experiment(spec, actor="test")


_counter = iter(range(10**9))


async def _feed(registry, experiment, arm: str, values) -> None:
    """Log one single-row prediction and its outcome per metric value."""
    ids = [f"{arm}-{next(_counter)}" for _ in values]
    await registry.write_predictions(
        [make_prediction(i, arm=arm, experiment_id=experiment.id) for i in ids]
    )
    await registry.record_outcomes(
        [
            make_outcome(i, float(v), metric_value=float(v), experiment_id=experiment.id, arm=arm)
            for i, v in zip(ids, values, strict=True)
        ]
    )


def _monitor(registry, now=None):
    clock = (lambda: now) if now else (lambda: datetime.now(UTC))
    return Monitor(Operations(registry), clock=clock), None


@pytest.mark.parametrize(
    ("metric", "treatment_shift", "expected_winner"),
    [
        ("squared_error", -1.0, "treatment"),  # lower error: treatment better
        ("squared_error", +1.0, "control"),
        ("reward", +1.0, "treatment"),  # higher reward: treatment better
        ("reward", -1.0, "control"),
    ],
)
async def test_monitor_calls_the_winner_in_the_metrics_direction(
    registry, metric, treatment_shift, expected_winner
):
    experiment = await _experiment(registry, metric=metric, min_samples=50)
    rng = np.random.default_rng(7)
    monitor, _ = _monitor(registry)
    for _ in range(20):
        await _feed(registry, experiment, "control", rng.normal(10.0, 1.0, 25))
        await _feed(registry, experiment, "treatment", rng.normal(10.0 + treatment_shift, 1.0, 25))
        await monitor.tick()
        if (await registry.get_experiment(experiment.id)).state is not ExperimentState.RUNNING:
            break
    ended = await registry.get_experiment(experiment.id)
    assert ended.state is ExperimentState.COMPLETED
    assert ended.winner == expected_winner
    assert ended.final_results["winner"] == expected_winner
    assert "sequential test decisive" in ended.end_reason
    ended_once = [t.to_state for t in await registry.experiment_history(experiment.id)]
    assert ended_once.count(ExperimentState.COMPLETED) == 1
    # No auto_promote: production is untouched.
    assert (await registry.production_version("m")).version == ended.spec.control_version


async def test_monitor_waits_for_min_samples_even_when_decisive(registry):
    experiment = await _experiment(registry, metric="reward", min_samples=500)
    rng = np.random.default_rng(1)
    monitor, _ = _monitor(registry)
    await _feed(registry, experiment, "control", rng.normal(0.0, 1.0, 200))
    await _feed(registry, experiment, "treatment", rng.normal(2.0, 1.0, 200))
    await monitor.tick()
    assert (await registry.get_experiment(experiment.id)).state is ExperimentState.RUNNING


async def test_monitor_stops_early_on_significant_max_loss(registry):
    experiment = await _experiment(registry, metric="reward", max_loss=0.5, min_samples=10_000)
    rng = np.random.default_rng(3)
    monitor, _ = _monitor(registry)
    for _ in range(30):
        await _feed(registry, experiment, "control", rng.normal(5.0, 1.0, 25))
        await _feed(registry, experiment, "treatment", rng.normal(3.0, 1.0, 25))
        await monitor.tick()
        if (await registry.get_experiment(experiment.id)).state is not ExperimentState.RUNNING:
            break
    ended = await registry.get_experiment(experiment.id)
    assert ended.state is ExperimentState.STOPPED
    assert "max_loss=0.5" in ended.end_reason


async def test_monitor_does_not_stop_for_a_loss_within_max_loss(registry):
    experiment = await _experiment(registry, metric="reward", max_loss=5.0, min_samples=10_000)
    rng = np.random.default_rng(4)
    monitor, _ = _monitor(registry)
    for _ in range(10):
        await _feed(registry, experiment, "control", rng.normal(5.0, 1.0, 25))
        await _feed(registry, experiment, "treatment", rng.normal(4.8, 1.0, 25))
        await monitor.tick()
    assert (await registry.get_experiment(experiment.id)).state is ExperimentState.RUNNING


async def test_monitor_completes_at_end_time_and_keeps_final_results(registry):
    end = datetime.now(UTC) + timedelta(hours=1)
    experiment = await _experiment(registry, metric="absolute_error", end_time=end)
    rng = np.random.default_rng(5)
    await _feed(registry, experiment, "control", rng.normal(1.0, 1.0, 30))
    await _feed(registry, experiment, "treatment", rng.normal(1.0, 1.0, 30))
    monitor, _ = _monitor(registry, now=end + timedelta(seconds=1))
    await monitor.tick()
    ended = await registry.get_experiment(experiment.id)
    assert ended.state is ExperimentState.COMPLETED
    assert ended.end_reason == "end time reached" and ended.winner == ""
    assert ended.final_results["control"]["outcomes"] == 30
    # Outcomes after the end do not change the stored results.
    await _feed(registry, experiment, "control", rng.normal(9.0, 1.0, 30))
    assert (await registry.get_experiment(experiment.id)).final_results == ended.final_results


async def test_auto_promote_moves_the_winning_treatment_to_production(registry):
    experiment = await _experiment(registry, metric="reward", auto_promote=True, min_samples=50)
    rng = np.random.default_rng(9)
    monitor, _ = _monitor(registry)
    for _ in range(20):
        await _feed(registry, experiment, "control", rng.normal(0.0, 1.0, 25))
        await _feed(registry, experiment, "treatment", rng.normal(1.0, 1.0, 25))
        await monitor.tick()
    version = await registry.get_version("m", experiment.spec.treatment_version)
    assert version.stage is Stage.PRODUCTION
    last = (await registry.history("m"))[-1]
    assert f"auto-promoted by experiment {experiment.id}" in last.reason
    assert last.actor == "galgate-monitor"


async def test_two_monitors_end_an_experiment_once(registry, tmp_path):
    import asyncio

    experiment = await _experiment(registry, metric="reward", auto_promote=True, min_samples=50)
    rng = np.random.default_rng(11)
    await _feed(registry, experiment, "control", rng.normal(0.0, 1.0, 400))
    await _feed(registry, experiment, "treatment", rng.normal(1.0, 1.0, 400))
    other = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}")
    try:
        first, _ = _monitor(registry)
        second, _ = _monitor(other)
        await asyncio.gather(first.tick(), second.tick())
    finally:
        await other.close()
    history = await registry.experiment_history(experiment.id)
    assert [t.to_state for t in history].count(ExperimentState.COMPLETED) == 1
    promotions = [t for t in await registry.history("m") if t.to_stage is Stage.PRODUCTION]
    assert sum(t.actor == "galgate-monitor" for t in promotions) == 1


async def test_auto_promote_refuses_a_treatment_that_left_staging(registry):
    experiment = await _experiment(registry, metric="reward", auto_promote=True, min_samples=50)
    treatment = experiment.spec.treatment_version
    await registry.transition("m", treatment, Stage.DEVELOPMENT, actor="test")
    rng = np.random.default_rng(9)
    monitor, _ = _monitor(registry)
    for _ in range(20):
        await _feed(registry, experiment, "control", rng.normal(0.0, 1.0, 25))
        await _feed(registry, experiment, "treatment", rng.normal(1.0, 1.0, 25))
        await monitor.tick()
    ended = await registry.get_experiment(experiment.id)
    assert (ended.state, ended.winner) == (ExperimentState.COMPLETED, "treatment")
    # The stage machine holds: development never jumps to production, and the audit says why.
    assert (await registry.get_version("m", treatment)).stage is Stage.DEVELOPMENT
    assert (await registry.production_version("m")).version == experiment.spec.control_version
    assert f"not auto-promoted: treatment {treatment} is in development" in ended.end_reason
    audit = (await registry.experiment_history(experiment.id))[-1]
    assert "not auto-promoted" in audit.reason


async def test_decisions_replay_from_the_stored_looks_in_any_process(registry):
    """The state is the replay of the stored looks: a tracker that starts later (another
    gateway, or this one after a restart) reaches the same p-value and interval, and a
    read that must not add a look does not."""
    experiment = await _experiment(registry, metric="reward", min_samples=50)
    rng = np.random.default_rng(21)
    monitor, _ = _monitor(registry)
    for _ in range(8):
        await _feed(registry, experiment, "control", rng.normal(0.0, 1.0, 25))
        await _feed(registry, experiment, "treatment", rng.normal(0.15, 1.0, 25))
        await monitor.tick()
    looks = await registry.experiment_looks(experiment.id)
    assert len(looks) == 8 and [look.control.n for look in looks] == [25 * k for k in range(1, 9)]
    await monitor.tick()  # nothing new: no new look is stored
    assert len(await registry.experiment_looks(experiment.id)) == 8

    first = await ExperimentTracker(registry).look(experiment, record=False)
    again = await ExperimentTracker(registry).look(experiment, record=False)
    assert first.results == again.results
    assert first.results.looks == 9  # eight stored, plus this read's own
    assert len(await registry.experiment_looks(experiment.id)) == 8
    p = first.results.sequential_p_value
    assert 0 < p <= 1 and first.results.cs_low < first.results.difference < first.results.cs_high
