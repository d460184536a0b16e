"""Sequential tests of running experiments, replayed from the looks stored in the registry.

Every look the monitor takes is stored (both arms' moments, when they changed since the
last one), and an experiment's test state is the replay of its stored looks through
``gateway.stats.sequential.step``, in order. So every gateway process, after any
restart, reaches the same always-valid p-value, confidence sequence and decision, and a
decision can be recomputed from the stored looks at any time. Reads that should not add
a look (GetExperimentResults, `galgate experiments show`) replay the stored looks and
take the current moments as one more look on a copy of the state.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from gateway.errors import ExperimentStatisticsError
from gateway.experiments.results import Results, compute, config_of, moments_of
from gateway.stats import Moments, sequential
from registry.entities import ArmAggregate, ArmMoments, Experiment
from registry.errors import StoredDataError
from registry.store.registry import Registry


@dataclass(frozen=True, slots=True)
class Arms:
    """An experiment's per-arm database aggregates and the moments of its metric."""

    aggregates: dict[str, ArmAggregate]
    control: Moments
    treatment: Moments


async def read_arms(registry: Registry, experiment_id: int) -> Arms:
    """Read both arms' moments in one snapshot.

    Raises:
        ExperimentStatisticsError: the stored outcomes give no valid moments.
    """
    try:
        aggregates = await registry.arm_aggregates(experiment_id)
        control = moments_of(aggregates.get("control"))
        treatment = moments_of(aggregates.get("treatment"))
    except ExperimentStatisticsError as exc:
        raise ExperimentStatisticsError(exc.reason, experiment_id) from exc
    except StoredDataError as exc:
        raise ExperimentStatisticsError(str(exc), experiment_id) from exc
    return Arms(aggregates, control, treatment)


@dataclass(frozen=True, slots=True)
class Look:
    """One look at an experiment: the results and what the tests decided."""

    results: Results
    loss_exceeded: bool
    winner: str


class _Replay:
    """One experiment's test state and the id of the last stored look it has seen."""

    def __init__(self, experiment: Experiment) -> None:
        self.config = config_of(experiment)
        self.state = sequential.State.fresh()
        self.last_id = 0
        self.looks = 0

    def apply(self, control: Moments, treatment: Moments) -> None:
        sequential.step(self.state, sequential.Arms.of(control, treatment), self.config)
        self.looks += 1


def _arm_moments(m: Moments) -> ArmMoments:
    return ArmMoments(m.n, m.mean, m.m2, m.m3, m.m4)


def _moments(a: ArmMoments) -> Moments:
    return Moments(a.n, a.mean, a.m2, a.m3, a.m4)


class ExperimentTracker:
    """Keeps each running experiment's replayed test state between looks."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._replays: dict[int, _Replay] = {}

    def forget(self, experiment_id: int) -> None:
        """Drop an ended experiment's state."""
        self._replays.pop(experiment_id, None)

    async def look(self, experiment: Experiment, *, record: bool = True) -> Look:
        """Read the arms, (with ``record``) store the look, replay, compute the results.

        Raises:
            ExperimentStatisticsError: the stored outcomes give no valid statistics.
        """
        arms = await read_arms(self._registry, experiment.id)
        if record:
            await self._registry.append_look(
                experiment.id, _arm_moments(arms.control), _arm_moments(arms.treatment)
            )
        replay = await self._caught_up(experiment)
        if not record:
            replay = copy.deepcopy(replay)
            replay.apply(arms.control, arms.treatment)
        try:
            results = compute(experiment, arms.aggregates, replay.state, replay.looks)
        except (ValueError, ArithmeticError) as exc:
            raise ExperimentStatisticsError(f"{type(exc).__name__}: {exc}", experiment.id) from exc
        tau2 = float(replay.state.tau2[0])
        if record and experiment.tau2 is None and math.isfinite(tau2) and tau2 > 0:
            await self._registry.set_experiment_tau2(experiment.id, tau2)
        return Look(results=results, loss_exceeded=results.loss_exceeded, winner=results.winner)

    async def _caught_up(self, experiment: Experiment) -> _Replay:
        """This experiment's replay, advanced over every look stored since."""
        replay = self._replays.get(experiment.id)
        if replay is None:
            replay = self._replays[experiment.id] = _Replay(experiment)
        while True:
            looks = await self._registry.experiment_looks(experiment.id, after=replay.last_id)
            for stored in looks:
                try:
                    replay.apply(_moments(stored.control), _moments(stored.treatment))
                except ValueError as exc:
                    raise ExperimentStatisticsError(str(exc), experiment.id) from exc
                replay.last_id = stored.id
            if len(looks) < 10_000:
                return replay
